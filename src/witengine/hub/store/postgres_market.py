"""The PostgreSQL store's asks, mandates, bids and trades (a part of `PostgresStore`; tables
from versions 13 and 14, the SQLite store's migrations of the same numbers)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import astuple
from typing import Any

import psycopg

from witengine.hub.store.market import (
    AskRecord,
    BidRecord,
    MandateRecord,
    TradePhase,
    TradeRecord,
)
from witengine.hub.store.rows import ASK_COLUMNS, MANDATE_COLUMNS, TRADE_COLUMNS

_TEXT = 'TEXT COLLATE "C"'

MARKET_TABLES = tuple(
    statement.replace("TEXT", _TEXT)
    for statement in (
        """CREATE TABLE asks (
            seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, id TEXT NOT NULL UNIQUE,
            account TEXT NOT NULL, activity TEXT NOT NULL,
            price BIGINT NOT NULL CHECK (price >= 0), hours TEXT NOT NULL,
            min_work DOUBLE PRECISION NOT NULL, created_at DOUBLE PRECISION NOT NULL,
            nonce TEXT NOT NULL
        )""",
        """CREATE TABLE bids (
            job_id TEXT PRIMARY KEY, account TEXT NOT NULL,
            price BIGINT NOT NULL CHECK (price >= 0), deadline DOUBLE PRECISION,
            created_at DOUBLE PRECISION NOT NULL, nonce TEXT NOT NULL
        )""",
        """CREATE TABLE trades (
            seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, id TEXT NOT NULL UNIQUE,
            job_id TEXT NOT NULL, map_id TEXT NOT NULL, node_id TEXT NOT NULL,
            node_name TEXT NOT NULL, seller TEXT NOT NULL, buyer TEXT NOT NULL,
            activity TEXT NOT NULL, price BIGINT NOT NULL, bid BIGINT NOT NULL,
            items BIGINT NOT NULL, work DOUBLE PRECISION NOT NULL, accepted BIGINT NOT NULL,
            rejected BIGINT NOT NULL, paid BIGINT NOT NULL, state TEXT NOT NULL,
            created_at DOUBLE PRECISION NOT NULL, updated_at DOUBLE PRECISION NOT NULL,
            ask_id TEXT NOT NULL
        )""",
        "CREATE INDEX trades_job ON trades (job_id, seq)",
        "CREATE INDEX trades_seller ON trades (seller, seq)",
        "CREATE INDEX trades_buyer ON trades (buyer, seq)",
        """CREATE TABLE trade_phases (
            seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, trade_id TEXT NOT NULL,
            phase TEXT NOT NULL, at DOUBLE PRECISION NOT NULL, detail TEXT NOT NULL
        )""",
        "CREATE INDEX trade_phases_trade ON trade_phases (trade_id, seq)",
    )
)

MANDATE_TABLES = tuple(
    statement.replace("TEXT", _TEXT)
    for statement in (
        """CREATE TABLE mandates (
            seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, id TEXT NOT NULL UNIQUE,
            account TEXT NOT NULL, side TEXT NOT NULL CHECK (side IN ('sell', 'buy')),
            activity TEXT NOT NULL, price BIGINT NOT NULL CHECK (price >= 0),
            hours TEXT NOT NULL, node TEXT NOT NULL, daily BIGINT NOT NULL CHECK (daily >= 0),
            state TEXT NOT NULL CHECK (state IN ('active', 'paused')),
            created_at DOUBLE PRECISION NOT NULL, nonce TEXT NOT NULL
        )""",
        "ALTER TABLE bids ADD COLUMN mandate TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE trades ADD COLUMN mandate TEXT NOT NULL DEFAULT ''",
        "CREATE INDEX trades_mandate ON trades (mandate, created_at) WHERE mandate != ''",
    )
)

PRIORITY_COLUMN = ("ALTER TABLE bids ADD COLUMN priority BIGINT NOT NULL DEFAULT 0",)


class MarketTables:
    """The market's part of the Store contract, over `PostgresStore`'s pool."""

    _connection: Callable[[], AbstractContextManager[psycopg.Connection[Any]]]
    _read: Callable[..., list[Any]]

    def add_ask(self, ask: AskRecord) -> None:
        with self._connection() as db:
            db.execute(
                f"INSERT INTO asks ({ASK_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                astuple(ask),
            )

    def remove_ask(self, ask_id: str) -> bool:
        with self._connection() as db:
            return bool(db.execute("DELETE FROM asks WHERE id = %s", (ask_id,)).rowcount == 1)

    def list_asks(self, account: str | None = None) -> list[AskRecord]:
        if account is None:
            rows = self._read(f"SELECT {ASK_COLUMNS} FROM asks ORDER BY seq")
        else:
            rows = self._read(
                f"SELECT {ASK_COLUMNS} FROM asks WHERE account = %s ORDER BY seq", (account,)
            )
        return [AskRecord(*row) for row in rows]

    def add_mandate(self, mandate: MandateRecord) -> None:
        with self._connection() as db:
            db.execute(
                f"INSERT INTO mandates ({MANDATE_COLUMNS}) VALUES ({', '.join(['%s'] * 11)})",
                astuple(mandate),
            )

    def set_mandate_state(self, mandate_id: str, state: str) -> bool:
        with self._connection() as db:
            changed = db.execute(
                "UPDATE mandates SET state = %s WHERE id = %s", (state, mandate_id)
            )
            return bool(changed.rowcount == 1)

    def remove_mandate(self, mandate_id: str) -> bool:
        with self._connection() as db:
            return bool(
                db.execute("DELETE FROM mandates WHERE id = %s", (mandate_id,)).rowcount == 1
            )

    def list_mandates(self, account: str | None = None) -> list[MandateRecord]:
        if account is None:
            rows = self._read(f"SELECT {MANDATE_COLUMNS} FROM mandates ORDER BY seq")
        else:
            rows = self._read(
                f"SELECT {MANDATE_COLUMNS} FROM mandates WHERE account = %s ORDER BY seq",
                (account,),
            )
        return [MandateRecord(*row) for row in rows]

    def spent_under(self, mandate_id: str, since: float) -> int:
        rows = self._read(
            "SELECT COALESCE(SUM(paid), 0) FROM trades WHERE mandate = %s AND created_at >= %s",
            (mandate_id, since),
        )
        return int(rows[0][0])

    def put_bid(self, bid: BidRecord) -> None:
        with self._connection() as db:
            db.execute(
                "INSERT INTO bids (job_id, account, price, deadline, created_at, nonce, mandate, "
                "priority) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (job_id) DO "
                "UPDATE SET account = excluded.account, price = excluded.price, "
                "deadline = excluded.deadline, created_at = excluded.created_at, "
                "nonce = excluded.nonce, mandate = excluded.mandate, "
                "priority = excluded.priority",
                astuple(bid),
            )

    def get_bid(self, job_id: str) -> BidRecord | None:
        rows = self._read("SELECT * FROM bids WHERE job_id = %s", (job_id,))
        return BidRecord(*rows[0]) if rows else None

    def put_trade(self, trade: TradeRecord) -> None:
        # One statement: a trade made once (its id is unique), its counters and state replaced
        # after; the columns it was made with are kept.
        with self._connection() as db:
            db.execute(
                f"INSERT INTO trades ({TRADE_COLUMNS}) VALUES ({', '.join(['%s'] * 20)}) "
                "ON CONFLICT (id) DO UPDATE SET accepted = excluded.accepted, "
                "rejected = excluded.rejected, paid = excluded.paid, state = excluded.state, "
                "updated_at = excluded.updated_at",
                astuple(trade),
            )

    def add_phases(self, phases: Sequence[TradePhase]) -> None:
        if not phases:
            return
        with self._connection() as db:
            db.execute(
                "INSERT INTO trade_phases (trade_id, phase, at, detail) SELECT * FROM "
                "unnest(%s::text[], %s::text[], %s::float8[], %s::text[])",
                [[astuple(phase)[n] for phase in phases] for n in range(4)],
            )

    def get_trade(self, trade_id: str) -> TradeRecord | None:
        rows = self._read(f"SELECT {TRADE_COLUMNS} FROM trades WHERE id = %s", (trade_id,))
        return TradeRecord(*rows[0]) if rows else None

    def list_trades(
        self, *, job_id: str | None = None, account: str | None = None, limit: int = 1000
    ) -> list[TradeRecord]:
        where, params = [], []
        if job_id is not None:
            where.append("job_id = %s")
            params.append(job_id)
        if account is not None:
            where.append("(seller = %s OR buyer = %s)")
            params += [account, account]
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        rows = self._read(
            f"SELECT {TRADE_COLUMNS} FROM trades {clause} ORDER BY seq DESC LIMIT %s",
            (*params, limit),
        )
        return [TradeRecord(*row) for row in rows]

    def trade_phases(self, trade_id: str) -> list[TradePhase]:
        rows = self._read(
            "SELECT trade_id, phase, at, detail FROM trade_phases WHERE trade_id = %s ORDER BY seq",
            (trade_id,),
        )
        return [TradePhase(*row) for row in rows]
