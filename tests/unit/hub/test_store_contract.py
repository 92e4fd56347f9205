"""The `Store` contract, one suite run against the three stores: MemoryStore, SqliteStore (a real
SQLite file in tmp_path). Then what only SQLite promises: state survives reopening, WAL mode."""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from witengine.errors import BoardConflict, BoardFull
from witengine.hub.store.base import (
    ANY_VERSION,
    AuditRecord,
    BoardEntry,
    BoardWrite,
    Commit,
    JobRecord,
    JoinRecord,
    NodeRecord,
    PoolRecord,
    RateRecord,
    ReputationRecord,
    Store,
    TokenRecord,
    reused_map_id,
)
from witengine.hub.store.memory import MemoryStore
from witengine.hub.store.postgres import PostgresStore
from witengine.hub.store.sqlite import PAGE_OF_ITEMS, SqliteStore
from witengine.hub.store.sqlite_schema import MIGRATIONS, SCHEMA
from witengine.protocol.states import Admission, JobStatus, PoolTier

SCRIPT = 'Job:Render(Int:frames = 2)\n{\n    Trace("ok");\n}\n'


def job(
    job_id: str = "job_1", status: JobStatus = JobStatus.QUEUED, at: float = 100.0
) -> JobRecord:
    return JobRecord(
        id=job_id,
        name="Render",
        script=SCRIPT,
        filename="render.wit",
        parameters={"frames": "1-48", "title": 'naïve "quoted" ✓'},
        files={"scene": {"sha256": "a" * 64, "size": 12, "name": "scene.blend"}},
        status=status,
        created_at=at,
    )


def node(node_id: str, seen: float, name: str = "box") -> NodeRecord:
    info = {"name": name, "slots": 2, "activities": ["Compute.Hash"], "capabilities": {"cores": 4}}
    return NodeRecord(node_id, name, info, first_seen=seen, last_seen=seen)


ITEMS = [["a", 1], ["b", 2], ["c", 3], ["d", {"nested": [1, 2.5, None, True]}]]


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    made: Store
    if request.param == "memory":
        made = MemoryStore()
    elif request.param == "sqlite":
        made = SqliteStore(tmp_path / "hub.sqlite3")
    else:  # a database of its own on the session's throw-away server (tests/conftest.py)
        made = PostgresStore(request.getfixturevalue("postgres_url"))
    yield made
    made.close()


def open_map(store: Store, digest: str = "d1", items: list[list[object]] = ITEMS) -> str:
    return store.open_map("map_1", "job_1", 1, "Compute.Hash", digest, items).record.id


def token(token_id: str, role: str = "admin", at: float = 10.0, **more: object) -> TokenRecord:
    return TokenRecord(token_id, role, "a label", "f" * 64, at, **more)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------ jobs


def test_a_job_reads_back_with_its_script_parameters_and_files(store: Store) -> None:
    store.add_job(job())
    assert store.get_job("job_1") == job()
    assert store.get_job("job_nope") is None


def test_jobs_are_listed_newest_first_and_limited(store: Store) -> None:
    for n in range(5):
        store.add_job(job(f"job_{n}", at=100.0 + n))
    assert [j.id for j in store.list_jobs()] == ["job_4", "job_3", "job_2", "job_1", "job_0"]
    assert [j.id for j in store.list_jobs(limit=2)] == ["job_4", "job_3"]


def test_a_list_of_jobs_leaves_their_variables_to_each_jobs_own_record(store: Store) -> None:
    store.add_job(job())
    variables = {"values": {"hashes": ["ab" * 32] * 1000}, "types": {"hashes": "StringCollection"}}
    store.update_job("job_1", status=JobStatus.COMPLETED, at=200.0, variables=variables)
    (listed,) = store.list_jobs()
    assert listed.variables is None and listed.status is JobStatus.COMPLETED
    assert listed.finished_at == 200.0
    found = store.get_job("job_1")
    assert found is not None and found.variables == variables
    assert dataclasses.replace(found, variables=None) == listed


def test_unfinished_jobs_are_those_not_ended_oldest_first(store: Store) -> None:
    mixed = [JobStatus(s) for s in ("queued", "completed", "running", "failed", "paused")]
    for n, status in enumerate([*mixed, JobStatus.CANCELLED]):
        store.add_job(job(f"job_{n}", status=status))
    assert [j.id for j in store.unfinished_jobs()] == ["job_0", "job_2", "job_4"]


def test_running_sets_the_start_once_and_an_end_sets_the_finish_and_error(store: Store) -> None:
    store.add_job(job())
    store.update_job("job_1", status=JobStatus.RUNNING, at=110.0)
    store.update_job("job_1", status=JobStatus.PAUSED, at=120.0)
    store.update_job("job_1", status=JobStatus.RUNNING, at=130.0)
    running = store.get_job("job_1")
    assert running is not None
    assert (running.status, running.started_at, running.finished_at) == ("running", 110.0, None)
    variables = {"values": {"n": [1, 2]}, "types": {"n": "IntCollection"}}
    assert running.progress is None
    store.update_job(
        "job_1",
        status=JobStatus.FAILED,
        at=140.0,
        error="item 3: boom",
        variables=variables,
        progress=(3, 10),
    )
    ended = store.get_job("job_1")
    assert ended is not None
    assert (ended.status, ended.started_at, ended.finished_at) == ("failed", 110.0, 140.0)
    assert ended.error == "item 3: boom"
    assert ended.variables == variables
    assert ended.progress == (3, 10)
    assert store.unfinished_jobs() == []


# ---------------------------------------------------------------------------- events


def test_events_are_numbered_from_one_in_order_per_job(store: Store) -> None:
    assert store.events("job_1") == []
    assert store.append_events("job_1", [{"kind": "a"}, {"kind": "b"}]) == 2
    assert store.append_events("job_2", [{"kind": "other"}]) == 1
    assert store.append_events("job_1", [{"kind": "c", "data": [1, {"x": None}]}]) == 3
    assert store.events("job_1") == [
        (1, {"kind": "a"}),
        (2, {"kind": "b"}),
        (3, {"kind": "c", "data": [1, {"x": None}]}),
    ]
    assert store.events("job_1", after=1, limit=1) == [(2, {"kind": "b"})]
    assert store.events("job_1", after=3) == []
    assert store.events("job_2") == [(1, {"kind": "other"})]


def test_a_stored_event_does_not_change_when_the_caller_changes_its_copy(store: Store) -> None:
    event = {"kind": "a", "items": [1]}
    store.append_events("job_1", [event])
    event["items"].append(2)  # type: ignore[attr-defined]
    assert store.events("job_1") == [(1, {"kind": "a", "items": [1]})]


# ------------------------------------------------------------------ maps and tasks


def test_a_new_map_has_every_task_pending_and_never_sent(store: Store) -> None:
    state = store.open_map("map_1", "job_1", 1, "Compute.Hash", "d1", ITEMS, {"batch": 4})
    assert state.record.id == "map_1"
    assert (state.record.job_id, state.record.seq, state.record.activity) == (
        "job_1",
        1,
        "Compute.Hash",
    )
    assert (state.record.digest, state.record.count, state.record.options) == (
        "d1",
        4,
        {"batch": 4},
    )
    assert state.results == {} and state.failures == {}
    assert state.attempts == {0: 0, 1: 0, 2: 0, 3: 0}
    assert store.map_args("map_1", [3, 1]) == {3: ITEMS[3], 1: ITEMS[1]}


