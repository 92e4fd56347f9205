"""The `wit` command's exit codes, one table for every command (docs/cli.md lists them)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from witengine.protocol.states import JobStatus

EXIT_OK = 0
EXIT_FAILED = 1  # the job failed, or the command could not do what it was asked
EXIT_USAGE = 2  # a script with errors, or options that do not go together
EXIT_CANCELLED = 130  # the job was cancelled (Ctrl-C's code, as a shell reports it)
EXIT_TERMINATED = 143  # SIGTERM's, as a shell reports it (128 + 15)


def job_exit(status: JobStatus) -> int:
    """How a command that waited for a job exits: 0 completed, 130 cancelled, 1 otherwise."""
    return {"completed": EXIT_OK, "cancelled": EXIT_CANCELLED}.get(status, EXIT_FAILED)


def usage(command: str, message: str) -> typer.Exit:
    """Say `wit COMMAND: MESSAGE` on stderr; the exit (2: bad input) for the caller to raise."""
    print(f"wit {command}: {message}", file=sys.stderr)
    return typer.Exit(EXIT_USAGE)
