"""`PostgresStore`: the Store contract in a PostgreSQL database (`wit hub --store
postgresql://…`), through a pool of connections. With its exchange part (`postgres_exchange.py`),
the only modules that import psycopg.

The hub calls its store as it calls SQLite's: synchronously, from its event loop (and from the
threads it hands some work to); the pool (psycopg_pool) lends each call a connection, so calls
from several threads run side by side, and a connection broken by a restart of the server is
replaced. Connections are in autocommit: a read is one statement, a write one transaction.

Where the SQLite store relies on being the database's one writer (`BEGIN IMMEDIATE`), this one
holds the same rules against any number of writers, other hub processes included:
- a result commits once: the key (map_id, idx) of `results` allows no second row, and a commit
  inserts with ON CONFLICT DO NOTHING, taking what was inserted as accepted;
- a commit checks each item's current attempt under a share lock on its map's row, which
  `set_attempts` takes exclusively: an attempt sent out is never passed by a commit of the one
  before it;
- a job's events are numbered by its row of `event_counts`, updated in the same statement;
- maps of a job are opened, and the blackboard and the ledger written, under transaction-level
  advisory locks, so their numbers follow the order of their commits (the blackboard's changes
  and the ledger's hash chain, whose links are also unique keys).

Durability: PostgreSQL's own (a committed transaction is flushed to its WAL, with the server's
default `synchronous_commit`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg_pool import ConnectionPool

from witengine.errors import BoardFull, StoreUnavailable
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
from witengine.hub.store.postgres_exchange import ExchangeTables
from witengine.hub.store.postgres_market import MarketTables
from witengine.hub.store.postgres_schema import MIGRATIONS, SLICE
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
from witengine.jsontext import compact
from witengine.protocol.states import JobStatus, PoolTier

_dumps = compact

# Keys of the transaction-level advisory locks (pg_advisory_xact_lock): one number per kind,
# and a second from the name locked (hashtext) where the kind has many.
LOCK_MIGRATE, LOCK_MAPS, LOCK_BOARD = 1_770_001, 1_770_002, 1_770_003  # the ledger's: 1_770_004

POOL_OPTIONS = {"pool_min": 1, "pool_max": 8}  # query parameters of the URL the pool takes


def split_url(url: str) -> tuple[str, dict[str, int]]:
    """The URL libpq is given, without the pool's own query parameters, and those (as ints)."""
    base, _, query = url.partition("?")
    sizes = dict(POOL_OPTIONS)
    kept = []
    for name, value in parse_qsl(query, keep_blank_values=True):
        if name in POOL_OPTIONS:
            if not value.isdigit() or int(value) < (1 if name == "pool_max" else 0):
                raise StoreUnavailable(
                    f"the store's URL: {name}={value!r} is not a number of connections"
                )
            sizes[name] = int(value)
        else:
            kept.append((name, value))
    if sizes["pool_min"] > sizes["pool_max"]:
        raise StoreUnavailable(
            f"the store's URL: pool_min={sizes['pool_min']} is above pool_max={sizes['pool_max']}"
        )
    return (f"{base}?{urlencode(kept, safe='/')}" if kept else base), sizes


