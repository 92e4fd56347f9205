"""Following the job: what the worker thread finds, and the timer that hands it to the scene.

Nothing here blocks Blender's main thread on the network: each turn of the timer
(`bpy.app.timers`) starts the worker on the next look (the frames the last look found are
downloaded first, then the job's record and a page of its frames are read) and takes what the
last one found. Frames are named, and the last one loaded as the panel's picture, on the main
thread.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import bpy  # type: ignore[import-not-found]  # Blender's own module, there only
import bpy.utils.previews  # type: ignore[import-not-found]
from bpy.app.handlers import persistent  # type: ignore[import-not-found]

from . import client
from .settings import hub_of, output_folder, preferences, report

TICK_SECONDS = 1.0
VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".webm")
PREVIEW = "latest"  # the key of the last frame in the picture collection


class Following:
    """The job the add-on follows: what the worker thread found, handed to the main thread."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.worker: threading.Thread | None = None
        self.scene = ""  # the name of the scene the job renders
        self.job_id = ""
        self.status = ""
        self.done = 0
        self.total = 0
        self.eta: float | None = None
        self.error = ""
        self.stage = ""  # "submitting", "following", "downloading", "" (idle)
        self.found: dict[str, Any] | None = None  # the job's last record, from the worker
        self.page: dict[str, Any] | None = None  # the last page of its frames, from the worker
        self.arrivals = client.Arrivals()  # the frames seen while it runs
        self.live = True  # False: the hub has no items route; the frames come at the end
        self.downloaded: list[str] = []
        self.preview = ""  # the frame shown in the panel: the last one brought back
        self.finished = False

    def busy(self) -> bool:
        return self.worker is not None and self.worker.is_alive()

    def start(self, work: Any) -> None:
        def run() -> None:
            try:
                work()
            except client.HubError as error:
                with self.lock:
                    self.error = str(error)
            except Exception as error:  # shown to the artist, not lost in a thread
                with self.lock:
                    self.error = f"{type(error).__name__}: {error}"

        self.worker = threading.Thread(target=run, name="witengine", daemon=True)
        self.worker.start()


FOLLOWING = Following()


class Pictures:
    """The add-on's preview collection (`bpy.utils.previews`): the last frame, as the panel
    shows it. Open while the add-on is registered."""

    def __init__(self) -> None:
        self.collection: Any = None

    def open(self) -> None:
        self.collection = bpy.utils.previews.new()

    def close(self) -> None:
        if self.collection is not None:
            bpy.utils.previews.remove(self.collection)
            self.collection = None

    def show(self, path: str) -> None:
        if self.collection is not None:
            self.collection.clear()
            self.collection.load(PREVIEW, path, "IMAGE")

    def shown(self) -> Any:
        """The loaded picture (its `icon_id`, `image_size`), or None."""
        return self.collection.get(PREVIEW) if self.collection is not None else None


PICTURES = Pictures()


def ensure_timer() -> None:
    if not bpy.app.timers.is_registered(tick):
        bpy.app.timers.register(tick, first_interval=0.1)


def follow(scene: Any) -> None:
    """Follow the job stored in the scene (after reopening its file)."""
    state = FOLLOWING
    with state.lock:
        state.__init__()  # type: ignore[misc]
        state.scene, state.job_id, state.stage = scene.name, scene.witengine.job_id, "following"
    ensure_timer()


