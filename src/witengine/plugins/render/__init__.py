"""The `render` plugin: Blender scenes, frames and images, and rendering them on nodes.

A job names frames as `frames=shot.blend@1-48` (optionally followed by options such as
`samples=16`); the .blend travels as a blob, and every Frame refers to it by its sha256.
`Renderer.RenderFrame` renders one frame; given a batch, its batch form renders the frames of
one scene in one Blender process and hands back each image as soon as it is written.

Results of untrusted nodes are compared with another node's: frames and tiles as lists are
equal (`EXACT`), rendered images within `RENDERED`, a tolerance set from measurements; an
expensive frame is checked instead by a trusted node's render of a random crop of it
(`CROPPED`, `Renderer.RenderCrop`).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path, PurePath
from typing import Any

from witengine import __version__
from witengine.plugins.api import (
    EXACT,
    ActivityContext,
    Files,
    ImagesWithin,
    Int,
    Plugin,
    Requirements,
    TrustedCrop,
)
from witengine.plugins.render.benchmark import PIXEL_SAMPLES, benchmark_render
from witengine.plugins.render.blender import FrameCrop, Outcome, render_frames
from witengine.plugins.render.blendfile import scene_facts
from witengine.plugins.render.command import CropBox
from witengine.plugins.render.errors import RenderError, RenderFailure
from witengine.plugins.render.frames import parse_frame_spec
from witengine.plugins.render.images import ImageDefect, png_facts
from witengine.plugins.render.pack import pack_scene
from witengine.plugins.render.references import check_scene
from witengine.plugins.render.stitch import stitch_command, stitch_plan
from witengine.plugins.render.types import (
    DEFAULT_PADDING,
    Frame,
    Image,
    RenderOptions,
    Scene,
    Tile,
    TileImage,
    frames_of,
    parse_frames_text,
    split_tiles,
)
from witengine.runtime.values import ConversionError

plugin = Plugin("render", version=__version__, summary="Blender scenes rendered frame by frame")

# Two renders of one frame agree when no 64x64 square of them has more than 4 pixels (0.001 of
# it) with a channel more than 2 (of 255) apart. Measured by bench/render_tolerance.py on the
# sample scene (Cycles on the CPU, Blender 3.4), against 1 thread with AVX2 kernels: 2 threads,
# 8-pixel tiles, and the AVX or SSE2 kernels of older CPUs gave the same pixels at 320x180 and
# 64 samples (the kernels' floats differ, 28 % of values by up to 0.0005, which 8 bits round
# away), and at 640x360 and 32 samples 0.002 % of pixels 1 apart. Rejected, with room (the
# worst square's pixels beyond 2 at 320x180 / 640x360): a black frame (100 %), the frame shifted
# by one pixel (28 / 62 %; 61 % at 1920x1080), the next frame (95 / 100 %), an eighth of the
# samples (63 / 94 %), the same frame with another seed (20 / 58 %). Not measured here: GPUs,
# other Blender versions, ARM CPUs; the room is for their rounding and the rare path that
# diverges.
RENDERED = ImagesWithin(level=2, share=0.001)
# An expensive frame (a million pixel-samples or more: any real frame; a 1920x1080 frame at one
# sample is two) is checked by a trusted node's render of a random twentieth of it rather than
# by a second owner's whole render; a cheaper one (a preview, a test) is replicated.
CROPPED = TrustedCrop(by="Renderer.RenderCrop", share=0.05, within=RENDERED, above=1_000_000)

plugin.type("Scene", accepts=("Blob",), members={"Name": "String", "Size": "Long"})(Scene)
plugin.type(
    "RenderOptions",
    accepts=("String",),
    members={
        "Engine": "String",
        "Samples": "Int",
        "Percent": "Int",
        "Format": "String",
        "Device": "String",
    },
)(RenderOptions)
plugin.type(
    "Frame",
    accepts=(),
    members={"Scene": "Scene", "Number": "Int", "Options": "RenderOptions"},
)(Frame)
plugin.type(
    "FrameTile",
    accepts=(),
    members={"Frame": "Frame", "Column": "Int", "Row": "Int", "Columns": "Int", "Rows": "Int"},
)(Tile)
plugin.type(
    "TileImage",
    accepts=(),
    members={"Frame": "Int", "Column": "Int", "Row": "Int", "Width": "Int", "Height": "Int"},
)(TileImage)
plugin.type(
    "Image",
    accepts=("Blob",),
    members={"Frame": "Int", "Width": "Int", "Height": "Int", "Name": "String"},
)(Image)


def _scene(files: Files, path: str) -> Scene:
    """The .blend at `path`, packed, with the render size it says it has. RenderError when it
    refers to a file it does not carry (references.py): on the hub, whichever way the job came,
    and on the submitting machine after packing, before anything is sent."""
    blob = files(path, pack_scene)
    local = files.local(blob)
    name = blob.name or PurePath(path).name or "scene.blend"
    facts = None if local is None else check_scene(local, name, absent=True).facts
    if facts is None:
        return Scene.from_value(blob)
    return Scene(
        blob.sha256,
        blob.size,
        blob.name,
        width=facts.width,
        height=facts.height,
        percent=facts.percent,
        engine=facts.engine,
        samples=facts.samples,
    )


@plugin.reader("Scene")
def read_scene(text: str, files: Files) -> Scene:
    """`shot.blend`: the file."""
    return _scene(files, text.strip())


@plugin.reader("FrameCollection")
def read_frames(text: str, files: Files) -> list[Frame]:
    """`shot.blend@1-10,15,20-30x2 samples=16 percent=50`: those frames of the file's scene."""
    found = parse_frames_text(text)
    return frames_of(_scene(files, found.path), found.frames, found.options)