def shown_url(url: str) -> str:
    """The URL without its password, to print or log."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


class PostgresStore(ExchangeTables, MarketTables):
    def __init__(self, url: str, *, connect_timeout: float = 10.0) -> None:
        self.url = shown_url(url)
        conninfo, sizes = split_url(url)
        try:
            # One connection first, for a clear error when the server cannot be reached (a pool
            # only times out), and to bring the tables up to date before the pool opens.
            with psycopg.connect(
                conninfo, autocommit=True, connect_timeout=max(1, int(connect_timeout))
            ) as first:
                self._migrate(first)
        except psycopg.OperationalError as error:
            reason = str(error).strip().splitlines()[-1] if str(error).strip() else repr(error)
            raise StoreUnavailable(
                f"cannot open the PostgreSQL store at {self.url}: {reason}"
            ) from None
        self.pool = ConnectionPool(
            conninfo,
            min_size=sizes["pool_min"],
            max_size=sizes["pool_max"],
            kwargs={"autocommit": True},
            open=False,
            name="witengine-store",
        )
        self.pool.open(wait=True, timeout=connect_timeout)

    @staticmethod
    def _migrate(db: psycopg.Connection[Any]) -> None:
        with db.transaction():
            db.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_MIGRATE,))
            db.execute("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)")
            row = db.execute("SELECT version FROM schema_version").fetchone()
            version = row[0] if row else 0
            newest = MIGRATIONS[-1][0]
            if version > newest:
                raise StoreUnavailable(
                    f"the database is at schema version {version}, newer than this witengine "
                    f"knows ({newest}): run the hub of the newer version"
                )
            if row is None:
                db.execute("INSERT INTO schema_version VALUES (0)")
            for target, statements in MIGRATIONS:
                if version < target:
                    for statement in statements:
                        db.execute(statement)
                    db.execute("UPDATE schema_version SET version = %s", (target,))
                    version = target

    @contextmanager
    def _connection(self) -> Iterator[psycopg.Connection[Any]]:
        """A connection of the pool for one call. When the server cannot be reached on it (it
        restarted, or the network dropped), the pool's idle connections are checked and the
        broken ones replaced before the error goes on: the next call gets a working one."""
        try:
            with self.pool.connection() as db:
                yield db
        except psycopg.OperationalError:
            self.pool.check()
            raise

    @contextmanager
    def _write(self) -> Iterator[psycopg.Connection[Any]]:
        """A connection in one transaction: committed when the block ends, rolled back when it
        raises."""
        with self._connection() as db, db.transaction():
            yield db

    def _read(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> list[Any]:
        """The rows of a read. A read is asked again once, on another connection, when its
        own was broken (writes are not: the caller cannot tell whether they were taken)."""
        for retry in (False, True):
            try:
                with self._connection() as db:
                    rows: list[Any] = db.execute(sql, params).fetchall()
                    return rows
            except psycopg.OperationalError:
                if retry:
                    raise
        raise AssertionError("unreachable")

    def _one(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> Any:
        """The first row of a read (None: no row)."""
        rows = self._read(sql, params)
        return rows[0] if rows else None

    def _returning(self, sql: str, params: Sequence[Any] | Mapping[str, Any]) -> Any:
        """The first row a write returns."""
        with self._connection() as db:
            return db.execute(sql, params).fetchone()

    # jobs
    def add_job(self, job: JobRecord) -> None:
        with self._connection() as db:
            db.execute(
                "INSERT INTO jobs (id, name, script, filename, parameters, files, status, "
                "created_at, started_at, finished_at, error, variables, owner, rerun_of, "
                "progress, pools) VALUES "
                "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    job.id,
                    job.name,
                    job.script,
                    job.filename,
                    _dumps(job.parameters),
                    _dumps(job.files),
                    job.status.value,
                    job.created_at,
                    job.started_at,
                    job.finished_at,
                    job.error,
                    None if job.variables is None else _dumps(job.variables),
                    job.owner,
                    job.rerun_of,
                    None if job.progress is None else _dumps(list(job.progress)),
                    None if job.pools is None else _dumps(list(job.pools)),
                ),
            )

    _JOB = f"SELECT {JOB_COLUMNS} FROM jobs"

    def get_job(self, job_id: str) -> JobRecord | None:
        row = self._one(f"{self._JOB} WHERE id = %s", (job_id,))
        return job_record(row) if row else None

    def list_jobs(self, limit: int = 100) -> list[JobRecord]:
        rows = self._read(
            f"SELECT {LISTED_JOB_COLUMNS} FROM jobs ORDER BY position DESC LIMIT %s", (limit,)
        )
        return [job_record(r) for r in rows]

    def unfinished_jobs(self) -> list[JobRecord]:
        rows = self._read(f"{self._JOB} WHERE status <> ALL(%s) ORDER BY position", (list(ENDED),))
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
        # One statement: each column keeps its value where this update does not set it.
        with self._connection() as db:
            db.execute(
                "UPDATE jobs SET status = %(status)s, "
                "started_at = CASE WHEN %(running)s THEN COALESCE(started_at, %(at)s) "
                "ELSE started_at END, "
                "finished_at = CASE WHEN %(ended)s THEN %(at)s ELSE finished_at END, "
                "error = CASE WHEN %(ended)s THEN %(error)s ELSE error END, "
                "variables = COALESCE(%(variables)s, variables), "
                "progress = COALESCE(%(progress)s, progress) WHERE id = %(id)s",
                {
                    "status": status.value,
                    "running": status is JobStatus.RUNNING,
                    "ended": status.ended,
                    "at": at,
                    "error": error,
                    "variables": None if variables is None else _dumps(variables),
                    "progress": None if progress is None else _dumps(list(progress)),
                    "id": job_id,
                },
            )

    # events
    def append_events(self, job_id: str, events: Sequence[Json]) -> int:
        # One statement: the job's count of events goes up by as many (its row locked until
        # the statement commits), and the events take the numbers below the new count.
        if not events:
            row = self._one("SELECT last FROM event_counts WHERE job_id = %s", (job_id,))
            return int(row[0]) if row else 0
        row = self._returning(
            "WITH counted AS (INSERT INTO event_counts VALUES (%(job)s, %(n)s) "
            "ON CONFLICT (job_id) DO UPDATE SET last = event_counts.last + excluded.last "
            "RETURNING last), "
            "added AS (INSERT INTO events SELECT %(job)s, counted.last - %(n)s + e.n, e.data "
            "FROM counted, unnest(%(data)s::text[]) WITH ORDINALITY AS e(data, n)) "
            "SELECT last FROM counted",
            {"job": job_id, "n": len(events), "data": [_dumps(e) for e in events]},
        )
        return int(row[0])

    def events(self, job_id: str, after: int = 0, limit: int = 1000) -> list[tuple[int, Json]]:
        rows = self._read(
            "SELECT seq, data FROM events WHERE job_id = %s AND seq > %s ORDER BY seq LIMIT %s",
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
            db.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (LOCK_MAPS, job_id))
            row = db.execute(
                "SELECT id, digest, count FROM maps WHERE job_id = %s AND seq = %s",
                (job_id, seq),
            ).fetchone()
            if row is not None and row[1] == digest and row[2] == _stored(db, row[0]):
                map_id = row[0]
            else:
                if row is not None:
                    for table in ("results", "sent", "items"):
                        db.execute(f"DELETE FROM {table} WHERE map_id = %s", (row[0],))
                    db.execute("DELETE FROM maps WHERE id = %s", (row[0],))
                db.execute(
                    "INSERT INTO maps VALUES (%s, %s, %s, %s, %s, %s, %s)",
                    (map_id, job_id, seq, activity, digest, count, _dumps(options)),
                )
                _insert_items(db, map_id, 0, items)
        return self._state(map_id)

    def add_tasks(self, map_id: str, first: int, items: Sequence[Sequence[Json]]) -> None:
        with self._connection() as db:
            _insert_items(db, map_id, first, items)

    def _state(self, map_id: str) -> MapState:
        with self._connection() as db, db.transaction():
            # One snapshot for the three reads: REPEATABLE READ from its first statement.
            db.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            record_row = db.execute(
                f"SELECT {MAP_COLUMNS} FROM maps WHERE id = %s",
                (map_id,),
            ).fetchone()
            results = db.execute(
                "SELECT idx, value, error FROM results WHERE map_id = %s", (map_id,)
            ).fetchall()
            attempts = dict.fromkeys(range(_stored(db, map_id)), 0)
            # The runs in the order they were sent: a later one holds an item's current attempt.
            for first, last, attempt in db.execute(
                "SELECT first, last, attempt FROM sent WHERE map_id = %s ORDER BY seq", (map_id,)
            ):
                attempts.update(dict.fromkeys(range(first, last + 1), attempt))
        if record_row is None:
            raise KeyError(f"no map {map_id}")
        return map_state(record_row, results, attempts)

    def map_args(self, map_id: str, indices: Sequence[int]) -> dict[int, list[Json]]:
        wanted = sorted({i for i in indices if i >= 0})
        if not wanted:
            return {}
        # Each slice holding one of the indices (the one starting last at or before it), once.
        rows = self._read(
            "SELECT first, args FROM items WHERE map_id = %(map)s AND first IN ("
            "SELECT DISTINCT s.first FROM unnest(%(wanted)s::bigint[]) AS w(i), LATERAL ("
            "SELECT first FROM items WHERE map_id = %(map)s AND first <= w.i "
            "ORDER BY first DESC LIMIT 1) AS s)",
            {"map": map_id, "wanted": wanted},
        )
        slices = sorted((first, json.loads(args)) for first, args in rows)
        found: dict[int, list[Json]] = {}
        at = 0
        for index in wanted:
            while at + 1 < len(slices) and slices[at + 1][0] <= index:
                at += 1
            if slices and slices[at][0] <= index < slices[at][0] + len(slices[at][1]):
                found[index] = slices[at][1][index - slices[at][0]]
        return {i: found[i] for i in indices if i in found}

    def set_attempts(self, map_id: str, attempts: Sequence[tuple[int, int]]) -> None:
        # A row a run of consecutive items under one attempt, cut where a span of `SLICE`
        # items ends, so that the runs holding an item start in its span (see wit_commit).
        runs = sent_runs(attempts, SLICE)
        if runs:
            with self._connection() as db:
                db.execute("SELECT wit_send(%s, %s, %s, %s)", (map_id, *_columns(runs, 3)))

    def commit(self, map_id: str, commits: Sequence[Commit]) -> list[int]:
        if not commits:
            return []
        # One statement (postgres_schema.wit_commit): the map's row shared, so that no attempt
        # is sent out until this commit is done; each item's current attempt read after that;
        # results inserted where the key (map_id, idx) has none.
        with self._connection() as db:
            written = db.execute(
                "SELECT * FROM wit_commit(%s, %s, %s, %s, %s)",
                (
                    map_id,
                    [c.index for c in commits],
                    [c.attempt for c in commits],
                    [_dumps(c.value) if c.error is None else None for c in commits],
                    [c.error for c in commits],
                ),
            ).fetchall()
        # In the order given: the commit taken is the first offered of its item and attempt.
        taken = set(written)
        accepted = []
        for commit in commits:
            if (commit.index, commit.attempt) in taken:
                taken.discard((commit.index, commit.attempt))
                accepted.append(commit.index)
        return accepted

    def map_results(self, map_id: str) -> dict[int, Json]:
        rows = self._read(
            "SELECT idx, value FROM results WHERE map_id = %s AND error IS NULL", (map_id,)
        )
        return {index: json.loads(value) for index, value in rows}

    def job_maps(self, job_id: str) -> list[MapRecord]:
        rows = self._read(
            f"SELECT {MAP_COLUMNS} FROM maps WHERE job_id = %s ORDER BY seq",
            (job_id,),
        )
        return [map_record(row) for row in rows]

    def map_items(
        self, map_id: str, after: int = -1, limit: int = 100
    ) -> list[tuple[int, Json, str | None]]:
        # A range of the results' primary key (map_id, idx): the page's rows, not the map's.
        rows = self._read(
            "SELECT idx, value, error FROM results WHERE map_id = %s AND idx > %s "
            "ORDER BY idx LIMIT %s",
            (map_id, after, limit),
        )
        return [
            (index, json.loads(value) if error is None else None, error)
            for index, value, error in rows
        ]

    def commit_counts(self, map_id: str) -> dict[int, int]:
        # An item's result row is its one commit: the key (map_id, idx) allows no second one.
        with self._connection() as db:
            counts = dict.fromkeys(range(_stored(db, map_id)), 0)
            rows = db.execute("SELECT idx FROM results WHERE map_id = %s", (map_id,))
            counts.update((index, 1) for (index,) in rows)
        return counts

    def reuse_results(self, job_id: str, source_job_id: str) -> int:
        with self._write() as db:
            db.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (LOCK_MAPS, job_id))
            sources = db.execute(
                "SELECT id, seq FROM maps WHERE job_id = %s ORDER BY seq", (source_job_id,)
            ).fetchall()
            reused = 0
            for source_id, seq in sources:
                map_id = reused_map_id(job_id, seq)
                db.execute(
                    "INSERT INTO maps SELECT %s, %s, seq, activity, digest, count, options "
                    "FROM maps WHERE id = %s",
                    (map_id, job_id, source_id),
                )
                db.execute(
                    "INSERT INTO items SELECT %s, first, size, args FROM items WHERE map_id = %s",
                    (map_id, source_id),
                )
                # Successful results are kept (as if committed under attempt 0: the copy's
                # items were never sent); failed and unfinished items start afresh.
                reused += db.execute(
                    "INSERT INTO results SELECT %s, idx, 0, value, NULL FROM results "
                    "WHERE map_id = %s AND error IS NULL",
                    (map_id, source_id),
                ).rowcount
        return reused

    # nodes
    def upsert_node(self, node: NodeRecord) -> None:
        with self._connection() as db:
            db.execute(
                "INSERT INTO nodes VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO "
                "UPDATE SET name = excluded.name, info = excluded.info, "
                "last_seen = excluded.last_seen",
                (
                    node.id,
                    node.name,
                    _dumps(node.info),
                    node.first_seen,
                    node.last_seen,
                    node.pool,
                    node.owner,
                ),
            )

    def get_node(self, node_id: str) -> NodeRecord | None:
        row = self._one("SELECT * FROM nodes WHERE id = %s", (node_id,))
        return node_record(row) if row else None

    def list_nodes(self) -> list[NodeRecord]:
        return [node_record(r) for r in self._read("SELECT * FROM nodes ORDER BY first_seen, id")]

    def forget_node(self, node_id: str) -> bool:
        with self._write() as db:
            db.execute("DELETE FROM rates WHERE node_id = %s", (node_id,))
            return bool(db.execute("DELETE FROM nodes WHERE id = %s", (node_id,)).rowcount > 0)

    def place_node(
        self, node_id: str, *, pool: str | None = None, owner: str | None = None
    ) -> bool:
        with self._connection() as db:
            cursor = db.execute(
                "UPDATE nodes SET pool = COALESCE(%s, pool), owner = COALESCE(%s, owner) "
                "WHERE id = %s",
                (pool, owner, node_id),
            )
            return bool(cursor.rowcount > 0)

    # pools
    def put_pool(self, pool: PoolRecord) -> None:
        with self._connection() as db:
            db.execute(
                "INSERT INTO pools VALUES (%s, %s, %s) ON CONFLICT (name) DO UPDATE SET "
                "tier = excluded.tier",
                (pool.name, pool.tier.value, pool.created_at),
            )

    def get_pool(self, name: str) -> PoolRecord | None:
        row = self._one("SELECT * FROM pools WHERE name = %s", (name,))
        return PoolRecord(row[0], PoolTier(row[1]), row[2]) if row else None

    def list_pools(self) -> list[PoolRecord]:
        rows = self._read("SELECT * FROM pools ORDER BY name <> 'default', name")
        return [PoolRecord(name, PoolTier(tier), at) for name, tier, at in rows]

    # benchmark rates
    def put_rate(self, rate: RateRecord) -> None:
        with self._connection() as db:
            db.execute(
                "INSERT INTO rates VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (node_id, activity, unit) DO UPDATE SET rate = excluded.rate, "
                "elapsed = excluded.elapsed, iterations = excluded.iterations, "
                "plugin = excluded.plugin, plugin_version = excluded.plugin_version, "
                "measured_at = excluded.measured_at",
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
        if not keys:
            return
        with self._connection() as db:
            db.execute(
                "DELETE FROM rates WHERE node_id = %s AND (activity, unit) IN "
                "(SELECT * FROM unnest(%s::text[], %s::text[]))",
                (node_id, [a for a, _ in keys], [u for _, u in keys]),
            )

    # reputation
    def put_reputation(self, record: ReputationRecord) -> None:
        with self._connection() as db:
            db.execute(
                "INSERT INTO reputation VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (node_id, activity) DO UPDATE SET state = excluded.state, "
                "streak = excluded.streak, accepted = excluded.accepted, "
                "rejected = excluded.rejected, spot_passed = excluded.spot_passed, "
                "spot_failed = excluded.spot_failed, changed_at = excluded.changed_at",
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
                "SELECT * FROM reputation WHERE node_id = %s ORDER BY activity", (node_id,)
            )
        return [ReputationRecord(*row) for row in rows]

    # tokens
    def add_token(self, token: TokenRecord) -> None:
        with self._connection() as db:
            db.execute(
                "INSERT INTO tokens VALUES "
                "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
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
        row = self._one("SELECT * FROM tokens WHERE id = %s", (token_id,))
        return TokenRecord(*row) if row else None

    def list_tokens(self) -> list[TokenRecord]:
        rows = self._read("SELECT * FROM tokens ORDER BY created_at, id")
        return [TokenRecord(*row) for row in rows]

    def revoke_token(self, token_id: str, at: float) -> bool:
        with self._connection() as db:
            cursor = db.execute(
                "UPDATE tokens SET revoked_at = %s WHERE id = %s AND revoked_at IS NULL",
                (at, token_id),
            )
            return bool(cursor.rowcount == 1)

    def touch_token(self, token_id: str, at: float) -> None:
        with self._connection() as db:
            db.execute("UPDATE tokens SET last_used = %s WHERE id = %s", (at, token_id))

    def use_token(self, token_id: str) -> bool:
        # One statement: a concurrent use waits for the row and checks the bound again.
        with self._connection() as db:
            cursor = db.execute(
                "UPDATE tokens SET uses = uses + 1 WHERE id = %s "
                "AND (max_uses IS NULL OR uses < max_uses)",
                (token_id,),
            )
            return bool(cursor.rowcount == 1)

    # nodes that asked to join without a token
    def put_join(self, record: JoinRecord) -> None:
        with self._connection() as db:
            db.execute(
                "INSERT INTO joins VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (fingerprint) DO UPDATE SET node_id = excluded.node_id, "
                "public_key = excluded.public_key, name = excluded.name, "
                "address = excluded.address, machine = excluded.machine, "
                "state = excluded.state, asked_at = excluded.asked_at, "
                "seen_at = excluded.seen_at, decided_at = excluded.decided_at, "
                "decided_by = excluded.decided_by",
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
        row = self._one("SELECT * FROM joins WHERE fingerprint = %s", (fingerprint,))
        return join_record(row) if row else None

    def list_joins(self) -> list[JoinRecord]:
        rows = self._read("SELECT * FROM joins ORDER BY asked_at, fingerprint")
        return [join_record(row) for row in rows]

    def forget_join(self, node_id: str) -> bool:
        with self._connection() as db:
            return bool(db.execute("DELETE FROM joins WHERE node_id = %s", (node_id,)).rowcount > 0)

    # audit log
    def append_audit(self, record: AuditRecord) -> int:
        row = self._returning(
            "INSERT INTO audit (at, action, outcome, actor_id, actor_role, address, target) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING seq",
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
        return int(row[0])

    def audit(self, limit: int = 100, before: int | None = None) -> list[AuditRecord]:
        rows = self._read(
            "SELECT at, action, outcome, actor_id, actor_role, address, target, seq FROM audit "
            "WHERE seq < %s ORDER BY seq DESC LIMIT %s",
            (before if before is not None else 2**62, limit),
        )
        return [AuditRecord(*row) for row in rows]

    # blackboard
    def board_write(self, write: BoardWrite, *, keep: int, max_keys: int) -> BoardEntry:
        with self._write() as db:
            # Writes one after another, so that changes are numbered in the order they commit
            # (a reader resuming after change N never misses one numbered below it later).
            db.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_BOARD,))
            current = self._board_current(db, write.key)
            version = board_next_version(current, write)
            if current is None:
                held = db.execute("SELECT COUNT(*) FROM board_keys").fetchone()
                if held is not None and held[0] >= max_keys:
                    oldest = db.execute(
                        "SELECT key FROM board_keys WHERE deleted ORDER BY seq LIMIT 1"
                    ).fetchone()
                    if oldest is None:
                        raise BoardFull(board_full(held[0], max_keys))
                    db.execute("DELETE FROM board WHERE key = %s", oldest)
                    db.execute("DELETE FROM board_keys WHERE key = %s", oldest)
            value = None if write.deleted else _dumps(write.value)
            row = db.execute(
                "INSERT INTO board (key, version, value, deleted, writer, at) "
                "VALUES (%s, %s, %s, %s, %s, %s) RETURNING seq",
                (write.key, version, value, write.deleted, write.writer, write.at),
            ).fetchone()
            seq: int = row[0] if row else 0
            db.execute(
                "INSERT INTO board_keys VALUES (%s, %s, %s) ON CONFLICT (key) DO UPDATE SET "
                "seq = excluded.seq, deleted = excluded.deleted",
                (write.key, seq, write.deleted),
            )
            db.execute(
                "DELETE FROM board WHERE key = %s AND version <= %s", (write.key, version - keep)
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

    def _board_current(self, db: psycopg.Connection[Any], key: str) -> BoardEntry | None:
        row = db.execute(
            f"{self._BOARD} WHERE seq = (SELECT seq FROM board_keys WHERE key = %s)", (key,)
        ).fetchone()
        return board_entry(row) if row is not None else None

    def board_get(self, key: str) -> BoardEntry | None:
        with self._connection() as db:
            return self._board_current(db, key)

    def board_list(self, prefix: str = "", limit: int = 1000) -> list[BoardEntry]:
        # Keys from the prefix up to the prefix and the highest character: a range the index
        # reads in order (the keys' collation is "C": code points).
        rows = self._read(
            f"{self._BOARD} WHERE seq IN (SELECT seq FROM board_keys WHERE key >= %s "
            "AND key < %s AND NOT deleted ORDER BY key LIMIT %s) ORDER BY key",
            (prefix, prefix + "\U0010ffff", limit),
        )
        return [board_entry(r) for r in rows if r[0].startswith(prefix)]

    def board_history(self, key: str, limit: int = 100) -> list[BoardEntry]:
        rows = self._read(
            f"{self._BOARD} WHERE key = %s ORDER BY version DESC LIMIT %s", (key, limit)
        )
        return [board_entry(r) for r in rows]

    def board_changes(self, after: int = 0, limit: int = 1000) -> list[BoardEntry]:
        rows = self._read(f"{self._BOARD} WHERE seq > %s ORDER BY seq LIMIT %s", (after, limit))
        return [board_entry(r) for r in rows]

    def close(self) -> None:
        self.pool.close()


def _stored(db: psycopg.Connection[Any], map_id: str) -> int:
    """How many of a map's items are stored (its slices follow each other without a gap)."""
    row = db.execute(
        "SELECT first + size FROM items WHERE map_id = %s ORDER BY first DESC LIMIT 1",
        (map_id,),
    ).fetchone()
    return int(row[0]) if row is not None else 0


def _insert_items(
    db: psycopg.Connection[Any], map_id: str, first: int, items: Sequence[Sequence[Json]]
) -> None:
    """Store items a slice a row: one JSON array of the slice's arguments."""
    slices = [
        (first + start, len(part), _dumps(part))
        for start in range(0, len(items), SLICE)
        for part in [list(items[start : start + SLICE])]
    ]
    if slices:
        db.execute(
            "INSERT INTO items SELECT %s, * FROM unnest(%s::bigint[], %s::bigint[], %s::text[])",
            (map_id, *_columns(slices, 3)),
        )


def _columns(rows: Sequence[tuple[Any, ...]], width: int) -> list[list[Any]]:
    """Rows as columns, for unnest()."""
    return [[row[n] for row in rows] for n in range(width)]
