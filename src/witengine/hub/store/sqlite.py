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
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from witengine.hub.store.base import (
    AuditRecord,
    Commit,
    JobRecord,
    Json,
    MapRecord,
    MapState,
    NodeRecord,
    RateRecord,
    TaskState,
    TokenRecord,
    map_count,
    reused_map_id,
)
from witengine.jsontext import compact
from witengine.protocol.states import JobStatus

SCHEMA_VERSION = 1
_ENDED = tuple(status.value for status in JobStatus if status.ended)
_UNFINISHED = (
    f"SELECT * FROM jobs WHERE status NOT IN ({', '.join('?' * len(_ENDED))}) ORDER BY position"
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, script TEXT NOT NULL, filename TEXT NOT NULL,
    parameters TEXT NOT NULL, files TEXT NOT NULL, status TEXT NOT NULL,
    created_at REAL NOT NULL, started_at REAL, finished_at REAL, error TEXT, variables TEXT,
    position INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status);
CREATE TABLE IF NOT EXISTS events (
    job_id TEXT NOT NULL, seq INTEGER NOT NULL, data TEXT NOT NULL, PRIMARY KEY (job_id, seq)
);
CREATE TABLE IF NOT EXISTS maps (
    id TEXT PRIMARY KEY, job_id TEXT NOT NULL, seq INTEGER NOT NULL, activity TEXT NOT NULL,
    digest TEXT NOT NULL, count INTEGER NOT NULL, options TEXT, UNIQUE (job_id, seq)
);
CREATE TABLE IF NOT EXISTS tasks (
    map_id TEXT NOT NULL REFERENCES maps (id) ON DELETE CASCADE, idx INTEGER NOT NULL,
    args TEXT NOT NULL, state TEXT NOT NULL, attempt INTEGER NOT NULL DEFAULT 0,
    result TEXT, error TEXT, PRIMARY KEY (map_id, idx)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS nodes (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, info TEXT NOT NULL,
    first_seen REAL NOT NULL, last_seen REAL NOT NULL
);
"""
# Later versions append (version, statements) here; each runs once, in order. Statements are one
# string split at semicolons, or a tuple of single statements.
_MIGRATIONS: list[tuple[int, str | tuple[str, ...]]] = [
    (
        2,
        """
        CREATE TABLE IF NOT EXISTS rates (
            node_id TEXT NOT NULL, activity TEXT NOT NULL, unit TEXT NOT NULL,
            rate REAL NOT NULL, elapsed REAL NOT NULL, iterations INTEGER NOT NULL,
            plugin TEXT NOT NULL, plugin_version TEXT NOT NULL, measured_at REAL NOT NULL,
            PRIMARY KEY (node_id, activity, unit)
        ) WITHOUT ROWID
        """,
    ),
    (
        3,
        (  # statements one by one: the triggers' bodies hold semicolons
            """CREATE TABLE IF NOT EXISTS tokens (
                id TEXT PRIMARY KEY, role TEXT NOT NULL, label TEXT NOT NULL,
                secret_hash TEXT NOT NULL, created_at REAL NOT NULL, expires_at REAL,
                revoked_at REAL, last_used REAL, node_id TEXT, created_by TEXT,
                max_uses INTEGER, uses INTEGER NOT NULL DEFAULT 0
            )""",
            """CREATE TABLE IF NOT EXISTS audit (
                seq INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL, action TEXT NOT NULL,
                outcome TEXT NOT NULL, actor_id TEXT, actor_role TEXT, address TEXT NOT NULL,
                target TEXT NOT NULL
            )""",
            """CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
            BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END""",
            """CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
            BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END""",
            "ALTER TABLE jobs ADD COLUMN owner TEXT",
        ),
    ),
    (4, "ALTER TABLE jobs ADD COLUMN rerun_of TEXT"),
    (5, "ALTER TABLE jobs ADD COLUMN progress TEXT"),  # [done, total] as the job ended
    (
        6,  # commits each task took (0 or 1): a second one shows even if it wrote the same value
        (
            "ALTER TABLE tasks ADD COLUMN commits INTEGER NOT NULL DEFAULT 0",
            "UPDATE tasks SET commits = 1 WHERE state != 'pending'",
        ),
    ),
]


# A task's states as stored; read once here, not in the loops over every task (an enum member's
# value is looked up on each use).
_PENDING, _DONE, _FAILED = TaskState.PENDING.value, TaskState.DONE.value, TaskState.FAILED.value
# One encoder for every write (see `witengine.jsontext`): a map's items, every result.
_dumps = compact


class SqliteStore:
    def __init__(self, path: Path, *, durable: bool = False) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        # Readable by its owner alone (its jobs, tokens' hashes, the audit log); SQLite gives
        # its -wal and -shm files the database's mode.
        path.touch(mode=0o600, exist_ok=True)
        path.chmod(0o600)
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.lock = threading.Lock()
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
                for statement in filter(None, (s.strip() for s in _SCHEMA.split(";"))):
                    db.execute(statement)
                db.execute("INSERT INTO schema_version VALUES (?)", (SCHEMA_VERSION,))
                version = SCHEMA_VERSION
            for target, statements in _MIGRATIONS:
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
                "INSERT INTO jobs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
                ),
            )

    @staticmethod
    def _job(row: Sequence[Any]) -> JobRecord:
        return JobRecord(
            id=row[0],
            name=row[1],
            script=row[2],
            filename=row[3],
            parameters=json.loads(row[4]),
            files=json.loads(row[5]),
            status=JobStatus(row[6]),
            created_at=row[7],
            started_at=row[8],
            finished_at=row[9],
            error=row[10],
            variables=None if row[11] is None else json.loads(row[11]),
            owner=row[13],
            rerun_of=row[14],
            progress=None if row[15] is None else tuple(json.loads(row[15])),
        )

    def get_job(self, job_id: str) -> JobRecord | None:
        rows = self._read("SELECT * FROM jobs WHERE id = ?", (job_id,))
        return self._job(rows[0]) if rows else None

    def list_jobs(self, limit: int = 100) -> list[JobRecord]:
        rows = self._read("SELECT * FROM jobs ORDER BY position DESC LIMIT ?", (limit,))
        return [self._job(r) for r in rows]

    def unfinished_jobs(self) -> list[JobRecord]:
        rows = self._read(_UNFINISHED, _ENDED)
        return [self._job(r) for r in rows]

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
            if row is not None and row[1] == digest and row[2] == self._tasks(row[0]):
                map_id = row[0]
            else:
                if row is not None:
                    db.execute("DELETE FROM tasks WHERE map_id = ?", (row[0],))
                    db.execute("DELETE FROM maps WHERE id = ?", (row[0],))
                db.execute(
                    "INSERT INTO maps VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (map_id, job_id, seq, activity, digest, count, _dumps(options)),
                )
                self._insert_tasks(map_id, 0, items)
        return self._state(map_id)

    def add_tasks(self, map_id: str, first: int, items: Sequence[Sequence[Json]]) -> None:
        with self._write():
            self._insert_tasks(map_id, first, items)

    def _insert_tasks(self, map_id: str, first: int, items: Sequence[Sequence[Json]]) -> None:
        self.db.executemany(
            "INSERT INTO tasks (map_id, idx, args, state) VALUES (?, ?, ?, ?)",
            (
                (map_id, index, _dumps(item), _PENDING)  # a list or tuple: the same text
                for index, item in enumerate(items, start=first)
            ),
        )

    def _tasks(self, map_id: str) -> int:
        """How many tasks of a map are stored (inside a transaction)."""
        found: int = self.db.execute(
            "SELECT COUNT(*) FROM tasks WHERE map_id = ?", (map_id,)
        ).fetchone()[0]
        return found

    def _state(self, map_id: str) -> MapState:
        with self.lock:
            record_row = self.db.execute("SELECT * FROM maps WHERE id = ?", (map_id,)).fetchone()
            rows = self.db.execute(
                "SELECT idx, state, attempt, result, error FROM tasks WHERE map_id = ?", (map_id,)
            ).fetchall()
        record = MapRecord(
            record_row[0],
            record_row[1],
            record_row[2],
            record_row[3],
            record_row[4],
            record_row[5],
            json.loads(record_row[6]) if record_row[6] is not None else None,
        )
        results, attempts, failures = {}, {}, {}
        for index, state, attempt, result, error in rows:
            attempts[index] = attempt
            if state == _DONE:
                results[index] = json.loads(result)
            elif state == _FAILED:
                failures[index] = error or ""
        return MapState(record, results, attempts, failures)

    def map_args(self, map_id: str, indices: Sequence[int]) -> dict[int, list[Json]]:
        wanted = set(indices)
        rows = self._read("SELECT idx, args FROM tasks WHERE map_id = ?", (map_id,))
        return {index: json.loads(args) for index, args in rows if index in wanted}

    def set_attempts(self, map_id: str, attempts: Sequence[tuple[int, int]]) -> None:
        with self._write() as db:
            # A batch is mostly a run of consecutive items under one attempt: a statement a run,
            # not a row (a tenth of the cost for a batch of tiny items).
            db.executemany(
                "UPDATE tasks SET attempt = ? WHERE map_id = ? AND idx BETWEEN ? AND ?",
                [(attempt, map_id, first, last) for first, last, attempt in _runs(attempts)],
            )

    def commit(self, map_id: str, commits: Sequence[Commit]) -> list[int]:
        # Mostly every commit offered is its task's first, under its current attempt: written
        # each with that condition, in one transaction, they are all accepted when every row
        # is written. Otherwise that transaction is rolled back and the commits are sorted out
        # one by one (a late result, or a second copy of one).
        first: dict[int, Commit] = {}
        for commit in commits:
            first.setdefault(commit.index, commit)
        offered = list(first.values())
        with contextlib.suppress(_NotAll), self._write() as db:
            if self._write_results(db, map_id, offered) < len(offered):
                raise _NotAll  # rolls the transaction back
            return [c.index for c in offered]
        with self._write() as db:
            # Which of these are still pending, and under which attempt: one query for the lot,
            # then one statement per kind; the transaction keeps the check and the write together.
            rows = db.execute(
                "SELECT idx, attempt FROM tasks WHERE map_id = ? AND state = ? "
                "AND idx IN (SELECT value FROM json_each(?))",
                (map_id, _PENDING, _dumps(sorted(first))),
            )
            current: dict[int, int] = dict(rows.fetchall())
            # In the order given, the first commit of a task under its attempt wins, as in memory.
            accepted: list[Commit] = []
            for commit in commits:
                if current.get(commit.index, -1) == commit.attempt:
                    del current[commit.index]
                    accepted.append(commit)
            self._write_results(db, map_id, accepted)
        return [c.index for c in accepted]

    @staticmethod
    def _write_results(db: sqlite3.Connection, map_id: str, commits: Sequence[Commit]) -> int:
        """Write each commit whose task is pending under its attempt; how many were written."""
        done = db.executemany(
            f"UPDATE tasks SET state = '{_DONE}', result = ?, commits = commits + 1 "
            f"WHERE map_id = ? AND idx = ? AND state = '{_PENDING}' AND attempt = ?",
            [(_dumps(c.value), map_id, c.index, c.attempt) for c in commits if c.error is None],
        ).rowcount
        failed = db.executemany(
            f"UPDATE tasks SET state = '{_FAILED}', error = ?, commits = commits + 1 "
            f"WHERE map_id = ? AND idx = ? AND state = '{_PENDING}' AND attempt = ?",
            [(c.error, map_id, c.index, c.attempt) for c in commits if c.error is not None],
        ).rowcount
        return max(done, 0) + max(failed, 0)

    def map_results(self, map_id: str) -> dict[int, Json]:
        rows = self._read(
            "SELECT idx, result FROM tasks WHERE map_id = ? AND state = ?",
            (map_id, _DONE),
        )
        return {index: json.loads(result) for index, result in rows}

    def commit_counts(self, map_id: str) -> dict[int, int]:
        rows = self._read("SELECT idx, commits FROM tasks WHERE map_id = ?", (map_id,))
        return dict(rows)

    def reuse_results(self, job_id: str, source_job_id: str) -> int:
        done = _DONE
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
                # Done tasks keep their result; failed and unfinished ones start afresh.
                db.execute(
                    "INSERT INTO tasks (map_id, idx, args, state, attempt, result, commits) "
                    "SELECT ?, idx, args, CASE WHEN state = ? THEN state ELSE ? END, 0, "
                    "CASE WHEN state = ? THEN result END, state = ? FROM tasks WHERE map_id = ?",
                    (map_id, done, _PENDING, done, done, source_id),
                )
                reused += db.execute(
                    "SELECT COUNT(*) FROM tasks WHERE map_id = ? AND state = ?", (map_id, done)
                ).fetchone()[0]
        return reused

    # nodes
    def upsert_node(self, node: NodeRecord) -> None:
        with self._write() as db:
            db.execute(
                "INSERT INTO nodes VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
                "name = excluded.name, info = excluded.info, last_seen = excluded.last_seen",
                (node.id, node.name, _dumps(node.info), node.first_seen, node.last_seen),
            )

    @staticmethod
    def _node(row: Sequence[Any]) -> NodeRecord:
        return NodeRecord(row[0], row[1], json.loads(row[2]), row[3], row[4])

    def get_node(self, node_id: str) -> NodeRecord | None:
        rows = self._read("SELECT * FROM nodes WHERE id = ?", (node_id,))
        return self._node(rows[0]) if rows else None

    def list_nodes(self) -> list[NodeRecord]:
        return [self._node(r) for r in self._read("SELECT * FROM nodes ORDER BY first_seen")]

    def forget_node(self, node_id: str) -> bool:
        with self._write() as db:
            db.execute("DELETE FROM rates WHERE node_id = ?", (node_id,))
            return db.execute("DELETE FROM nodes WHERE id = ?", (node_id,)).rowcount > 0

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

    # tokens
    def add_token(self, token: TokenRecord) -> None:
        with self._write() as db:
            db.execute(
                "INSERT INTO tokens VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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

    def close(self) -> None:
        with self.lock:
            self.db.close()


def _runs(attempts: Sequence[tuple[int, int]]) -> Iterator[tuple[int, int, int]]:
    """(first index, last index, attempt) of each run of consecutive items under one attempt."""
    run: list[int] | None = None
    for index, attempt in attempts:
        if run is not None and index == run[1] + 1 and attempt == run[2]:
            run[1] = index
            continue
        if run is not None:
            yield run[0], run[1], run[2]
        run = [index, index, attempt]
    if run is not None:
        yield run[0], run[1], run[2]


class _NotAll(Exception):
    """Not every commit offered was its task's to take: the transaction is rolled back."""