def test_a_result_is_committed_only_for_the_current_attempt(store: Store) -> None:
    map_id = open_map(store)
    store.set_attempts(map_id, [(0, 1), (1, 1)])
    assert store.commit(map_id, [Commit(0, 1, "zero")]) == [0]
    store.set_attempts(map_id, [(1, 2)])  # attempt 1 of item 1 is fenced off
    assert store.commit(map_id, [Commit(1, 1, "late")]) == []
    assert store.commit(map_id, [Commit(1, 3, "future")]) == []
    assert store.commit(map_id, [Commit(2, 1, "never sent")]) == []
    assert store.commit(map_id, [Commit(1, 2, "one")]) == [1]
    assert store.map_results(map_id) == {0: "zero", 1: "one"}


def test_committed_items_are_read_a_page_at_a_time_by_index_while_the_map_runs(
    store: Store,
) -> None:
    map_id = open_map(store)
    store.open_map("map_2", "job_1", 2, "Compute.IsPrime", "d2", [[5]], {"batch": 1})
    store.open_map("map_3", "job_other", 1, "Compute.Hash", "d3", [["x"]])
    store.set_attempts(map_id, [(0, 1), (1, 1), (2, 1), (3, 1)])
    assert store.map_items(map_id) == []
    store.commit(map_id, [Commit(3, 1, {"sha256": "c" * 64}), Commit(1, 1, error="bad input")])
    store.commit(map_id, [Commit(0, 1, "zero")])  # out of order, as nodes finish

    assert store.map_items(map_id) == [
        (0, "zero", None),
        (1, None, "bad input"),
        (3, {"sha256": "c" * 64}, None),
    ]
    assert store.map_items(map_id, after=-1, limit=2) == [(0, "zero", None), (1, None, "bad input")]
    assert store.map_items(map_id, after=1, limit=2) == [(3, {"sha256": "c" * 64}, None)]
    assert store.map_items(map_id, after=3) == []
    assert [(m.id, m.seq, m.activity, m.count) for m in store.job_maps("job_1")] == [
        ("map_1", 1, "Compute.Hash", 4),
        ("map_2", 2, "Compute.IsPrime", 1),
    ]
    assert store.job_maps("job_1")[1].options == {"batch": 1}
    assert store.job_maps("job_none") == []


def test_a_second_commit_of_the_same_item_is_refused_and_changes_nothing(store: Store) -> None:
    map_id = open_map(store)
    store.set_attempts(map_id, [(0, 1)])
    assert store.commit(map_id, [Commit(0, 1, {"v": "first"})]) == [0]
    assert store.commit(map_id, [Commit(0, 1, {"v": "second"})]) == []
    assert store.commit(map_id, [Commit(0, 1, error="too late to fail")]) == []
    store.set_attempts(map_id, [(0, 2)])  # even a newer attempt cannot replace a result
    assert store.commit(map_id, [Commit(0, 2, {"v": "third"})]) == []
    state = store.open_map("map_x", "job_1", 1, "Compute.Hash", "d1", ITEMS)
    assert state.results == {0: {"v": "first"}}
    assert state.failures == {}


def test_each_task_counts_its_one_commit_whatever_is_offered_after(store: Store) -> None:
    """The count is what shows a second commit that wrote the same value again."""
    map_id = open_map(store)
    assert store.commit_counts(map_id) == {0: 0, 1: 0, 2: 0, 3: 0}
    store.set_attempts(map_id, [(0, 1), (1, 1), (2, 1)])
    assert store.commit(map_id, [Commit(0, 1, "same"), Commit(0, 1, "same")]) == [0]
    assert store.commit(map_id, [Commit(1, 1, error="boom")]) == [1]
    for offered in (Commit(0, 1, "same"), Commit(1, 1, "same"), Commit(0, 1, error="late")):
        assert store.commit(map_id, [offered]) == []
    store.set_attempts(map_id, [(0, 2)])
    assert store.commit(map_id, [Commit(0, 2, "same")]) == []
    assert store.commit(map_id, [Commit(2, 0, "fenced")]) == []
    assert store.commit_counts(map_id) == {0: 1, 1: 1, 2: 0, 3: 0}
    store.open_map("map_x", "job_1", 1, "Compute.Hash", "d1", ITEMS)  # as after a restart
    assert store.commit_counts(map_id) == {0: 1, 1: 1, 2: 0, 3: 0}


def test_the_same_item_twice_in_one_commit_keeps_the_first(store: Store) -> None:
    map_id = open_map(store)
    store.set_attempts(map_id, [(0, 1), (1, 1)])
    accepted = store.commit(map_id, [Commit(0, 1, "first"), Commit(1, 1, "b"), Commit(0, 1, "2nd")])
    assert sorted(accepted) == [0, 1]
    assert store.map_results(map_id) == {0: "first", 1: "b"}


def test_a_late_copy_ahead_of_the_current_result_in_one_commit_does_not_hide_it(
    store: Store,
) -> None:
    map_id = open_map(store)
    store.set_attempts(map_id, [(0, 1), (1, 1)])
    store.set_attempts(map_id, [(0, 2)])  # attempt 1 of item 0 is fenced off
    given = [Commit(0, 1, "late"), Commit(1, 1, "b"), Commit(0, 2, "current")]
    assert store.commit(map_id, given) == [1, 0]
    assert store.map_results(map_id) == {0: "current", 1: "b"}
    assert store.commit_counts(map_id) == {0: 1, 1: 1, 2: 0, 3: 0}


def test_accepted_indices_come_back_in_the_order_given(store: Store) -> None:
    map_id = open_map(store)
    store.set_attempts(map_id, [(0, 1), (1, 1), (2, 1), (3, 1)])
    given = [Commit(3, 1, "d"), Commit(0, 1, "a"), Commit(2, 9, "fenced"), Commit(1, 1, "b")]
    assert store.commit(map_id, given) == [3, 0, 1]


def test_a_failure_is_committed_once_and_kept_apart_from_results(store: Store) -> None:
    map_id = open_map(store)
    store.set_attempts(map_id, [(0, 1), (2, 1)])
    assert store.commit(map_id, [Commit(2, 1, error="boom"), Commit(0, 1, [1, 2])]) == [2, 0]
    assert store.commit(map_id, [Commit(2, 1, "recovered?")]) == []
    state = store.open_map("map_x", "job_1", 1, "Compute.Hash", "d1", ITEMS)
    assert state.results == {0: [1, 2]}
    assert state.failures == {2: "boom"}
    assert state.attempts == {0: 1, 1: 0, 2: 1, 3: 0}


def test_commits_to_an_unknown_map_or_item_are_refused(store: Store) -> None:
    map_id = open_map(store)
    store.set_attempts(map_id, [(0, 1)])
    assert store.commit("map_nope", [Commit(0, 1, "x")]) == []
    assert store.commit(map_id, [Commit(4, 0, "x"), Commit(-1, 0, "x")]) == []
    assert store.map_results(map_id) == {}


