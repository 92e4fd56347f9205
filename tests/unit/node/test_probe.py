"""The capability probe: GPUs and software read from the outputs real tools print, and the real
probe on this machine. nvidia-smi is not installed here, and Blender and FFmpeg versions other
than this machine's cannot be, so their outputs are given as recorded text through the probe's
`run`/`which` seams; everything else (the version file, this machine's probe) runs for real.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from witengine.node.probe import (
    first_line_version,
    nvidia_gpus,
    probe_capabilities,
    run_command,
    software,
)
from witengine.protocol import GpuInfo

NVIDIA_SMI_TWO_GPUS = """\
NVIDIA GeForce RTX 3090, 24576, 535.104.05
NVIDIA GeForce GTX 1080 Ti, 11264, 535.104.05
"""

NVIDIA_SMI_NO_MEMORY = "NVIDIA GH200 480GB, [N/A], 550.54.15\r\n"

BLENDER_3 = """\
Blender 3.4.1
\tbuild date: 2022-12-20
\tbuild time: 00:46:40
\tbuild commit date: 2022-12-19
\tbuild commit time: 11:21
\tbuild hash: 55485cb379f7
\tbuild platform: Linux
\tbuild type: release
\tbuild c flags:  -Wall -Wcast-align -Werror=implicit-function-declaration
\tbuild link flags:  -Wl,--version-script='/build/source/release/bin/blender.map'
\tbuild system: CMake
"""

BLENDER_4_WITH_WARNINGS = """\
Color management: using fallback mode for management
ALSA lib confmisc.c:855:(parse_card) cannot find card '0'
Blender 4.2.1 LTS
\tbuild date: 2024-08-19
\tbuild hash: 396f546c9d82
"""

FFMPEG_DEBIAN = """\
ffmpeg version 5.1.6-0+deb12u1 Copyright (c) 2000-2024 the FFmpeg developers
built with gcc 12 (Debian 12.2.0-14)
configuration: --prefix=/usr --extra-version=0+deb12u1 --toolchain=hardened
libavutil      57. 28.100 / 57. 28.100
libavcodec     59. 37.100 / 59. 37.100
"""

FFMPEG_STATIC = """\
ffmpeg version 6.1-static https://johnvansickle.com/ffmpeg/  Copyright (c) 2000-2023 the FFmpeg \
developers
built with gcc 8 (Debian 8.3.0-6)
"""


class Machine:
    """Recorded outputs by program name, and which programs are on the PATH."""

    def __init__(self, outputs: dict[str, str | None], bin_dir: Path = Path("/usr/bin")) -> None:
        self.outputs = outputs
        self.bin_dir = bin_dir
        self.commands: list[tuple[list[str], float]] = []

    def which(self, program: str) -> str | None:
        return str(self.bin_dir / program) if program in self.outputs else None

    def run(self, command: Sequence[str], timeout: float) -> str | None:
        self.commands.append((list(command), timeout))
        return self.outputs[command[0]]


def test_every_gpu_nvidia_smi_lists_is_reported_with_memory_and_driver() -> None:
    machine = Machine({"nvidia-smi": NVIDIA_SMI_TWO_GPUS})
    assert nvidia_gpus(machine.run, machine.which) == [
        GpuInfo(
            vendor="nvidia",
            name="NVIDIA GeForce RTX 3090",
            memory_bytes=24576 * 1024 * 1024,
            driver="535.104.05",
        ),
        GpuInfo(
            vendor="nvidia",
            name="NVIDIA GeForce GTX 1080 Ti",
            memory_bytes=11264 * 1024 * 1024,
            driver="535.104.05",
        ),
    ]
    ((command, timeout),) = machine.commands
    assert command[0] == "nvidia-smi"
    assert "--query-gpu=name,memory.total,driver_version" in command
    assert "--format=csv,noheader,nounits" in command
    assert 0 < timeout <= 10


def test_a_gpu_whose_memory_nvidia_smi_cannot_tell_has_none() -> None:
    machine = Machine({"nvidia-smi": NVIDIA_SMI_NO_MEMORY})
    assert nvidia_gpus(machine.run, machine.which) == [
        GpuInfo(vendor="nvidia", name="NVIDIA GH200 480GB", memory_bytes=None, driver="550.54.15")
    ]


@pytest.mark.parametrize(
    "outputs",
    [
        {},  # no nvidia-smi on the PATH
        {"nvidia-smi": None},  # it failed: no driver loaded, or it hung past its timeout
        {"nvidia-smi": ""},
        {"nvidia-smi": "No devices were found\n"},
        {"nvidia-smi": " , 1024, 535.104.05\nnot, csv\n"},
    ],
)
def test_no_usable_nvidia_smi_output_means_no_gpu(outputs: dict[str, str | None]) -> None:
    machine = Machine(outputs)
    assert nvidia_gpus(machine.run, machine.which) == []


@pytest.mark.parametrize(
    ("output", "prefix", "version"),
    [
        (BLENDER_3, "Blender", "3.4.1"),
        (BLENDER_4_WITH_WARNINGS, "Blender", "4.2.1"),
        (FFMPEG_DEBIAN, "ffmpeg version", "5.1.6-0+deb12u1"),
        (FFMPEG_STATIC, "ffmpeg version", "6.1-static"),
        ("", "Blender", None),
        (None, "Blender", None),
        ("Blender\n", "Blender", None),
        ("Error: not a version\n", "Blender", None),
    ],
)
def test_a_version_is_read_from_the_line_that_starts_with_the_program_name(
    output: str | None, prefix: str, version: str | None
) -> None:
    assert first_line_version(output, prefix) == version


def test_blender_and_ffmpeg_versions_are_reported_as_software() -> None:
    machine = Machine({"blender": BLENDER_4_WITH_WARNINGS, "ffmpeg": FFMPEG_DEBIAN})
    assert software(machine.run, machine.which) == {
        "python": platform.python_version(),
        "blender": "4.2.1",
        "ffmpeg": "5.1.6-0+deb12u1",
    }
    assert [command for command, _ in machine.commands] == [
        ["blender", "--version"],
        ["ffmpeg", "-version"],
    ]


def test_software_that_is_absent_or_fails_is_left_out() -> None:
    machine = Machine({"blender": None})
    assert software(machine.run, machine.which) == {"python": platform.python_version()}


def _programs(folder: Path, *names: str) -> Path:
    """Program files in `folder` for `Machine.which` to find (their content is never run)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_text(f"#!/bin/sh\n# {name} build 1\n")
    return folder


