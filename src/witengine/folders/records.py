"""A job file's record on the hub's blackboard, and whether a watcher may claim the file.

Every watcher of a folder, on any machine, writes the files it sees under
`folders/<folder>/files/<file key>` on its hub's blackboard: the file's name, its content's digest,
its state (waiting, running, done, failed), what it needs of a node and the job that runs it.
A watcher claims a file by writing its record from waiting to running at the version it read
(compare-and-set in the hub's store): of several watchers of one hub, one wins. `wit take`
writes `folders/<folder>/take/<file key>`: run this file now (on a named node), or fail it.

Pure: the watcher reads and writes the board; this module only decides.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

PREFIX = "folders/"
_KEY_CHARS = re.compile(r"[^A-Za-z0-9._-]+")


class FileState(StrEnum):
    WAITING = "waiting"  # complete, not yet run: no node can run it, or others run first
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"

    @property
    def ended(self) -> bool:
        return self in (FileState.DONE, FileState.FAILED)


def key_part(text: str) -> str:
    """`text` as one segment of a blackboard key: its own characters where a key allows them,
    and a short digest of the whole, so that two names never share a key."""
    cleaned = _KEY_CHARS.sub("_", text).strip("._") or "_"
    return f"{cleaned[:80]}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"


def file_key(folder: str, file: str) -> str:
    return f"{PREFIX}{key_part(folder)}/files/{key_part(file)}"


def take_key(folder: str, file: str) -> str:
    return f"{PREFIX}{key_part(folder)}/take/{key_part(file)}"


@dataclass(frozen=True)
class FileRecord:
    """What the farm knows of one job file."""

    folder: str  # the folder's name, as every machine syncing it calls it
    file: str  # NAME.EXT
    digest: str  # sha256 of its content: the same file synced to several machines
    state: FileState
    needs: tuple[str, ...] = ()  # programs a node must have ("prman", "python")
    reason: str = ""  # why it waits, in words ("no node has prman")
    job: str | None = None  # the job running it, once submitted
    owner: str = ""  # the watcher that claimed it: "host:pid"
    path: str = ""  # the folder's path on the owner's machine
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "folder": self.folder,
            "file": self.file,
            "digest": self.digest,
            "state": self.state.value,
            "needs": list(self.needs),
            "reason": self.reason,
            "job": self.job,
            "owner": self.owner,
            "path": self.path,
            "error": self.error,
        }

    @classmethod
    def from_json(cls, data: Any) -> FileRecord | None:
        """The record in a board value; None for a value that is not one (written by hand)."""
        try:
            return cls(
                folder=str(data["folder"]),
                file=str(data["file"]),
                digest=str(data["digest"]),
                state=FileState(data["state"]),
                needs=tuple(str(n) for n in data.get("needs", [])),
                reason=str(data.get("reason", "")),
                job=None if data.get("job") is None else str(data["job"]),
                owner=str(data.get("owner", "")),
                path=str(data.get("path", "")),
                error=None if data.get("error") is None else str(data["error"]),
            )
        except (KeyError, TypeError, ValueError):
            return None


class Claim(StrEnum):
    """What a watcher does with a complete file, given its record."""

    TAKE = "take"  # write the record as running (at the version read) and run the file
    WAIT = "wait"  # write or keep the record as waiting
    LEAVE = "leave"  # another watcher has it, or it ran: leave the file alone


def decide(record: FileRecord | None, digest: str, runnable: bool) -> Claim:
    """Whether to take a complete file whose content has `digest`, given its record (None:
    no record yet) and whether a node can run it now (or an admin asked for it).

    A record of other content that ended is a new drop of that name: it runs again. The same
    content that ran, or that another watcher runs, is left alone: a synced copy of a file
    already taken elsewhere never runs twice through one hub."""
    if record is not None and record.digest == digest and record.state is not FileState.WAITING:
        return Claim.LEAVE
    if record is not None and record.digest != digest and record.state is FileState.RUNNING:
        return Claim.LEAVE  # the old content still runs; the new waits for it to end
    return Claim.TAKE if runnable else Claim.WAIT


def waiting(record: FileRecord | None, fresh: FileRecord) -> FileRecord | None:
    """The record to write for a file that waits, or None when the board says so already."""
    return None if record == fresh else fresh


def reason_to_wait(lacking: list[str], nodes: int, running: int) -> str:
    """Why a file waits, in words: `no node has prman`."""
    if nodes == 0:
        return "no node is connected"
    if lacking:
        return f"no node has {' and '.join(lacking)}"
    return f"after the {running} job file(s) running" if running else "no node can run it"
