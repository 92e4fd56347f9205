"""The PostgreSQL store's tables and their migrations. Text only: the store (`postgres.py`) runs
it.

The versions are the SQLite store's (`sqlite_schema.py`): the PostgreSQL store starts at version
12, the first it was made for, with every table SQLite had then, and a later change to the tables
takes the same number in both stores. Each migration is a tuple of single statements, run in
order, once, in one transaction (PostgreSQL's DDL is transactional: a migration that fails leaves
the database at the version before it).

The same shapes as SQLite's, with what PostgreSQL needs besides:
- text is `COLLATE "C"`: keys sort and compare by code point, as SQLite's do, whatever the
  database's own collation (a listing's order, and the blackboard's prefix ranges, depend on it);
- numbers given by the database are identity columns (`GENERATED ALWAYS`): a number is never
  given twice, even after the row holding it is gone (the blackboard's changes, the audit log);
- each job's count of events is kept in a row (`event_counts`) that an append updates in the
  same statement, so that two appends to one job never take the same numbers;
- `sent` numbers its runs (`seq`): an item's current attempt is the attempt of its last run;
- append-only tables refuse UPDATE, DELETE and TRUNCATE by triggers, and `balances` refuses a
  balance below zero for every account but `mint` (a CHECK constraint), as in SQLite.
"""

from __future__ import annotations

from witengine.hub.store.postgres_market import MANDATE_TABLES, MARKET_TABLES, PRIORITY_COLUMN

_TEXT = 'TEXT COLLATE "C"'


def _text(statement: str) -> str:
    return statement.replace("TEXT", _TEXT)


_APPEND_ONLY = (
    ("audit", "the audit log"),
    ("ledger", "the ledger"),
    ("entries", "the ledger"),
    ("signed_requests", "the record of signed requests"),
)

SLICE = 1_000  # items a row of `items`; the span a row of `sent` stays within (as in SQLite)
BASELINE = 12  # the first version this store has: SQLite's version 12, whole

