"""Finding a tool on this machine: its program file on the PATH, what identifies that file's build,
and what its version command prints. The node's probe (which reports tools) and the tool plugin
(which runs them) find a tool the same way through here.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

from witengine.plugins.detection import Tool

Which = Callable[[str], str | None]  # a program's name -> its file on the PATH, or None


def locate(tool: Tool, which: Which = shutil.which) -> tuple[str, str] | None:
    """The first of the tool's executables on the PATH: (its name, its file); None without one."""
    for name in tool.executables:
        path = which(name)
        if path is not None:
            return name, path
    return None


def stamp(path: str) -> str | None:
    """What identifies a program file's build: its real path, size and modification time."""
    try:
        real = Path(path).resolve()
        status = real.stat()
    except OSError:
        return None
    return f"{real}:{status.st_size}:{status.st_mtime_ns}"


def version_output(command: Sequence[str], timeout: float) -> str | None:
    """What a version command printed, stdout then stderr, whatever its exit code (some tools
    print their version to stderr, or exit non-zero after it); None when it could not start or
    did not end in time."""
    try:
        done = subprocess.run(
            list(command),
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout + done.stderr
