"""The SQLite store's tables: the first schema, and the migrations that bring a hub database
made by any earlier version up to date. Text only: the store (`sqlite.py`) runs it.
"""

from __future__ import annotations

from witengine.hub.store.sqlite_market import MANDATE_TABLES, MARKET_TABLES, PRIORITY_COLUMN

# The exchange (from version 12): accounts, the signed requests taken (their nonces unique per
# account), the ledger's transactions and entries (append-only) and each account's balance,
# never below zero but the mint's. Statements one by one: the triggers' bodies hold semicolons.
EXCHANGE_TABLES = (
    """CREATE TABLE accounts (
        name TEXT PRIMARY KEY, public_key TEXT NOT NULL, state TEXT NOT NULL,
        created_at REAL NOT NULL, created_by TEXT, approved_at REAL, approved_by TEXT
    ) WITHOUT ROWID""",
    """CREATE TABLE signed_requests (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, account TEXT NOT NULL, nonce TEXT NOT NULL,
        timestamp INTEGER NOT NULL, method TEXT NOT NULL, path TEXT NOT NULL,
        body TEXT NOT NULL, signature TEXT NOT NULL, at REAL NOT NULL,
        UNIQUE (account, nonce)
    )""",
    """CREATE TABLE ledger (
        seq INTEGER PRIMARY KEY, kind TEXT NOT NULL, at REAL NOT NULL, actor TEXT NOT NULL,
        memo TEXT NOT NULL, previous TEXT NOT NULL, hash TEXT NOT NULL UNIQUE
    )""",
    """CREATE TABLE entries (
        seq INTEGER NOT NULL, position INTEGER NOT NULL, account TEXT NOT NULL,
        amount INTEGER NOT NULL CHECK (amount != 0), PRIMARY KEY (seq, position)
    ) WITHOUT ROWID""",
    "CREATE INDEX entries_account ON entries (account, seq)",
    """CREATE TABLE balances (
        account TEXT PRIMARY KEY, balance INTEGER NOT NULL,
        CHECK (balance >= 0 OR account = 'mint')
    ) WITHOUT ROWID""",
    *(
        f"""CREATE TRIGGER {table}_no_{verb} BEFORE {verb.upper()} ON {table}
        BEGIN SELECT RAISE(ABORT, '{what} is append-only'); END"""
        for table, what in (
            ("ledger", "the ledger"),
            ("entries", "the ledger"),
            ("signed_requests", "the record of signed requests"),
        )
        for verb in ("update", "delete")
    ),
)

SCHEMA_VERSION = 1  # the version `SCHEMA` makes; `MIGRATIONS` take it on from there

