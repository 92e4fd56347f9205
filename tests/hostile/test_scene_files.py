"""Hostile input (issue 15): a job reads no file it was not sent, on a node or on the hub.

A .blend names its textures, libraries and caches by path; a path on the machine that renders
it (`/home/someone/private.png`) or one that climbs out of the scene's folder (`//../x.png`)
would put that machine's files into the returned frames. The hub refuses such a scene whichever
way it is submitted (a 400 naming the parameter and the reference), a node refuses it before
Blender opens it and again inside Blender, and neither says whether the path exists. Real hub
and node processes, real Blender; skipped without Blender.
"""

from __future__ import annotations

import hashlib
import shutil
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from witengine.plugins.render import blender as node_render
from witengine.plugins.render import render_frame
from witengine.plugins.render.blender import _WARM
from witengine.plugins.render.errors import RenderError, RenderFailure
from witengine.plugins.render.types import Frame, Scene
from witengine.runtime.blobs import LocalBlobStore
from witengine.runtime.context import ActivityContext
from witengine.testing.processes import ProcessFarm
from witengine.testing.scenes import make_sample_scene

REPO = Path(__file__).resolve().parents[2]
SCRIPT = (REPO / "examples" / "render_animation.wit").read_text()
pytestmark = [
    pytest.mark.blender,
    pytest.mark.timeout(300),
    pytest.mark.skipif(shutil.which("blender") is None, reason="Blender is not installed"),
]
MAGENTA = (255, 0, 255)


def write_png(path: Path, colour: tuple[int, int, int], size: int = 8) -> Path:
    """A PNG of one colour: pixels a render would show if it read the file."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    rows = b"".join(b"\x00" + bytes(colour) * size for _ in range(size))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )
    return path


def scene(path: Path, *extra: str) -> Path:
    return make_sample_scene(path, frames=2, width=32, height=18, samples=1, extra=extra)


@dataclass
class Scenes:
    folder: Path
    private: Path  # a file of the machine's, outside any job: magenta
    absolute: Path  # textured with the private file by its absolute path
    absent: Path  # textured with an absolute path where nothing is
    climbing: Path  # textured with //../secret.png
    linked: Path  # links an object of a .blend by its absolute path
    token: Path  # an image at //../../admin.token: the hub's own file, seen from its blobs
    no_token: Path  # the same at //../../nothing.token, which is not there


@pytest.fixture(scope="module")
def scenes(tmp_path_factory: pytest.TempPathFactory) -> Scenes:
    folder = tmp_path_factory.mktemp("hostile-scenes")
    private = write_png(folder / "someone" / "private.png", MAGENTA)
    library = scene(folder / "library" / "props.blend")
    return Scenes(
        folder=folder,
        private=private,
        absolute=scene(folder / "absolute.blend", "--texture", str(private), "--absolute-paths"),
        absent=scene(
            folder / "absent.blend",
            *("--missing-texture", str(folder / "someone" / "nothing.png"), "--absolute-paths"),
        ),
        climbing=scene(
            folder / "scenes" / "climbing.blend", "--missing-texture", "//../secret.png"
        ),
        linked=scene(folder / "linked.blend", "--link", str(library), "--absolute-paths"),
        token=scene(folder / "token.blend", "--missing-texture", "//../../admin.token"),
        no_token=scene(folder / "no_token.blend", "--missing-texture", "//../../nothing.token"),
    )


@pytest.fixture(autouse=True)
def no_blender_left() -> Iterator[None]:
    yield
    _WARM.close()


def upload(farm: ProcessFarm, path: Path, name: str | None = None) -> dict[str, Any]:
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    response = farm.api("PUT", f"/blobs/{digest}", content=data, timeout=30)
    assert response.status_code in (200, 201, 204), response.text
    return {"sha256": digest, "size": len(data), "name": name or path.name}


def submit(farm: ProcessFarm, path: Path) -> Any:
    return farm.api(
        "POST",
        "/jobs",
        json={
            "script": SCRIPT,
            "filename": "render_animation.wit",
            "parameters": {"frames": f"{path.name}@1"},
            "files": {"frames": [upload(farm, path)]},
        },
        timeout=30,
    )


def node_context(tmp_path: Path) -> ActivityContext:
    (tmp_path / "work").mkdir(exist_ok=True)
    return ActivityContext(LocalBlobStore(tmp_path / "blobs"), tmp_path / "work", threads=1)


def render_on_a_node(context: ActivityContext, path: Path) -> RenderError:
    """Render frame 1 as a node's batch process does, past any hub: the error it fails with."""
    frame = Frame(Scene.from_value(context.blobs.put_file(path)), 1)
    stored = blobs(context)
    with pytest.raises(RenderError) as caught:
        render_frame(context, frame)
    assert not list(context.work_dir.rglob("frame_*")), "Blender wrote a frame"
    assert blobs(context) == stored, "a frame was kept"
    return caught.value


def blobs(context: ActivityContext) -> set[Path]:
    return {p for p in context.blobs.root.rglob("*") if p.is_file()}


