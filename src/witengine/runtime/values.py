"""Runtime values that have no native Python form, and how any value reads as text.

Wit values are plain Python values: Int and Long are `int`, Float and Double `float`, Bool `bool`,
String `str`, DateTime `datetime`, TimeSpan `timedelta`, Guid `UUID`, a Tuple a `tuple` and a
collection a `list`. The types below fill the gaps. Values are immutable, so they can be shared.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass
from typing import ClassVar

from witengine.errors import WitError
from witengine.protocol.states import POOL_NAME_PATTERN
from witengine.scheduling.strategy import Strategy


class ConversionError(WitError):
    """A value cannot become the type asked for."""


@dataclass(frozen=True)
class Color:
    r: int
    g: int
    b: int
    a: int = 255

    _NAMES: ClassVar[dict[str, str]] = {
        "black": "#000000",
        "white": "#FFFFFF",
        "red": "#FF0000",
        "green": "#00FF00",
        "blue": "#0000FF",
        "yellow": "#FFFF00",
        "cyan": "#00FFFF",
        "magenta": "#FF00FF",
        "gray": "#808080",
        "grey": "#808080",
        "orange": "#FFA500",
        "transparent": "#00000000",
    }

    @classmethod
    def parse(cls, text: str) -> Color:
        """`#RGB`, `#RRGGBB`, `#RRGGBBAA` or a basic colour name."""
        raw = cls._NAMES.get(text.strip().lower(), text.strip())
        digits = raw[1:] if raw.startswith("#") else ""
        if len(digits) == 3:
            digits = "".join(c * 2 for c in digits)
        if len(digits) not in (6, 8) or not re.fullmatch(r"[0-9A-Fa-f]+", digits):
            raise ConversionError(f"'{text}' is not a colour; write #RRGGBB or #RRGGBBAA")
        parts = [int(digits[i : i + 2], 16) for i in range(0, len(digits), 2)]
        return cls(*parts)

    def __str__(self) -> str:
        text = f"#{self.r:02X}{self.g:02X}{self.b:02X}"
        return text if self.a == 255 else text + f"{self.a:02X}"


@dataclass(frozen=True)
class ProcessingOptions:
    strategy: Strategy = Strategy.ADAPTIVE
    max_nodes: int | None = None
    # The pools whose nodes may run the map (None: those the job names, else the trusted ones).
    pools: tuple[str, ...] | None = None

    @classmethod
    def make(
        cls, strategy: str, max_nodes: int | None = None, pools: str | None = None
    ) -> ProcessingOptions:
        known = {s.value.lower(): s for s in Strategy}
        chosen = known.get(strategy.strip().lower())
        if chosen is None:
            names = ", ".join(f'"{s.value}"' for s in Strategy)
            raise ConversionError(f"unknown strategy '{strategy}'; use {names}")
        if max_nodes is not None and max_nodes < 1:
            raise ConversionError(f"maxNodes must be at least 1, got {max_nodes}")
        return cls(chosen, max_nodes, None if pools is None else parse_pools(pools))


def parse_pools(text: str) -> tuple[str, ...]:
    """Pool names from a list such as `"volunteers, default"`, each checked once."""
    names = tuple(dict.fromkeys(name.strip() for name in text.split(",") if name.strip()))
    if not names:
        raise ConversionError('pools names no pool; write one or more, such as "default"')
    for name in names:
        if not re.fullmatch(POOL_NAME_PATTERN, name):
            raise ConversionError(
                f"'{name}' is not a pool's name (letters, digits, '_', '.' and '-', at most 40)"
            )
    return names


_TIMESPAN = re.compile(
    r"(?P<sign>-)?(?:(?P<days>\d+)\.)?(?P<h>\d+):(?P<m>\d{1,2})(?::(?P<s>\d{1,2})(?:\.(?P<f>\d{1,7}))?)?"
)
_DURATION = re.compile(r"(?P<n>\d+(?:\.\d+)?)\s*(?P<unit>ms|s|m|h|d)")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_timespan(text: str) -> dt.timedelta:
    """`[-][d.]h:mm[:ss[.fffffff]]` (as in .NET) or a duration such as `90s`, `1.5h`, `250ms`."""
    raw = text.strip()
    match = _TIMESPAN.fullmatch(raw)
    if match:
        fraction = float("0." + match["f"]) if match["f"] else 0.0
        span = dt.timedelta(
            days=int(match["days"] or 0),
            hours=int(match["h"]),
            minutes=int(match["m"]),
            seconds=int(match["s"] or 0) + fraction,
        )
        return -span if match["sign"] else span
    parts = _DURATION.findall(raw.replace(" ", ""))
    if parts and "".join(n + u for n, u in parts) == raw.replace(" ", ""):
        return dt.timedelta(seconds=sum(float(n) * _UNITS[u] for n, u in parts))
    raise ConversionError(f"'{text}' is not a time span; write h:mm:ss (0:01:30) or 90s")


def format_timespan(span: dt.timedelta) -> str:
    """The .NET constant format: `[-][d.]hh:mm:ss[.fffffff]`."""
    sign = "-" if span < dt.timedelta(0) else ""
    span = abs(span)
    days, seconds = span.days, span.seconds
    text = f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
    if span.microseconds:
        text += f".{span.microseconds * 10:07d}"
    return sign + (f"{days}." if days else "") + text


def parse_datetime(text: str) -> dt.datetime:
    try:
        return dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ConversionError(
            f"'{text}' is not a date and time; write 2026-11-23T08:30:00"
        ) from None


def parse_guid(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text.strip())
    except ValueError:
        raise ConversionError(f"'{text}' is not a Guid") from None


def parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("true", "yes", "1"):
        return True
    if lowered in ("false", "no", "0"):
        return False
    raise ConversionError(f"'{text}' is not a Bool; write true or false")


def to_text(value: object) -> str:
    """How a value reads in Trace, Format and string concatenation."""
    match value:
        case None:
            return "null"
        case bool():
            return "true" if value else "false"
        case float() if value.is_integer() and abs(value) < 1e16:
            return str(int(value))
        case dt.timedelta():
            return format_timespan(value)
        case dt.datetime():
            return value.isoformat()
        case list():
            return "[" + ", ".join(to_text(v) for v in value) + "]"
        case tuple():
            return "(" + ", ".join(to_text(v) for v in value) + ")"
    return str(value)
