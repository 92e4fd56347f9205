"""The capability probe: GPUs and software read from the outputs real tools print, and the real
probe on this machine. nvidia-smi, RenderMan and POV-Ray are not installed here, and Python,
Blender and FFmpeg versions other than this machine's cannot be, so their outputs are given as
recorded text through the probe's `run`/`which` seams; everything else (the version file, the
version command, this machine's probe) runs for real.
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
    nvidia_gpus,
    probe_capabilities,
    run_command,
    software,
)
from witengine.plugins.detection import KNOWN_TOOLS, Tool, hidden_tools, tool_named
from witengine.plugins.programs import version_output
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

PYTHON_3 = "Python 3.11.7\n"
PYTHON_RELEASE_CANDIDATE = "Python 3.13.0rc2\n"
PYTHON_2_ON_STDERR = "Python 2.7.18\n"  # Python 2 printed its version to stderr

# prman -version prints its banner and exits (RenderMan 24 and 26 builds, and an older one).
PRMAN_24 = """\
prman 24.4 @2253237 Linux-x86_64 (Apr 26 2022 10:20:14)
Pixar PhotoRealistic RenderMan 24.4
Copyright (c) 1988-2022 Pixar. All rights reserved.
"""
PRMAN_26 = "PhotoRealistic RenderMan 26.1, build @2328547, linux\n"
PRMAN_LICENSE_WARNING = """\
R90006 {WARNING} license server not found, rendering with watermark
Pixar PhotoRealistic RenderMan 25.2
"""

# povray --version as Debian's 3.7 build prints it, on stderr, after a warning.
POVRAY_37 = """\
povray: cannot open the user configuration file /root/.povray/3.7/povray.conf: No such file or \
directory
POV-Ray 3.7.0.10.unofficial

This is an unofficial version compiled by:
 amd64 / i386 Build Daemon (x86-ubc-01) <buildd_amd64-x86-ubc-01@buildd.debian.org> for Debian \
<www.debian.org>
 The POV-Ray Team is not responsible for supporting this version.

Copyright 1991-2013 Persistence of Vision Raytracer Pty. Ltd.
"""
POVRAY_38 = "POV-Ray v3.8.0-beta.2.unofficial\n"


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
    ("tool", "output", "version"),
    [
        ("python", PYTHON_3, "3.11.7"),
        ("python", PYTHON_RELEASE_CANDIDATE, "3.13.0rc2"),
        ("python", PYTHON_2_ON_STDERR, "2.7.18"),
        ("blender", BLENDER_3, "3.4.1"),
        ("blender", BLENDER_4_WITH_WARNINGS, "4.2.1"),
        ("ffmpeg", FFMPEG_DEBIAN, "5.1.6-0+deb12u1"),
        ("ffmpeg", FFMPEG_STATIC, "6.1-static"),
        ("prman", PRMAN_24, "24.4"),
        ("prman", PRMAN_26, "26.1"),
        ("prman", PRMAN_LICENSE_WARNING, "25.2"),
        ("povray", POVRAY_37, "3.7.0.10.unofficial"),
        ("povray", POVRAY_38, "3.8.0-beta.2.unofficial"),
        ("blender", "", None),
        ("blender", None, None),
        ("blender", "Blender\n", None),
        ("blender", "Error: not a version\n", None),
        ("prman", "prman: command not licensed\n", None),
        ("python", "pyenv: python3: command not found\n", None),
    ],
)
def test_a_version_is_read_from_what_the_tool_prints(
    tool: str, output: str | None, version: str | None
) -> None:
    known = tool_named(tool)
    assert known is not None
    assert known.read_version(output) == version


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


def test_every_known_tool_on_the_path_is_reported_by_its_version() -> None:
    machine = Machine(
        {
            "python3": PYTHON_RELEASE_CANDIDATE,
            "blender": BLENDER_3,
            "ffmpeg": FFMPEG_STATIC,
            "prman": PRMAN_24,
            "povray": POVRAY_37,
        }
    )
    assert software(machine.run, machine.which) == {
        "blender": "3.4.1",
        "ffmpeg": "6.1-static",
        "povray": "3.7.0.10.unofficial",
        "prman": "24.4",
        "python": "3.13.0rc2",
    }
    assert [command for command, _ in machine.commands] == [
        ["python3", "--version"],
        ["blender", "--version"],
        ["ffmpeg", "-version"],
        ["prman", "-version"],
        ["povray", "--version"],
    ]


def test_python_is_python3_else_python_on_the_path_else_the_nodes_own() -> None:
    only_python = Machine({"python": PYTHON_2_ON_STDERR})
    assert software(only_python.run, only_python.which)["python"] == "2.7.18"
    both = Machine({"python3": PYTHON_3, "python": PYTHON_2_ON_STDERR})
    assert software(both.run, both.which)["python"] == "3.11.7"
    assert [command for command, _ in both.commands] == [["python3", "--version"]]
    assert software(Machine({}).run, Machine({}).which) == {"python": platform.python_version()}


def test_a_tool_a_plugin_declares_is_looked_for_too() -> None:
    hython = Tool("houdini", ("--version",), r"Houdini (\S+)", executables=("hython",))
    machine = Machine({"hython": "Houdini 20.0.547\n"})
    tools = (*KNOWN_TOOLS, hython)
    assert software(machine.run, machine.which, tools=tools)["houdini"] == "20.0.547"
    assert ["hython", "--version"] in [command for command, _ in machine.commands]


def test_hidden_tools_are_not_reported_not_even_the_nodes_own_python() -> None:
    machine = Machine({"python3": PYTHON_3, "blender": BLENDER_3, "ffmpeg": FFMPEG_DEBIAN})
    hidden = hidden_tools({"WIT_HIDE_TOOLS": " Python, blender ,"})
    assert hidden == {"python", "blender"}
    assert software(machine.run, machine.which, hidden=hidden) == {"ffmpeg": "5.1.6-0+deb12u1"}
    assert [command for command, _ in machine.commands] == [["ffmpeg", "-version"]]
    assert hidden_tools({}) == frozenset()


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
    on_path = shutil.which("python3") or shutil.which("python")
    if on_path is None:
        assert capabilities.software["python"] == platform.python_version()
    else:
        said = version_output([on_path, "--version"], 30.0)
        assert said is not None and capabilities.software["python"] in said
    for program in ("blender", "ffmpeg", "prman", "povray"):
        assert (program in capabilities.software) == (shutil.which(program) is not None)


def test_running_a_command_gives_its_output_or_none() -> None:
    assert run_command([sys.executable, "-c", "print('ready')"], 30.0) == "ready\n"
    assert run_command([sys.executable, "-c", "import sys; sys.exit(3)"], 30.0) is None
    assert run_command(["/nonexistent/witengine-tool", "--version"], 30.0) is None


def test_a_command_that_hangs_is_given_up_on() -> None:
    hang = [sys.executable, "-c", "import time; time.sleep(60)"]
    assert run_command(hang, 0.5) is None
    assert version_output(hang, 0.5) is None


def test_a_version_command_is_heard_on_stdout_and_stderr_whatever_its_exit_code() -> None:
    script = "import sys; print('out'); print('POV-Ray 3.7.0', file=sys.stderr); sys.exit(1)"
    assert version_output([sys.executable, "-c", script], 30.0) == "out\nPOV-Ray 3.7.0\n"
    assert version_output(["/nonexistent/witengine-tool", "--version"], 30.0) is None