_SCHEMA_12 = (
    *(
        _text(statement)
        for statement in (
            """CREATE TABLE jobs (
                id TEXT PRIMARY KEY, name TEXT NOT NULL, script TEXT NOT NULL,
                filename TEXT NOT NULL, parameters TEXT NOT NULL, files TEXT NOT NULL,
                status TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL,
                started_at DOUBLE PRECISION, finished_at DOUBLE PRECISION, error TEXT,
                variables TEXT, position BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
                owner TEXT, rerun_of TEXT, progress TEXT, pools TEXT
            )""",
            "CREATE INDEX jobs_status ON jobs (status)",
            """CREATE TABLE events (
                job_id TEXT NOT NULL, seq BIGINT NOT NULL, data TEXT NOT NULL,
                PRIMARY KEY (job_id, seq)
            )""",
            """CREATE TABLE event_counts (
                job_id TEXT PRIMARY KEY, last BIGINT NOT NULL
            )""",
            """CREATE TABLE maps (
                id TEXT PRIMARY KEY, job_id TEXT NOT NULL, seq BIGINT NOT NULL,
                activity TEXT NOT NULL, digest TEXT NOT NULL, count BIGINT NOT NULL,
                options TEXT, UNIQUE (job_id, seq)
            )""",
            """CREATE TABLE items (
                map_id TEXT NOT NULL, first BIGINT NOT NULL, size BIGINT NOT NULL,
                args TEXT NOT NULL, PRIMARY KEY (map_id, first)
            )""",
            """CREATE TABLE sent (
                seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, map_id TEXT NOT NULL,
                first BIGINT NOT NULL, last BIGINT NOT NULL, attempt BIGINT NOT NULL
            )""",
            "CREATE INDEX sent_first ON sent (map_id, first)",
            """CREATE TABLE results (
                map_id TEXT NOT NULL, idx BIGINT NOT NULL, attempt BIGINT NOT NULL,
                value TEXT, error TEXT, PRIMARY KEY (map_id, idx)
            )""",
            """CREATE TABLE nodes (
                id TEXT PRIMARY KEY, name TEXT NOT NULL, info TEXT NOT NULL,
                first_seen DOUBLE PRECISION NOT NULL, last_seen DOUBLE PRECISION NOT NULL,
                pool TEXT NOT NULL DEFAULT 'default', owner TEXT NOT NULL DEFAULT ''
            )""",
            """CREATE TABLE rates (
                node_id TEXT NOT NULL, activity TEXT NOT NULL, unit TEXT NOT NULL,
                rate DOUBLE PRECISION NOT NULL, elapsed DOUBLE PRECISION NOT NULL,
                iterations BIGINT NOT NULL, plugin TEXT NOT NULL, plugin_version TEXT NOT NULL,
                measured_at DOUBLE PRECISION NOT NULL, PRIMARY KEY (node_id, activity, unit)
            )""",
            """CREATE TABLE tokens (
                id TEXT PRIMARY KEY, role TEXT NOT NULL, label TEXT NOT NULL,
                secret_hash TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL,
                expires_at DOUBLE PRECISION, revoked_at DOUBLE PRECISION,
                last_used DOUBLE PRECISION, node_id TEXT, created_by TEXT, max_uses BIGINT,
                uses BIGINT NOT NULL DEFAULT 0, pool TEXT, owner TEXT
            )""",
            """CREATE TABLE audit (
                seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                at DOUBLE PRECISION NOT NULL, action TEXT NOT NULL, outcome TEXT NOT NULL,
                actor_id TEXT, actor_role TEXT, address TEXT NOT NULL, target TEXT NOT NULL
            )""",
            """CREATE TABLE board (
                seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, key TEXT NOT NULL,
                version BIGINT NOT NULL, value TEXT, deleted BOOLEAN NOT NULL,
                writer TEXT NOT NULL, at DOUBLE PRECISION NOT NULL, UNIQUE (key, version)
            )""",
            """CREATE TABLE board_keys (
                key TEXT PRIMARY KEY, seq BIGINT NOT NULL, deleted BOOLEAN NOT NULL
            )""",
            "CREATE INDEX board_keys_deleted ON board_keys (deleted, seq)",
            """CREATE TABLE joins (
                fingerprint TEXT PRIMARY KEY, node_id TEXT NOT NULL, public_key TEXT NOT NULL,
                name TEXT NOT NULL, address TEXT NOT NULL, machine TEXT NOT NULL,
                state TEXT NOT NULL, asked_at DOUBLE PRECISION NOT NULL,
                seen_at DOUBLE PRECISION NOT NULL, decided_at DOUBLE PRECISION, decided_by TEXT
            )""",
            """CREATE TABLE reputation (
                node_id TEXT NOT NULL, activity TEXT NOT NULL, state TEXT NOT NULL,
                streak BIGINT NOT NULL, accepted BIGINT NOT NULL, rejected BIGINT NOT NULL,
                spot_passed BIGINT NOT NULL, spot_failed BIGINT NOT NULL,
                changed_at DOUBLE PRECISION NOT NULL, PRIMARY KEY (node_id, activity)
            )""",
            """CREATE TABLE pools (
                name TEXT PRIMARY KEY, tier TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL
            )""",
            "INSERT INTO pools VALUES ('default', 'trusted', 0)",
            # the exchange: accounts, signed requests, the ledger and the balances
            """CREATE TABLE accounts (
                name TEXT PRIMARY KEY, public_key TEXT NOT NULL, state TEXT NOT NULL,
                created_at DOUBLE PRECISION NOT NULL, created_by TEXT,
                approved_at DOUBLE PRECISION, approved_by TEXT
            )""",
            """CREATE TABLE signed_requests (
                seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, account TEXT NOT NULL,
                nonce TEXT NOT NULL, timestamp BIGINT NOT NULL, method TEXT NOT NULL,
                path TEXT NOT NULL, body TEXT NOT NULL, signature TEXT NOT NULL,
                at DOUBLE PRECISION NOT NULL, UNIQUE (account, nonce)
            )""",
            """CREATE TABLE ledger (
                seq BIGINT PRIMARY KEY CHECK (seq > 0), kind TEXT NOT NULL,
                at DOUBLE PRECISION NOT NULL, actor TEXT NOT NULL, memo TEXT NOT NULL,
                previous TEXT NOT NULL UNIQUE, hash TEXT NOT NULL UNIQUE
            )""",
            """CREATE TABLE entries (
                seq BIGINT NOT NULL REFERENCES ledger (seq), position BIGINT NOT NULL,
                account TEXT NOT NULL, amount BIGINT NOT NULL CHECK (amount != 0),
                PRIMARY KEY (seq, position)
            )""",
            "CREATE INDEX entries_account ON entries (account, seq)",
            """CREATE TABLE balances (
                account TEXT PRIMARY KEY, balance BIGINT NOT NULL,
                CHECK (balance >= 0 OR account = 'mint')
            )""",
        )
    ),
    """CREATE FUNCTION wit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION '% is append-only', TG_ARGV[0]
            USING ERRCODE = 'integrity_constraint_violation';
    END
    $$""",
    # A commit and the sending of attempts, each one statement (one round trip to the server):
    # the map's row locked first (shared by commits, exclusive to sending), then, in a statement
    # of its own and so a snapshot taken after the lock, the attempts read or written.
    f"""CREATE FUNCTION wit_commit(m TEXT, idxs BIGINT[], attempts BIGINT[], vals TEXT[],
        errs TEXT[]) RETURNS TABLE (taken_idx BIGINT, taken_attempt BIGINT)
        LANGUAGE plpgsql AS $$
    DECLARE
        stored BIGINT;
    BEGIN
        SELECT COALESCE((SELECT first + size FROM items WHERE map_id = m
            ORDER BY first DESC LIMIT 1), 0) INTO stored FROM maps WHERE id = m FOR SHARE;
        IF NOT FOUND THEN
            RETURN;
        END IF;
        -- Of an item's commits under its current attempt, the first offered is the one to
        -- take; an item with a result keeps it (ON CONFLICT DO NOTHING) and is not returned.
        RETURN QUERY WITH written AS (
            INSERT INTO results (map_id, idx, attempt, value, error)
            SELECT m, o.idx, o.attempt, o.value, o.error FROM (
                SELECT DISTINCT ON (c.idx) c.idx, c.attempt, c.value, c.error, c.n
                FROM unnest(idxs, attempts, vals, errs) WITH ORDINALITY
                    AS c(idx, attempt, value, error, n)
                WHERE c.idx >= 0 AND c.idx < stored AND c.attempt = COALESCE((
                    SELECT s.attempt FROM sent AS s WHERE s.map_id = m
                        AND s.first >= c.idx - c.idx % {SLICE} AND s.first <= c.idx
                        AND s.last >= c.idx ORDER BY s.seq DESC LIMIT 1), 0)
                ORDER BY c.idx, c.n) AS o
            ORDER BY o.n
            ON CONFLICT DO NOTHING RETURNING results.idx, results.attempt)
        SELECT written.idx, written.attempt FROM written;
    END
    $$""",
    """CREATE FUNCTION wit_send(m TEXT, firsts BIGINT[], lasts BIGINT[], attempts BIGINT[])
        RETURNS VOID LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM 1 FROM maps WHERE id = m FOR UPDATE;
        INSERT INTO sent (map_id, first, last, attempt)
        SELECT m, * FROM unnest(firsts, lasts, attempts);
    END
    $$""",
    *(
        f"""CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table}
        FOR EACH ROW EXECUTE FUNCTION wit_append_only('{what}')"""
        for table, what in _APPEND_ONLY
    ),
    *(
        f"""CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}
        FOR EACH STATEMENT EXECUTE FUNCTION wit_append_only('{what}')"""
        for table, what in _APPEND_ONLY
    ),
)

# (version, statements), in order; each runs once. A new one takes the number of the SQLite
# store's migration that makes the same change.
MIGRATIONS: list[tuple[int, tuple[str, ...]]] = [
    (BASELINE, _SCHEMA_12),
    (13, MARKET_TABLES),  # the exchange's asks, bids, trades and their phases
    (14, MANDATE_TABLES),  # mandates; the buyer's mandate of a bid and of a trade
    (15, PRIORITY_COLUMN),  # a bid's job priority, within its account
]
