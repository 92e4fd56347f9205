"""Blender's command line, environment and output, read without starting Blender: what a run
looks like, which frame it is on, what it wrote, and each kind of failure named from real lines."""

from __future__ import annotations

import dataclasses
import signal
from pathlib import Path

import pytest

from witengine.plugins.render.command import (
    BlenderRun,
    TileCell,
    blender_command,
    blender_environment,
    setup_settings,
)
from witengine.plugins.render.errors import RenderError, RenderFailure
from witengine.plugins.render.progress import (
    FrameStarted,
    ImageSaved,
    OutputReader,
    SampleDone,
    SceneReported,
    SetupFailed,
    classify,
)
from witengine.plugins.render.types import RenderOptions

RUN = BlenderRun(
    scene=Path("/work/render-1/scene.blend"),
    frames=[1, 2, 3, 4, 9],
    options=RenderOptions(samples=8, format="JPEG"),
    folder=Path("/work/render-1"),
    setup=Path("/plugin/blender_setup.py"),
    threads=2,
)


def test_one_process_renders_every_frame_of_a_run_with_the_options_in_blenders_order() -> None:
    assert blender_command("/usr/bin/blender", RUN) == [
        "/usr/bin/blender",
        "--factory-startup",
        "-noaudio",
        "-Y",
        "-b",
        "--python-exit-code",
        "1",
        "/work/render-1/scene.blend",
        "-o",
        "/work/render-1/out/frame_#####",
        "-F",
        "JPEG",
        "-x",
        "1",
        "-t",
        "2",
        "-P",
        "/plugin/blender_setup.py",
        "-f",
        "1..4,9",
        "--",
        "/work/render-1/config.json",
    ]
    assert setup_settings(RUN) == {
        "frames": [1, 2, 3, 4, 9],
        "engine": None,
        "samples": 8,
        "percent": None,
        "device": "CPU",
        "tile": None,
        "serve": False,
        "name": "scene.blend",
        "folder": "/work/render-1",
    }
    serving = dataclasses.replace(RUN, frames=(), serve=True)
    assert "-f" not in blender_command("/usr/bin/blender", serving)
    assert blender_command("/usr/bin/blender", serving)[-2:] == ["--", "/work/render-1/config.json"]
    assert setup_settings(serving)["serve"] is True
    tiled = dataclasses.replace(RUN, tile=TileCell(column=1, row=0, columns=2, rows=2, padding=8))
    assert setup_settings(tiled)["tile"] == {
        "column": 1,
        "row": 0,
        "columns": 2,
        "rows": 2,
        "padding": 8,
    }


def test_blender_runs_with_a_user_config_of_its_own_and_nothing_that_loads_foreign_python() -> None:
    environment = blender_environment(
        {
            "PATH": "/usr/bin",
            "HOME": "/home/artist",
            "PYTHONPATH": "/venv/lib",
            "BLENDER_USER_SCRIPTS": "/home/artist/addons",
            "VIRTUAL_ENV": "/venv",
        },
        RUN,
    )

    assert environment == {
        "PATH": "/usr/bin",
        "HOME": "/home/artist",
        "BLENDER_USER_CONFIG": "/work/render-1/config",
        "BLENDER_USER_SCRIPTS": "/work/render-1/scripts",
        "BLENDER_USER_DATAFILES": "/work/render-1/datafiles",
        "TMPDIR": "/work/render-1/tmp",
        "TEMP": "/work/render-1/tmp",
        "TMP": "/work/render-1/tmp",
        "PYTHONNOUSERSITE": "1",
    }


# Lines as Blender 3.4 prints them (shortened where they repeat).
RENDER_OUTPUT = [
    "Blender 3.4.1",
    "Read blend: /work/render-1/scene.blend",
    'WIT {"kind": "scene", "blender": "3.4.1", "engine": "CYCLES", "device": "CPU", '
    '"width": 64, "height": 36, "fps": 24.0, "paths": {"1": "/work/render-1/out/frame_00001.png",'
    ' "2": "/work/render-1/out/frame_00002.png"}}',
    "Fra:1 Mem:9.36M (Peak 13.48M) | Time:00:00.00 | Mem:0.00M, Peak:0.00M | Scene, ViewLayer | "
    "Synchronizing object | Cube",
    "Fra:1 Mem:9.95M (Peak 13.48M) | Time:00:00.00 | Mem:0.91M, Peak:0.91M | Scene, ViewLayer | "
    "Sample 0/16",
    "Fra:1 Mem:11.72M (Peak 13.48M) | Time:00:00.73 | Mem:1.79M, Peak:1.79M | Scene, ViewLayer | "
    "Sample 16/16",
    "Saved: '/work/render-1/out/frame_00001.png'",
    " Time: 00:00.75 (Saving: 00:00.00)",
    "",
    "Fra:2 Mem:9.36M (Peak 13.48M) | Time:00:00.00 | Mem:0.00M, Peak:0.00M | Scene, ViewLayer | "
    "Updating Images",
]