def test_reopening_a_map_with_the_same_digest_finds_its_results_and_attempts(
    store: Store,
) -> None:
    map_id = open_map(store)
    store.set_attempts(map_id, [(0, 1), (1, 3)])
    store.commit(map_id, [Commit(0, 1, None)])  # a null result is still a result
    again = store.open_map("map_other", "job_1", 1, "Compute.Hash", "d1", ITEMS)
    assert again.record.id == map_id, "the stored map is kept; the new id is not used"
    assert again.results == {0: None}
    assert again.attempts == {0: 1, 1: 3, 2: 0, 3: 0}


def test_reopening_a_map_with_another_digest_replaces_it_and_its_tasks(store: Store) -> None:
    map_id = open_map(store)
    store.set_attempts(map_id, [(0, 1)])
    store.commit(map_id, [Commit(0, 1, "old")])
    fresh = store.open_map("map_2", "job_1", 1, "Compute.Hash", "d2", [["z"], ["y"]])
    assert (fresh.record.id, fresh.record.count) == ("map_2", 2)
    assert fresh.results == {} and fresh.attempts == {0: 0, 1: 0}
    assert store.map_args("map_2", [0, 1]) == {0: ["z"], 1: ["y"]}
    assert store.commit(map_id, [Commit(1, 0, "to the old map")]) == []


def test_a_map_created_with_its_first_items_gets_the_others_added_in_order(store: Store) -> None:
    created = store.open_map("map_1", "job_1", 1, "Compute.Hash", "d1", ITEMS[:1], count=4)
    assert (created.record.id, created.record.count) == ("map_1", 4)
    store.add_tasks("map_1", 1, ITEMS[1:3])
    store.add_tasks("map_1", 3, ITEMS[3:])
    assert store.map_args("map_1", [0, 1, 2, 3]) == dict(enumerate(ITEMS))
    store.set_attempts("map_1", [(3, 1)])
    assert store.commit("map_1", [Commit(3, 1, "last")]) == [3]
    again = store.open_map("map_x", "job_1", 1, "Compute.Hash", "d1", ITEMS)
    assert again.record.id == "map_1" and again.results == {3: "last"}
    assert again.attempts == {0: 0, 1: 0, 2: 0, 3: 1}


def test_a_map_that_lacks_some_of_its_tasks_is_replaced_when_opened_again(store: Store) -> None:
    store.open_map("map_1", "job_1", 1, "Compute.Hash", "d1", ITEMS[:2], count=4)
    store.add_tasks("map_1", 2, ITEMS[2:3])  # the hub stopped before the last task was added
    again = store.open_map("map_2", "job_1", 1, "Compute.Hash", "d1", ITEMS)
    assert (again.record.id, again.record.count) == ("map_2", 4)
    assert again.attempts == {0: 0, 1: 0, 2: 0, 3: 0}
    assert store.commit("map_1", [Commit(0, 0, "to the partial map")]) == []


def test_a_map_is_not_created_with_more_items_than_its_count(store: Store) -> None:
    with pytest.raises(ValueError, match="a map of 2 items cannot be created with its first 4"):
        store.open_map("map_1", "job_1", 1, "Compute.Hash", "d1", ITEMS, count=2)


def test_maps_of_other_jobs_and_sequence_numbers_are_separate(store: Store) -> None:
    first = store.open_map("map_1", "job_1", 1, "Compute.Hash", "d", [["a"]]).record.id
    second = store.open_map("map_2", "job_1", 2, "Compute.Hash", "d", [["a"]]).record.id
    other = store.open_map("map_3", "job_2", 1, "Compute.Hash", "d", [["a"]]).record.id
    assert (first, second, other) == ("map_1", "map_2", "map_3")
    for map_id in (first, second, other):
        store.set_attempts(map_id, [(0, 1)])
    assert store.commit(second, [Commit(0, 1, "second")]) == [0]
    assert store.map_results(first) == {} and store.map_results(other) == {}


def test_a_map_of_thousands_of_items_keeps_attempts_and_results_across_its_slices(
    store: Store,
) -> None:
    """SQLite stores items and attempts in spans of 1,000: runs and commits crossing them."""
    items = [[f"item-{i}", i] for i in range(2_500)]
    store.open_map("map_1", "job_1", 1, "Compute.Hash", "d", items[:700], count=2_500)
    store.add_tasks("map_1", 700, items[700:2_100])
    store.add_tasks("map_1", 2_100, items[2_100:])
    store.set_attempts("map_1", [(i, 1) for i in range(600, 2_300)])
    store.set_attempts("map_1", [(i, 2) for i in range(990, 1_010)] + [(5, 1), (2_499, 4)])
    offered = [Commit(i, 1, i) for i in range(980, 1_020)] + [Commit(2_499, 4, "last")]
    offered += [Commit(999, 2, "again"), Commit(1_000, 2, error="boom"), Commit(2_500, 0, "x")]
    taken = [*range(980, 990), *range(1_010, 1_020), 2_499, 999, 1_000]
    assert store.commit("map_1", offered) == taken
    assert store.commit("map_1", [Commit(1_999, 1, "b"), Commit(0, 0, "a")]) == [1_999, 0]
    assert store.map_args("map_1", [0, 999, 1_000, 2_499, 2_500]) == {
        0: items[0],
        999: items[999],
        1_000: items[1_000],
        2_499: items[2_499],
    }
    again = store.open_map("map_x", "job_1", 1, "Compute.Hash", "d", items)
    assert again.record.id == "map_1"
    expected = {i: 1 if 600 <= i < 2_300 else 0 for i in range(2_500)}
    expected |= {i: 2 for i in range(990, 1_010)} | {5: 1, 2_499: 4}
    assert again.attempts == expected
    assert again.results == {i: i for i in taken[:20]} | {2_499: "last", 999: "again"} | {
        1_999: "b",
        0: "a",
    }
    assert again.failures == {1_000: "boom"}
    counts = store.commit_counts("map_1")
    assert len(counts) == 2_500 and {i for i, n in counts.items() if n} == {*taken, 1_999, 0}


def test_a_rerun_gets_copies_of_the_maps_holding_only_their_successful_results(
    store: Store,
) -> None:
    first = open_map(store)
    second = store.open_map("map_2", "job_1", 2, "Compute.Hash", "d2", [["z"], ["y"]]).record.id
    store.set_attempts(first, [(0, 1), (1, 3), (2, 1)])  # item 3: never sent
    store.commit(first, [Commit(0, 1, "A"), Commit(1, 3, error="boom")])  # item 2: still out
    store.set_attempts(second, [(0, 1), (1, 1)])
    store.commit(second, [Commit(0, 1, "Z"), Commit(1, 1, None)])
    assert store.reuse_results("job_2", "job_1") == 3

    copy = store.open_map("map_new", "job_2", 1, "Compute.Hash", "d1", ITEMS)
    assert copy.record.id == reused_map_id("job_2", 1) != first
    assert (copy.record.job_id, copy.record.count, copy.record.activity) == (
        "job_2",
        4,
        "Compute.Hash",
    )
    assert copy.results == {0: "A"} and copy.failures == {}
    assert store.commit_counts(copy.record.id) == {0: 1, 1: 0, 2: 0, 3: 0}
    assert copy.attempts == {0: 0, 1: 0, 2: 0, 3: 0}  # the rest are new tasks, never sent
    assert store.map_args(copy.record.id, [1, 3]) == {1: ITEMS[1], 3: ITEMS[3]}
    assert store.open_map("map_n2", "job_2", 2, "Compute.Hash", "d2", [["z"], ["y"]]).results == {
        0: "Z",
        1: None,
    }
    store.set_attempts(copy.record.id, [(1, 1)])
    assert store.commit(copy.record.id, [Commit(1, 1, "B")]) == [1]
    source = store.open_map("map_again", "job_1", 1, "Compute.Hash", "d1", ITEMS)
    assert source.results == {0: "A"} and source.failures == {1: "boom"}  # unchanged
    assert store.reuse_results("job_3", "job_unknown") == 0


