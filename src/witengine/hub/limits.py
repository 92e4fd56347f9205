"""How large a request, a job, a node's message and a map may be on one hub.

`Limits` is part of the hub's settings; `check_submission` measures a submitted job against it
before anything is stored, so a job over a limit is refused whole (413, naming the limit, the
value and what is allowed) and leaves nothing behind. Blob uploads have their own limit,
`HubSettings.max_blob_bytes`, checked while the bytes stream in.
"""

from __future__ import annotations

from dataclasses import dataclass

from witengine.errors import LimitExceeded
from witengine.protocol import BlobRef, SubmitJob

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
