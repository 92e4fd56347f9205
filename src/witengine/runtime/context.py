"""What an activity is given besides its arguments: the job's blobs and a scratch folder.

Every runtime that calls an activity (the interpreter, the local process pool, a node's batch
process, a benchmark) builds one; the library only names it in the signature of activities.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from witengine.runtime.blobs import Blob, BlobStore


class BoardAccess(Protocol):
    """What a job's script reaches of the farm's blackboard (`Board.Get`, `Board.Set`,
    `Board.Claim`), with values as the script holds them. The hub gives each job its own, which
    writes as that job; errors are WitErrors saying what is wrong."""

    def get(self, key: str) -> Any:
        """The key's value; None when it has none."""
        ...

    def set(self, key: str, value: Any) -> int:
        """Write the key's next version; its number."""
        ...

    def claim(self, key: str, value: Any) -> bool:
        """Write the key only if it has no value: True for exactly one of any callers."""
        ...


@dataclass
class ActivityContext:
    """What an activity may use besides its arguments: blobs and a scratch directory.

    `speed` is a node's synthetic speed factor (`wit node --speed`), for tests and benchmarks of
    the scheduler: only `Compute.Work` honours it, doing 1/speed times the work per unit.
    """

    blobs: BlobStore
    work_dir: Path
    speed: float = 1.0
    threads: int | None = None  # cores the activity may keep busy (a node's --threads); None: all
    board: BoardAccess | None = None  # the farm's blackboard, for a job run by a hub

    _given: dict[str, Blob] = field(default_factory=dict, repr=False)  # local path -> blob

    def file(self, blob: Blob) -> Path:
        """A local file with the blob's bytes."""
        path = self.blobs.path(blob)
        self._given[str(path)] = blob
        return path

    def without_paths(self, text: str) -> str:
        """`text` (an activity's error) with the local files of the blobs it was given named by
        the blobs' names and digests, and its work folder by what it is: a job's errors go to
        its submitter, to whom this machine's folders are none of their business."""
        for path, blob in sorted(self._given.items(), key=lambda item: -len(item[0])):
            text = text.replace(path, str(blob))
        return text.replace(str(self.work_dir), "the job's work folder")

    def save_file(self, path: Path, name: str | None = None) -> Blob:
        """Store a file the activity made and return it as a Blob value."""
        return self.blobs.put_file(path, name)

    def save_bytes(self, data: bytes, name: str) -> Blob:
        return self.blobs.put_bytes(data, name)
