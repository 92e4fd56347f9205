"""Rendering with real Blender and composing with real FFmpeg, on a tiny scene made by
scripts/make_sample_scene.py: frames with the pixels plain Blender gives, a batch in one Blender
process, a missing texture named, a GPU the machine lacks refused, a video with every frame in
order, and the published example run unchanged on an embedded farm.

Run just these with `pytest -m blender`; without Blender or FFmpeg they are skipped, saying so.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import shutil
import struct
import subprocess
import sys
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from witengine import api
from witengine.errors import ParameterError
from witengine.node.probe import nvidia_gpus
from witengine.plugins.registry import build_library
from witengine.plugins.render import plugin as render_plugin
from witengine.plugins.render import render_frame, render_tile, stitch
from witengine.plugins.render.benchmark import benchmark_render
from witengine.plugins.render.blender import _WARM
from witengine.plugins.render.blendfile import SceneFacts, scene_facts
from witengine.plugins.render.errors import RenderError, RenderFailure
from witengine.plugins.render.types import (
    Frame,
    Image,
    RenderOptions,
    Scene,
    TileImage,
    split_tiles,
)
from witengine.plugins.video import compose
from witengine.plugins.video import plugin as video_plugin
from witengine.runtime.blobs import LocalBlobStore
from witengine.runtime.context import ActivityContext
from witengine.runtime.invoke import invoke_batch_json
from witengine.runtime.parameters import files_named, read_parameters
from witengine.testing.scenes import make_sample_scene

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "render_animation.wit"
MISSING = [tool for tool in ("blender", "ffmpeg", "ffprobe") if shutil.which(tool) is None]
pytestmark = [
    pytest.mark.blender,
    pytest.mark.timeout(120),
    pytest.mark.skipif(
        bool(MISSING),
        reason=f"{' and '.join(MISSING)} not installed (scripts/bootstrap.sh blender ffmpeg)",
    ),
]
WIDTH, HEIGHT = 64, 36


def make_scene(path: Path, *extra: str) -> Path:
    return make_sample_scene(path, frames=6, width=WIDTH, height=HEIGHT, samples=4, extra=extra)


def write_checker(path: Path, size: int = 16) -> Path:
    """A red and green checkerboard PNG, to give a scene a texture that shows."""

    def colour(x: int, y: int) -> bytes:
        return bytes((230, 30, 30)) if (x // 4 + y // 4) % 2 else bytes((30, 200, 40))

    rows = b"".join(b"\x00" + b"".join(colour(x, y) for x in range(size)) for y in range(size))

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )
    return path


def plain_render(scene_file: Path, frame: int, folder: Path) -> Path:
    """Frame `frame` rendered by plain Blender, as an artist would."""
    output = str(folder / "plain_#####")
    subprocess.run(
        ["blender", "-b", str(scene_file), "-o", output, "-F", "PNG", "-f", str(frame)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return folder / f"plain_{frame:05d}.png"


def pixels(path: Path, width: int = WIDTH, height: int = HEIGHT) -> list[bytes]:
    """Every frame of an image or video of that size, decoded by FFmpeg to RGB bytes."""
    done = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
        check=True,
        capture_output=True,
        timeout=60,
    )
    size = width * height * 3
    return [done.stdout[i : i + size] for i in range(0, len(done.stdout), size)]


def probe(video: Path) -> dict[str, Any]:
    done = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-count_frames",
            "-show_entries",
            "stream=codec_name,width,height,nb_read_frames",
            "-of",
            "json",
            str(video),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    stream: dict[str, Any] = json.loads(done.stdout)["streams"][0]
    return stream


@dataclass
class Setup:
    folder: Path
    scene_file: Path
    scene: Scene
    context: ActivityContext


@pytest.fixture(scope="module", autouse=True)
def no_blender_left() -> Iterator[None]:
    yield
    _WARM.close()  # the serving Blender this process keeps for a next batch of a scene


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Setup:
    folder = tmp_path_factory.mktemp("blender")
    scene_file = make_scene(folder / "tiny.blend")
    store = LocalBlobStore(folder / "blobs")
    (folder / "work").mkdir()
    context = ActivityContext(store, folder / "work", threads=1)
    return Setup(folder, scene_file, Scene.from_value(store.put_file(scene_file)), context)


@dataclass
class Batch:
    outcomes: list[tuple[int, bool, Any]]
    launches: list[list[str]]
    images: list[Image]


@pytest.fixture(scope="module")
def batch(setup: Setup) -> Batch:
    """Frames 1-6 as one batch through the SDK's batch path, as a node runs it; every process
    Blender was started as is noted."""
    library = build_library([render_plugin, video_plugin])
    items = [[Frame(setup.scene, number).to_json()] for number in range(1, 7)]
    launches: list[list[str]] = []
    real = subprocess.Popen
    _WARM.close()  # a Blender kept from an earlier test would serve the batch unseen

    def noting(args: list[str], *more: Any, **options: Any) -> Any:
        launches.append(list(args))
        return real(args, *more, **options)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(subprocess, "Popen", noting)
        outcomes = list(invoke_batch_json(library, "Renderer.RenderFrame", items, setup.context))
    images = [Image.from_json(value) for _, ok, value in sorted(outcomes) if ok]
    return Batch(outcomes, launches, images)


def test_a_frame_rendered_through_the_plugin_has_the_pixels_of_plain_blender(
    setup: Setup,
) -> None:
    image = render_frame(setup.context, Frame(setup.scene, 3))
    plain = setup.folder / "plain"
    subprocess.run(
        [
            "blender",
            "-b",
            str(setup.scene_file),
            "-o",
            str(plain / "plain_#####"),
            "-F",
            "PNG",
            "-f",
            "3",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )

    assert (image.frame, image.width, image.height, image.fps) == (3, WIDTH, HEIGHT, 24.0)
    assert pixels(setup.context.file(image)) == pixels(plain / "plain_00003.png")


def test_a_batch_of_frames_renders_in_one_blender_process_each_image_as_it_is_written(
    batch: Batch,
) -> None:
    assert [(position, ok) for position, ok, _ in batch.outcomes] == [(i, True) for i in range(6)]
    assert [image.frame for image in batch.images] == [1, 2, 3, 4, 5, 6]
    assert {(image.width, image.height) for image in batch.images} == {(WIDTH, HEIGHT)}
    assert len(batch.launches) == 1  # one Blender, which serves the frames it is given
    command = batch.launches[0]
    assert "-f" not in command
    assert command[command.index("-t") + 1] == "1"  # the node's thread count


def test_the_video_has_every_frame_in_order_at_the_images_size(setup: Setup, batch: Batch) -> None:
    video = compose(setup.context, batch.images)
    lossless = compose(setup.context, batch.images, 24.0, "ffv1")

    assert (video.frames, video.width, video.height, video.codec) == (6, WIDTH, HEIGHT, "h264")
    assert video.name == "video.mp4"
    stream = probe(setup.context.file(video))
    assert (stream["codec_name"], stream["width"], stream["height"]) == ("h264", WIDTH, HEIGHT)
    assert int(stream["nb_read_frames"]) == 6
    rendered = [pixels(setup.context.file(image))[0] for image in batch.images]
    assert pixels(setup.context.file(lossless)) == rendered


def test_a_scene_with_a_missing_texture_fails_naming_the_file(setup: Setup) -> None:
    scene_file = make_scene(
        setup.folder / "missing.blend",
        "--missing-texture",
        str(setup.folder / "textures" / "brick.png"),
    )
    scene = Scene.from_value(setup.context.blobs.put_file(scene_file))

    with pytest.raises(RenderError) as caught:
        render_frame(setup.context, Frame(scene, 1))

    assert caught.value.failure is RenderFailure.MISSING_FILES
    assert caught.value.message == (
        "the scene missing.blend uses files that are missing: //textures/brick.png "
        "(image 'missing')"
    )


@pytest.mark.skipif(bool(nvidia_gpus()), reason="this machine has a GPU, so none is missing")
def test_without_a_gpu_a_frame_that_needs_one_is_refused_and_auto_renders_on_the_cpu(
    setup: Setup,
) -> None:
    needs_cuda = Frame(setup.scene, 1, RenderOptions(device="CUDA"))
    any_device = Frame(setup.scene, 1, RenderOptions(device="AUTO", percent=50))

    with pytest.raises(RenderError) as caught:
        render_frame(setup.context, needs_cuda)
    image = render_frame(setup.context, any_device)

    assert caught.value.failure is RenderFailure.NO_DEVICE
    assert caught.value.message == (
        "the job asks for device=CUDA, and this node has no CUDA device that Cycles can use"
    )
    assert (image.width, image.height) == (WIDTH // 2, HEIGHT // 2)


@pytest.mark.slow
def test_the_published_example_renders_a_video_on_an_embedded_farm(setup: Setup) -> None:
    out = setup.folder / "example-out"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "witengine",
            "run",
            str(REPO / "examples" / "render_animation.wit"),
            f"frames={setup.scene_file}@1-6",
            "--nodes",
            "2",
            "--out",
            str(out),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=110,
    )

    result = json.loads(done.stdout)
    assert result["status"] == "completed", result["error"] or done.stderr
    assert len(result["variables"]["images"]) == 6
    video = Path(result["variables"]["result"]["path"])
    assert video == out / "video.mp4"
    stream = probe(video)
    assert (stream["width"], stream["height"], int(stream["nb_read_frames"])) == (WIDTH, HEIGHT, 6)
    assert sorted(p.name for p in (out / "images").iterdir()) == [
        f"frame_{n:05d}.png" for n in range(1, 7)
    ]


def test_a_scene_with_a_missing_texture_fails_at_submit_naming_the_file(setup: Setup) -> None:
    textures = setup.folder / "submit" / "textures"
    scene_file = make_scene(
        setup.folder / "submit" / "broken.blend", "--missing-texture", str(textures / "brick.png")
    )

    with pytest.raises(ParameterError) as caught:  # no hub listens there: none is asked
        asyncio.run(api.run_on_hub("http://127.0.0.1:9", EXAMPLE, {"frames": f"{scene_file}@1-2"}))

    assert str(caught.value) == (
        "parameter 'frames' (FrameCollection): the scene broken.blend uses files that are "
        f"missing: //textures/brick.png (image 'missing', looked for at {textures}/brick.png)"
    )


def test_a_scene_with_an_external_texture_is_packed_and_renders_where_its_path_means_nothing(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WIT_CACHE_DIR", str(setup.folder / "cache"))
    artist = setup.folder / "artist"
    texture = write_checker(artist / "textures" / "checker.png")
    scene_file = make_scene(artist / "textured.blend", "--texture", str(texture))
    reference = plain_render(scene_file, 2, setup.folder / "textured-plain")
    library = build_library([render_plugin, video_plugin])
    checked = api.check_file(EXAMPLE, library)
    texts = {"frames": f"{scene_file}@2"}

    (frame,) = read_parameters(checked, library, texts, setup.context.blobs)["frames"]
    sent = files_named(checked, library, texts, setup.folder / "scratch")["frames"]
    with monkeypatch.context() as without_blender:  # the same scene again: Blender not needed
        without_blender.setenv("PATH", "/nonexistent")
        again = files_named(checked, library, texts, setup.folder / "scratch-again")["frames"]
    artist.rename(setup.folder / "artist-moved")  # the scene's texture path now leads nowhere
    image = render_frame(setup.context, frame)

    original = hashlib.sha256((setup.folder / "artist-moved" / "textured.blend").read_bytes())
    assert frame.scene.sha256 != original.hexdigest()  # a packed copy, not the artist's file
    assert frame.scene.name == "textured.blend"
    assert [hashlib.sha256(p.read_bytes()).hexdigest() for p in sent] == [frame.scene.sha256]
    assert again == sent  # the packed copy kept in the cache, found without Blender
    assert pixels(setup.context.file(image)) == pixels(reference)


def test_a_scene_read_from_the_command_line_says_its_render_size_for_the_estimate(
    setup: Setup,
) -> None:
    library = build_library([render_plugin, video_plugin])
    checked = api.check_file(EXAMPLE, library)
    texts = {"frames": f"{setup.scene_file}@1-3 percent=50"}

    frames = read_parameters(checked, library, texts, setup.context.blobs)["frames"]
    estimates = library.activities["Renderer.RenderFrame"].estimate

    assert scene_facts(setup.scene_file) == SceneFacts(WIDTH, HEIGHT, 100, "CYCLES", 4, 1, 6)
    assert (frames[0].scene.width, frames[0].scene.height, frames[0].scene.samples) == (
        WIDTH,
        HEIGHT,
        4,
    )
    assert estimates is not None
    assert [estimates(frame) for frame in frames] == [WIDTH // 2 * (HEIGHT // 2) * 4] * 3


def test_the_render_benchmark_renders_its_tiny_scene_and_counts_pixel_samples(
    setup: Setup,
) -> None:
    assert benchmark_render(setup.context) == 96 * 54 * 32 * 4


# Blender dithers as it turns a render into 8-bit pixels (its default intensity, 1.0): a noise of
# about one level (of 255) that follows each image's own pixel grid, so a tile's pixels and the
# same pixels of the whole frame may differ by up to one level each way.
DITHER_LEVELS = 2


def stitched_and_untiled(
    context: ActivityContext, scene: Scene, count: int, padding: int
) -> tuple[list[TileImage], bytes, bytes]:
    """Frame 4 rendered as `count` tiles and stitched, and rendered whole: the tiles, the still's
    pixels and the whole frame's."""
    frame = Frame(scene, 4)
    parts = [render_tile(context, tile) for tile in split_tiles(frame, count, padding)]
    still = stitch(context, list(reversed(parts)))  # any order: each tile knows its place
    assert {(part.width, part.height) for part in parts} != {(WIDTH, HEIGHT)}  # parts, not frames
    assert (still.frame, still.width, still.height) == (4, WIDTH, HEIGHT)
    (tiled,) = pixels(context.file(still))
    (untiled,) = pixels(context.file(render_frame(context, frame)))
    return parts, tiled, untiled


