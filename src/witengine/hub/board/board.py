"""`Board`: the hub's blackboard, a shell around the store's versioned keys.

It checks each write against the rules of `rules` (who may write which keys) and the hub's
limits (a key's name, a value's size), hands it to the store (which takes it or refuses it in one
transaction: compare-and-set), and wakes those who follow the stream of changes. Followers read
the changes from the store, never from a queue of their own, so a slow one misses nothing the
store still keeps and holds no memory meanwhile. The hub's own facts (`farm/…`) are published
through `publish`, which writes only what changed.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import AsyncIterator, Callable
from typing import Any

from witengine.errors import WitError
from witengine.hub.board.rules import HUB, Writer, key_problem, write_refusal
from witengine.hub.limits import Limits, exceeded
from witengine.hub.store.base import BoardEntry, BoardWrite, Store
from witengine.jsontext import compact

log = logging.getLogger(__name__)
Json = Any
PAGE = 1000  # changes read from the store at a time


class BadKey(WitError):
    """A key's name that the blackboard does not take; the message says why."""


class BadValue(WitError):
    """A value that is not JSON the blackboard can keep (a lone surrogate, NaN)."""


class BoardRefused(WitError):
    """A writer may not write that key (`rules.write_refusal` says why)."""


class Board:
    def __init__(self, store: Store, limits: Limits, wall: Callable[[], float]) -> None:
        self.store = store
        self.limits = limits
        self.wall = wall
        self._changed = asyncio.Event()

    # ---------------------------------------------------------------- reading

    def check_key(self, key: str) -> None:
        """BadKey or LimitExceeded when `key` cannot name a key."""
        if len(key) > self.limits.board_key_chars:
            raise exceeded(
                "board_key_chars",
                "the key's name",
                len(key),
                self.limits.board_key_chars,
                "characters",
            )
        problem = key_problem(key)
        if problem is not None:
            raise BadKey(problem)

    def get(self, key: str) -> BoardEntry | None:
        """The key's current version; a tombstone when it was deleted."""
        self.check_key(key)
        return self.store.board_get(key)

    def keys(self, prefix: str = "", limit: int = 1000) -> list[BoardEntry]:
        """The keys with a value under `prefix`, by name, at their current version."""
        return self.store.board_list(prefix, limit)

    def history(self, key: str, limit: int = 100) -> list[BoardEntry]:
        self.check_key(key)
        return self.store.board_history(key, limit)

    # ---------------------------------------------------------------- writing

    def write(
        self,
        key: str,
        value: Json,
        writer: Writer,
        *,
        expect: int | None = None,
        deleted: bool = False,
    ) -> BoardEntry:
        """Write (or delete) a key as `writer`; BoardRefused when the writer may not write it,
        BoardConflict, BoardFull, BadKey, BadValue or LimitExceeded when it is not taken."""
        self.check_key(key)
        refusal = write_refusal(writer, key)
        if refusal is not None:
            raise BoardRefused(refusal)
        if not deleted:
            self._check_value(value)
        entry = self.store.board_write(
            BoardWrite(key, value, writer.name, self.wall(), expect, deleted),
            keep=self.limits.board_history,
            max_keys=self.limits.board_keys,
        )
        self._changed.set()
        self._changed = asyncio.Event()
        return entry

    def publish(self, key: str, value: Json) -> BoardEntry | None:
        """Write one of the hub's own keys when its value changed; the new version, or None
        when it held that value already (or, past a limit, could not take it)."""
        current = self.store.board_get(key)
        if current is not None and not current.deleted and current.value == value:
            return None
        try:
            return self.write(key, value, HUB)
        except WitError as error:  # too large, or the board full: the fact is left out
            log.warning("could not publish %s on the blackboard: %s", key, error)
            return None

    def withdraw(self, key: str) -> bool:
        """Delete one of the hub's own keys; whether it had a value to delete."""
        current = self.store.board_get(key)
        if current is None or current.deleted:
            return False
        self.write(key, None, HUB, deleted=True)
        return True

    def _check_value(self, value: Json) -> None:
        _plain(value)
        size = len(compact(value).encode("utf-8"))
        if size > self.limits.board_value_bytes:
            raise exceeded(
                "board_value_bytes", "the value", size, self.limits.board_value_bytes, "bytes"
            )

    # ---------------------------------------------------------------- following

    async def follow(
        self, after: int = 0, prefix: str = "", *, wait: bool = True
    ) -> AsyncIterator[BoardEntry]:
        """Every change with a number above `after` (of keys under `prefix`), then (`wait`)
        each new one as it is written, until the caller stops."""
        seen = after
        while True:
            changed = self._changed  # taken before reading: a write meanwhile sets it
            while True:
                found = self.store.board_changes(after=seen, limit=PAGE)
                for entry in found:
                    seen = entry.seq
                    if entry.key.startswith(prefix):
                        yield entry
                if len(found) < PAGE:
                    break
            if not wait:
                return
            await changed.wait()


MAX_DEPTH = 100  # lists and objects within each other, at most


def _plain(value: Json, depth: int = 0) -> None:
    """BadValue unless `value` is JSON any client can read back: no NaN or infinity (JSON has
    no number for them), no lone surrogate (no file or database holds one as text)."""
    if isinstance(value, str):
        _text(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise BadValue(f"the value holds {value}, which JSON has no number for")
    elif isinstance(value, list | dict):
        if depth >= MAX_DEPTH:
            raise BadValue(f"the value nests lists and objects over {MAX_DEPTH} deep")
        for name in value if isinstance(value, dict) else ():
            _text(name)
        for item in value.values() if isinstance(value, dict) else value:
            _plain(item, depth + 1)
    elif value is not None and not isinstance(value, bool | int):
        raise BadValue(f"the value holds a {type(value).__name__}, which is not JSON")


def _text(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise BadValue("the value holds a lone surrogate, which is not text") from None
