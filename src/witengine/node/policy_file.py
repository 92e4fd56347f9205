"""Reading an owner policy: its TOML file and `wit node`'s flags, into one `Policy`.

Every setting is read by one parser here, whether it comes from the file or from a flag, so a
bad value gets the same message either way: where it was written (the file and line, or the
flag), the value, and what would be valid. tomllib says where a syntax error is but not where a
key's value stands: the line is found in the text. Flags override the file; with neither, the
node has no policy (it works whenever it runs).

Pure but for reading the file; raises `PolicyError`, which `wit node` turns into exit code 2
before it connects.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from witengine.errors import WitError
from witengine.node.hours import HoursError, Window, parse_window
from witengine.node.policy import IDLE_SOURCES, PRIORITIES, OnBattery, Policy

BUILT_IN = "office"  # `--policy office`: every setting at its default


class PolicyError(WitError):
    """An owner policy that cannot be read; the message names where and what is valid."""


DURATION_VALID = "a duration is 30s, 15m, 2h, 1h30m or a number of seconds"
SIZE_VALID = (
    "a size is a number of bytes, or one with a unit: 512MB, 4GB (powers of 1000), "
    "512MiB, 4GiB (powers of 1024)"
)
_DURATION = re.compile(
    r"^(?:(?P<h>\d+(?:\.\d+)?)h)?(?:(?P<m>\d+(?:\.\d+)?)m)?(?:(?P<s>\d+(?:\.\d+)?)s?)?$"
)
_SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*([kmgt]i?b|b)?$", re.IGNORECASE)
_UNITS = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12}
_UNITS.update({"kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40})


def parse_duration(value: object) -> float:
    """Seconds from `30s`, `15m`, `2h`, `1h30m`, or a bare number of seconds."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration: {DURATION_VALID}")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"{value!r} is negative: {DURATION_VALID}")
        return float(value)
    text = str(value).strip().lower().replace(" ", "")
    match = _DURATION.match(text)
    if not text or match is None:
        raise ValueError(f"cannot read the duration {value!r}: {DURATION_VALID}")
    hours, minutes, seconds = (float(match.group(name) or 0) for name in "hms")
    return hours * 3600 + minutes * 60 + seconds


def parse_size(value: object) -> int:
    """Bytes from `4GiB`, `512MB`, or a bare number of bytes."""
    if isinstance(value, int) and not isinstance(value, bool):
        number, unit = float(value), "b"
    else:
        match = _SIZE.match(str(value).strip())
        if match is None:
            raise ValueError(f"cannot read the size {value!r}: {SIZE_VALID}")
        number, unit = float(match.group(1)), (match.group(2) or "b").lower()
    size = int(number * _UNITS[unit])
    if size <= 0:
        raise ValueError(f"{value!r} is not a size over nothing: {SIZE_VALID}")
    return size


def _number(value: object, *, least: float, what: str) -> float:
    try:
        if isinstance(value, bool):
            raise ValueError
        number = float(value) if isinstance(value, int | float | str) else float("nan")
    except ValueError:
        number = float("nan")
    if not number >= least or number == float("inf"):
        raise ValueError(f"{value!r} is not {what}")
    return number


def parse_max_load(value: object) -> float:
    """Others' load per core over which work stops: a number, 0 or more."""
    return _number(value, least=0.0, what="a load per core: a number, 0 or more (0.3, 1.5)")


def parse_max_cores(value: object) -> int:
    """Cores the node may use: a whole number, 1 or more."""
    number = _number(value, least=1.0, what="a number of cores: a whole number, 1 or more")
    if number != int(number):
        raise ValueError(f"{value!r} is not a number of cores: a whole number, 1 or more")
    return int(number)


def parse_on_battery(value: object) -> OnBattery:
    """`stop` or `run`."""
    try:
        return OnBattery(str(value).strip().lower())
    except ValueError:
        raise ValueError(f"{value!r} is not stop or run") from None


def parse_priority(value: object) -> int:
    """Workers' niceness: `lowest` (19), `low` (10), `normal` (0), or a niceness 0 to 19."""
    named = PRIORITIES.get(str(value).strip().lower())
    if named is not None:
        return named
    valid = "lowest, low, normal, or a niceness from 0 to 19"
    if isinstance(value, bool) or not str(value).strip().isdigit() or int(str(value)) > 19:
        raise ValueError(f"{value!r} is not a priority: {valid}")
    return int(str(value))