def test_a_rerun_job_names_the_job_it_runs_again(store: Store) -> None:
    from dataclasses import replace

    store.add_job(replace(job("job_2"), rerun_of="job_1"))
    stored = store.get_job("job_2")
    assert stored is not None and stored.rerun_of == "job_1"
    assert store.list_jobs()[0].rerun_of == "job_1"


# ----------------------------------------------------------------------------- nodes


def test_a_node_keeps_its_first_sighting_and_updates_the_rest(store: Store) -> None:
    assert store.get_node("node_a") is None
    store.upsert_node(node("node_b", 20.0, "b"))
    store.upsert_node(node("node_a", 10.0, "a"))
    store.upsert_node(NodeRecord("node_a", "renamed", {"slots": 8}, first_seen=50, last_seen=60))
    assert store.get_node("node_a") == NodeRecord(
        "node_a", "renamed", {"slots": 8}, first_seen=10.0, last_seen=60.0
    )
    assert [n.id for n in store.list_nodes()] == ["node_a", "node_b"]


# ------------------------------------------------------------------ benchmark rates


def rate(node_id: str, activity: str, value: float, unit: str = "compute-units@1") -> RateRecord:
    return RateRecord(node_id, activity, unit, value, 1.5, 12, "compute", "1.0", 1000.0 + value)


def test_a_forgotten_node_goes_with_its_rates_and_others_stay(store: Store) -> None:
    store.upsert_node(node("node_a", 10.0, "a"))
    store.upsert_node(node("node_b", 20.0, "b"))
    store.put_rate(rate("node_a", "Compute.Work", 20.0))
    store.put_rate(rate("node_b", "Compute.Work", 10.0))
    assert store.forget_node("node_a") is True
    assert store.get_node("node_a") is None
    assert [n.id for n in store.list_nodes()] == ["node_b"]
    assert store.list_rates() == [rate("node_b", "Compute.Work", 10.0)]
    assert store.forget_node("node_a") is False


def test_rates_are_kept_per_node_activity_and_unit_and_listed_in_that_order(store: Store) -> None:
    assert store.list_rates() == []
    store.put_rate(rate("node_b", "Compute.Work", 10.0))
    store.put_rate(rate("node_a", "Compute.Work", 20.0))
    store.put_rate(rate("node_a", "Compute.Hash", 5e6, unit="bytes@1"))
    store.put_rate(rate("node_a", "Compute.Work", 30.0, unit="compute-units@2"))
    assert store.list_rates() == [
        rate("node_a", "Compute.Hash", 5e6, unit="bytes@1"),
        rate("node_a", "Compute.Work", 20.0),
        rate("node_a", "Compute.Work", 30.0, unit="compute-units@2"),
        rate("node_b", "Compute.Work", 10.0),
    ]


# ------------------------------------------------------------------ reputation


def reputation(
    node_id: str, activity: str, state: str = "new", accepted: int = 0
) -> ReputationRecord:
    return ReputationRecord(node_id, activity, state, accepted, accepted, 0, 1, 0, 1000.0)


def test_reputation_is_kept_per_node_and_activity_replaced_and_listed_in_order(
    store: Store,
) -> None:
    assert store.list_reputation() == []
    store.put_reputation(reputation("node_b", "Compute.Hash"))
    store.put_reputation(reputation("node_a", "Render.Frame", "blocked"))
    store.put_reputation(reputation("node_a", "Compute.Hash"))
    store.put_reputation(reputation("node_a", "Compute.Hash", "reliable", accepted=12))
    assert store.list_reputation() == [
        reputation("node_a", "Compute.Hash", "reliable", accepted=12),
        reputation("node_a", "Render.Frame", "blocked"),
        reputation("node_b", "Compute.Hash"),
    ]
    assert store.list_reputation("node_b") == [reputation("node_b", "Compute.Hash")]
    assert store.list_reputation("node_c") == []


def test_a_new_rate_replaces_the_one_for_the_same_node_activity_and_unit(store: Store) -> None:
    store.put_rate(rate("node_a", "Compute.Work", 20.0))
    newer = RateRecord(
        "node_a", "Compute.Work", "compute-units@1", 25.0, 2.0, 40, "compute", "1.1", 2e3
    )
    store.put_rate(newer)
    assert store.list_rates() == [newer]


def test_deleting_rates_forgets_only_the_given_pairs_of_that_node(store: Store) -> None:
    store.put_rate(rate("node_a", "Compute.Work", 20.0))
    store.put_rate(rate("node_a", "Compute.Hash", 5e6, unit="bytes@1"))
    store.put_rate(rate("node_b", "Compute.Work", 10.0))
    store.delete_rates("node_a", [("Compute.Work", "compute-units@1"), ("Compute.Nope", "x@1")])
    store.delete_rates("node_c", [("Compute.Hash", "bytes@1")])
    assert store.list_rates() == [
        rate("node_a", "Compute.Hash", 5e6, unit="bytes@1"),
        rate("node_b", "Compute.Work", 10.0),
    ]


# ------------------------------------------------------------------ SQLite only


def fill(store: Store) -> str:
    store.add_job(job())
    store.update_job("job_1", status=JobStatus.RUNNING, at=111.0)
    store.append_events("job_1", [{"kind": "job_started"}, {"kind": "progress", "done": 1}])
    map_id = open_map(store)
    store.set_attempts(map_id, [(0, 1), (1, 2), (2, 1)])
    store.commit(map_id, [Commit(0, 1, "zero"), Commit(2, 1, error="boom")])
    store.upsert_node(node("node_a", 5.0))
    store.put_rate(rate("node_a", "Compute.Work", 20.0))
    return map_id


def check_filled(store: Store, map_id: str) -> None:
    stored = store.get_job("job_1")
    assert stored is not None
    assert (stored.status, stored.started_at, stored.parameters) == (
        "running",
        111.0,
        job().parameters,
    )
    assert [j.id for j in store.unfinished_jobs()] == ["job_1"]
    assert store.events("job_1") == [
        (1, {"kind": "job_started"}),
        (2, {"kind": "progress", "done": 1}),
    ]
    state = store.open_map("map_new", "job_1", 1, "Compute.Hash", "d1", ITEMS)
    assert state.record.id == map_id
    assert (state.results, state.failures) == ({0: "zero"}, {2: "boom"})
    assert state.attempts == {0: 1, 1: 2, 2: 1, 3: 0}
    assert store.commit(map_id, [Commit(1, 1, "fenced after the restart too")]) == []
    assert store.commit(map_id, [Commit(1, 2, "one")]) == [1]
    assert store.get_node("node_a") == node("node_a", 5.0)
    assert store.list_rates() == [rate("node_a", "Compute.Work", 20.0)]


