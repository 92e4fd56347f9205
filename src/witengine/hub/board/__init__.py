"""The blackboard: versioned keys farm-wide, with compare-and-set and a stream of changes."""

from witengine.hub.board.board import BadKey, BadValue, Board

__all__ = ["BadKey", "BadValue", "Board"]
