"""Asking the network: which waiting job files each node could run, and which nodes could run
each waiting file. Pure: from the nodes' summaries and the files' records, as the hub gives them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from witengine.folders.records import PREFIX, FileRecord, FileState
from witengine.plugins.requirements import Requirements, unmet
from witengine.protocol.states import NodeState

if TYPE_CHECKING:
    from witengine.protocol import NodeSummary

_NO_WORK = (NodeState.OFFLINE, NodeState.DRAINED, NodeState.DRAINING)


@dataclass(frozen=True)
class WaitingFile:
    """A job file that waits, and the connected nodes that could run it."""

    record: FileRecord
    nodes: tuple[str, ...]


def could_run(node: NodeSummary, needs: Sequence[str]) -> bool:
    """Whether the node is connected, takes work and has every program in `needs`."""
    if node.state in _NO_WORK:
        return False
    return not needs or not unmet(Requirements(software=list(needs)), node.capabilities)


def file_records(values: Iterable[tuple[str, Any]]) -> list[FileRecord]:
    """The job file records among blackboard (key, value) pairs, by folder and name."""
    found = []
    for key, value in values:
        if key.startswith(PREFIX) and "/files/" in key and value is not None:
            record = FileRecord.from_json(value)
            if record is not None:
                found.append(record)
    return sorted(found, key=lambda r: (r.folder, r.file))


def waiting(records: Iterable[FileRecord], nodes: Sequence[NodeSummary]) -> list[WaitingFile]:
    """Every waiting file, with the names of the nodes that could run it."""
    return [
        WaitingFile(r, tuple(n.name for n in nodes if could_run(n, r.needs)))
        for r in records
        if r.state is FileState.WAITING
    ]


def by_node(files: Sequence[WaitingFile], nodes: Sequence[NodeSummary]) -> dict[str, list[str]]:
    """For each node, the waiting files it could run (`folder/NAME.EXT`)."""
    return {
        node.name: [f"{f.record.folder}/{f.record.file}" for f in files if node.name in f.nodes]
        for node in nodes
    }


def find(records: Iterable[FileRecord], text: str) -> list[FileRecord]:
    """The records `wit take` means by `text`: `NAME.EXT`, `folder/NAME.EXT` or a path ending
    so."""
    parts = text.replace("\\", "/").rstrip("/").split("/")
    name, folder = parts[-1], (parts[-2] if len(parts) > 1 else None)
    return [r for r in records if r.file == name and (folder is None or r.folder == folder)]
