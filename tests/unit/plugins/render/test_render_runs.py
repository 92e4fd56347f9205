"""How a node's render runs go when Blender misbehaves, with a stand-in `blender` on PATH that
speaks Blender's output and can crash, explain a failure, write a wrong image or skip a frame on
request (real Blender renders in tests/e2e/test_blender_render.py; it cannot be made to crash on
cue). A crash costs only the frame in progress; the rest of the run gets a fresh process."""

from __future__ import annotations

import json
import os
import struct
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from witengine.plugins.render.blender import _WARM, render_frames
from witengine.plugins.render.errors import RenderError, RenderFailure
from witengine.plugins.render.types import Frame, Image, Scene
from witengine.runtime.blobs import LocalBlobStore
from witengine.runtime.context import ActivityContext

STAND_IN = textwrap.dedent(
    """\
    #!PYTHON
    import json, os, signal, struct, sys, zlib

    args = sys.argv[1:]
    pattern = args[args.index("-o") + 1]
    behaviour = json.loads(os.environ.get("STAND_IN", "{}"))

    def path(n):
        return pattern.replace("#####", f"{n:05d}") + ".png"

    def chunk(kind, body):
        check = struct.pack(">I", zlib.crc32(kind + body))
        return struct.pack(">I", len(body)) + kind + body + check

    def png(width, height):
        rows = zlib.compress(b"".join(b"\\0" + bytes(width * 3) for _ in range(height)))
        header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
        signature = b"\\x89PNG\\r\\n\\x1a\\n"
        return signature + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")

    def say(**data):
        print("WIT " + json.dumps(data), flush=True)

    def render(frames):
        with open(os.environ["STAND_IN_LOG"], "a") as log:
            log.write(f"{os.getpid()} " + " ".join(map(str, frames)) + "\\n")
        for n in frames:
            print(f"Fra:{n} Mem:9.36M (Peak 13.48M) | Time:00:00.00 | Sample 0/4", flush=True)
            if n == behaviour.get("crash"):
                os.kill(os.getpid(), signal.SIGSEGV)
            if n == behaviour.get("skip"):
                continue
            size = (5, 2) if n == behaviour.get("wrong_size") else (4, 2)
            with open(path(n), "wb") as image:
                image.write(png(*size))
            print(f"Saved: '{path(n)}'", flush=True)

    print("Blender 3.4.1 (stand-in)", flush=True)
    if "explain" in behaviour:
        say(kind="error", failure="missing-files", message=behaviour["explain"])
        sys.exit(3)
    say(kind="scene", blender="3.4.1", engine="CYCLES", device="CPU", width=4, height=2, fps=24.0,
        paths={})
    assert "-f" not in args, "a node's Blender serves: it is given frames on its input"
    for line in sys.stdin:
        frames = json.loads(line)["frames"]
        say(kind="paths", paths={str(n): path(n) for n in frames})
        render(frames)
        say(kind="done")
    print("Blender quit", flush=True)
    """
).replace("PYTHON", sys.executable)


@pytest.fixture
def context(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ActivityContext:
    tools = tmp_path / "bin"
    tools.mkdir()
    blender = tools / "blender"
    blender.write_text(STAND_IN)
    blender.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tools}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("STAND_IN_LOG", str(tmp_path / "runs.log"))
    (tmp_path / "work").mkdir()
    return ActivityContext(LocalBlobStore(tmp_path / "blobs"), tmp_path / "work", threads=1)


def blend(tag: bytes = b"") -> bytes:
    """The smallest .blend a node reads (it reads a scene's paths before Blender starts): a
    header, a description of no structs, a block of `tag` to tell scenes apart, the end."""

    def block(code: bytes, body: bytes) -> bytes:
        return struct.pack("<4siQii", code, len(body), 0, 0, 1) + body

    empty = struct.pack("<i", 0)
    dna = b"SDNANAME" + empty + b"TYPE" + empty + b"TLEN" + b"STRC" + empty
    return b"BLENDER-v304" + block(b"DNA1", dna) + block(b"TEST", tag) + block(b"ENDB", b"")


SCENE = blend()


def render(
    context: ActivityContext, numbers: list[int], content: bytes = SCENE, **behaviour: Any
) -> list[Any]:
    os.environ["STAND_IN"] = json.dumps(behaviour)
    try:
        scene = Scene.from_value(context.blobs.put_bytes(content, "shot.blend"))
        outcomes = list(render_frames(context, [Frame(scene, n) for n in numbers]))
    finally:
        del os.environ["STAND_IN"]
    assert sorted(position for position, _ in outcomes) == list(range(len(numbers)))
    return [result for _, result in sorted(outcomes, key=lambda outcome: outcome[0])]