def parse_idle_source(value: object) -> str:
    """One of `IDLE_SOURCES`, or `file:PATH`."""
    text = str(value).strip()
    if text in IDLE_SOURCES or (text.startswith("file:") and len(text) > len("file:")):
        return text
    raise ValueError(f"{value!r} is not an idle source: {', '.join(IDLE_SOURCES)} or file:PATH")


def parse_hours(value: object) -> tuple[Window, ...]:
    """Windows from one string or a list of them."""
    written = [value] if isinstance(value, str) else value
    if not isinstance(written, list) or not all(isinstance(item, str) for item in written):
        raise ValueError(f"{value!r} is not a window or a list of windows")
    if not written:
        raise ValueError("no window given (leave hours out to work at any time)")
    try:
        return tuple(parse_window(text) for text in written)
    except HoursError as error:
        raise ValueError(str(error)) from None


@dataclass(frozen=True)
class Setting:
    """One key of a policy: its Policy field and how its value is read."""

    field: str
    parse: Callable[[object], object]


SETTINGS: dict[str, Setting] = {
    "hours": Setting("hours", parse_hours),
    "idle-after": Setting("idle_after", parse_duration),
    "resume-after": Setting("resume_after", parse_duration),
    "vacate-after": Setting("vacate_after", parse_duration),
    "max-load": Setting("max_load", parse_max_load),
    "on-battery": Setting("on_battery", parse_on_battery),
    "max-cores": Setting("max_cores", parse_max_cores),
    "max-memory": Setting("max_memory", parse_size),
    "priority": Setting("priority", parse_priority),
    "idle-source": Setting("idle_source", parse_idle_source),
}


def build_policy(values: Mapping[str, object], where: Callable[[str], str]) -> Policy:
    """A policy from settings by key (dashed, as in the file), defaults for the rest;
    `where(key)` names where a key was written, for messages."""
    fields: dict[str, object] = {}
    written: list[tuple[str, str]] = []
    for key, value in values.items():
        setting = SETTINGS.get(key)
        if setting is None:
            close = difflib.get_close_matches(key.replace("_", "-"), SETTINGS, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise PolicyError(
                f"{where(key)}: unknown setting {key!r}{hint}; the settings are "
                + ", ".join(SETTINGS)
            )
        try:
            fields[setting.field] = setting.parse(value)
        except ValueError as error:
            place = where(key)
            named = place if place.startswith("--") else f"{place}: {key}"
            raise PolicyError(f"{named}: {error}") from None
        if key != "hours":
            written.append((key, value if isinstance(value, str) else f"{value}"))
    return Policy(**fields, written=tuple(written))  # type: ignore[arg-type]


def read_policy_file(path: Path) -> tuple[dict[str, object], str]:
    """The settings in a policy file, by key as TOML gives them, and the file's text."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise PolicyError(f"cannot read the policy file {path}: {error}") from None
    try:
        return tomllib.loads(text), text
    except tomllib.TOMLDecodeError as error:
        raise PolicyError(f"{path}: not a TOML file: {error}") from None


def key_line(text: str, key: str) -> int | None:
    """The line (from 1) on which a top-level key is set in TOML text (or its table begins)."""
    name = rf"""(?:{re.escape(key)}|"{re.escape(key)}"|'{re.escape(key)}')"""
    setting = re.compile(rf"^\s*{name}\s*[=.]")
    table = re.compile(rf"^\s*\[\[?\s*{name}\s*[\].]")
    in_table = False
    for number, line in enumerate(text.splitlines(), start=1):
        if table.match(line):
            return number
        in_table = in_table or line.lstrip().startswith("[")
        if not in_table and setting.match(line):
            return number
    return None


def load_policy(file: str | None, flags: Mapping[str, object]) -> Policy | None:
    """The policy of `wit node --policy FILE` and its flags (those not None); None with neither.

    FILE is a TOML file, or `office` for every setting at its default; flags override it."""
    values: dict[str, object] = {}
    text = ""
    if file is not None and file != BUILT_IN:
        path = Path(file).expanduser()
        values, text = read_policy_file(path)
        source = values.get("idle-source")
        if isinstance(source, str) and source.startswith("file:"):
            # A file named in a policy file is found beside it, as in most configuration files.
            named = Path(source.removeprefix("file:")).expanduser()
            values["idle-source"] = f"file:{path.parent / named}" if source[5:] else source
    file_keys = set(values)
    given = {key: value for key, value in flags.items() if value is not None and value != []}
    if file is None and not given:
        return None
    values.update(given)

    def where(key: str) -> str:
        if key in given or key not in file_keys:
            return f"--{key}"
        line = key_line(text, key)
        return f"{file}, line {line}" if line else f"{file}"

    return build_policy(values, where)
