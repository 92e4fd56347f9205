"""The SQLite store's asks, bids and trades (a part of `SqliteStore`; tables from version 13)."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import astuple
from typing import Any

from witengine.hub.store.market import AskRecord, BidRecord, TradePhase, TradeRecord

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

_TRADE_COLUMNS = (
    "id, job_id, map_id, node_id, node_name, seller, buyer, activity, price, bid, items, work, "
    "accepted, rejected, paid, state, created_at, updated_at, ask_id"
)


class MarketTables:
    """The market's part of the Store contract, over `SqliteStore`'s connection."""

    db: sqlite3.Connection
    lock: threading.Lock
    _write: Callable[[], AbstractContextManager[sqlite3.Connection]]
    _read: Callable[..., list[Any]]

    def add_ask(self, ask: AskRecord) -> None:
        with self._write() as db:
            db.execute(
                "INSERT INTO asks (id, account, activity, price, hours, min_work, created_at, "
                "nonce) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                astuple(ask),
            )

    def remove_ask(self, ask_id: str) -> bool:
        with self._write() as db:
            return db.execute("DELETE FROM asks WHERE id = ?", (ask_id,)).rowcount == 1

    def list_asks(self, account: str | None = None) -> list[AskRecord]:
        columns = "id, account, activity, price, hours, min_work, created_at, nonce"
        if account is None:
            rows = self._read(f"SELECT {columns} FROM asks ORDER BY seq")
        else:
            rows = self._read(
                f"SELECT {columns} FROM asks WHERE account = ? ORDER BY seq", (account,)
            )
        return [AskRecord(*row) for row in rows]

    def put_bid(self, bid: BidRecord) -> None:
        with self._write() as db:
            db.execute("INSERT OR REPLACE INTO bids VALUES (?, ?, ?, ?, ?, ?)", astuple(bid))

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
                    f"INSERT INTO trades ({_TRADE_COLUMNS}) VALUES ({', '.join('?' * 19)})",
                    astuple(trade),
                )

    def add_phases(self, phases: Sequence[TradePhase]) -> None:
        with self._write() as db:
            db.executemany(
                "INSERT INTO trade_phases (trade_id, phase, at, detail) VALUES (?, ?, ?, ?)",
                [astuple(phase) for phase in phases],
            )

    def get_trade(self, trade_id: str) -> TradeRecord | None:
        rows = self._read(f"SELECT {_TRADE_COLUMNS} FROM trades WHERE id = ?", (trade_id,))
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
            f"SELECT {_TRADE_COLUMNS} FROM trades {clause} ORDER BY seq DESC LIMIT ?",
            (*params, limit),
        )
        return [TradeRecord(*row) for row in rows]

    def trade_phases(self, trade_id: str) -> list[TradePhase]:
        rows = self._read(
            "SELECT trade_id, phase, at, detail FROM trade_phases WHERE trade_id = ? ORDER BY seq",
            (trade_id,),
        )
        return [TradePhase(*row) for row in rows]
