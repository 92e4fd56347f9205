"""How Video.Compose asks FFmpeg for a video: codecs by name, the frame rate, the command."""

from __future__ import annotations

from pathlib import Path

import pytest

from witengine.plugins.video import Video
from witengine.plugins.video.ffmpeg import VideoError, codec_named, compose_command, frame_rate


@pytest.mark.parametrize(
    ("name", "encoder", "container"),
    [
        (None, "libx264", "mp4"),
        ("H.264", "libx264", "mp4"),
        ("hevc", "libx265", "mp4"),
        ("vp9", "libvpx-vp9", "webm"),
        ("prores", "prores_ks", "mov"),
        ("ffv1", "ffv1", "mkv"),
    ],
)
def test_codecs_are_known_by_their_names(name: str | None, encoder: str, container: str) -> None:
    codec = codec_named(name)

    assert (codec.encoder, codec.container) == (encoder, container)


def test_an_unknown_codec_lists_the_known_ones() -> None:
    with pytest.raises(VideoError) as caught:
        codec_named("divx")

    assert str(caught.value) == "unknown codec 'divx'; use h264, h265, vp9, prores, ffv1"


@pytest.mark.parametrize(
    ("fps", "text"), [(24.0, "24"), (29.97, "29.97"), (23.976024, "23.976024")]
)
def test_the_frame_rate_is_written_without_trailing_zeros(fps: float, text: str) -> None:
    assert frame_rate(fps) == text


def test_h264_pads_to_an_even_size_and_keeps_the_frames_in_order() -> None:
    command = compose_command(
        "ffmpeg", Path("/w/frames"), "png", 24.0, codec_named(None), Path("/w/video.mp4"), 2
    )

    assert command == [
        "ffmpeg",
        "-hide_banner",
        "-loglevel",
        "error",
        "-nostdin",
        "-y",
        "-framerate",
        "24",
        "-start_number",
        "1",
        "-i",
        "/w/frames/%06d.png",
        "-vf",
        "pad=ceil(iw/2)*2:ceil(ih/2)*2",
        "-c:v",
        "libx264",
        "-pix_fmt",
        "yuv420p",
        "-crf",
        "18",
        "-preset",
        "medium",
        "-movflags",
        "+faststart",
        "-threads",
        "2",
        "/w/video.mp4",
    ]


def test_a_video_makes_the_same_value_from_its_json() -> None:
    video = Video(
        "ef" * 32, 5000, "video.mp4", frames=48, width=320, height=180, fps=24.0, codec="h264"
    )

    assert Video.from_json(video.to_json()) == video
