"""Asking the network: the waiting job files each node could run (by the programs it has, when
it is connected and takes work), the nodes that could run each file, and the file `wit take`
means."""

from __future__ import annotations

from dataclasses import replace

from witengine.folders.records import FileRecord, FileState, file_key
from witengine.folders.resources import by_node, file_records, find, waiting
from witengine.protocol import Capabilities, NodeSummary
from witengine.protocol.states import NodeState


def node(name: str, state: NodeState = NodeState.IDLE, **software: str) -> NodeSummary:
    caps = Capabilities(os="Linux", arch="x86_64", cores=4, ram_bytes=1 << 33, software=software)
    return NodeSummary(
        id=f"node_{name}", name=name, state=state, slots=4, capabilities=caps, last_seen=0.0
    )


SALLY = node("sally", python="3.11.7")
MARVIN = node("marvin", python="3.12.1", prman="26.1")
GONE = node("gone", NodeState.OFFLINE, prman="26.1")
RIB = FileRecord("renders", "shot.rib", "d", FileState.WAITING, ("prman",))
PY = FileRecord("renders", "stats.py", "e", FileState.WAITING, ("python",))
RAN = replace(PY, file="old.py", state=FileState.DONE)


def test_each_waiting_file_lists_the_connected_nodes_that_have_its_tools() -> None:
    files = waiting([RIB, PY, RAN], [SALLY, MARVIN, GONE])
    assert [(f.record.file, f.nodes) for f in files] == [
        ("shot.rib", ("marvin",)),
        ("stats.py", ("sally", "marvin")),
    ]
    assert by_node(files, [SALLY, MARVIN, GONE]) == {
        "sally": ["renders/stats.py"],
        "marvin": ["renders/shot.rib", "renders/stats.py"],
        "gone": [],
    }


def test_file_records_are_read_from_the_blackboard_and_other_keys_left_out() -> None:
    values = [
        (file_key("renders", "stats.py"), PY.to_json()),
        (file_key("renders", "shot.rib"), RIB.to_json()),
        ("folders/renders/take/x", {"node": None}),
        ("farm/rates", {"a": 1}),
        (file_key("renders", "junk"), {"not": "a record"}),
    ]
    assert file_records(values) == [RIB, PY]


def test_wit_take_finds_a_file_by_name_or_by_folder_and_name() -> None:
    other = replace(RIB, folder="stills")
    assert find([RIB, other], "shot.rib") == [RIB, other]
    assert find([RIB, other], "stills/shot.rib") == [other]
    assert find([RIB, other], "/home/ann/Sync/renders/shot.rib") == [RIB]
    assert find([RIB], "nothing.rib") == []
