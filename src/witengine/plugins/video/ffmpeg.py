"""How a video is made from images with FFmpeg: the codecs offered and the command line. Pure:
nothing here starts a process.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from witengine.errors import WitError


class VideoError(WitError):
    """A video could not be made; the message says why."""


@dataclass(frozen=True)
class Codec:
    name: str
    encoder: str
    container: str  # the file extension
    options: tuple[str, ...]
    even: bool = True  # its pixel format needs an even width and height


CODECS = {
    codec.name: codec
    for codec in (
        Codec(
            "h264",
            "libx264",
            "mp4",
            ("-pix_fmt", "yuv420p", "-crf", "18", "-preset", "medium", "-movflags", "+faststart"),
        ),
        Codec("h265", "libx265", "mp4", ("-pix_fmt", "yuv420p", "-crf", "22", "-tag:v", "hvc1")),
        Codec("vp9", "libvpx-vp9", "webm", ("-pix_fmt", "yuv420p", "-crf", "30", "-b:v", "0")),
        Codec("prores", "prores_ks", "mov", ("-profile:v", "3", "-pix_fmt", "yuv422p10le")),
        Codec("ffv1", "ffv1", "mkv", ("-level", "3"), even=False),  # lossless
    )
}
ALIASES = {"h.264": "h264", "avc": "h264", "x264": "h264", "hevc": "h265", "h.265": "h265"}
DEFAULT_CODEC = "h264"
DEFAULT_FPS = 24.0
INPUT_PATTERN = "%06d"


def codec_named(name: str | None) -> Codec:
    key = (name or DEFAULT_CODEC).strip().lower()
    codec = CODECS.get(ALIASES.get(key, key))
    if codec is None:
        raise VideoError(f"unknown codec '{name}'; use {', '.join(CODECS)}")
    return codec


def frame_rate(text: float) -> str:
    """`24.0` -> `24`, `29.97` -> `29.97`: how FFmpeg is told the rate."""
    return f"{text:.6f}".rstrip("0").rstrip(".")


def even(size: int) -> int:
    return size + size % 2


def compose_command(
    ffmpeg: str,
    frames: Path,  # a folder of 000001.<extension>, 000002.<extension> … in order
    extension: str,
    fps: float,
    codec: Codec,
    output: Path,
    threads: int | None = None,
) -> list[str]:
    padding: Sequence[str] = ("-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2") if codec.even else ()
    return [
        ffmpeg,
        "-hide_banner",
        "-loglevel",
        "error",
        "-nostdin",
        "-y",
        "-framerate",
        frame_rate(fps),
        "-start_number",
        "1",
        "-i",
        str(frames / f"{INPUT_PATTERN}.{extension}"),
        *padding,
        "-c:v",
        codec.encoder,
        *codec.options,
        *(("-threads", str(threads)) if threads else ()),
        str(output),
    ]


def probe_command(ffprobe: str, video: Path) -> list[str]:
    """FFprobe's count of the video's frames and its size, as JSON."""
    return [
        ffprobe,
        "-v",
        "error",
        "-select_streams",
        "v:0",
        "-count_frames",
        "-show_entries",
        "stream=nb_read_frames,width,height",
        "-of",
        "json",
        str(video),
    ]
