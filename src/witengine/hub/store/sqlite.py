"""`SqliteStore`: the Store contract in one SQLite file, in WAL mode. The only module that
imports sqlite3.

Durability: every write is one transaction, committed before the call returns. In WAL mode with
`synchronous=NORMAL`, a committed transaction survives the hub process being killed (SIGKILL),
which is the failure the hub is built for; a power cut may lose the last transactions. Set
`durable=True` for `synchronous=FULL` where that matters more than speed.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from array import array
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from witengine.errors import BoardFull
from witengine.hub.store.base import (
    AuditRecord,
    BoardEntry,
    BoardWrite,
    Commit,
    JobRecord,
    JoinRecord,
    Json,
    MapRecord,
    MapState,
    NodeRecord,
    PoolRecord,
    RateRecord,
    ReputationRecord,
    TokenRecord,
    board_full,
    board_next_version,
    map_count,
    reused_map_id,
    sent_runs,
)
from witengine.hub.store.rows import (
    BOARD_COLUMNS,
    ENDED,
    JOB_COLUMNS,
    LISTED_JOB_COLUMNS,
    MAP_COLUMNS,
    board_entry,
    job_record,
    join_record,
    map_record,
    map_state,
    node_record,
)
from witengine.hub.store.sqlite_exchange import ExchangeTables
from witengine.hub.store.sqlite_market import MarketTables
from witengine.hub.store.sqlite_schema import MIGRATIONS, SCHEMA, SCHEMA_VERSION, SLICE
from witengine.jsontext import compact
from witengine.protocol.states import JobStatus, PoolTier

_LISTED = f"SELECT {LISTED_JOB_COLUMNS} FROM jobs"
_UNFINISHED = (
    f"SELECT {JOB_COLUMNS} FROM jobs WHERE status NOT IN ({', '.join('?' * len(ENDED))}) "
    "ORDER BY position"
)

# One encoder for every write (see `witengine.jsontext`): a map's items, every result.
_dumps = compact

# A range of the results' key (map_id, idx): a page reads its own rows, not the map's.
PAGE_OF_ITEMS = (
    "SELECT idx, value, error FROM results WHERE map_id = ? AND idx > ? ORDER BY idx LIMIT ?"
)


class SqliteStore(ExchangeTables, MarketTables):
    def __init__(self, path: Path, *, durable: bool = False) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        # Readable by its owner alone (its jobs, tokens' hashes, the audit log); SQLite gives
        # its -wal and -shm files the database's mode.
        path.touch(mode=0o600, exist_ok=True)
        path.chmod(0o600)
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.lock = threading.Lock()
        # Map id -> each item's current attempt, as `sent` holds it, kept as it is written (this
        # store is its maps' one writer): a commit checks its items here, not in `sent`, whose
        # runs it read in the span of the items it held (a message of results from all over a
        # map read every run of it: the hub's time per item grew with the map and its batches).
        self._attempts: dict[str, array[int]] = {}
        # The nodes as last read, by id in the order they were first seen, kept as they are
        # written (this store is their one writer): `GET /nodes` and the farm's facts list them
        # every second or so, and decoding 500 nodes' hellos each time cost some 10 ms of the
        # event loop; they change only when a node connects, leaves or is placed. None: unread.
        self._nodes: dict[str, NodeRecord] | None = None
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
        self.db.execute("PRAGMA foreign_keys=ON")
        self._migrate()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self.lock:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")

    def _migrate(self) -> None:
        with self._write() as db:
            db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            row = db.execute("SELECT version FROM schema_version").fetchone()
            version = row[0] if row else 0
            if version == 0:
                for statement in filter(None, (s.strip() for s in SCHEMA.split(";"))):
                    db.execute(statement)
                db.execute("INSERT INTO schema_version VALUES (?)", (SCHEMA_VERSION,))
                version = SCHEMA_VERSION
            for target, statements in MIGRATIONS:
                if version < target:
                    if isinstance(statements, str):
                        statements = tuple(statements.split(";"))
                    for statement in filter(None, (s.strip() for s in statements)):
                        db.execute(statement)
                    db.execute("UPDATE schema_version SET version = ?", (target,))
                    version = target

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        with self.lock:
            return self.db.execute(sql, params).fetchall()

    # jobs
    def add_job(self, job: JobRecord) -> None:
        with self._write() as db:
            position = db.execute("SELECT COALESCE(MAX(position), 0) + 1 FROM jobs").fetchone()[0]
            db.execute(
                "INSERT INTO jobs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    job.id,
                    job.name,
                    job.script,
                    job.filename,
                    _dumps(job.parameters),
                    _dumps(job.files),
                    job.status,
                    job.created_at,
                    job.started_at,
                    job.finished_at,
                    job.error,
                    None if job.variables is None else _dumps(job.variables),
                    position,
                    job.owner,
                    job.rerun_of,
                    None if job.progress is None else _dumps(list(job.progress)),
                    None if job.pools is None else _dumps(list(job.pools)),
                ),
            )

    def get_job(self, job_id: str) -> JobRecord | None:
        rows = self._read(f"SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?", (job_id,))
        return job_record(rows[0]) if rows else None

    def list_jobs(self, limit: int = 100) -> list[JobRecord]:
        rows = self._read(f"{_LISTED} ORDER BY position DESC LIMIT ?", (limit,))
        return [job_record(r) for r in rows]

    def unfinished_jobs(self) -> list[JobRecord]:
        rows = self._read(_UNFINISHED, ENDED)
        return [job_record(r) for r in rows]

    def update_job(
        self,
        job_id: str,
        *,
        status: JobStatus,
        at: float,
        error: str | None = None,
        variables: dict[str, Json] | None = None,
        progress: tuple[int, int] | None = None,
    ) -> None:
        with self._write() as db:
            db.execute("UPDATE jobs SET status = ? WHERE id = ?", (status, job_id))
            if status is JobStatus.RUNNING:
                db.execute(
                    "UPDATE jobs SET started_at = ? WHERE id = ? AND started_at IS NULL",
                    (at, job_id),
                )
            if status.ended:
                db.execute(
                    "UPDATE jobs SET finished_at = ?, error = ? WHERE id = ?", (at, error, job_id)
                )
            if variables is not None:
                db.execute(
                    "UPDATE jobs SET variables = ? WHERE id = ?", (_dumps(variables), job_id)
                )
            if progress is not None:
                db.execute(
                    "UPDATE jobs SET progress = ? WHERE id = ?", (_dumps(list(progress)), job_id)
                )

    # events
    def append_events(self, job_id: str, events: Sequence[Json]) -> int:
        with self._write() as db:
            last: int = db.execute(
                "SELECT COALESCE(MAX(seq), 0) FROM events WHERE job_id = ?", (job_id,)
            ).fetchone()[0]
            db.executemany(
                "INSERT INTO events VALUES (?, ?, ?)",
                [(job_id, last + n, _dumps(e)) for n, e in enumerate(events, start=1)],
            )
            return last + len(events)

    def events(self, job_id: str, after: int = 0, limit: int = 1000) -> list[tuple[int, Json]]:
        rows = self._read(
            "SELECT seq, data FROM events WHERE job_id = ? AND seq > ? ORDER BY seq LIMIT ?",
            (job_id, after, limit),
        )
        return [(seq, json.loads(data)) for seq, data in rows]

    # maps
    def open_map(
        self,
        map_id: str,
        job_id: str,
        seq: int,
        activity: str,
        digest: str,
        items: Sequence[Sequence[Json]],
        options: Json = None,
        *,
        count: int | None = None,
    ) -> MapState:
        count = map_count(items, count)
        with self._write() as db:
            row = db.execute(
                "SELECT id, digest, count FROM maps WHERE job_id = ? AND seq = ?", (job_id, seq)
            ).fetchone()
            if row is not None and row[1] == digest and row[2] == self._stored(row[0]):
                map_id = row[0]
            else:
                if row is not None:
                    self._attempts.pop(row[0], None)
                    for table in ("results", "sent", "items", "maps"):
                        column = "id" if table == "maps" else "map_id"
                        db.execute(f"DELETE FROM {table} WHERE {column} = ?", (row[0],))
                db.execute(
                    "INSERT INTO maps VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (map_id, job_id, seq, activity, digest, count, _dumps(options)),
                )
                self._insert_items(map_id, 0, items)
        return self._state(map_id)

    def add_tasks(self, map_id: str, first: int, items: Sequence[Sequence[Json]]) -> None:
        with self._write():
            self._insert_items(map_id, first, items)

    def _insert_items(self, map_id: str, first: int, items: Sequence[Sequence[Json]]) -> None:
        """Store items a slice a row: one JSON array of the slice's arguments."""
        self.db.executemany(
            "INSERT INTO items VALUES (?, ?, ?, ?)",
            (
                (map_id, first + start, len(part), _dumps(part))  # lists or tuples: one text
                for start in range(0, len(items), SLICE)
                for part in [list(items[start : start + SLICE])]
            ),
        )

    def _stored(self, map_id: str) -> int:
        """How many of a map's items are stored (its slices follow each other without a gap)."""
        row = self.db.execute(
            "SELECT first + size FROM items WHERE map_id = ? ORDER BY first DESC LIMIT 1",
            (map_id,),
        ).fetchone()
        return row[0] if row is not None else 0

    def _state(self, map_id: str) -> MapState:
        with self.lock:
            record_row = self.db.execute(
                f"SELECT {MAP_COLUMNS} FROM maps WHERE id = ?", (map_id,)
            ).fetchone()
            results = self.db.execute(
                "SELECT idx, value, error FROM results WHERE map_id = ?", (map_id,)
            ).fetchall()
            attempts = dict.fromkeys(range(self._stored(map_id)), 0)
            # The runs in the order they were sent: a later one holds an item's current attempt.
            for first, last, attempt in self.db.execute(
                "SELECT first, last, attempt FROM sent WHERE map_id = ? ORDER BY rowid", (map_id,)
            ):
                attempts.update(dict.fromkeys(range(first, last + 1), attempt))
        return map_state(record_row, results, attempts)

    def map_args(self, map_id: str, indices: Sequence[int]) -> dict[int, list[Json]]:
        found: dict[int, list[Json]] = {}
        slices: dict[int, list[list[Json]]] = {}  # first index -> the slice's items
        with self.lock:
            for index in indices:
                row = self.db.execute(
                    "SELECT first, args FROM items WHERE map_id = ? AND first <= ? "
                    "ORDER BY first DESC LIMIT 1",
                    (map_id, index),
                ).fetchone()
                if row is None or index < 0:
                    continue
                part = slices.get(row[0])
                if part is None:
                    part = slices[row[0]] = json.loads(row[1])
                if index - row[0] < len(part):
                    found[index] = part[index - row[0]]
        return found

    def set_attempts(self, map_id: str, attempts: Sequence[tuple[int, int]]) -> None:
        try:
            self._set_attempts(map_id, attempts)
        except BaseException:
            self._attempts.pop(map_id, None)  # read again from `sent` when next needed
            raise

    def _set_attempts(self, map_id: str, attempts: Sequence[tuple[int, int]]) -> None:
        with self._write() as db:
            # A batch is mostly a run of consecutive items under one attempt: a row a run, not
            # an item. A run is cut where a span of `SLICE` items ends, so that the runs that
            # hold an item are found among those starting in its span (`_current_attempts`).
            db.executemany(
                "INSERT INTO sent VALUES (?, ?, ?, ?)",
                [(map_id, *run) for run in sent_runs(attempts, SLICE)],
            )
            known = self._attempts.get(map_id)
            if known is not None:
                for index, attempt in attempts:
                    if index >= len(known):
                        known.extend(bytes(4 * (index + 1 - len(known))))
                    known[index] = attempt

    def _current_attempts(self, map_id: str, indices: Iterable[int]) -> dict[int, int]:
        """The current attempt of each of these items the map holds (inside a transaction)."""
        stored = self._stored(map_id)
        known = self._attempts.get(map_id)
        if known is None:
            known = self._attempts[map_id] = array("I", bytes(4 * stored))
            # The runs in the order they were sent: a later one holds an item's current attempt.
            for first, last, attempt in self.db.execute(
                "SELECT first, last, attempt FROM sent WHERE map_id = ? ORDER BY rowid", (map_id,)
            ):
                known[first : last + 1] = array("I", [attempt]) * (last + 1 - first)
        if len(known) < stored:  # items stored since (a large map is stored a slice at a time)
            known.extend(bytes(4 * (stored - len(known))))
        return {index: known[index] for index in indices if 0 <= index < stored}

    def commit(self, map_id: str, commits: Sequence[Commit]) -> list[int]:
        # In the order given, the first commit of an item under its current attempt is the one
        # to take, if the item has no result yet. Mostly none of them has: every one is written
        # in one transaction, and all were taken if every row was inserted. Otherwise that
        # transaction is rolled back, and a second one leaves out the items with a result.
        with contextlib.suppress(_NotAll), self._write() as db:
            taken = self._to_take(map_id, commits, set())
            if self._write_results(db, map_id, taken) < len(taken):
                raise _NotAll  # rolls the transaction back
            return [c.index for c in taken]
        with self._write() as db:
            rows = db.execute(
                "SELECT idx FROM results WHERE map_id = ? "
                "AND idx IN (SELECT value FROM json_each(?))",
                (map_id, _dumps(sorted({c.index for c in commits}))),
            )
            taken = self._to_take(map_id, commits, {index for (index,) in rows})
            self._write_results(db, map_id, taken)
        return [c.index for c in taken]

    def _to_take(self, map_id: str, commits: Sequence[Commit], done: set[int]) -> list[Commit]:
        """The commits to take, in the order given, of items not `done` (inside a transaction)."""
        current = self._current_attempts(map_id, (c.index for c in commits))
        taken = []
        for commit in commits:
            if commit.index not in done and current.get(commit.index, -1) == commit.attempt:
                del current[commit.index]
                taken.append(commit)
        return taken

    @staticmethod
    def _write_results(db: sqlite3.Connection, map_id: str, commits: Sequence[Commit]) -> int:
        """Insert a result row for each commit whose item has none; how many were inserted."""
        written = db.executemany(
            "INSERT OR IGNORE INTO results VALUES (?, ?, ?, ?, ?)",
            [
                (map_id, c.index, c.attempt, _dumps(c.value), None)
                if c.error is None
                else (map_id, c.index, c.attempt, None, c.error)
                for c in commits
            ],
        ).rowcount
        return max(written, 0)

    def map_results(self, map_id: str) -> dict[int, Json]:
        rows = self._read(
            "SELECT idx, value FROM results WHERE map_id = ? AND error IS NULL", (map_id,)
        )
        return {index: json.loads(value) for index, value in rows}

    def job_maps(self, job_id: str) -> list[MapRecord]:
        rows = self._read(
            f"SELECT {MAP_COLUMNS} FROM maps WHERE job_id = ? ORDER BY seq",
            (job_id,),
        )
        return [map_record(row) for row in rows]

    def map_items(
        self, map_id: str, after: int = -1, limit: int = 100
    ) -> list[tuple[int, Json, str | None]]:
        rows = self._read(PAGE_OF_ITEMS, (map_id, after, limit))
        return [
            (index, json.loads(value) if error is None else None, error)
            for index, value, error in rows
        ]

    def commit_counts(self, map_id: str) -> dict[int, int]:
        # An item's result row is its one commit: the key (map_id, idx) allows no second one.
        with self.lock:
            counts = dict.fromkeys(range(self._stored(map_id)), 0)
            rows = self.db.execute("SELECT idx FROM results WHERE map_id = ?", (map_id,))
            counts.update((index, 1) for (index,) in rows)
        return counts

    def reuse_results(self, job_id: str, source_job_id: str) -> int:
        with self._write() as db:
            sources = db.execute(
                "SELECT id, seq FROM maps WHERE job_id = ? ORDER BY seq", (source_job_id,)
            ).fetchall()
            reused = 0
            for source_id, seq in sources:
                map_id = reused_map_id(job_id, seq)
                db.execute(
                    "INSERT INTO maps SELECT ?, ?, seq, activity, digest, count, options "
                    "FROM maps WHERE id = ?",
                    (map_id, job_id, source_id),
                )
                db.execute(
                    "INSERT INTO items SELECT ?, first, size, args FROM items WHERE map_id = ?",
                    (map_id, source_id),
                )
                # Successful results are kept (as if committed under attempt 0: the copy's
                # items were never sent); failed and unfinished items start afresh.
                reused += db.execute(
                    "INSERT INTO results SELECT ?, idx, 0, value, NULL FROM results "
                    "WHERE map_id = ? AND error IS NULL",
                    (map_id, source_id),
                ).rowcount
        return reused

    # nodes
    def upsert_node(self, node: NodeRecord) -> None:
        info = _dumps(node.info)
        with self._writing_nodes() as db:
            db.execute(
                "INSERT INTO nodes VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
                "name = excluded.name, info = excluded.info, last_seen = excluded.last_seen",
                (node.id, node.name, info, node.first_seen, node.last_seen, node.pool, node.owner),
            )
            nodes = self._nodes
            if nodes is not None:
                row = db.execute("SELECT * FROM nodes WHERE id = ?", (node.id,)).fetchone()
                kept = node_record(row)
                last = next(reversed(nodes.values()), None)  # the order is by first seen
                if node.id in nodes or last is None or last.first_seen <= kept.first_seen:
                    nodes[node.id] = kept
                else:  # a new node seen before the last: read them again in order
                    self._nodes = None

    @contextmanager
    def _writing_nodes(self) -> Iterator[sqlite3.Connection]:
        """A transaction that writes nodes: the kept nodes are read afresh if it fails."""
        try:
            with self._write() as db:
                yield db
        except BaseException:
            self._nodes = None
            raise

    def _all_nodes(self) -> dict[str, NodeRecord]:
        """The nodes by id in the order first seen, read once and then kept (under the lock)."""
        if self._nodes is None:
            rows = self.db.execute("SELECT * FROM nodes ORDER BY first_seen").fetchall()
            self._nodes = {row[0]: node_record(row) for row in rows}
        return self._nodes

    def get_node(self, node_id: str) -> NodeRecord | None:
        with self.lock:
            return self._all_nodes().get(node_id)

    def list_nodes(self) -> list[NodeRecord]:
        with self.lock:
            return list(self._all_nodes().values())

    def forget_node(self, node_id: str) -> bool:
        with self._writing_nodes() as db:
            self._nodes = None
            db.execute("DELETE FROM rates WHERE node_id = ?", (node_id,))
            return db.execute("DELETE FROM nodes WHERE id = ?", (node_id,)).rowcount > 0

    def place_node(
        self, node_id: str, *, pool: str | None = None, owner: str | None = None
    ) -> bool:
        with self._writing_nodes() as db:
            self._nodes = None
            return (
                db.execute(
                    "UPDATE nodes SET pool = COALESCE(?, pool), owner = COALESCE(?, owner) "
                    "WHERE id = ?",
                    (pool, owner, node_id),
                ).rowcount
                > 0
            )

    # pools
    def put_pool(self, pool: PoolRecord) -> None:
        with self._write() as db:
            db.execute(
                "INSERT INTO pools VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE SET "
                "tier = excluded.tier",
                (pool.name, pool.tier.value, pool.created_at),
            )

    def get_pool(self, name: str) -> PoolRecord | None:
        rows = self._read("SELECT * FROM pools WHERE name = ?", (name,))
        return PoolRecord(rows[0][0], PoolTier(rows[0][1]), rows[0][2]) if rows else None

    def list_pools(self) -> list[PoolRecord]:
        rows = self._read("SELECT * FROM pools ORDER BY name != 'default', name")
        return [PoolRecord(name, PoolTier(tier), at) for name, tier, at in rows]

    # benchmark rates
    def put_rate(self, rate: RateRecord) -> None:
        with self._write() as db:
            db.execute(
                "INSERT OR REPLACE INTO rates VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    rate.node_id,
                    rate.activity,
                    rate.unit,
                    rate.rate,
                    rate.elapsed,
                    rate.iterations,
                    rate.plugin,
                    rate.plugin_version,
                    rate.measured_at,
                ),
            )

    def list_rates(self) -> list[RateRecord]:
        rows = self._read("SELECT * FROM rates ORDER BY node_id, activity, unit")
        return [RateRecord(*row) for row in rows]

    def delete_rates(self, node_id: str, keys: Sequence[tuple[str, str]]) -> None:
        with self._write() as db:
            db.executemany(
                "DELETE FROM rates WHERE node_id = ? AND activity = ? AND unit = ?",
                [(node_id, activity, unit) for activity, unit in keys],
            )

    # reputation
    def put_reputation(self, record: ReputationRecord) -> None:
        with self._write() as db:
            db.execute(
                "INSERT OR REPLACE INTO reputation VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    record.node_id,
                    record.activity,
                    record.state,
                    record.streak,
                    record.accepted,
                    record.rejected,
                    record.spot_passed,
                    record.spot_failed,
                    record.changed_at,
                ),
            )

    def list_reputation(self, node_id: str | None = None) -> list[ReputationRecord]:
        if node_id is None:
            rows = self._read("SELECT * FROM reputation ORDER BY node_id, activity")
        else:
            rows = self._read(
                "SELECT * FROM reputation WHERE node_id = ? ORDER BY activity", (node_id,)
            )
        return [ReputationRecord(*row) for row in rows]

    # tokens
    def add_token(self, token: TokenRecord) -> None:
        with self._write() as db:
            db.execute(
                "INSERT INTO tokens VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    token.id,
                    token.role,
                    token.label,
                    token.secret_hash,
                    token.created_at,
                    token.expires_at,
                    token.revoked_at,
                    token.last_used,
                    token.node_id,
                    token.created_by,
                    token.max_uses,
                    token.uses,
                    token.pool,
                    token.owner,
                ),
            )

    def get_token(self, token_id: str) -> TokenRecord | None:
        rows = self._read("SELECT * FROM tokens WHERE id = ?", (token_id,))
        return TokenRecord(*rows[0]) if rows else None

    def list_tokens(self) -> list[TokenRecord]:
        rows = self._read("SELECT * FROM tokens ORDER BY created_at, id")
        return [TokenRecord(*row) for row in rows]

    def revoke_token(self, token_id: str, at: float) -> bool:
        with self._write() as db:
            cursor = db.execute(
                "UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                (at, token_id),
            )
            return cursor.rowcount == 1

    def touch_token(self, token_id: str, at: float) -> None:
        with self._write() as db:
            db.execute("UPDATE tokens SET last_used = ? WHERE id = ?", (at, token_id))

    def use_token(self, token_id: str) -> bool:
        with self._write() as db:
            cursor = db.execute(
                "UPDATE tokens SET uses = uses + 1 WHERE id = ? "
                "AND (max_uses IS NULL OR uses < max_uses)",
                (token_id,),
            )
            return cursor.rowcount == 1

    # nodes that asked to join without a token
    def put_join(self, record: JoinRecord) -> None:
        with self._write() as db:
            db.execute(
                "INSERT OR REPLACE INTO joins VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    record.fingerprint,
                    record.node_id,
                    record.public_key,
                    record.name,
                    record.address,
                    _dumps(record.machine),
                    record.state,
                    record.asked_at,
                    record.seen_at,
                    record.decided_at,
                    record.decided_by,
                ),
            )

    def get_join(self, fingerprint: str) -> JoinRecord | None:
        rows = self._read("SELECT * FROM joins WHERE fingerprint = ?", (fingerprint,))
        return join_record(rows[0]) if rows else None

    def list_joins(self) -> list[JoinRecord]:
        rows = self._read("SELECT * FROM joins ORDER BY asked_at, fingerprint")
        return [join_record(row) for row in rows]

    def forget_join(self, node_id: str) -> bool:
        with self._write() as db:
            return db.execute("DELETE FROM joins WHERE node_id = ?", (node_id,)).rowcount > 0

    # audit log
    def append_audit(self, record: AuditRecord) -> int:
        with self._write() as db:
            cursor = db.execute(
                "INSERT INTO audit (at, action, outcome, actor_id, actor_role, address, target) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    record.at,
                    record.action,
                    record.outcome,
                    record.actor_id,
                    record.actor_role,
                    record.address,
                    record.target,
                ),
            )
            seq: int = cursor.lastrowid or 0
            return seq

    def audit(self, limit: int = 100, before: int | None = None) -> list[AuditRecord]:
        rows = self._read(
            "SELECT at, action, outcome, actor_id, actor_role, address, target, seq FROM audit "
            "WHERE seq < ? ORDER BY seq DESC LIMIT ?",
            (before if before is not None else 2**62, limit),
        )
        return [AuditRecord(*row) for row in rows]

    # blackboard
    def board_write(self, write: BoardWrite, *, keep: int, max_keys: int) -> BoardEntry:
        with self._write() as db:
            current = self._board_current(write.key)
            version = board_next_version(current, write)
            if current is None:
                held = db.execute("SELECT COUNT(*) FROM board_keys").fetchone()[0]
                if held >= max_keys:
                    oldest = db.execute(
                        "SELECT key FROM board_keys WHERE deleted = 1 ORDER BY seq LIMIT 1"
                    ).fetchone()
                    if oldest is None:
                        raise BoardFull(board_full(held, max_keys))
                    db.execute("DELETE FROM board WHERE key = ?", oldest)
                    db.execute("DELETE FROM board_keys WHERE key = ?", oldest)
            value = None if write.deleted else _dumps(write.value)
            seq: int = (
                db.execute(
                    "INSERT INTO board (key, version, value, deleted, writer, at) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (write.key, version, value, int(write.deleted), write.writer, write.at),
                ).lastrowid
                or 0
            )
            db.execute(
                "INSERT OR REPLACE INTO board_keys VALUES (?, ?, ?)",
                (write.key, seq, int(write.deleted)),
            )
            db.execute(
                "DELETE FROM board WHERE key = ? AND version <= ?", (write.key, version - keep)
            )
        return BoardEntry(
            write.key,
            version,
            None if write.deleted else json.loads(value or "null"),
            write.writer,
            write.at,
            seq,
            write.deleted,
        )

    _BOARD = f"SELECT {BOARD_COLUMNS} FROM board"

    def _board_current(self, key: str) -> BoardEntry | None:
        """Inside a transaction or with the lock held."""
        row = self.db.execute(
            f"{self._BOARD} WHERE seq = (SELECT seq FROM board_keys WHERE key = ?)", (key,)
        ).fetchone()
        return board_entry(row) if row is not None else None

    def board_get(self, key: str) -> BoardEntry | None:
        with self.lock:
            return self._board_current(key)

    def board_list(self, prefix: str = "", limit: int = 1000) -> list[BoardEntry]:
        # Keys from the prefix up to the prefix and the highest character: a range the index
        # reads in order.
        rows = self._read(
            f"{self._BOARD} WHERE seq IN (SELECT seq FROM board_keys WHERE key >= ? AND key < ? "
            "AND deleted = 0 ORDER BY key LIMIT ?) ORDER BY key",
            (prefix, prefix + "\U0010ffff", limit),
        )
        return [board_entry(r) for r in rows if r[0].startswith(prefix)]

    def board_history(self, key: str, limit: int = 100) -> list[BoardEntry]:
        rows = self._read(
            f"{self._BOARD} WHERE key = ? ORDER BY version DESC LIMIT ?", (key, limit)
        )
        return [board_entry(r) for r in rows]

    def board_changes(self, after: int = 0, limit: int = 1000) -> list[BoardEntry]:
        rows = self._read(f"{self._BOARD} WHERE seq > ? ORDER BY seq LIMIT ?", (after, limit))
        return [board_entry(r) for r in rows]

    def close(self) -> None:
        with self.lock:
            self.db.close()


class _NotAll(Exception):
    """Not every commit offered was its task's to take: the transaction is rolled back."""
