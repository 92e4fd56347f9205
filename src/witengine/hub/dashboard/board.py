"""The dashboard's Board page: the blackboard's keys, as the page shows them.

It reads the blackboard only (`Board.keys`); writing is for the API, the command and jobs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from witengine.hub.board.rules import FARM_PREFIX, NODES_PREFIX

SHOWN_KEYS = 500  # keys on the page at most; the rest by prefix
VALUE_CHARS = 2_000  # characters of a value shown in its cell


@dataclass(frozen=True)
class BoardRow:
    key: str
    version: int
    value: str  # the value's JSON, indented, cut at VALUE_CHARS
    writer: str
    at: float
    kind: str  # "farm" (the hub's), "node" (a node's own) or "shared"


def _kind(key: str) -> str:
    if key.startswith(FARM_PREFIX):
        return "farm"
    return "node" if key.startswith(NODES_PREFIX) else "shared"


def _text(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, indent=1)
    return text if len(text) <= VALUE_CHARS else text[: VALUE_CHARS - 1] + "…"


def board_rows(board: Any, prefix: str = "") -> list[BoardRow]:
    """The keys with a value under `prefix`, by name, at most SHOWN_KEYS of them."""
    return [
        BoardRow(e.key, e.version, _text(e.value), e.writer, e.at, _kind(e.key))
        for e in board.keys(prefix, SHOWN_KEYS)
    ]
