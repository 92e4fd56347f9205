"""What this machine is and has: OS, CPU, RAM, GPUs and the software plugins care about (the
tools of `witengine.plugins.detection`, with their versions).

Every step tolerates absence: no GPU, no driver, no Blender, a tool that hangs. Commands run
through a `Run` function so tests can feed recorded outputs.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import subprocess
from collections.abc import Callable, Collection, Sequence
from pathlib import Path

import psutil

from witengine.plugins.detection import KNOWN_TOOLS, Tool
from witengine.plugins.programs import Which, locate, stamp, version_output
from witengine.protocol import Capabilities, GpuInfo

Run = Callable[[Sequence[str], float], str | None]  # command, timeout -> stdout, or None
# Tools plugins installed later declare -> every tool this machine has, those among them.
LookFor = Callable[[Sequence[Tool]], dict[str, str]]


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


def software(
    run: Run = version_output,
    which: Which = shutil.which,
    remember: Path | None = None,
    tools: Sequence[Tool] = KNOWN_TOOLS,
    hidden: Collection[str] = frozenset(),
) -> dict[str, str]:
    """The versions of the `tools` found on this machine, but those `hidden` (for tests). With
    `remember` (a JSON file), a version is kept per program file (its path, size and
    modification time) and asked again only when the file changes: `blender --version` alone
    takes a third of a second of CPU, on every node start. Without a Python on the PATH, the
    node's own interpreter is its Python."""
    found: dict[str, str] = {}
    kept = _read_versions(remember)
    stamps: dict[str, str] = {}
    for tool in tools:
        if tool.name in hidden:
            continue
        located = locate(tool, which)
        if located is None:
            continue
        executable, path = located
        built = stamp(path)
        entry = kept.get(tool.name)
        if entry is not None and built is not None and entry["stamp"] == built:
            version: str | None = entry["version"]
        else:
            version = tool.read_version(run([executable, *tool.version], tool.timeout))
        if version:
            found[tool.name] = version
            if built:
                stamps[tool.name] = built
    if "python" not in found and "python" not in hidden:
        found["python"] = platform.python_version()
    if remember is not None:
        fresh = {name: {"stamp": stamps[name], "version": found[name]} for name in stamps}
        if fresh != kept:
            _write_versions(remember, fresh)
    return dict(sorted(found.items()))


def _read_versions(path: Path | None) -> dict[str, dict[str, str]]:
    if path is None:
        return {}
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return {}  # none yet, or unreadable: asked again
    if not isinstance(data, dict):
        return {}
    return {
        name: entry
        for name, entry in data.items()
        if isinstance(entry, dict)
        and all(isinstance(entry.get(key), str) for key in ("stamp", "version"))
    }


def _write_versions(path: Path, versions: dict[str, dict[str, str]]) -> None:
    """Write the file whole or not at all; a cache that cannot be written is only slower."""
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{os.getpid()}")
        partial.write_text(json.dumps(versions, indent=1, sort_keys=True) + "\n", "utf-8")
        partial.replace(path)


def probe_capabilities(
    run: Run | None = None,
    which: Which = shutil.which,
    remember: Path | None = None,
    tools: Sequence[Tool] = KNOWN_TOOLS,
    hidden: Collection[str] = frozenset(),
) -> Capabilities:
    """This machine; `remember`: where program versions are kept between starts; `tools`: the
    programs to look for (`tools_to_look_for` adds those plugins declare), but those `hidden`;
    `run`: how commands run (recorded outputs, in tests)."""
    return Capabilities(
        os=platform.system(),
        os_version=platform.release(),
        arch=platform.machine(),
        cpu_model=cpu_model(),
        cores=usable_cores(),
        ram_bytes=psutil.virtual_memory().total,
        gpus=nvidia_gpus(run or run_command, which),
        software=software(run or version_output, which, remember, tools, hidden),
    )