@plugin.reader("Frame")
def read_frame(text: str, files: Files) -> Frame:
    """`shot.blend@12`: one frame of the file's scene."""
    found = parse_frames_text(text)
    if len(found.frames) != 1:
        raise ConversionError(f"'{text}' names {len(found.frames)} frames, and a Frame is one")
    return Frame(_scene(files, found.path), found.frames[0], found.options)


@plugin.activity("Render.Frames", compare=EXACT)
def frames(scene: Scene, spec: str, options: RenderOptions | None = None) -> list[Frame]:
    """The frames of a scene that a spec names (`1-10,15,20-30x2`), in its order."""
    return frames_of(scene, parse_frame_spec(spec), options or RenderOptions())


@plugin.activity(
    "Renderer.RenderFrame",
    requires=Requirements(software="blender>=3.0"),
    unit=PIXEL_SAMPLES,
    estimate=Frame.pixel_samples,
    compare=CROPPED,
)
def render_frame(context: ActivityContext, frame: Frame) -> Image:
    """The frame rendered by Blender on this machine, as an image file."""
    for _, result in render_frames(context, [frame]):
        if isinstance(result, RenderError):
            raise result
        return result
    raise RenderError(RenderFailure.FAILED, f"{frame}: no image came back")


@plugin.batch("Renderer.RenderFrame")
def render_frame_batch(
    context: ActivityContext, items: Sequence[Sequence[Any]]
) -> Iterator[Outcome]:
    """Every frame of the batch, those of one scene and options in one Blender process."""
    return render_frames(context, [frame for (frame,) in items])


@plugin.benchmark("Renderer.RenderFrame")
def render_frame_benchmark(context: ActivityContext) -> float:
    """Frames of a tiny built-in scene, rendered by one Blender process as a batch is."""
    return benchmark_render(context)


@plugin.activity(
    "Renderer.RenderCrop",
    requires=Requirements(software="blender>=3.0"),
    unit=PIXEL_SAMPLES,
    estimate=lambda frame, x, y, width, height: crop_pixel_samples(frame, width, height),
)
def render_crop(
    context: ActivityContext, frame: Frame, x: Int, y: Int, width: Int, height: Int
) -> Image:
    """A crop of the frame, `width` x `height` pixels at (`x`, `y`) from its top left, rendered
    alone by Blender (a border render): what a trusted node renders to check an untrusted
    node's frame. It declares no comparison, so it never runs on untrusted nodes."""
    crop = FrameCrop(frame, CropBox(x, y, width, height))
    for _, result in render_frames(context, [crop]):
        if isinstance(result, RenderError):
            raise result
        return result
    raise RenderError(RenderFailure.FAILED, f"{frame}: no image of the crop came back")


