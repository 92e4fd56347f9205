"""Built-in helper activities: ranges, Zip, Count, Concat, Format, ProcessingOptions, Tuple.

They are pure and quick and run on the hub; each is described by an `ActivitySpec` like any
plugin activity, with a result rule where the result type depends on the arguments.
"""

from __future__ import annotations

import functools
import re
import uuid
from collections.abc import Sequence
from typing import Any

from witengine.lang.types import (
    DOUBLE,
    INT,
    LONG,
    OBJECT,
    PROCESSING_OPTIONS,
    STRING,
    ActivitySpec,
    ParamSpec,
    Placement,
    WitType,
    collection_of,
    is_dynamic,
    tuple_of,
)
from witengine.runtime.budget import allow, join_texts
from witengine.runtime.builtins.board import board_activities
from witengine.runtime.library import ActivityDef
from witengine.runtime.values import ConversionError, ProcessingOptions, to_text

BUILTIN = "builtin"


def _range(start: float, stop: float, step: float = 1) -> list[Any]:
    if step == 0:
        raise ConversionError("the step of a range cannot be 0")
    count = max(0, int(-(-(stop - start) // step)))
    if count > 100_000_000:
        raise ConversionError(f"a range of {count} items is too large")
    widest = max(abs(start), abs(stop), abs(start + count * step))
    allow(count * (len(str(int(widest))) + 2), f"a range of {count:,} numbers")
    if isinstance(start, int) and isinstance(step, int):  # C's speed: a million in ms
        return list(range(start, start + count * step, step))
    return [start + i * step for i in range(count)]


def _float_range(start: float, stop: float, step: float = 1.0) -> list[float]:
    return [float(v) for v in _range(start, stop, step)]


def _zip(*collections: Sequence[Any]) -> list[tuple[Any, ...]]:
    return list(zip(*collections, strict=False))


def _zip_type(args: Sequence[WitType]) -> WitType | str:
    elements = []
    for position, arg in enumerate(args, start=1):
        if is_dynamic(arg):
            elements.append(OBJECT)
        elif arg.element is None:
            return f"argument {position} of 'Zip' must be a collection, found {arg}"
        else:
            elements.append(arg.element if arg.element.name != "Nothing" else OBJECT)
    return collection_of(tuple_of(elements))


def _count(value: Any) -> int:
    if isinstance(value, list | str | tuple):
        return len(value)
    raise ConversionError(f"Count needs a collection, found {to_text(value)}")


def _count_type(args: Sequence[WitType]) -> WitType | str:
    (arg,) = args
    if is_dynamic(arg) or arg.element is not None or arg == STRING:
        return INT
    return f"'Count' needs a collection, found {arg}"


def _concat(first: Any, second: Any) -> Any:
    if isinstance(first, list) and isinstance(second, list):
        allow(len(first) + len(second), "the collection Concat makes")  # its items: at least
        return first + second
    return join_texts(to_text(first), to_text(second), "the text Concat makes")


def _concat_type(args: Sequence[WitType]) -> WitType | str:
    first, second = args
    if first.element is not None and second.element is not None:
        if first.element == second.element or second.element.name == "Nothing":
            return first
        if first.element.name == "Nothing":
            return second
        return collection_of(OBJECT)
    if first.element is not None or second.element is not None:
        return f"'Concat' joins two collections or two texts, found {first} and {second}"
    return STRING


_NUMBER = re.compile(r"\d+")
_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{(\d+)(?::([^}]*))?\}")


def _format(template: str, *values: Any) -> str:
    """.NET-style composite formatting: `{0}`, `{1:F2}`, `{0:D4}`, `{2:N0}`, `{0:P1}`, `{0:X}`."""
    parts = []
    for text, position, spec in _pieces(template):
        parts.append(text)
        if position is not None:
            if position >= len(values):
                raise ConversionError(
                    f"Format refers to {{{position}}} but has only {len(values)} value(s)"
                )
            parts.append(_format_one(values[position], spec))
    allow(sum(map(len, parts)), "the text Format makes")
    return "".join(parts)


@functools.lru_cache(maxsize=256)
def _pieces(template: str) -> tuple[tuple[str, int | None, str | None], ...]:
    """The template as text, each followed by the placeholder after it (a map formats one
    template for every item: parsed once)."""
    pieces: list[tuple[str, int | None, str | None]] = []
    text: list[str] = []
    start = 0
    for match in _PLACEHOLDER.finditer(template):
        text.append(template[start : match.start()])
        start = match.end()
        whole = match.group(0)
        if whole in ("{{", "}}"):
            text.append(whole[0])
        else:
            pieces.append(("".join(text), int(match.group(1)), match.group(2)))
            text = []
    pieces.append(("".join([*text, template[start:]]), None, None))
    return tuple(pieces)


def _format_one(value: Any, spec: str | None) -> str:
    if not spec:
        return to_text(value)
    numbers = _NUMBER.findall(spec)
    if numbers:  # a width or precision makes that many characters: refused first if too many
        allow(max(int(n[:13]) for n in numbers), "the text Format makes")
    kind, digits = spec[0].upper(), spec[1:]
    python = {
        "F": f".{digits or 2}f",
        "N": f",.{digits or 2}f",
        "P": f".{digits or 2}%",
        "D": f"0{digits}d" if digits else "d",
        "X": f"0{digits}{'X' if spec[0] == 'X' else 'x'}" if digits else spec[0],
        "E": f".{digits or 6}e",
    }.get(kind, spec)
    try:
        return format(value, python)
    except (ValueError, TypeError):
        raise ConversionError(f"cannot format {to_text(value)} with '{spec}'") from None


def _options(
    strategy: str, max_nodes: int | None = None, pools: str | None = None
) -> ProcessingOptions:
    return ProcessingOptions.make(strategy, max_nodes, pools)


def _tuple(*items: Any) -> tuple[Any, ...]:
    return tuple(items)


def _tuple_type(args: Sequence[WitType]) -> WitType | str:
    return tuple_of(args)


def _new_guid() -> uuid.UUID:
    return uuid.uuid4()


def _def(
    name: str,
    function: Any,
    params: Sequence[ParamSpec],
    returns: WitType | None,
    summary: str,
    *,
    variadic: WitType | None = None,
    result: Any = None,
) -> ActivityDef:
    spec = ActivitySpec(
        name,
        tuple(params),
        returns,
        variadic=variadic,
        placement=Placement.HUB,
        summary=summary,
        result=result,
    )
    return ActivityDef(spec, function, BUILTIN)


def builtin_activities() -> list[ActivityDef]:
    """Every built-in helper activity."""
    p = ParamSpec
    step_int, step_long = p("step", INT, optional=True), p("step", LONG, optional=True)
    return [
        _def(
            "Int.Range",
            _range,
            [p("from", INT), p("to", INT), step_int],
            collection_of(INT),
            "whole numbers from `from` up to, not including, `to`",
        ),
        _def(
            "Long.Range",
            _range,
            [p("from", LONG), p("to", LONG), step_long],
            collection_of(LONG),
            "like Int.Range, for Long",
        ),
        _def(
            "Double.Range",
            _float_range,
            [p("from", DOUBLE), p("to", DOUBLE), p("step", DOUBLE, optional=True)],
            collection_of(DOUBLE),
            "numbers from `from` up to, not including, `to`, by `step`",
        ),
        _def(
            "Zip",
            _zip,
            [p("first", OBJECT)],
            None,
            'tuples of the items at the same position: Zip([1, 2], ["a", "b"])',
            variadic=OBJECT,
            result=_zip_type,
        ),
        _def("Count", _count, [p("collection", OBJECT)], INT, "how many items", result=_count_type),
        _def(
            "Concat",
            _concat,
            [p("first", OBJECT), p("second", OBJECT)],
            None,
            "two collections or two texts joined",
            result=_concat_type,
        ),
        _def(
            "Format",
            _format,
            [p("template", STRING)],
            STRING,
            'text with values put in: Format("{0} of {1}", done, total)',
            variadic=OBJECT,
        ),
        _def(
            "ProcessingOptions",
            _options,
            [
                p("strategy", STRING),
                p("maxNodes", INT, optional=True),
                p("pools", STRING, optional=True),
            ],
            PROCESSING_OPTIONS,
            'how Grid.ForEach spreads work: "Adaptive" (default), "Balanced" or "Queued"; '
            'pools: the pools whose nodes may run it, "volunteers,default"',
        ),
        _def(
            "Tuple",
            _tuple,
            [],
            None,
            'a group of values: Tuple(1, "a")',
            variadic=OBJECT,
            result=_tuple_type,
        ),
        _def("Guid.New", _new_guid, [], WitType("Guid"), "a new random Guid"),
        *board_activities(),
    ]