def tick() -> float | None:
    """The timer: hand the worker's findings to the scene, start its next step; None ends it."""
    state = FOLLOWING
    if state.busy():
        return TICK_SECONDS / 4
    scene = bpy.data.scenes.get(state.scene)
    with state.lock:
        error, state.error = state.error, ""
        found, state.found = state.found, None
        page, state.page = state.page, None
    if scene is None:
        state.stage = ""
        return None
    if error:
        report("ERROR", f"witengine: {error}")
        state.stage = "" if state.stage in ("submitting", "downloading") else state.stage
        if state.stage == "":
            return None
    if state.stage == "submitting":
        scene.witengine.job_id = state.job_id
        scene.witengine.hub_url = preferences().hub_url
        state.stage = "following"
        report("INFO", f"witengine: submitted {state.job_id}")
    _show_latest(state)
    targets = _arrived(state, scene, page)
    if found is not None:
        _take(state, found)
        if state.status in client.FINISHED:
            return _finish(state, scene, found)
    if state.stage == "downloading":  # the downloads are done
        _show_latest(state)
        report("INFO", f"witengine: {len(state.downloaded)} files in {output_folder(scene)}")
        state.stage, state.finished = "", True
        return None
    if state.stage != "following":
        return None
    hub = hub_of(preferences())
    job_id = state.job_id
    arrivals = state.arrivals
    look = (arrivals.map_seq, arrivals.after, arrivals.page)

    def poll() -> None:
        _download(hub, state, targets)  # the frames the last look found, as they arrive
        record = hub.job(job_id)
        page = None
        if state.live and record.get("status") not in client.FINISHED:
            try:
                page = hub.items(job_id, *look)
            except client.HubError as error:
                if error.status != 404:
                    raise
                state.live = False  # an older hub: the frames come when the job is done
        with state.lock:
            state.found, state.page = record, page

    state.start(poll)
    return TICK_SECONDS


def _arrived(state: Following, scene: Any, page: dict[str, Any] | None) -> list[tuple[str, Path]]:
    """Where the frames new in a page of the running job go, named as Blender would name them
    (on the main thread: Blender names them)."""
    if page is None:
        return []
    folder = output_folder(scene)
    return [_frame_target(scene, folder, value) for value in state.arrivals.take(page)]


def _frame_target(scene: Any, folder: Path, image: dict[str, Any]) -> tuple[str, Path]:
    blender_name = Path(scene.render.frame_path(frame=int(image.get("frame", 0)))).stem
    suffix = Path(image.get("name", "")).suffix or ".png"
    return image["sha256"], folder / f"{blender_name}{suffix}"


def _download(hub: client.Hub, state: Following, targets: list[tuple[str, Path]]) -> None:
    """Bring the files back (on the worker thread), each once."""
    for sha256, target in targets:
        if str(target) in state.downloaded and target.is_file():
            continue
        hub.download(sha256, target)
        with state.lock:
            state.downloaded.append(str(target))


def _show_latest(state: Following) -> None:
    """The last frame brought back, as the panel's preview (loaded on the main thread)."""
    frames = [p for p in state.downloaded if not p.endswith(VIDEO_SUFFIXES)]
    if not frames or frames[-1] == state.preview:
        return
    PICTURES.show(frames[-1])
    state.preview = frames[-1]


def _take(state: Following, record: dict[str, Any]) -> None:
    progress = record.get("progress") or {}
    state.status = str(record.get("status", ""))
    state.done, state.total = int(progress.get("done", 0)), int(progress.get("total", 0))
    state.eta = record.get("eta_seconds")


def _finish(state: Following, scene: Any, record: dict[str, Any]) -> float | None:
    if state.status != "completed":
        report(
            "ERROR",
            f"witengine: job {state.job_id} {state.status}: {record.get('error') or ''}".rstrip(
                ": "
            ),
        )
        state.stage, state.finished = "", True
        return None
    folder = output_folder(scene)
    frames, video = client.result_files(record)
    # Those that came while it ran are there already: only the others are brought back.
    targets = [_frame_target(scene, folder, {**image, "frame": n}) for n, image in frames]
    if video is not None and scene.witengine.make_video:
        name = Path(bpy.data.filepath).stem or "untitled"
        suffix = Path(video.get("name", "")).suffix or ".mp4"
        targets.append((video["sha256"], folder / f"{name}{suffix}"))
    hub = hub_of(preferences())
    state.stage = "downloading"

    state.start(lambda: _download(hub, state, targets))
    return TICK_SECONDS / 4


def status_line(state: Following) -> str:
    words = f"{state.job_id or 'job'}: {state.status or state.stage}"
    if state.total:
        words += f", frames {state.done}/{state.total}"
    return words


def duration(seconds: float) -> str:
    minutes, second = divmod(int(seconds + 0.5), 60)
    hours, minute = divmod(minutes, 60)
    return (
        f"{hours} h {minute:02d} min"
        if hours
        else f"{minute} min {second:02d} s"
        if minute
        else f"{second} s"
    )


@persistent  # type: ignore[untyped-decorator]
def on_load(_: Any) -> None:
    scene = bpy.context.scene
    if scene is not None and scene.witengine.job_id and FOLLOWING.stage == "":
        follow(scene)