def test_sqlite_state_survives_closing_and_reopening_the_file(tmp_path: Path) -> None:
    path = tmp_path / "hub.sqlite3"
    first = SqliteStore(path)
    map_id = fill(first)
    first.close()
    reopened = SqliteStore(path)
    try:
        check_filled(reopened, map_id)
    finally:
        reopened.close()
    third = SqliteStore(path)  # the commit made after the reopening is durable as well
    try:
        assert third.map_results(map_id) == {0: "zero", 1: "one"}
    finally:
        third.close()


def test_sqlite_writes_are_visible_to_another_connection_before_closing(tmp_path: Path) -> None:
    """What a hub acknowledged is on disk even if the process dies without closing the store."""
    path = tmp_path / "hub.sqlite3"
    writer = SqliteStore(path)
    try:
        map_id = fill(writer)
        reader = SqliteStore(path)
        try:
            check_filled(reader, map_id)
        finally:
            reader.close()
    finally:
        writer.close()


def test_sqlite_store_uses_write_ahead_logging(tmp_path: Path) -> None:
    path = tmp_path / "hub.sqlite3"
    store = SqliteStore(path)
    try:
        store.add_job(job())
        assert Path(f"{path}-wal").exists()
        raw = sqlite3.connect(path)
        try:
            assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        finally:
            raw.close()
    finally:
        store.close()


@pytest.mark.parametrize(("durable", "level"), [(False, 1), (True, 2)])
def test_sqlite_synchronous_level_follows_the_durable_flag(
    tmp_path: Path, durable: bool, level: int
) -> None:
    store = SqliteStore(tmp_path / "hub.sqlite3", durable=durable)
    try:
        read: Callable[[str], list[object]] = store._read  # the store's own connection
        assert read("PRAGMA synchronous")[0][0] == level  # 1: NORMAL, 2: FULL
    finally:
        store.close()


# ---------------------------------------------------------------------------- tokens


def test_a_token_reads_back_whole_and_tokens_are_listed_oldest_first(store: Store) -> None:
    node_credential = token("tok_00000000000b", "node", 20.0, node_id="node_1", created_by="x")
    store.add_token(node_credential)
    store.add_token(token("tok_00000000000a", "join", 10.0, expires_at=99.0, max_uses=2))
    assert store.get_token("tok_00000000000b") == node_credential
    assert store.get_token("tok_nope") is None
    assert [t.id for t in store.list_tokens()] == ["tok_00000000000a", "tok_00000000000b"]


def test_a_token_is_revoked_once_and_keeps_the_time_of_its_revocation(store: Store) -> None:
    store.add_token(token("tok_00000000000a"))
    assert store.revoke_token("tok_00000000000a", 50.0) is True
    assert store.revoke_token("tok_00000000000a", 60.0) is False
    assert store.revoke_token("tok_nope", 60.0) is False
    revoked = store.get_token("tok_00000000000a")
    assert revoked is not None and revoked.revoked_at == 50.0


def test_a_use_of_a_token_is_recorded(store: Store) -> None:
    store.add_token(token("tok_00000000000a"))
    store.touch_token("tok_00000000000a", 70.0)
    used = store.get_token("tok_00000000000a")
    assert used is not None and used.last_used == 70.0


def test_a_token_with_bounded_uses_runs_out_and_an_unbounded_one_does_not(store: Store) -> None:
    store.add_token(token("tok_00000000000a", "join", max_uses=2))
    store.add_token(token("tok_00000000000b", "join"))
    assert [store.use_token("tok_00000000000a") for _ in range(3)] == [True, True, False]
    assert all(store.use_token("tok_00000000000b") for _ in range(5))
    assert store.use_token("tok_nope") is False
    counted = store.get_token("tok_00000000000b")
    assert counted is not None and counted.uses == 5


# ----------------------------------------------------------------------------- pools


def test_the_default_pool_is_always_there_and_trusted(store: Store) -> None:
    assert store.list_pools() == [PoolRecord("default", PoolTier.TRUSTED, 0.0)]
    default = store.get_pool("default")
    assert default is not None and default.trusted
    assert store.get_pool("volunteers") is None


def test_a_pool_is_added_and_its_tier_changed_keeping_when_it_was_made(store: Store) -> None:
    store.put_pool(PoolRecord("volunteers", PoolTier.UNTRUSTED, 5.0))
    store.put_pool(PoolRecord("annex", PoolTier.TRUSTED, 6.0))
    store.put_pool(PoolRecord("volunteers", PoolTier.TRUSTED, 9.0))
    assert [(p.name, p.tier, p.created_at) for p in store.list_pools()] == [
        ("default", PoolTier.TRUSTED, 0.0),
        ("annex", PoolTier.TRUSTED, 6.0),
        ("volunteers", PoolTier.TRUSTED, 5.0),
    ]


def test_a_node_keeps_its_pool_and_owner_when_it_connects_again(store: Store) -> None:
    from dataclasses import replace

    store.upsert_node(replace(node("node_1", 1.0), pool="volunteers", owner="ada"))
    store.upsert_node(node("node_1", 2.0, name="renamed"))  # a hello says nothing of either
    again = store.get_node("node_1")
    assert again is not None and (again.name, again.pool, again.owner) == (
        "renamed",
        "volunteers",
        "ada",
    )
    store.upsert_node(node("node_2", 3.0))
    assert [(n.id, n.pool, n.owner) for n in store.list_nodes()] == [
        ("node_1", "volunteers", "ada"),
        ("node_2", "default", ""),
    ]


def test_a_node_is_moved_to_another_pool_and_given_another_owner(store: Store) -> None:
    store.upsert_node(node("node_1", 1.0))
    assert store.place_node("node_1", pool="volunteers") is True
    assert store.place_node("node_1", owner="ada") is True
    assert store.place_node("node_nope", pool="volunteers") is False
    placed = store.get_node("node_1")
    assert placed is not None and (placed.pool, placed.owner) == ("volunteers", "ada")


def test_a_join_token_keeps_the_pool_and_owner_of_the_nodes_it_enrols(store: Store) -> None:
    made = token("tok_00000000000a", "join", pool="volunteers", owner="ada")
    store.add_token(made)
    assert store.get_token("tok_00000000000a") == made
    store.add_token(token("tok_00000000000b", "join"))
    plain = store.get_token("tok_00000000000b")
    assert plain is not None and (plain.pool, plain.owner) == (None, None)


def test_a_job_keeps_the_pools_it_may_use(store: Store) -> None:
    from dataclasses import replace

    store.add_job(replace(job(), pools=("volunteers", "default")))
    store.add_job(job("job_2"))
    chosen, unsaid = store.get_job("job_1"), store.get_job("job_2")
    assert chosen is not None and chosen.pools == ("volunteers", "default")
    assert unsaid is not None and unsaid.pools is None


