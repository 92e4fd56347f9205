"""The language's own forms: block activities, control commands and arrows.

These are the built-in activities whose meaning is structural (a block, a loop variable, the
right side of `=>`), so the checker and the interpreter treat them by name. Their signatures are
written as `ActivitySpec`s so that arguments are checked by the same code as any activity's.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from witengine.lang.types import (
    BOOL,
    LONG,
    OBJECT,
    PROCESSING_OPTIONS,
    STRING,
    ActivitySpec,
    ParamSpec,
    Placement,
)


class FormKind(StrEnum):
    BLOCK = "block"  # Name(args) { … }
    COMMAND = "command"  # Name(args);
    ARROW = "arrow"  # Name(args) => Activity(…)


@dataclass(frozen=True)
class Form:
    """One language form: its kind, its signature, and whether it binds or loops."""

    kind: FormKind
    spec: ActivitySpec
    binds: bool = False  # the first argument is `x in collection`
    loops: bool = False  # Break and Continue may appear in its block
    loop_control: bool = False  # Break, Continue


def _form(
    kind: FormKind,
    name: str,
    summary: str,
    *params: ParamSpec,
    binds: bool = False,
    loops: bool = False,
    loop_control: bool = False,
    variadic: bool = False,
) -> Form:
    spec = ActivitySpec(
        name,
        params,
        None,
        variadic=OBJECT if variadic else None,
        placement=Placement.HUB,
        summary=summary,
    )
    return Form(kind, spec, binds=binds, loops=loops, loop_control=loop_control)


_ms = ParamSpec("milliseconds", LONG)
_options = ParamSpec("options", PROCESSING_OPTIONS, optional=True)

FORMS: dict[str, Form] = {
    form.spec.name: form
    for form in (
        _form(
            FormKind.BLOCK,
            "If",
            "run the block when the condition holds; Else otherwise",
            ParamSpec("condition", BOOL),
        ),
        _form(
            FormKind.BLOCK, "Loop", "run the block n times", ParamSpec("count", LONG), loops=True
        ),
        _form(
            FormKind.BLOCK,
            "ForEach",
            "run the block for each item, in order, on the hub",
            binds=True,
            loops=True,
        ),
        _form(
            FormKind.BLOCK,
            "Parallel.ForEach",
            "run the block for all items at once, on the hub",
            ParamSpec("maxParallel", LONG, optional=True),
            binds=True,
            loops=True,
        ),
        _form(FormKind.BLOCK, "Invoke", "run the block (a group of statements)"),
        _form(
            FormKind.BLOCK, "Parallel.Invoke", "run each statement of the block at the same time"
        ),
        _form(FormKind.BLOCK, "Delay", "wait, then run the block", _ms),
        _form(
            FormKind.BLOCK,
            "Timer",
            "run the block every interval until the timeout or Break",
            ParamSpec("intervalMs", LONG),
            ParamSpec("timeoutMs", LONG, optional=True),
            loops=True,
        ),
        _form(
            FormKind.COMMAND,
            "Pause",
            "wait, with a message in the event log",
            _ms,
            ParamSpec("message", STRING, optional=True),
        ),
        _form(FormKind.COMMAND, "Break", "leave the innermost loop", loop_control=True),
        _form(
            FormKind.COMMAND,
            "Continue",
            "go on with the next round of the innermost loop",
            loop_control=True,
        ),
        _form(FormKind.COMMAND, "Return", "stream values to the caller as an event", variadic=True),
        _form(
            FormKind.COMMAND,
            "Trace",
            "log a line; fail = true fails the job with it",
            ParamSpec("message", OBJECT),
            ParamSpec("fail", BOOL, optional=True),
        ),
        _form(
            FormKind.ARROW,
            "Grid.ForEach",
            "distributed map: one task per item over all compatible nodes, results in order",
            _options,
            binds=True,
        ),
        _form(
            FormKind.ARROW, "Grid.Delegate", "run one call on the best compatible node", _options
        ),
        _form(FormKind.ARROW, "Transform.ForEach", "map on the hub, in order", binds=True),
    )
}
