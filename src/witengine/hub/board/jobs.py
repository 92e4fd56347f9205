"""`JobBoard`: the blackboard as one job's script sees it (`Board.Get`, `Board.Set`,
`Board.Claim`), writing as that job.

Values cross as the library encodes them (a Color or a Blob keeps its type, tagged); a JSON
object a client wrote, which no Wit type holds, reads as its JSON text.
"""

from __future__ import annotations

from typing import Any

from witengine.errors import BoardConflict, WitError
from witengine.hub.board.board import Board
from witengine.hub.board.rules import job_writer
from witengine.hub.store.base import BoardEntry
from witengine.jsontext import compact
from witengine.runtime.library import Library
from witengine.runtime.values import ConversionError


class JobBoard:
    def __init__(self, board: Board, library: Library, job_id: str) -> None:
        self.board = board
        self.library = library
        self.writer = job_writer(job_id)

    def get(self, key: str) -> Any:
        entry = self.board.get(key)
        if entry is None or entry.deleted:
            return None
        return self._wit(entry.value)

    def set(self, key: str, value: Any) -> int:
        return self._write(key, value, None).version

    def claim(self, key: str, value: Any) -> bool:
        try:
            self._write(key, value, 0)
        except BoardConflict:
            return False
        return True

    def _write(self, key: str, value: Any, expect: int | None) -> BoardEntry:
        return self.board.write(key, self.library.encode_dynamic(value), self.writer, expect=expect)

    def _wit(self, data: Any) -> Any:
        if isinstance(data, list):
            return [self._wit(item) for item in data]
        if isinstance(data, dict):
            if "$type" in data:
                try:
                    return self.library.decode_dynamic(data)
                except (ConversionError, WitError, KeyError, TypeError):
                    pass
            return compact(data)
        return data
