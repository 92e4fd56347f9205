"""The SQLite store's asks, mandates, bids and trades (a part of `SqliteStore`; tables from
versions 13 and 14)."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import astuple
from typing import Any

from witengine.hub.store.market import (
    AskRecord,
    BidRecord,
    MandateRecord,
    TradePhase,
    TradeRecord,
)
from witengine.hub.store.rows import ASK_COLUMNS, MANDATE_COLUMNS, TRADE_COLUMNS

MARKET_TABLES = (
    """CREATE TABLE asks (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, account TEXT NOT NULL,
        activity TEXT NOT NULL, price INTEGER NOT NULL CHECK (price >= 0), hours TEXT NOT NULL,
        min_work REAL NOT NULL, created_at REAL NOT NULL, nonce TEXT NOT NULL
    )""",
    """CREATE TABLE bids (
        job_id TEXT PRIMARY KEY, account TEXT NOT NULL, price INTEGER NOT NULL CHECK (price >= 0),
        deadline REAL, created_at REAL NOT NULL, nonce TEXT NOT NULL
    ) WITHOUT ROWID""",
    """CREATE TABLE trades (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, job_id TEXT NOT NULL,
        map_id TEXT NOT NULL, node_id TEXT NOT NULL, node_name TEXT NOT NULL,
        seller TEXT NOT NULL, buyer TEXT NOT NULL, activity TEXT NOT NULL,
        price INTEGER NOT NULL, bid INTEGER NOT NULL, items INTEGER NOT NULL, work REAL NOT NULL,
        accepted INTEGER NOT NULL, rejected INTEGER NOT NULL, paid INTEGER NOT NULL,
        state TEXT NOT NULL, created_at REAL NOT NULL, updated_at REAL NOT NULL,
        ask_id TEXT NOT NULL
    )""",
    "CREATE INDEX trades_job ON trades (job_id, seq)",
    "CREATE INDEX trades_seller ON trades (seller, seq)",
    "CREATE INDEX trades_buyer ON trades (buyer, seq)",
    """CREATE TABLE trade_phases (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, trade_id TEXT NOT NULL, phase TEXT NOT NULL,
        at REAL NOT NULL, detail TEXT NOT NULL
    )""",
    "CREATE INDEX trade_phases_trade ON trade_phases (trade_id, seq)",
)

MANDATE_TABLES = (
    """CREATE TABLE mandates (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, account TEXT NOT NULL,
        side TEXT NOT NULL CHECK (side IN ('sell', 'buy')), activity TEXT NOT NULL,
        price INTEGER NOT NULL CHECK (price >= 0), hours TEXT NOT NULL, node TEXT NOT NULL,
        daily INTEGER NOT NULL CHECK (daily >= 0),
        state TEXT NOT NULL CHECK (state IN ('active', 'paused')), created_at REAL NOT NULL,
        nonce TEXT NOT NULL
    )""",
    "ALTER TABLE bids ADD COLUMN mandate TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE trades ADD COLUMN mandate TEXT NOT NULL DEFAULT ''",
    "CREATE INDEX trades_mandate ON trades (mandate, created_at) WHERE mandate != ''",
)

PRIORITY_COLUMN = ("ALTER TABLE bids ADD COLUMN priority INTEGER NOT NULL DEFAULT 0",)


class MarketTables:
    """The market's part of the Store contract, over `SqliteStore`'s connection."""

    db: sqlite3.Connection
    lock: threading.Lock
    _write: Callable[[], AbstractContextManager[sqlite3.Connection]]
    _read: Callable[..., list[Any]]

    def add_ask(self, ask: AskRecord) -> None:
        with self._write() as db:
            db.execute(
                f"INSERT INTO asks ({ASK_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                astuple(ask),
            )

    def remove_ask(self, ask_id: str) -> bool:
        with self._write() as db:
            return db.execute("DELETE FROM asks WHERE id = ?", (ask_id,)).rowcount == 1

    def list_asks(self, account: str | None = None) -> list[AskRecord]:
        if account is None:
            rows = self._read(f"SELECT {ASK_COLUMNS} FROM asks ORDER BY seq")
        else:
            rows = self._read(
                f"SELECT {ASK_COLUMNS} FROM asks WHERE account = ? ORDER BY seq", (account,)
            )
        return [AskRecord(*row) for row in rows]

    def add_mandate(self, mandate: MandateRecord) -> None:
        with self._write() as db:
            db.execute(
                f"INSERT INTO mandates ({MANDATE_COLUMNS}) VALUES ({', '.join('?' * 11)})",
                astuple(mandate),
            )

    def set_mandate_state(self, mandate_id: str, state: str) -> bool:
        with self._write() as db:
            changed = db.execute("UPDATE mandates SET state = ? WHERE id = ?", (state, mandate_id))
            return changed.rowcount == 1

    def remove_mandate(self, mandate_id: str) -> bool:
        with self._write() as db:
            return db.execute("DELETE FROM mandates WHERE id = ?", (mandate_id,)).rowcount == 1

    def list_mandates(self, account: str | None = None) -> list[MandateRecord]:
        if account is None:
            rows = self._read(f"SELECT {MANDATE_COLUMNS} FROM mandates ORDER BY seq")
        else:
            rows = self._read(
                f"SELECT {MANDATE_COLUMNS} FROM mandates WHERE account = ? ORDER BY seq",
                (account,),
            )
        return [MandateRecord(*row) for row in rows]

    def spent_under(self, mandate_id: str, since: float) -> int:
        rows = self._read(
            "SELECT COALESCE(SUM(paid), 0) FROM trades WHERE mandate = ? AND created_at >= ?",
            (mandate_id, since),
        )
        return int(rows[0][0])

    def put_bid(self, bid: BidRecord) -> None:
        with self._write() as db:
            db.execute("INSERT OR REPLACE INTO bids VALUES (?, ?, ?, ?, ?, ?, ?, ?)", astuple(bid))

    def get_bid(self, job_id: str) -> BidRecord | None:
        rows = self._read("SELECT * FROM bids WHERE job_id = ?", (job_id,))
        return BidRecord(*rows[0]) if rows else None

    def put_trade(self, trade: TradeRecord) -> None:
        with self._write() as db:
            updated = db.execute(
                "UPDATE trades SET accepted = ?, rejected = ?, paid = ?, state = ?, "
                "updated_at = ? WHERE id = ?",
                (
                    trade.accepted,
                    trade.rejected,
                    trade.paid,
                    trade.state,
                    trade.updated_at,
                    trade.id,
                ),
            )
            if updated.rowcount == 0:
                db.execute(
                    f"INSERT INTO trades ({TRADE_COLUMNS}) VALUES ({', '.join('?' * 20)})",
                    astuple(trade),
                )

    def add_phases(self, phases: Sequence[TradePhase]) -> None:
        with self._write() as db:
            db.executemany(
                "INSERT INTO trade_phases (trade_id, phase, at, detail) VALUES (?, ?, ?, ?)",
                [astuple(phase) for phase in phases],
            )

    def get_trade(self, trade_id: str) -> TradeRecord | None:
        rows = self._read(f"SELECT {TRADE_COLUMNS} FROM trades WHERE id = ?", (trade_id,))
        return TradeRecord(*rows[0]) if rows else None

    def list_trades(
        self, *, job_id: str | None = None, account: str | None = None, limit: int = 1000
    ) -> list[TradeRecord]:
        where, params = [], []
        if job_id is not None:
            where.append("job_id = ?")
            params.append(job_id)
        if account is not None:
            where.append("(seller = ? OR buyer = ?)")
            params += [account, account]
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        rows = self._read(
            f"SELECT {TRADE_COLUMNS} FROM trades {clause} ORDER BY seq DESC LIMIT ?",
            (*params, limit),
        )
        return [TradeRecord(*row) for row in rows]

    def trade_phases(self, trade_id: str) -> list[TradePhase]:
        rows = self._read(
            "SELECT trade_id, phase, at, detail FROM trade_phases WHERE trade_id = ? ORDER BY seq",
            (trade_id,),
        )
        return [TradePhase(*row) for row in rows]