# ------------------------------------------------------- nodes asking to join without a token


def join(key: str, node_id: str, state: str = "pending", at: float = 10.0) -> JoinRecord:
    machine = {"os": "linux", "arch": "x86_64", "cores": 8, "ram_bytes": 2**34}
    return JoinRecord(
        f"sha256:{key * 64}", node_id, "A" * 44, f"box {node_id}", "192.168.1.7", machine,
        state, asked_at=at, seen_at=at,
    )  # fmt: skip


def test_every_answer_to_a_join_is_kept_and_read_back_by_key(store: Store) -> None:
    for key, node_id, state, at in [
        ("a", "node_a", "pending", 30.0),
        ("b", "node_b", "approved", 10.0),
        ("c", "node_c", "refused", 20.0),
        ("d", "node_d", "revoked", 40.0),
    ]:
        store.put_join(join(key, node_id, state, at))
    assert [(j.node_id, j.state) for j in store.list_joins()] == [
        ("node_b", "approved"),
        ("node_c", "refused"),
        ("node_a", "pending"),
        ("node_d", "revoked"),
    ]
    assert store.get_join(f"sha256:{'c' * 64}") == join("c", "node_c", "refused", 20.0)
    assert store.get_join(f"sha256:{'e' * 64}") is None


def test_a_decision_replaces_the_ask_of_the_same_key(store: Store) -> None:
    from dataclasses import replace

    store.put_join(join("a", "node_a"))
    decided = replace(join("a", "node_a"), state="approved", decided_at=50.0, decided_by="tok_1")
    store.put_join(decided)
    assert store.list_joins() == [decided]


def test_a_forgotten_ask_goes_and_others_stay(store: Store) -> None:
    store.put_join(join("a", "node_a", "refused"))
    store.put_join(join("b", "node_b"))
    assert store.forget_join("node_a") is True
    assert store.forget_join("node_a") is False
    assert [j.node_id for j in store.list_joins()] == ["node_b"]


def test_sqlite_remembers_every_answer_to_a_join_after_reopening(tmp_path: Path) -> None:
    path = tmp_path / "hub.sqlite3"
    first = SqliteStore(path)
    records = [join(k, f"node_{k}", s) for k, s in zip("abcd", Admission, strict=True)]
    for record in records:
        first.put_join(record)
    first.close()
    again = SqliteStore(path)
    try:
        assert again.list_joins() == records
    finally:
        again.close()


def test_audit_lines_are_numbered_in_order_and_read_newest_first(store: Store) -> None:
    for n in range(1, 6):
        line = AuditRecord(at=float(n), action="job.submit", outcome="ok", actor_id=f"tok_{n}")
        assert store.append_audit(line) == n
    newest = store.audit(limit=2)
    assert [(r.seq, r.actor_id) for r in newest] == [(5, "tok_5"), (4, "tok_4")]
    assert [r.seq for r in store.audit(limit=10, before=3)] == [2, 1]
    assert newest[0] == AuditRecord(5.0, "job.submit", "ok", "tok_5", seq=5)


def test_a_submitted_job_keeps_the_token_that_submitted_it(store: Store) -> None:
    from dataclasses import replace

    store.add_job(replace(job(), owner="tok_00000000000a"))
    stored = store.get_job("job_1")
    assert stored is not None and stored.owner == "tok_00000000000a"


def test_sqlite_audit_lines_cannot_be_changed_or_deleted(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "hub.sqlite3")
    store.append_audit(AuditRecord(at=1.0, action="token.create", outcome="ok"))
    store.close()
    with sqlite3.connect(tmp_path / "hub.sqlite3") as raw:
        for statement in ("UPDATE audit SET outcome = 'forged'", "DELETE FROM audit"):
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                raw.execute(statement)
    raw.close()


def _first_release_database(path: Path) -> None:
    """A hub database as the first release left it: schema 1, no rates, tokens or audit."""
    with sqlite3.connect(path) as raw:
        raw.executescript(SCHEMA)
        raw.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        raw.execute("INSERT INTO schema_version VALUES (1)")
    raw.close()


def test_a_hub_database_from_before_rates_gains_the_rates_table(tmp_path: Path) -> None:
    path = tmp_path / "hub.sqlite3"
    _first_release_database(path)
    store = SqliteStore(path)
    try:
        store.put_rate(rate("node_a", "Compute.Work", 20.0))
        assert store.list_rates() == [rate("node_a", "Compute.Work", 20.0)]
        assert store._read("SELECT version FROM schema_version") == [(MIGRATIONS[-1][0],)]
    finally:
        store.close()


def test_a_job_that_ended_before_progress_was_kept_reads_back_without_it(tmp_path: Path) -> None:
    path = tmp_path / "hub.sqlite3"
    _first_release_database(path)
    with sqlite3.connect(path) as raw:
        raw.execute(
            "INSERT INTO jobs VALUES ('job_1', 'J', 'Job:J() { }', 'j.wit', '{}', '{}', "
            "'completed', 1.0, 1.0, 2.0, NULL, NULL, 1)"
        )
    raw.close()
    store = SqliteStore(path)
    try:
        old = store.get_job("job_1")
        assert old is not None and old.status == "completed" and old.progress is None
    finally:
        store.close()


def test_tasks_committed_before_commits_were_counted_count_one(tmp_path: Path) -> None:
    path = tmp_path / "hub.sqlite3"
    _first_release_database(path)
    with sqlite3.connect(path) as raw:
        raw.execute("INSERT INTO maps VALUES ('map_1', 'job_1', 1, 'A.B', 'd', 3, NULL)")
        raw.executemany(
            "INSERT INTO tasks VALUES ('map_1', ?, '[]', ?, 1, ?, ?)",
            [(0, "done", "7", None), (1, "failed", None, "boom"), (2, "pending", None, None)],
        )
    raw.close()
    store = SqliteStore(path)
    try:
        assert store.commit_counts("map_1") == {0: 1, 1: 1, 2: 0}
    finally:
        store.close()


def _schema_6_database(path: Path) -> None:
    """A hub database as schema 6 left it: a row per task, its result written into that row."""
    with sqlite3.connect(path) as raw:
        raw.executescript(SCHEMA)
        raw.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        raw.execute("INSERT INTO schema_version VALUES (6)")
        for target, statements in MIGRATIONS:
            if target <= 6:
                for statement in (
                    statements.split(";") if isinstance(statements, str) else statements
                ):
                    if statement.strip():
                        raw.execute(statement)
    raw.close()