SCHEMA = """
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
MIGRATIONS: list[tuple[int, str | tuple[str, ...]]] = [
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
    (
        7,  # a map's items a slice a row, the attempts a run a row, results inserted apart
        (
            """CREATE TABLE items (
                map_id TEXT NOT NULL, first INTEGER NOT NULL, size INTEGER NOT NULL,
                args TEXT NOT NULL, PRIMARY KEY (map_id, first)
            )""",
            "INSERT INTO items SELECT map_id, idx, 1, '[' || args || ']' FROM tasks",
            """CREATE TABLE sent (
                map_id TEXT NOT NULL, first INTEGER NOT NULL, last INTEGER NOT NULL,
                attempt INTEGER NOT NULL
            )""",
            "CREATE INDEX sent_first ON sent (map_id, first)",
            "INSERT INTO sent SELECT map_id, idx, idx, attempt FROM tasks WHERE attempt > 0",
            """CREATE TABLE results (
                map_id TEXT NOT NULL, idx INTEGER NOT NULL, attempt INTEGER NOT NULL,
                value TEXT, error TEXT, PRIMARY KEY (map_id, idx)
            ) WITHOUT ROWID""",
            """INSERT INTO results SELECT map_id, idx, attempt,
                CASE WHEN state = 'done' THEN result END,
                CASE WHEN state = 'failed' THEN COALESCE(error, '') END
            FROM tasks WHERE state != 'pending'""",
            "DROP TABLE tasks",
        ),
    ),
    (
        8,  # the blackboard: every kept version a row, numbered farm-wide; each key's current
        (
            """CREATE TABLE board (
                seq INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL,
                version INTEGER NOT NULL, value TEXT, deleted INTEGER NOT NULL,
                writer TEXT NOT NULL, at REAL NOT NULL
            )""",
            "CREATE UNIQUE INDEX board_versions ON board (key, version)",
            """CREATE TABLE board_keys (
                key TEXT PRIMARY KEY, seq INTEGER NOT NULL, deleted INTEGER NOT NULL
            ) WITHOUT ROWID""",
        ),
    ),
    (
        9,  # nodes that asked to join without a token, by their key, and the admins' answers
        """CREATE TABLE joins (
            fingerprint TEXT PRIMARY KEY, node_id TEXT NOT NULL, public_key TEXT NOT NULL,
            name TEXT NOT NULL, address TEXT NOT NULL, machine TEXT NOT NULL,
            state TEXT NOT NULL, asked_at REAL NOT NULL, seen_at REAL NOT NULL,
            decided_at REAL, decided_by TEXT
        ) WITHOUT ROWID""",
    ),
    (
        10,  # each node's record per activity from the verification of its results
        """CREATE TABLE reputation (
            node_id TEXT NOT NULL, activity TEXT NOT NULL, state TEXT NOT NULL,
            streak INTEGER NOT NULL, accepted INTEGER NOT NULL, rejected INTEGER NOT NULL,
            spot_passed INTEGER NOT NULL, spot_failed INTEGER NOT NULL, changed_at REAL NOT NULL,
            PRIMARY KEY (node_id, activity)
        ) WITHOUT ROWID""",
    ),
    (
        11,  # pools and their tiers; the pool and owner of each node, of join tokens, of jobs
        (
            """CREATE TABLE pools (
                name TEXT PRIMARY KEY, tier TEXT NOT NULL, created_at REAL NOT NULL
            ) WITHOUT ROWID""",
            "INSERT INTO pools VALUES ('default', 'trusted', 0)",
            "ALTER TABLE nodes ADD COLUMN pool TEXT NOT NULL DEFAULT 'default'",
            "ALTER TABLE nodes ADD COLUMN owner TEXT NOT NULL DEFAULT ''",
            "ALTER TABLE tokens ADD COLUMN pool TEXT",
            "ALTER TABLE tokens ADD COLUMN owner TEXT",
            "ALTER TABLE jobs ADD COLUMN pools TEXT",  # a JSON array; NULL: trusted pools only
        ),
    ),
    (12, EXCHANGE_TABLES),
    (13, MARKET_TABLES),  # the exchange's asks, bids, trades and their phases
    (14, MANDATE_TABLES),  # mandates; the buyer's mandate of a bid and of a trade
    (15, PRIORITY_COLUMN),  # a bid's job priority, within its account
]
# A map as stored (from version 7):
# - `items`: its items' arguments, a row per slice of at most `SLICE` items (a JSON array):
#   a row per item cost more to insert than the rest of storing a map.
# - `sent`: the attempts items were sent under, a row per run of consecutive items sent under
#   one attempt (mostly a batch); an item's current attempt is that of the last run holding
#   it, 0 if none. Runs are cut at multiples of `SLICE`, so those holding an item start in
#   its span of `SLICE` items.
# - `results`: an item's one result or failure (`error` set), inserted when committed: its key
#   allows no second. Updating a task's row in place, the row grew, and cost half as much again.
# No foreign keys: each row inserted would look up its map; a map's rows are deleted with it.
# The blackboard (from version 8): `board` holds each kept version of a key, its `seq` (the
# change's number farm-wide: AUTOINCREMENT never gives a number twice, even after old versions
# are dropped); `board_keys` each key's current version, so that reading, listing and counting
# keys need not look through their history.

SLICE = 1_000  # items a row of `items`; the span a row of `sent` stays within
