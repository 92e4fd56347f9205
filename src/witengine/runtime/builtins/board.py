"""`Board.Get`, `Board.Set`, `Board.Claim`: a job's script reads and writes the farm's blackboard.

They run on the hub, where the blackboard is (a node's credential writes only its own keys), in
the job's interpreter: each call is one transaction of the hub's store, so `Board.Claim` on one
key succeeds for exactly one caller, whether the callers are branches of one job's
`Parallel.ForEach`, other jobs, or clients of the API. A job run without a hub has no blackboard
and fails at its first call, saying so.
"""

from __future__ import annotations

from typing import Any

from witengine.errors import ActivityError
from witengine.lang.types import BOOL, LONG, OBJECT, STRING, ActivitySpec, ParamSpec, Placement
from witengine.runtime.context import ActivityContext, BoardAccess
from witengine.runtime.library import ActivityDef

BUILTIN = "builtin"


def _board(context: ActivityContext, name: str) -> BoardAccess:
    if context.board is None:
        raise ActivityError(
            f"{name}: this job runs without a hub, so it has no blackboard (wit run with a hub, "
            "or its embedded farm, gives it one)"
        )
    return context.board


def _get(context: ActivityContext, key: str) -> Any:
    return _board(context, "Board.Get").get(key)


def _set(context: ActivityContext, key: str, value: Any) -> int:
    return _board(context, "Board.Set").set(key, value)


def _claim(context: ActivityContext, key: str, value: Any) -> bool:
    return _board(context, "Board.Claim").claim(key, value)


def _def(
    name: str, function: Any, params: list[ParamSpec], returns: Any, summary: str
) -> ActivityDef:
    spec = ActivitySpec(name, tuple(params), returns, placement=Placement.HUB, summary=summary)
    return ActivityDef(spec, function, BUILTIN, takes_context=True)


def board_activities() -> list[ActivityDef]:
    """The blackboard's activities."""
    key, value = ParamSpec("key", STRING), ParamSpec("value", OBJECT)
    return [
        _def("Board.Get", _get, [key], OBJECT, "the key's value on the blackboard; null if none"),
        _def("Board.Set", _set, [key, value], LONG, "write the key's next version; its number"),
        _def(
            "Board.Claim",
            _claim,
            [key, value],
            BOOL,
            "write the key only if it has no value: true for exactly one caller",
        ),
    ]