def test_versions_are_remembered_per_program_file_and_not_asked_again(tmp_path: Path) -> None:
    programs = _programs(tmp_path / "bin", "blender", "ffmpeg")
    remember = tmp_path / "cache" / "software.json"
    first = Machine({"blender": BLENDER_3, "ffmpeg": FFMPEG_DEBIAN}, programs)
    found = software(first.run, first.which, remember)
    assert found["blender"] == "3.4.1" and found["ffmpeg"] == "5.1.6-0+deb12u1"
    assert len(first.commands) == 2
    again = Machine({"blender": BLENDER_3, "ffmpeg": FFMPEG_DEBIAN}, programs)
    assert software(again.run, again.which, remember) == found
    assert again.commands == []  # both read from the file


def test_a_program_file_that_changed_is_asked_again(tmp_path: Path) -> None:
    programs = _programs(tmp_path / "bin", "blender", "ffmpeg")
    remember = tmp_path / "software.json"
    old = Machine({"blender": BLENDER_3, "ffmpeg": FFMPEG_DEBIAN}, programs)
    software(old.run, old.which, remember)
    (programs / "blender").write_text("#!/bin/sh\n# blender build 2, a longer file\n")
    stat = (programs / "blender").stat()
    os.utime(programs / "blender", ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    upgraded = Machine({"blender": BLENDER_4_WITH_WARNINGS, "ffmpeg": FFMPEG_DEBIAN}, programs)
    assert software(upgraded.run, upgraded.which, remember)["blender"] == "4.2.1"
    assert [command[0] for command, _ in upgraded.commands] == ["blender"]
    kept = json.loads(remember.read_text())
    assert kept["blender"]["version"] == "4.2.1" and kept["ffmpeg"]["version"] == "5.1.6-0+deb12u1"


def test_a_failed_answer_is_not_remembered_and_a_broken_file_is_ignored(tmp_path: Path) -> None:
    programs = _programs(tmp_path / "bin", "blender")
    remember = tmp_path / "software.json"
    remember.write_text("{not json")
    failing = Machine({"blender": None}, programs)
    assert "blender" not in software(failing.run, failing.which, remember)
    working = Machine({"blender": BLENDER_3}, programs)
    assert software(working.run, working.which, remember)["blender"] == "3.4.1"
    assert len(working.commands) == 1  # asked, since the failure was not kept
    assert json.loads(remember.read_text())["blender"]["version"] == "3.4.1"


def test_a_version_file_that_cannot_be_written_only_costs_the_question(tmp_path: Path) -> None:
    programs = _programs(tmp_path / "bin", "blender")
    blocked = tmp_path / "a-file"
    blocked.write_text("in the way of the cache folder")
    machine = Machine({"blender": BLENDER_3}, programs)
    assert software(machine.run, machine.which, blocked / "software.json")["blender"] == "3.4.1"


def test_this_machine_is_probed_without_error_and_without_a_gpu() -> None:
    if shutil.which("nvidia-smi") is not None:
        pytest.skip("this machine has nvidia-smi; the test is for a machine without a GPU")
    capabilities = probe_capabilities()
    assert capabilities.gpus == []
    assert capabilities.os == platform.system()
    assert capabilities.arch == platform.machine()
    assert capabilities.cores >= 1 and capabilities.ram_bytes > 0
    assert capabilities.software["python"] == platform.python_version()
    for program in ("blender", "ffmpeg"):
        assert (program in capabilities.software) == (shutil.which(program) is not None)


def test_running_a_command_gives_its_output_or_none() -> None:
    assert run_command([sys.executable, "-c", "print('ready')"], 30.0) == "ready\n"
    assert run_command([sys.executable, "-c", "import sys; sys.exit(3)"], 30.0) is None
    assert run_command(["/nonexistent/witengine-tool", "--version"], 30.0) is None


def test_a_command_that_hangs_is_given_up_on() -> None:
    hang = [sys.executable, "-c", "import time; time.sleep(60)"]
    assert run_command(hang, 0.5) is None