def crop_pixel_samples(frame: Frame, width: int, height: int) -> float:
    """A crop's work: its share of the frame's pixels, times the frame's work."""
    percent = frame.options.percent or frame.scene.percent or 100
    pixels = ((frame.scene.width or 1920) * percent // 100) * (
        (frame.scene.height or 1080) * percent // 100
    )
    return frame.pixel_samples() * min(1.0, width * height / max(1, pixels))


@plugin.activity("Render.SplitTiles", compare=EXACT)
def split(frame: Frame, count: Int, padding: Int = DEFAULT_PADDING) -> list[Tile]:
    """A frame as `count` tiles (a grid as near square as count allows), to render apart."""
    return split_tiles(frame, count, padding)


@plugin.activity(
    "Renderer.RenderTile",
    requires=Requirements(software="blender>=3.0"),
    unit=PIXEL_SAMPLES,
    estimate=Tile.pixel_samples,
    compare=RENDERED,
)
def render_tile(context: ActivityContext, tile: Tile) -> TileImage:
    """One tile of a frame rendered by Blender, with its padding (Render.StitchTiles joins)."""
    for _, result in render_frames(context, [tile]):
        if isinstance(result, RenderError):
            raise result
        if isinstance(result, TileImage):
            return result
    raise RenderError(RenderFailure.FAILED, f"{tile}: no image came back")


@plugin.benchmark("Renderer.RenderTile")
def render_tile_benchmark(context: ActivityContext) -> float:
    """The render benchmark: a tile renders as fast as a frame, pixel for pixel."""
    return benchmark_render(context)


@plugin.activity("Render.StitchTiles", requires=Requirements(software="ffmpeg"), compare=RENDERED)
def stitch(context: ActivityContext, tiles: list[TileImage]) -> Image:
    """The frame the tiles make: each tile cropped of its padding and put in its place."""
    plan = stitch_plan(tiles)
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise RenderError(
            RenderFailure.FAILED,
            "FFmpeg is not installed on this machine (scripts/bootstrap.sh ffmpeg installs it)",
        )
    first = tiles[0]
    folder = Path(tempfile.mkdtemp(prefix="stitch-", dir=context.work_dir))
    try:
        output = folder / f"frame_{first.frame:05d}.png"
        files = {tile.sha256: context.file(tile) for tile in tiles}
        done = subprocess.run(
            stitch_command(ffmpeg, plan, files, output),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=600,
            check=False,
        )
        try:
            facts = png_facts(output.read_bytes())
        except (OSError, ImageDefect) as error:
            said = " | ".join(done.stderr.strip().splitlines()[-3:])
            raise RenderError(
                RenderFailure.FAILED, f"FFmpeg did not stitch the tiles ({error}): {said}"
            ) from None
        if (facts.width, facts.height) != (first.full_width, first.full_height):
            raise RenderError(
                RenderFailure.BAD_IMAGE,
                f"the stitched frame is {facts.width}x{facts.height}, not "
                f"{first.full_width}x{first.full_height}",
            )
        blob = context.save_file(output)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return Image(
        blob.sha256,
        blob.size,
        blob.name,
        frame=first.frame,
        width=facts.width,
        height=facts.height,
        fps=first.fps,
    )


# The published job (examples/render_animation.wit, as `wit fmt` writes it): what a .blend
# dropped into a watched folder runs, over the file's own frame range and settings.
ANIMATION_JOB = """\
Job:RenderAnimation(FrameCollection:frames)
{
    ~ Distribute rendering across all available machines ~
    ImageCollection:images = Grid.ForEach(frame in frames) => Renderer.RenderFrame(frame);
    Video:result = Video.Compose(images);
}
"""


def _animation_parameters(path: str) -> dict[str, str]:
    """`frames=PATH@START-END[xSTEP]`: the scene's own frame range, read from the file."""
    facts = scene_facts(Path(path))
    if facts is None:
        raise ConversionError(f"{path}: cannot read its scene's frame range (is it a .blend?)")
    if facts.frame_end < facts.frame_start:
        raise ConversionError(
            f"{path}: its frame range ends ({facts.frame_end}) before it starts "
            f"({facts.frame_start})"
        )
    step = f"x{facts.frame_step}" if facts.frame_step > 1 else ""
    return {"frames": f"{path}@{facts.frame_start}-{facts.frame_end}{step}"}


plugin.job_file(".blend", script=ANIMATION_JOB, parameters=_animation_parameters)
