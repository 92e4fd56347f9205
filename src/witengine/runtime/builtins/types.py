"""The built-in types of section 4 of the language contract, with their constructors and JSON.

A constructor takes one value of a type it `accepts`; the same conversion makes implicit
constructor calls (`Color:c = "#3366AA";`) and reads command-line parameters.
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
from collections.abc import Callable
from typing import Any

from witengine.lang.types import INT, LONG, STRING, TypeSpec, WitType
from witengine.runtime.blobs import Blob
from witengine.runtime.library import Json, TypeDef, describe
from witengine.runtime.values import (
    Color,
    ConversionError,
    ProcessingOptions,
    format_timespan,
    parse_bool,
    parse_datetime,
    parse_guid,
    parse_timespan,
    to_text,
)

_NUMBERS = frozenset({"Int", "Long", "Float", "Double"})
_TEXT = frozenset({"String"})


def _integer(name: str, bits: int) -> Callable[[Any], int]:
    low, high = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1

    def construct(value: Any) -> int:
        if isinstance(value, str):
            try:
                number = int(value.strip().replace("_", ""))
            except ValueError:
                raise ConversionError(f"'{value}' is not a whole number") from None
        elif isinstance(value, int) and not isinstance(value, bool):
            number = value
        elif isinstance(value, float) and value.is_integer():
            number = int(value)
        else:
            raise ConversionError(f"{describe(value)} is not a whole number ({name})")
        if not low <= number <= high:
            raise ConversionError(f"{number} does not fit in {name} ({low} to {high})")
        return number

    return construct


def _decimal(value: Any) -> float:
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise ConversionError(f"'{value}' is not a number") from None
        if not math.isfinite(number):
            raise ConversionError(f"'{value}' is not a finite number")
        return number
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    raise ConversionError(f"{describe(value)} is not a number")


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return parse_bool(value)
    raise ConversionError(f"{describe(value)} is not a Bool")


def _text(value: Any) -> str:
    return value if isinstance(value, str) else to_text(value)


def _only(kind: type, parse: Callable[[str], Any], name: str) -> Callable[[Any], Any]:
    def construct(value: Any) -> Any:
        if isinstance(value, kind):
            return value
        if isinstance(value, str):
            return parse(value)
        raise ConversionError(f"{describe(value)} cannot become a {name}")

    return construct


def _timespan(value: Any) -> dt.timedelta:
    if isinstance(value, dt.timedelta):
        return value
    if isinstance(value, str):
        return parse_timespan(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return dt.timedelta(milliseconds=value)
    raise ConversionError(f"{describe(value)} cannot become a TimeSpan")


def _blob(value: Any) -> Blob:
    if isinstance(value, Blob):
        return value
    if isinstance(value, str) and value.startswith("sha256:"):
        return Blob(value.removeprefix("sha256:"), 0)
    raise ConversionError(
        f"{describe(value)} cannot become a Blob; pass a file as a job parameter "
        "(the client uploads it) or write sha256:<digest>"
    )


def _blob_json(blob: Blob) -> Json:
    return {"sha256": blob.sha256, "size": blob.size, "name": blob.name}


def _blob_from_json(data: Json) -> Blob:
    return Blob(data["sha256"], int(data.get("size", 0)), str(data.get("name", "")))


def _options(value: Any) -> ProcessingOptions:
    if isinstance(value, ProcessingOptions):
        return value
    if isinstance(value, str):
        return ProcessingOptions.make(value)
    raise ConversionError(f"{describe(value)} cannot become ProcessingOptions")


def _options_json(options: ProcessingOptions) -> Json:
    data = {"strategy": options.strategy.value, "maxNodes": options.max_nodes}
    return data if options.pools is None else data | {"pools": ",".join(options.pools)}


def _options_from_json(data: Json) -> ProcessingOptions:
    return ProcessingOptions.make(data["strategy"], data.get("maxNodes"), data.get("pools"))


def _same(value: Any) -> Any:
    return value


def _spec(name: str, accepts: frozenset[str], summary: str, **members: WitType) -> TypeSpec:
    nullable = name not in {
        "Int",
        "Long",
        "Float",
        "Double",
        "Bool",
        "DateTime",
        "TimeSpan",
        "Guid",
    }
    return TypeSpec(name, accepts, members, nullable=nullable, summary=summary)


def builtin_types() -> list[TypeDef]:
    """Every built-in type: Int, Long, Float, Double, Bool, String and the rest."""
    everything = frozenset(
        {*_NUMBERS, "Bool", "String", "DateTime", "TimeSpan", "Guid", "Color", "Blob"}
    )
    return [
        TypeDef(
            _spec("Int", frozenset({"String", "Long"}), "32-bit whole number"),
            int,
            _integer("Int", 32),
            _same,
            int,
        ),
        TypeDef(
            _spec("Long", frozenset({"String", "Int"}), "64-bit whole number"),
            int,
            _integer("Long", 64),
            _same,
            int,
        ),
        TypeDef(
            _spec("Float", _NUMBERS | _TEXT, "floating-point number"), float, _decimal, _same, float
        ),
        TypeDef(
            _spec("Double", _NUMBERS | _TEXT, "double-precision number"),
            float,
            _decimal,
            _same,
            float,
        ),
        TypeDef(_spec("Bool", _TEXT, "true or false"), bool, _bool, _same, bool),
        TypeDef(_spec("String", everything, "text", Length=INT), str, _text, _same, str),
        TypeDef(
            _spec("DateTime", _TEXT, "date and time, ISO 8601"),
            dt.datetime,
            _only(dt.datetime, parse_datetime, "DateTime"),
            lambda v: v.isoformat(),
            parse_datetime,
        ),
        TypeDef(
            _spec(
                "TimeSpan",
                frozenset({"String", "Int", "Long"}),
                "duration: 0:01:30, 90s, or milliseconds",
                TotalSeconds=WitType("Double"),
            ),
            dt.timedelta,
            _timespan,
            format_timespan,
            parse_timespan,
        ),
        TypeDef(
            _spec("Guid", _TEXT, "unique identifier"),
            uuid.UUID,
            _only(uuid.UUID, parse_guid, "Guid"),
            str,
            parse_guid,
        ),
        TypeDef(
            _spec("Color", _TEXT, "#RRGGBB or #RRGGBBAA", R=INT, G=INT, B=INT, A=INT),
            Color,
            _only(Color, Color.parse, "Color"),
            str,
            Color.parse,
        ),
        TypeDef(
            _spec(
                "Blob", _TEXT, "a file, by content (sha256)", Name=STRING, Size=LONG, Sha256=STRING
            ),
            Blob,
            _blob,
            _blob_json,
            _blob_from_json,
        ),
        TypeDef(
            _spec("Object", everything | {"Tuple", "ProcessingOptions"}, "any value"),
            object,
            _same,
            _same,
            _same,
        ),
        TypeDef(
            _spec("Tuple", frozenset(), "fixed group of values: Item1, Item2, …"),
            tuple,
            _same,
            _same,
            _same,
        ),
        TypeDef(
            _spec(
                "ProcessingOptions",
                _TEXT,
                'how Grid.ForEach spreads work: "Adaptive", "Balanced" or "Queued"',
            ),
            ProcessingOptions,
            _options,
            _options_json,
            _options_from_json,
        ),
    ]