def test_the_hub_refuses_a_scene_textured_from_an_absolute_path_naming_the_reference(
    farm: ProcessFarm, scenes: Scenes
) -> None:
    jobs = len(farm.api("GET", "/jobs").json())

    response = submit(farm, scenes.absolute)

    assert response.status_code == 400, response.text
    assert response.json()["detail"].startswith(
        "parameter 'frames' (FrameCollection): the scene absolute.blend refers to files outside "
        f"itself, which a node never reads: {scenes.private} (image 'private.png');"
    )
    assert len(farm.api("GET", "/jobs").json()) == jobs  # nothing was started


def test_a_node_refuses_the_scene_when_it_gets_past_the_hub_and_renders_no_pixel_of_the_file(
    scenes: Scenes, tmp_path: Path
) -> None:
    error = render_on_a_node(node_context(tmp_path), scenes.absolute)

    assert error.failure is RenderFailure.OUTSIDE_FILES
    assert error.message.startswith(
        "the scene absolute.blend refers to files outside itself, which a node never reads: "
        f"{scenes.private} (image 'private.png');"
    )


def test_blender_itself_refuses_the_scene_when_the_nodes_first_check_is_skipped(
    scenes: Scenes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(node_render, "check_scene", lambda *_, **__: None)

    error = render_on_a_node(node_context(tmp_path), scenes.absolute)

    assert error.failure is RenderFailure.OUTSIDE_FILES
    assert f"{scenes.private} (image 'private.png')" in error.message


def test_a_nodes_answer_does_not_tell_whether_the_path_exists(
    scenes: Scenes, tmp_path: Path
) -> None:
    context = node_context(tmp_path)
    there = render_on_a_node(context, scenes.absolute)
    nothing = render_on_a_node(context, scenes.absent)

    assert there.failure is nothing.failure is RenderFailure.OUTSIDE_FILES
    assert nothing.message == there.message.replace(
        f"{scenes.private} (image 'private.png')",
        f"{scenes.folder}/someone/nothing.png (image 'missing')",
    ).replace("absolute.blend", "absent.blend")


def test_a_relative_path_that_climbs_out_of_the_scenes_folder_is_refused_by_hub_and_node(
    farm: ProcessFarm, scenes: Scenes, tmp_path: Path
) -> None:
    context = node_context(tmp_path)
    # Where //../secret.png leads from a node's run folder: the node's shared work folder.
    write_png(context.work_dir / "secret.png", MAGENTA)

    response = submit(farm, scenes.climbing)
    error = render_on_a_node(context, scenes.climbing)

    assert response.status_code == 400, response.text
    assert (
        "the scene climbing.blend refers to files outside itself, which a node never reads: "
        "//../secret.png (image 'missing')"
    ) in response.json()["detail"]
    assert error.failure is RenderFailure.OUTSIDE_FILES
    assert "//../secret.png (image 'missing')" in error.message


def test_a_linked_library_at_an_absolute_path_is_refused_before_blender_opens_it(
    farm: ProcessFarm, scenes: Scenes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    library = scenes.folder / "library" / "props.blend"
    started: list[Any] = []
    monkeypatch.setattr(node_render, "_ServingBlender", lambda *a: started.append(a))

    response = submit(farm, scenes.linked)
    error = render_on_a_node(node_context(tmp_path), scenes.linked)

    assert response.status_code == 400, response.text
    assert f"{library} (library 'props.blend')" in response.json()["detail"]
    assert error.failure is RenderFailure.OUTSIDE_FILES
    assert f"{library} (library 'props.blend')" in error.message
    assert started == []  # Blender never started: it reads a library as it opens the scene


def check_files(farm: ProcessFarm, path: Path) -> Any:
    """The dashboard's form checking the files it uploaded, as its page asks."""
    return httpx.post(
        f"{farm.url}/submit/check-files",
        json={
            "script": SCRIPT,
            "filename": "render_animation.wit",
            "parameters": {"frames": f"{path.name}@1"},
            "files": {"frames": [upload(farm, path)]},
        },
        headers={"X-Wit-Dashboard": "1", "Authorization": f"Bearer {farm.token}"},
        timeout=60,
    )


def test_check_files_neither_packs_the_hubs_own_file_nor_tells_whether_it_exists(
    farm: ProcessFarm, scenes: Scenes
) -> None:
    token = farm.token
    assert token is not None and (farm.root / "hub" / "admin.token").is_file()

    there = check_files(farm, scenes.token)
    nothing = check_files(farm, scenes.no_token)

    assert there.status_code == nothing.status_code == 400, there.text
    assert there.json()["detail"] == (
        "parameter 'frames' (FrameCollection): the scene token.blend refers to files outside "
        "itself, which a node never reads: //../../admin.token (image 'missing'); pack them "
        "into the .blend in Blender (File > External Data > Pack Resources; bake caches into "
        "it) or submit it with wit run, which packs what it can"
    )
    assert nothing.json()["detail"] == there.json()["detail"].replace(
        "token.blend", "no_token.blend"
    ).replace("admin.token", "nothing.token")
    # Nothing of the hub's (its data folder, its cache) holds the token but its own file.
    kept = [
        p
        for folder in (farm.root / "hub", farm.root / "hub-cache")
        for p in folder.rglob("*")
        if p.is_file() and p.name != "admin.token"
    ]
    assert [p for p in kept if token.encode() in p.read_bytes()] == []
    assert not (farm.root / "hub-cache" / "packed").exists()
