"""Job folders on the wire: what `wit resources` and `wit take` ask the hub and it answers."""

from __future__ import annotations

from witengine.protocol import Capabilities
from witengine.protocol.base import Answer, Label, Model, Text
from witengine.protocol.states import NodeState


class JobFileInfo(Answer):
    """A job file of a watched folder, as its record on the blackboard says."""

    folder: str  # the folder's own name
    file: str  # NAME.EXT
    state: str  # waiting, running, done, failed
    needs: list[str] = []  # programs a node must have
    reason: str = ""  # why it waits
    job: str | None = None
    nodes: list[str] = []  # the connected nodes that could run it (waiting files)


class NodeResources(Answer):
    """A node, its machine and tools, and the waiting job files it could run."""

    id: str
    name: str
    state: NodeState
    capabilities: Capabilities
    could_run: list[str] = []  # FOLDER/NAME.EXT


class Resources(Answer):
    """What the farm has: its nodes, and the job files waiting in every watched folder."""

    nodes: list[NodeResources]
    waiting: list[JobFileInfo]


class TakeFile(Model):
    """Run a waiting job file now (on `node` only, by name), or fail it unrun."""

    file: Text  # NAME.EXT, FOLDER/NAME.EXT, or a path ending so
    node: Label | None = None
    fail: bool = False


class FileTaken(Answer):
    """The file whose watcher was asked to run or fail it at its next look."""

    folder: str
    file: str
    node: str | None = None
    fail: bool = False