def test_the_output_says_which_frame_renders_how_far_it_is_and_what_was_written() -> None:
    reader = OutputReader()

    events = [e for e in map(reader.read, RENDER_OUTPUT) if e is not None]

    assert events == [
        SceneReported(
            width=64,
            height=36,
            fps=24.0,
            device="CPU",
            engine="CYCLES",
            blender="3.4.1",
            paths={
                1: "/work/render-1/out/frame_00001.png",
                2: "/work/render-1/out/frame_00002.png",
            },
        ),
        FrameStarted(1),
        SampleDone(1, 0, 16),
        SampleDone(1, 16, 16),
        ImageSaved("/work/render-1/out/frame_00001.png"),
        FrameStarted(2),
    ]
    assert reader.frame == 2
    assert reader.last[-1] == " Time: 00:00.75 (Saving: 00:00.00)"


def test_a_failure_the_setup_script_explains_keeps_its_kind_and_words() -> None:
    line = (
        'WIT {"kind": "error", "failure": "missing-files", "message": "the scene uses files that '
        'are missing: //textures/brick.png (image \'brick\')", "files": []}'
    )

    assert OutputReader().read(line) == SetupFailed(
        RenderError(
            RenderFailure.MISSING_FILES,
            "the scene uses files that are missing: //textures/brick.png (image 'brick')",
        )
    )


@pytest.mark.parametrize(
    ("code", "last", "frame", "failure", "message"),
    [
        (
            -signal.SIGSEGV,
            ["Fra:7 …", "Writing: /tmp/scene.crash.txt"],
            7,
            RenderFailure.CRASHED,
            "shot.blend, frame 7: Blender crashed (SIGSEGV); last output: Fra:7 … | "
            "Writing: /tmp/scene.crash.txt",
        ),
        (
            -signal.SIGKILL,
            [],
            3,
            RenderFailure.OUT_OF_MEMORY,
            "shot.blend, frame 3: Blender was killed (SIGKILL), most likely by the system for "
            "using too much memory",
        ),
        (
            -signal.SIGABRT,
            ["Error: System is out of GPU memory", "Blender quit"],
            12,
            RenderFailure.OUT_OF_MEMORY,
            "shot.blend, frame 12: Blender ran out of memory: Error: System is out of GPU memory",
        ),
        (
            1,
            ["Error: Malloc returns null: len=1073741824 in CDDerivedMesh, total 2147483648"],
            None,
            RenderFailure.OUT_OF_MEMORY,
            "shot.blend: Blender ran out of memory: Error: Malloc returns null: len=1073741824 in "
            "CDDerivedMesh, total 2147483648",
        ),
        (
            1,
            [
                "Read blend: /work/scene.blend",
                "Error: Failed to read blend file '/work/scene.blend'",
            ],
            None,
            RenderFailure.BAD_SCENE,
            "shot.blend: Blender cannot read the scene: Error: Failed to read blend file "
            "'/work/scene.blend'",
        ),
        (
            1,
            ["Error: Python: Traceback (most recent call last):", "RuntimeError: boom", "", "x"],
            None,
            RenderFailure.FAILED,
            "shot.blend: Blender exited with code 1; last output: Error: Python: Traceback (most "
            "recent call last): | RuntimeError: boom | x",
        ),
        (
            0,
            ["Blender quit"],
            None,
            RenderFailure.FAILED,
            "shot.blend: Blender ended without writing frames 4, 9",
        ),
    ],
)
def test_a_run_that_ends_early_is_classified_from_its_exit_and_last_lines(
    code: int, last: list[str], frame: int | None, failure: RenderFailure, message: str
) -> None:
    error = classify(code, [line for line in last if line], frame, "shot.blend", [9, 4])

    assert (error.failure, error.message) == (failure, message)