def batches(context: ActivityContext) -> list[tuple[str, str]]:
    """(Blender's process id, the frames it was asked for) of every batch, in order."""
    lines = (context.work_dir.parent / "runs.log").read_text().splitlines()
    return [(pid, frames) for pid, _, frames in (line.partition(" ") for line in lines)]


def runs(context: ActivityContext) -> list[str]:
    return [frames for _, frames in batches(context)]


@pytest.fixture(autouse=True)
def no_blender_left() -> Iterator[None]:
    yield
    _WARM.close()  # the serving Blender kept for a next batch of the test's scene


def test_a_crash_costs_the_frame_in_progress_and_the_rest_get_a_fresh_process(
    context: ActivityContext,
) -> None:
    results = render(context, [1, 2, 3, 4, 5], crash=3)

    assert [r.frame for r in results if isinstance(r, Image)] == [1, 2, 4, 5]
    assert results[2].failure is RenderFailure.CRASHED
    assert results[2].message.startswith("shot.blend, frame 3: Blender crashed (SIGSEGV)")
    assert runs(context) == ["1 2 3 4 5", "4 5"]


def test_a_failure_the_setup_explains_fails_every_frame_of_the_run_at_once(
    context: ActivityContext,
) -> None:
    message = "the scene uses files that are missing: //tex/brick.png (image 'brick')"

    results = render(context, [1, 2, 3], explain=message)

    assert results == [RenderError(RenderFailure.MISSING_FILES, message)] * 3


def test_an_image_of_the_wrong_size_fails_that_frame_alone(context: ActivityContext) -> None:
    results = render(context, [1, 2, 3], wrong_size=2)

    assert [type(r).__name__ for r in results] == ["Image", "RenderError", "Image"]
    assert results[1] == RenderError(
        RenderFailure.BAD_IMAGE,
        "frame 2: frame_00002.png is 5x2 pixels, not the 4x2 the scene gives",
    )
    assert (results[0].width, results[0].height, results[0].name) == (4, 2, "frame_00001.png")


def test_a_frame_blender_never_writes_fails_and_the_others_count(context: ActivityContext) -> None:
    results = render(context, [1, 2, 3], skip=2)

    assert isinstance(results[0], Image) and isinstance(results[2], Image)
    assert results[1].failure is RenderFailure.FAILED
    assert results[1].message.startswith("shot.blend: Blender ended without writing frame 2;")
    assert runs(context) == ["1 2 3"]


def test_the_same_frame_twice_in_a_batch_renders_once(context: ActivityContext) -> None:
    results = render(context, [7, 7])

    assert results[0] == results[1]
    assert runs(context) == ["7"]


def test_without_blender_every_frame_says_how_to_install_it(
    context: ActivityContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")

    results = render(context, [1, 2])

    assert (
        results
        == [
            RenderError(
                RenderFailure.NO_BLENDER,
                "Blender is not installed on this machine "
                "(scripts/bootstrap.sh blender installs it)",
            )
        ]
        * 2
    )


def test_batches_of_one_scene_are_rendered_by_one_blender_that_keeps_it_loaded(
    context: ActivityContext,
) -> None:
    first = render(context, [1, 2])
    second = render(context, [3, 4])
    other = render(context, [5], content=blend(b"another scene"))

    assert [r.frame for r in [*first, *second, *other]] == [1, 2, 3, 4, 5]
    (one, _), (same, _), (another, _) = batches(context)
    assert one == same != another
    assert runs(context) == ["1 2", "3 4", "5"]


def test_a_batch_read_only_up_to_its_last_frame_leaves_blender_ready_for_the_next(
    context: ActivityContext,
) -> None:
    """A node stops reading a batch once every item has come back; Blender must not be lost."""
    scene = Scene.from_value(context.blobs.put_bytes(SCENE, "shot.blend"))
    batch = render_frames(context, [Frame(scene, 1), Frame(scene, 2)])
    first = [next(batch), next(batch)]
    batch.close()
    after = render(context, [3])

    assert [image.frame for _, image in first] + [after[0].frame] == [1, 2, 3]
    (one, _), (same, _) = batches(context)
    assert one == same


def test_a_scene_the_node_cannot_read_fails_every_frame_and_blender_never_starts(
    context: ActivityContext,
) -> None:
    results = render(context, [1, 2], content=b"BLENDER-v304 and nothing a .blend has")

    assert (
        results
        == [
            RenderError(
                RenderFailure.BAD_SCENE,
                "the scene shot.blend cannot be read: it is cut short, or damaged",
            )
        ]
        * 2
    )
    assert not (context.work_dir.parent / "runs.log").exists()
