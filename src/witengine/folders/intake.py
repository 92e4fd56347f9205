"""Which files of a watched folder are ready to be taken: complete, and not temporary.

Pure: the shell lists the folder (name, size, modification time) and passes the time; this
module never reads the disk or the clock. A file is complete once its size and modification time
have stayed the same for the settle time: a file still being copied or synced keeps changing.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass

DEFAULT_SETTLE_SECONDS = 2.0
# Syncthing's files being received, editors' backups and lock files: never job files.
IGNORED_PATTERNS = ("*.syncthing.*.tmp", "~syncthing~*.tmp", "*~", ".#*", "*.swp", "#*#")
PARAMS_SUFFIX = ".params"  # NAME.params beside NAME.wit: its parameters, not a job of its own


@dataclass(frozen=True)
class Stat:
    """What the folder's listing says of one file."""

    size: int
    mtime_ns: int


@dataclass(frozen=True)
class Sighting:
    """A file as last seen, and since when it has looked so."""

    stat: Stat
    since: float


def ignored(name: str) -> bool:
    """A hidden file, or one a sync tool or an editor writes while it works."""
    return name.startswith(".") or any(fnmatch.fnmatchcase(name, p) for p in IGNORED_PATTERNS)


def settle(
    seen: Mapping[str, Sighting],
    listing: Mapping[str, Stat],
    now: float,
    settle_seconds: float = DEFAULT_SETTLE_SECONDS,
) -> tuple[dict[str, Sighting], list[str]]:
    """The sightings after this listing, and the names complete now: unchanged (size and
    modification time) for `settle_seconds`, in name order. Ignored names are left out."""
    sightings: dict[str, Sighting] = {}
    for name, stat in listing.items():
        if ignored(name):
            continue
        before = seen.get(name)
        sightings[name] = (
            before if before is not None and before.stat == stat else Sighting(stat, now)
        )
    complete = sorted(n for n, s in sightings.items() if now - s.since >= settle_seconds)
    return sightings, complete


def job_files(
    complete: list[str], present: Mapping[str, object], extensions: frozenset[str]
) -> list[str]:
    """Of the complete names, the job files: an extension a rule knows (`.wit`), and no
    NAME.params beside it still arriving (a job is not taken before its parameters)."""
    ready = set(complete)
    found = []
    for name in complete:
        if extension_of(name) not in extensions:
            continue
        params = params_name(name)
        if params in present and params not in ready:
            continue
        found.append(name)
    return found


def extension_of(name: str) -> str:
    """`.wit` for `shot.WIT`; "" for a name without a stem and an extension."""
    stem, dot, extension = name.rpartition(".")
    return f".{extension.lower()}" if dot and stem else ""


def stem_of(name: str) -> str:
    """NAME of NAME.EXT."""
    return name.rpartition(".")[0] if extension_of(name) else name


def params_name(name: str) -> str:
    """NAME.params for NAME.EXT."""
    return name.rpartition(".")[0] + PARAMS_SUFFIX


def parse_params(text: str) -> list[str]:
    """The `name=value` lines of a .params file: blank lines and `#` comments left out, each
    line's ends trimmed (a value keeps its inner spaces)."""
    lines = [line.strip() for line in text.splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def free_name(taken: set[str], name: str) -> str:
    """`name`, or `name.2`, `name.3` … : the first not in `taken` (a folder of done/ or
    failed/ is never overwritten)."""
    if name not in taken:
        return name
    number = 2
    while f"{name}.{number}" in taken:
        number += 1
    return f"{name}.{number}"
