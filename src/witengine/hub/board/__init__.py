"""The blackboard: versioned keys farm-wide, with compare-and-set and a stream of changes."""

from witengine.hub.board.board import BadKey, BadValue, Board, BoardRefused
from witengine.hub.board.rules import HUB, Writer, job_writer, token_writer

__all__ = [
    "HUB",
    "BadKey",
    "BadValue",
    "Board",
    "BoardRefused",
    "Writer",
    "job_writer",
    "token_writer",
]
