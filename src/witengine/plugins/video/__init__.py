"""The `video` plugin: images made into a video with FFmpeg (`Video.Compose`), H.264 in MP4 by
default, frames in the order of the collection. It uses the render plugin's Image type.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

from witengine import __version__
from witengine.plugins.api import ActivityContext, Blob, Double, Plugin, Requirements
from witengine.plugins.render.types import Image
from witengine.plugins.video.ffmpeg import (
    DEFAULT_FPS,
    VideoError,
    codec_named,
    compose_command,
    even,
    probe_command,
)
from witengine.runtime.values import ConversionError

plugin = Plugin("video", version=__version__, summary="videos made from images with FFmpeg")


@plugin.type(
    "Video",
    accepts=("Blob",),
    members={
        "Frames": "Int",
        "Width": "Int",
        "Height": "Int",
        "Fps": "Double",
        "Codec": "String",
        "Name": "String",
    },
)
@dataclass(frozen=True)
class Video(Blob):
    """A video file by content, with its number of frames, size, frame rate and codec."""

    frames: int = 0
    width: int = 0
    height: int = 0
    fps: float = 0.0
    codec: str = ""

    @classmethod
    def from_value(cls, value: Any) -> Self:
        if isinstance(value, Blob):
            return cls(value.sha256, value.size, value.name)
        raise ConversionError(f"a Video is a video file, not {value!r}")

    def to_json(self) -> Any:
        return {
            "sha256": self.sha256,
            "size": self.size,
            "name": self.name,
            "frames": self.frames,
            "width": self.width,
            "height": self.height,
            "fps": self.fps,
            "codec": self.codec,
        }

    @classmethod
    def from_json(cls, data: Any) -> Self:
        return cls(
            str(data["sha256"]),
            int(data["size"]),
            str(data.get("name", "")),
            frames=int(data.get("frames", 0)),
            width=int(data.get("width", 0)),
            height=int(data.get("height", 0)),
            fps=float(data.get("fps", 0.0)),
            codec=str(data.get("codec", "")),
        )


@plugin.activity("Video.Compose", requires=Requirements(software="ffmpeg"))
def compose(
    context: ActivityContext,
    images: list[Image],
    fps: Double | None = None,
    codec: str | None = None,
) -> Video:
    """A video of the images in their order: H.264 in MP4 unless `codec` says otherwise
    (h264, h265, vp9, prores, ffv1), at `fps` or else the rate of the images' scene."""
    chosen = codec_named(codec)
    if not images:
        raise VideoError("there are no images to make a video of")
    rate = fps if fps else (images[0].fps or DEFAULT_FPS)
    if rate <= 0:
        raise VideoError(f"the frame rate must be above 0, not {rate:g}")
    extension = _one_extension(images)
    _one_size(images)
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise VideoError(
            "FFmpeg is not installed on this machine (scripts/bootstrap.sh ffmpeg installs it)"
        )
    with tempfile.TemporaryDirectory(prefix="compose-", dir=context.work_dir) as scratch:
        folder = Path(scratch)
        frames = folder / "frames"
        frames.mkdir()
        for number, image in enumerate(images, start=1):
            (frames / f"{number:06d}.{extension}").symlink_to(context.file(image))
        output = folder / f"video.{chosen.container}"
        command = compose_command(ffmpeg, frames, extension, rate, chosen, output, context.threads)
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0 or not output.is_file():
            said = (
                " | ".join(done.stderr.strip().splitlines()[-3:]) or f"exit code {done.returncode}"
            )
            raise VideoError(f"FFmpeg could not make the {chosen.name} video: {said}")
        width, height = _checked(output, len(images))
        blob = context.save_file(output, output.name)
    if not width:
        width = even(images[0].width) if chosen.even else images[0].width
        height = even(images[0].height) if chosen.even else images[0].height
    return Video(
        blob.sha256,
        blob.size,
        blob.name,
        frames=len(images),
        width=width,
        height=height,
        fps=rate,
        codec=chosen.name,
    )


def _one_extension(images: list[Image]) -> str:
    extensions = sorted({Path(image.name).suffix.lower().lstrip(".") or "png" for image in images})
    if len(extensions) > 1:
        raise VideoError(
            f"the images are of different formats ({', '.join(extensions)}); a video needs one"
        )
    return extensions[0]


def _one_size(images: list[Image]) -> None:
    sizes = {(image.width, image.height) for image in images if image.width and image.height}
    if len(sizes) > 1:
        first = images[0]
        odd = next(i for i in images if (i.width, i.height) != (first.width, first.height))
        raise VideoError(
            f"the images differ in size: {first.name} is {first.width}x{first.height}, "
            f"{odd.name} is {odd.width}x{odd.height}"
        )


def _checked(video: Path, frames: int) -> tuple[int, int]:
    """The video's size, once FFprobe has counted the frames we put in (0, 0 without FFprobe)."""
    ffprobe = shutil.which("ffprobe")
    if ffprobe is None:
        return 0, 0
    done = subprocess.run(
        probe_command(ffprobe, video), capture_output=True, text=True, check=False
    )
    try:
        stream = json.loads(done.stdout)["streams"][0]
        counted, width, height = (
            int(stream["nb_read_frames"]),
            int(stream["width"]),
            int(stream["height"]),
        )
    except (ValueError, KeyError, IndexError) as error:
        raise VideoError(f"FFprobe cannot read the video FFmpeg made: {error}") from None
    if counted != frames:
        raise VideoError(f"the video has {counted} frames, not the {frames} images given")
    return width, height
