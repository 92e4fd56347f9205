"""What this machine is and has: OS, CPU, RAM, GPUs and the software plugins care about.

Every step tolerates absence: no GPU, no driver, no Blender, a tool that hangs. Commands run
through a `Run` function so tests can feed recorded outputs.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

import psutil

from witengine.protocol import Capabilities, GpuInfo

Run = Callable[[Sequence[str], float], str | None]  # command, timeout -> stdout, or None
Which = Callable[[str], str | None]


def run_command(command: Sequence[str], timeout: float) -> str | None:
    """stdout of a command that succeeded in time, else None."""
    try:
        done = subprocess.run(
            list(command), capture_output=True, text=True, timeout=timeout, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def cpu_model() -> str:
    try:
        with Path("/proc/cpuinfo").open(encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def nvidia_gpus(run: Run = run_command, which: Which = shutil.which) -> list[GpuInfo]:
    """GPUs that nvidia-smi reports; none when it is absent or fails."""
    if which("nvidia-smi") is None:
        return []
    output = run(
        [
            "nvidia-smi",
            "--query-gpu=name,memory.total,driver_version",
            "--format=csv,noheader,nounits",
        ],
        5.0,
    )
    gpus = []
    for line in (output or "").splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) != 3 or not parts[0]:
            continue
        memory = int(parts[1]) * 1024 * 1024 if parts[1].isdigit() else None
        gpus.append(GpuInfo(vendor="nvidia", name=parts[0], memory_bytes=memory, driver=parts[2]))
    return gpus


def first_line_version(output: str | None, prefix: str) -> str | None:
    """`Blender 3.4.1` -> `3.4.1`; `ffmpeg version 5.1.6-0+deb12u1 …` -> `5.1.6-0+deb12u1`."""
    if not output:
        return None
    for line in output.splitlines():
        if line.lower().startswith(prefix.lower()):
            rest = line[len(prefix) :].strip().split()
            return rest[0] if rest else None
    return None


def software(run: Run = run_command, which: Which = shutil.which) -> dict[str, str]:
    found = {"python": platform.python_version()}
    if which("blender"):
        version = first_line_version(run(["blender", "--version"], 30.0), "Blender")
        if version:
            found["blender"] = version
    if which("ffmpeg"):
        version = first_line_version(run(["ffmpeg", "-version"], 10.0), "ffmpeg version")
        if version:
            found["ffmpeg"] = version
    return found


def probe_capabilities(run: Run = run_command, which: Which = shutil.which) -> Capabilities:
    return Capabilities(
        os=platform.system(),
        os_version=platform.release(),
        arch=platform.machine(),
        cpu_model=cpu_model(),
        cores=usable_cores(),
        ram_bytes=psutil.virtual_memory().total,
        gpus=nvidia_gpus(run, which),
        software=software(run, which),
    )