def test_a_schema_6_database_keeps_its_maps_results_and_attempts_after_migrating(
    tmp_path: Path,
) -> None:
    path = tmp_path / "hub.sqlite3"
    _schema_6_database(path)
    with sqlite3.connect(path) as raw:
        raw.execute(
            "INSERT INTO jobs VALUES ('job_1', 'J', 's', 'j.wit', '{}', '{}', 'running', "
            "1.0, 1.0, NULL, NULL, NULL, 1, NULL, NULL, NULL)"
        )
        raw.execute(
            "INSERT INTO maps VALUES ('map_1', 'job_1', 1, 'Compute.Hash', 'd1', 4, 'null')"
        )
        raw.executemany(
            "INSERT INTO tasks VALUES ('map_1', ?, ?, ?, ?, ?, ?, ?)",
            [
                (0, '["a",1]', "done", 2, '{"v":[1,null]}', None, 1),
                (1, '["b",2]', "failed", 1, None, "boom", 1),
                (2, '["c",3]', "pending", 3, None, None, 0),
                (3, '["d",{"nested":[1,2.5,null,true]}]', "pending", 0, None, None, 0),
            ],
        )
    raw.close()
    store = SqliteStore(path)
    try:
        assert store._read("SELECT version FROM schema_version") == [(MIGRATIONS[-1][0],)]
        assert store._read("SELECT name FROM sqlite_master WHERE name = 'tasks'") == []
        state = store.open_map("map_new", "job_1", 1, "Compute.Hash", "d1", ITEMS)
        assert state.record.id == "map_1" and state.record.options is None
        assert (state.results, state.failures) == ({0: {"v": [1, None]}}, {1: "boom"})
        assert state.attempts == {0: 2, 1: 1, 2: 3, 3: 0}
        assert store.map_args("map_1", [0, 1, 2, 3]) == dict(enumerate(ITEMS))
        assert store.commit_counts("map_1") == {0: 1, 1: 1, 2: 0, 3: 0}
        # Fencing goes on from the stored attempts, and new work is stored the new way.
        assert store.commit("map_1", [Commit(2, 2, "late"), Commit(0, 2, "twice")]) == []
        store.set_attempts("map_1", [(2, 4), (3, 1)])
        assert store.commit("map_1", [Commit(2, 4, "c"), Commit(3, 1, "d")]) == [2, 3]
        assert store.map_results("map_1") == {0: {"v": [1, None]}, 2: "c", 3: "d"}
        assert store.reuse_results("job_2", "job_1") == 3
    finally:
        store.close()


def test_a_hub_database_from_before_tokens_keeps_its_jobs_and_gains_tokens_and_audit(
    tmp_path: Path,
) -> None:
    path = tmp_path / "hub.sqlite3"
    _first_release_database(path)
    with sqlite3.connect(path) as raw:
        raw.execute(
            "INSERT INTO jobs VALUES ('job_old', 'Old', 's', 'f.wit', '{}', '{}', 'completed', "
            "1.0, NULL, NULL, NULL, NULL, 1)"
        )
    raw.close()
    store = SqliteStore(path)
    try:
        old = store.get_job("job_old")
        assert old is not None and old.owner is None and old.status == "completed"
        assert old.rerun_of is None
        store.add_token(token("tok_000000000001"))
        assert store.get_token("tok_000000000001") == token("tok_000000000001")
        assert store.append_audit(AuditRecord(at=1.0, action="token.create", outcome="ok")) == 1
    finally:
        store.close()


def test_a_hub_database_from_before_pools_puts_its_nodes_in_the_default_pool(
    tmp_path: Path,
) -> None:
    path = tmp_path / "hub.sqlite3"
    _first_release_database(path)
    with sqlite3.connect(path) as raw:
        raw.execute("INSERT INTO nodes VALUES ('node_old', 'old', '{}', 1.0, 2.0)")
    raw.close()
    store = SqliteStore(path)
    try:
        old = store.get_node("node_old")
        assert old is not None and (old.pool, old.owner, old.last_seen) == ("default", "", 2.0)
        assert [p.name for p in store.list_pools()] == ["default"]
    finally:
        store.close()


def _transactions(store: SqliteStore) -> list[str]:
    """The transaction statements the store sends SQLite from now on."""
    seen: list[str] = []
    store.db.set_trace_callback(
        lambda sql: seen.append(sql) if sql in ("BEGIN IMMEDIATE", "COMMIT", "ROLLBACK") else None
    )
    return seen


def test_a_batch_of_results_is_checked_and_written_in_one_transaction(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "hub.sqlite3")
    try:
        items = [[f"item-{i}"] for i in range(2_000)]
        store.open_map("map_1", "job_1", 1, "Compute.Hash", "d", items)
        store.set_attempts("map_1", [(i, 1) for i in range(2_000)])
        seen = _transactions(store)
        offered = [Commit(i, 1, f"v{i}") for i in range(1_999)] + [Commit(1_999, 1, error="x")]
        assert store.commit("map_1", offered) == list(range(2_000))
        assert seen == ["BEGIN IMMEDIATE", "COMMIT"]
        assert set(store.commit_counts("map_1").values()) == {1}
        assert store.map_results("map_1")[1_998] == "v1998"
    finally:
        store.close()


def test_a_batch_holding_a_result_not_to_take_is_written_again_without_it(
    tmp_path: Path,
) -> None:
    """The one transaction that wrote the batch is rolled back: nothing it wrote stays, and a
    second one writes the results to take."""
    store = SqliteStore(tmp_path / "hub.sqlite3")
    try:
        store.open_map("map_1", "job_1", 1, "Compute.Hash", "d", ITEMS)
        store.set_attempts("map_1", [(0, 1), (1, 1), (2, 1)])
        assert store.commit("map_1", [Commit(2, 1, "first")]) == [2]
        seen = _transactions(store)
        given = [Commit(0, 1, "a"), Commit(2, 1, "again"), Commit(1, 1, error="boom")]
        assert store.commit("map_1", given) == [0, 1]
        assert seen == ["BEGIN IMMEDIATE", "ROLLBACK", "BEGIN IMMEDIATE", "COMMIT"]
        assert store.map_results("map_1") == {0: "a", 2: "first"}
        assert store.commit_counts("map_1") == {0: 1, 1: 1, 2: 1, 3: 0}
    finally:
        store.close()


# ------------------------------------------------------------------------- the blackboard

KEEP, KEYS = 5, 4


def put(
    store: Store, key: str, value: object, expect: int | None = None, at: float = 1.0
) -> BoardEntry:
    return store.board_write(
        BoardWrite(key, value, "admin tok_1", at, expect), keep=KEEP, max_keys=KEYS
    )


def delete(store: Store, key: str, expect: int | None = None) -> BoardEntry:
    return store.board_write(
        BoardWrite(key, None, "job job_1", 2.0, expect, deleted=True), keep=KEEP, max_keys=KEYS
    )


def test_a_key_reads_back_with_its_value_version_writer_and_time(store: Store) -> None:
    written = put(store, "frames/12", {"node": "box", "ranks": [1, 2.5, None, True]}, at=7.5)
    assert written == BoardEntry(
        "frames/12", 1, {"node": "box", "ranks": [1, 2.5, None, True]}, "admin tok_1", 7.5, 1
    )
    assert store.board_get("frames/12") == written
    assert store.board_get("frames/13") is None


def test_each_write_is_the_keys_next_version_and_the_farms_next_change(store: Store) -> None:
    assert [put(store, k, n).version for n, k in enumerate(["a", "b", "a", "a"])] == [1, 1, 2, 3]
    assert [e.seq for e in store.board_changes()] == [1, 2, 3, 4]
    assert [(e.key, e.version, e.value) for e in store.board_changes(after=2)] == [
        ("a", 2, 2),
        ("a", 3, 3),
    ]
    assert len(store.board_changes(after=0, limit=3)) == 3


