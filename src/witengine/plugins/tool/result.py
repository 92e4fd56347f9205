"""What a tool job gives back (`ToolResult`), and the pure parts of making it: the end of what a
program printed, kept within a bound and saying so, the name a written file is returned under,
and the message a failed run fails its item with. Nothing here runs a program or reads a file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any, Self

from witengine.errors import WitError
from witengine.filenames import safe_name
from witengine.runtime.blobs import Blob
from witengine.runtime.values import ConversionError

Json = Any
OUTPUT_LIMIT = 64 * 1024  # bytes of stdout and of stderr kept in a result: the last ones
FAILURE_LINES = 10  # lines of stderr a failed run's message quotes: the last ones


class ToolError(WitError):
    """A tool job could not run, or its program failed; the message says why."""


@dataclass(frozen=True)
class ToolResult:
    """What a program run by a tool job gave: the files it wrote in its work folder, the end of
    what it printed on stdout and stderr, how it ended, and which tool ran it."""

    files: list[Blob] = field(default_factory=list)
    stdout: str = ""
    stderr: str = ""
    exit_code: int = 0
    tool: str = ""  # the tool and its version as the node found it: "python 3.11.7"

    @classmethod
    def from_value(cls, value: Any) -> Self:
        raise ConversionError(
            "a ToolResult comes from a tool job (Tool.Python, Tool.Run …), not from a value"
        )

    def to_json(self) -> Json:
        return {
            "files": [{"sha256": b.sha256, "size": b.size, "name": b.name} for b in self.files],
            "stdout": self.stdout,
            "stderr": self.stderr,
            "exit_code": self.exit_code,
            "tool": self.tool,
        }

    @classmethod
    def from_json(cls, data: Json) -> Self:
        return cls(
            [Blob(str(f["sha256"]), int(f["size"]), str(f.get("name", ""))) for f in data["files"]],
            str(data.get("stdout", "")),
            str(data.get("stderr", "")),
            int(data.get("exit_code", 0)),
            str(data.get("tool", "")),
        )


def tail(data: bytes, limit: int = OUTPUT_LIMIT) -> str:
    """The last `limit` bytes of a program's output as text, starting at a whole line when one
    begins near the cut, and saying how much was left out before them."""
    if len(data) <= limit:
        return data.decode("utf-8", errors="replace")
    kept = data[-limit:]
    newline = kept.find(b"\n")
    if 0 <= newline < 1024:
        kept = kept[newline + 1 :]
    left_out = len(data) - len(kept)
    note = f"[the first {left_out} bytes of {len(data)} are left out]\n"
    return note + kept.decode("utf-8", errors="replace")


def returned_name(relative: PurePosixPath) -> str:
    """The name a file the program wrote is returned under: its path in the work folder, its
    folders joined to its name by '-' (`out/beauty.0001.exr` -> `out-beauty.0001.exr`)."""
    return safe_name("-".join(relative.parts))


def failure(program: str, exit_code: int, stderr: bytes, lines: int = FAILURE_LINES) -> str:
    """Why a run failed: its exit (a negative code is the signal that ended it) and the last
    lines of its stderr."""
    ended = (
        f"{program} was ended by signal {-exit_code}"
        if exit_code < 0
        else f"{program} exited with code {exit_code}"
    )
    said = stderr.decode("utf-8", errors="replace").rstrip().splitlines()[-lines:]
    return ended + (":\n" + "\n".join(said) if said else " and wrote nothing on stderr")
