"""The blackboard in both stores, driven by hypothesis with the same random writes: after every
step they hold the same keys, versions, histories and changes, and the rules hold: a key's
versions count up by one, it keeps its last versions only, changes are numbered in order, and a
write is taken only where it expected the key to be."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from witengine.errors import BoardConflict, BoardFull
from witengine.hub.store.base import ANY_VERSION, BoardEntry, BoardWrite
from witengine.hub.store.memory import MemoryStore
from witengine.hub.store.sqlite import SqliteStore

KEEP, KEYS = 3, 4
names = st.sampled_from(["a", "b", "c/d", "c/e", "f"])
values = st.one_of(st.none(), st.integers(-5, 5), st.text(max_size=3), st.lists(st.booleans()))
expects = st.one_of(st.none(), st.integers(ANY_VERSION, 6))


def outcome(store: Any, write: BoardWrite) -> Any:
    try:
        return store.board_write(write, keep=KEEP, max_keys=KEYS)
    except BoardConflict as conflict:
        return ("conflict", conflict.current)
    except BoardFull:
        return "full"


class BoardInBothStores(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.folder = tempfile.TemporaryDirectory()
        self.memory = MemoryStore()
        self.sqlite = SqliteStore(Path(self.folder.name) / "hub.sqlite3")
        self.at = 0.0

    def teardown(self) -> None:
        self.sqlite.close()
        self.folder.cleanup()

    def offer(self, write: BoardWrite) -> None:
        before = self.memory.board_get(write.key)
        taken = outcome(self.memory, write)
        assert outcome(self.sqlite, write) == taken
        if isinstance(taken, BoardEntry):
            live = before is not None and not before.deleted
            at = before.version if before is not None and live else 0
            anything = write.expect == ANY_VERSION and at > 0
            assert write.expect is None or write.expect == at or anything, (write, before)
            assert taken.version == (before.version + 1 if before else 1)
            assert taken.seq == max((c.seq for c in self.memory.board_changes()), default=0)

    @rule(key=names, value=values, expect=expects)
    def put(self, key: str, value: Any, expect: int | None) -> None:
        self.at += 1
        self.offer(BoardWrite(key, value, "admin tok_1", self.at, expect))

    @rule(key=names, expect=expects)
    def delete(self, key: str, expect: int | None) -> None:
        self.at += 1
        self.offer(BoardWrite(key, None, "job job_1", self.at, expect, deleted=True))

    @invariant()
    def both_hold_the_same(self) -> None:
        assert self.memory.board_list() == self.sqlite.board_list()
        changes = self.memory.board_changes()
        assert changes == self.sqlite.board_changes()
        seqs = [c.seq for c in changes]
        assert seqs == sorted(set(seqs))
        for key in ["a", "b", "c/d", "c/e", "f"]:
            history = self.memory.board_history(key)
            assert history == self.sqlite.board_history(key)
            assert self.memory.board_get(key) == self.sqlite.board_get(key)
            assert len(history) <= KEEP
            versions = [e.version for e in history]  # newest first, one apart
            if versions:
                assert versions == list(range(versions[0], versions[0] - len(versions), -1))
        assert len(self.memory.board) <= KEYS


# No deadline: a step writes to SQLite, which on a loaded 2-core machine took over 200 ms.
BoardInBothStores.TestCase.settings = settings(
    max_examples=60,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_board_in_both_stores = BoardInBothStores.TestCase