def test_a_write_expecting_a_version_is_taken_only_at_that_version(store: Store) -> None:
    put(store, "lock", "first")
    put(store, "lock", "second", expect=1)
    with pytest.raises(BoardConflict, match="'lock' is at version 2, not at version 1") as refused:
        put(store, "lock", "late", expect=1)
    assert refused.value.current == 2
    assert store.board_get("lock") == BoardEntry("lock", 2, "second", "admin tok_1", 1.0, 2)
    with pytest.raises(BoardConflict, match="has no value") as missing:
        put(store, "other", 1, expect=3)
    assert missing.value.current is None


def test_a_create_only_write_is_taken_once_and_then_refused(store: Store) -> None:
    assert put(store, "lock", "me", expect=0).version == 1
    with pytest.raises(BoardConflict, match="has a value already") as refused:
        put(store, "lock", "you", expect=0)
    assert refused.value.current == 1
    assert [e.value for e in store.board_history("lock")] == ["me"]


def test_a_write_expecting_any_version_needs_the_key_to_have_a_value(store: Store) -> None:
    with pytest.raises(BoardConflict, match="'k' has no value"):
        put(store, "k", 1, expect=ANY_VERSION)
    put(store, "k", 1)
    assert put(store, "k", 2, expect=ANY_VERSION).version == 2
    delete(store, "k", expect=ANY_VERSION)
    with pytest.raises(BoardConflict):
        put(store, "k", 3, expect=ANY_VERSION)


def test_a_delete_is_a_version_and_a_deleted_key_can_be_made_again(store: Store) -> None:
    put(store, "k", 1)
    gone = delete(store, "k", expect=1)
    assert (gone.version, gone.value, gone.deleted, gone.writer) == (2, None, True, "job job_1")
    assert store.board_get("k") == gone
    assert store.board_list() == []
    with pytest.raises(BoardConflict, match="no value to delete"):
        delete(store, "k")
    again = put(store, "k", "back", expect=0)
    assert again.version == 3
    assert [(e.version, e.deleted) for e in store.board_history("k")] == [
        (3, False),
        (2, True),
        (1, False),
    ]


def test_a_key_keeps_its_last_versions_only(store: Store) -> None:
    for n in range(8):
        put(store, "k", n)
    assert [e.version for e in store.board_history("k")] == [8, 7, 6, 5, 4]
    assert [e.version for e in store.board_history("k", limit=2)] == [8, 7]
    assert [e.seq for e in store.board_changes()] == [4, 5, 6, 7, 8]


def test_keys_are_listed_by_name_under_a_prefix(store: Store) -> None:
    for key in ["nodes/b/x", "nodes/a/y", "farm/rates", "nodes/a/z"]:
        put(store, key, key)
    delete(store, "nodes/a/z")
    assert [e.key for e in store.board_list()] == ["farm/rates", "nodes/a/y", "nodes/b/x"]
    assert [e.key for e in store.board_list("nodes/")] == ["nodes/a/y", "nodes/b/x"]
    assert [e.key for e in store.board_list("nodes/", limit=1)] == ["nodes/a/y"]
    assert store.board_list("none/") == []


def test_a_new_key_past_the_limit_takes_the_place_of_the_key_deleted_longest_ago(
    store: Store,
) -> None:
    for key in "abcd":
        put(store, key, key)
    with pytest.raises(BoardFull, match=r"limits\.board_keys = 4"):
        put(store, "e", "e")
    delete(store, "c")
    delete(store, "a")
    put(store, "e", "e")
    assert store.board_get("c") is None and store.board_history("c") == []
    assert store.board_get("a") is not None
    assert put(store, "b", "again").version == 2  # a key held is not new


def test_a_stored_value_does_not_change_when_the_caller_changes_its_copy(store: Store) -> None:
    value = {"frames": [1, 2]}
    written = put(store, "k", value)
    value["frames"].append(3)
    written.value["frames"].append(4)
    assert store.board_get("k") == BoardEntry("k", 1, {"frames": [1, 2]}, "admin tok_1", 1.0, 1)


def test_sqlite_blackboard_survives_reopening_and_numbers_changes_on(tmp_path: Path) -> None:
    path = tmp_path / "hub.sqlite3"
    first = SqliteStore(path)
    put(first, "k", 1)
    for n in range(7):
        put(first, "old", n)
    first.close()
    again = SqliteStore(path)
    try:
        assert again.board_get("k") == BoardEntry("k", 1, 1, "admin tok_1", 1.0, 1)
        assert put(again, "k", 2).seq == 9  # numbers of dropped versions are not given again
    finally:
        again.close()


def test_a_hub_database_from_before_the_blackboard_gains_it(tmp_path: Path) -> None:
    path = tmp_path / "hub.sqlite3"
    _schema_6_database(path)
    store = SqliteStore(path)
    try:
        assert store.board_list() == []
        assert put(store, "k", [1]).seq == 1
        assert store._read("SELECT version FROM schema_version") == [(MIGRATIONS[-1][0],)]
    finally:
        store.close()


def test_sqlite_fences_attempts_alike_as_a_map_grows_and_after_reopening(tmp_path: Path) -> None:
    """SQLite keeps each map's current attempts as it writes them (a commit reads them there,
    not in its runs of `sent`): a map that grows after its first commit, and the same file
    opened again, fence attempts as the runs do."""
    store = SqliteStore(tmp_path / "hub.db")
    store.open_map("map_1", "job_1", 1, "Compute.Hash", "d1", ITEMS[:1], count=4)
    store.set_attempts("map_1", [(0, 1)])
    assert store.commit("map_1", [Commit(0, 1, "zero")]) == [0]  # its attempts read: 1 item
    store.add_tasks("map_1", 1, ITEMS[1:])
    store.set_attempts("map_1", [(2, 1), (3, 1)])
    store.set_attempts("map_1", [(3, 2)])
    assert store.commit("map_1", [Commit(2, 1, "two"), Commit(3, 1, "late")]) == [2]
    store.close()
    again = SqliteStore(tmp_path / "hub.db")
    assert again.commit("map_1", [Commit(3, 1, "late"), Commit(1, 1, "never sent")]) == []
    again.set_attempts("map_1", [(1, 5)])
    assert again.commit("map_1", [Commit(3, 2, "three"), Commit(1, 5, "one")]) == [3, 1]
    assert again.map_results("map_1") == {0: "zero", 1: "one", 2: "two", 3: "three"}
    again.close()


def test_a_page_of_committed_items_is_a_search_of_the_results_key_not_a_scan(
    tmp_path: Path,
) -> None:
    store = SqliteStore(tmp_path / "hub.sqlite3")
    try:
        plan = store.db.execute(f"EXPLAIN QUERY PLAN {PAGE_OF_ITEMS}", ("m", -1, 100)).fetchall()
    finally:
        store.close()
    steps = [row[-1] for row in plan]
    assert steps == ["SEARCH results USING PRIMARY KEY (map_id=? AND idx>?)"], steps
