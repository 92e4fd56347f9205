"""How large a request, a job, a node's message and a map may be on one hub.

`Limits` is part of the hub's settings; `check_submission` measures a submitted job against it
before anything is stored, so a job over a limit is refused whole (413, naming the limit, the
value and what is allowed) and leaves nothing behind. Blob uploads have their own limit,
`HubSettings.max_blob_bytes`, checked while the bytes stream in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from witengine.errors import LimitExceeded
from witengine.protocol import MAX_INT64, BlobRef, SubmitJob
from witengine.runtime.budget import JobLimits

MiB = 1024**2


@dataclass(frozen=True)
class Limits:
    request_bytes: int = 16 * MiB  # one HTTP request body, blob uploads excepted
    script_chars: int = 1_000_000  # one job's script
    parameters: int = 256  # parameters and files of one job
    parameter_chars: int = 1_000_000  # one parameter's text
    files_per_parameter: int = 100_000  # blobs given for one collection parameter
    file_name_chars: int = 255  # a file's name, and a job's file name
    node_message_bytes: int = 64 * MiB  # one WebSocket message between hub and node
    map_items: int = 1_000_000  # items of one Grid.ForEach run on the hub's nodes
    # What one job's script may spend of the hub while it runs (`runtime.budget`):
    job_steps: int = 100_000_000  # statements run
    job_seconds: int = 600  # the hub's time its statements take; waiting on nodes is not counted
    value_bytes: int = 32 * MiB  # one value (a text, a collection), as JSON
    job_stored_bytes: int = 128 * MiB  # events, a map's items and variables kept for the job
    # The blackboard (`hub.board`):
    board_key_chars: int = 200  # one key's name
    board_value_bytes: int = 64 * 1024  # one key's value, as compact JSON in UTF-8
    board_history: int = 100  # versions kept per key (the older are dropped)
    board_keys: int = 10_000  # keys held, deleted ones counted until a new key takes their place

    def for_jobs(self) -> JobLimits:
        """What the interpreter holds each job's script to."""
        return JobLimits(
            steps=self.job_steps,
            seconds=self.job_seconds,
            value_bytes=self.value_bytes,
            stored_bytes=self.job_stored_bytes,
        )


def exceeded(limit: str, what: str, value: int, allowed: int, unit: str = "") -> LimitExceeded:
    """The error for `what` being `value` where `limits.<limit>` allows `allowed`."""
    unit = f" {unit}" if unit else ""
    return LimitExceeded(
        f"{what} is {value:,}{unit}, over the hub's limit limits.{limit} = {allowed:,}{unit}"
    )


def check_submission(job: SubmitJob, limits: Limits) -> None:
    """Raise LimitExceeded for the first limit the job goes over."""
    if len(job.script) > limits.script_chars:
        raise exceeded(
            "script_chars", "the script", len(job.script), limits.script_chars, "characters"
        )
    _name("the job's file name", job.filename, limits)
    count = len(job.parameters) + len(job.files.keys() - job.parameters.keys())
    if count > limits.parameters:
        raise exceeded("parameters", "the number of parameters", count, limits.parameters)
    for name, text in job.parameters.items():
        _name(f"the name of parameter {name[:80]!r}…", name, limits)
        if len(text) > limits.parameter_chars:
            raise exceeded(
                "parameter_chars",
                f"parameter {name!r}",
                len(text),
                limits.parameter_chars,
                "characters",
            )
    for name, refs in job.files.items():
        _name(f"the name of parameter {name[:80]!r}…", name, limits)
        many: list[BlobRef] = refs if isinstance(refs, list) else [refs]
        if len(many) > limits.files_per_parameter:
            raise exceeded(
                "files_per_parameter",
                f"the number of files of parameter {name!r}",
                len(many),
                limits.files_per_parameter,
            )
        for ref in many:
            if ref.name:
                _name(f"a file name of parameter {name!r}", ref.name, limits)


def _name(what: str, name: str, limits: Limits) -> None:
    if len(name) > limits.file_name_chars:
        raise exceeded("file_name_chars", what, len(name), limits.file_name_chars, "characters")


_UNITS = {"": 1, "k": 1000, "m": 1000**2, "g": 1000**3, "t": 1000**4}
_UNITS |= {"kib": 1024, "mib": 1024**2, "gib": 1024**3, "tib": 1024**4}
_UNITS |= {"kb": 1000, "mb": 1000**2, "gb": 1000**3, "tb": 1000**4}
_AMOUNT = re.compile(r"\s*(\d+)\s*([A-Za-z]*)\s*")
BLOB_LIMIT = "max_blob_bytes"  # one uploaded file: the hub's settings, not `Limits`


def limit_names() -> list[str]:
    """What `wit hub --limit NAME=VALUE` can set."""
    return [*Limits.__dataclass_fields__, BLOB_LIMIT]


def parse_limit(text: str) -> tuple[str, int]:
    """`NAME=VALUE` of `wit hub --limit` (`script_chars=2000000`, `max_blob_bytes=200GiB`);
    ValueError saying what is wrong."""
    name, sep, value = text.partition("=")
    name = name.strip()
    if not sep:
        raise ValueError(f"{text!r} is not NAME=VALUE")
    if name not in limit_names():
        raise ValueError(f"there is no limit {name!r}; the limits are {', '.join(limit_names())}")
    found = _AMOUNT.fullmatch(value.replace("_", "").replace(",", ""))
    digits, unit = (found[1], found[2].lower()) if found else ("", "")
    if not digits or unit not in _UNITS or (unit and not name.endswith("_bytes")):
        sizes = " (or with a unit: 64MiB, 2GB)" if name.endswith("_bytes") else ""
        raise ValueError(f"{name} must be a whole number{sizes}, not {value.strip()!r}")
    amount = int(digits) * _UNITS[unit]
    if not 1 <= amount <= MAX_INT64:
        raise ValueError(f"{name} must be from 1 to {MAX_INT64:,}, not {amount:,}")
    return name, amount


def with_limits(limits: Limits, max_blob_bytes: int, texts: list[str]) -> tuple[Limits, int]:
    """`limits` and `max_blob_bytes` with each `NAME=VALUE` of `texts` applied, in order."""
    changes: dict[str, int] = {}
    for text in texts:
        name, amount = parse_limit(text)
        if name == BLOB_LIMIT:
            max_blob_bytes = amount
        else:
            changes[name] = amount
    return replace(limits, **changes), max_blob_bytes