@pytest.mark.parametrize(("count", "padding"), [(4, 8), (6, 3)])
def test_stitching_keeps_every_pixel_of_every_tile_and_the_still_matches_the_untiled_render(
    setup: Setup, count: int, padding: int
) -> None:
    parts, tiled, untiled = stitched_and_untiled(setup.context, setup.scene, count, padding)
    for part in parts:  # lossless: each pixel of the still is its tile's, exactly
        (image,) = pixels(setup.context.file(part), part.width, part.height)
        x, y, width, height = part.inner
        for row in range(y, y + height):
            start = ((row - part.y) * part.width + x - part.x) * 3
            assert tiled[(row * WIDTH + x) * 3 :][: width * 3] == image[start : start + width * 3]
    differences = [abs(a - b) for a, b in zip(tiled, untiled, strict=True)]
    assert max(differences) <= DITHER_LEVELS, "more apart than Blender's dither makes them"


def test_without_dithering_a_still_rendered_as_tiles_is_the_untiled_render_pixel_for_pixel(
    setup: Setup,
) -> None:
    scene_file = make_scene(setup.folder / "undithered.blend", "--dither", "0")
    store = LocalBlobStore(setup.folder / "blobs")
    scene = Scene.from_value(store.put_file(scene_file))
    _, tiled, untiled = stitched_and_untiled(setup.context, scene, 4, 8)
    assert tiled == untiled


def test_tiles_of_different_frames_or_a_missing_tile_are_not_stitched(setup: Setup) -> None:
    tiles = split_tiles(Frame(setup.scene, 1), 2, 2)
    parts = [render_tile(setup.context, tile) for tile in tiles]

    with pytest.raises(RenderError) as caught:
        stitch(setup.context, parts[:1])

    assert (
        caught.value.message == "cannot stitch: the tiles end at y=18, not at the frame's height 36"
    )


def test_the_still_example_renders_a_frame_as_tiles_on_this_machines_cores(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WIT_CACHE_DIR", str(setup.folder / "still-cache"))
    out = setup.folder / "still-out"

    result = asyncio.run(
        api.run_file(
            REPO / "examples" / "render_still.wit",
            {"frame": f"{setup.scene_file}@5", "count": "2"},
            out_dir=out,
            workers=2,
        )
    )

    assert result.status.value == "completed", result.error
    assert len(result.variables["parts"]) == 2
    still = Path(result.variables["still"]["path"])
    assert still == out / "frame_00005.png"
    assert len(pixels(still)[0]) == WIDTH * HEIGHT * 3
