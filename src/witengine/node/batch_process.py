"""The child process a node runs batches in: `python -m witengine.node.batch_process`.

Reads one batch per line (JSON) on stdin and writes one result per line on stdout the moment
each item finishes (a `TaskResult` as its JSON array), then a line saying the batch is done
(`{"done": batch_id}`). Each line goes out whole at once, so a crash loses no result finished
before it and the agent knows which item was running; the agent reads whatever lines have
arrived in one go. It loads the plugins once and runs batches one after another until stdin
closes. A crash here costs the agent one batch, never itself.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any

from witengine.clock import SystemClock
from witengine.jsontext import compact
from witengine.lifetime import collect_garbage_rarely
from witengine.plugins.registry import library_from_refs
from witengine.runtime.blobs import LocalBlobStore
from witengine.runtime.context import ActivityContext
from witengine.runtime.invoke import invoke_batch_json


class _Channel:
    """The pipe to the agent: stdout as it was when the process started. Everything else that
    writes to stdout (an activity that prints, a program it runs) goes to stderr instead, so it
    can never break a result line."""

    out = 1  # its file descriptor

    @classmethod
    def claim(cls) -> None:
        sys.stdout.flush()
        cls.out = os.dup(1)
        os.dup2(2, 1)


def _write(data: Any) -> None:
    """One line, written whole before the next item starts (no buffer a crash could lose)."""
    line = memoryview(compact(data).encode() + b"\n")
    while line:
        line = line[os.write(_Channel.out, line) :]


def _text(message: str) -> str:
    """An error message as text the agent and hub accept (no lone surrogate)."""
    return message.encode("utf-8", "backslashreplace").decode("utf-8")


def serve(
    plugin_refs: list[str],
    blob_root: Path,
    threads: int | None = None,
    speed: float = 1.0,
    scratch_root: Path | None = None,
) -> None:
    library = library_from_refs(plugin_refs)
    collect_garbage_rarely()
    clock = SystemClock()
    if scratch_root is not None:
        scratch_root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="wit-node-work-", dir=scratch_root) as scratch:
        context = ActivityContext(
            LocalBlobStore(blob_root), Path(scratch), speed=speed, threads=threads
        )
        for line in sys.stdin:
            batch = json.loads(line)
            tasks = batch["tasks"]  # TaskSpec arrays: [map_id, index, attempt, args]
            args = [task[3] for task in tasks]
            # An item's seconds run from the previous item's end: in a batch done at once (one
            # Blender process for many frames) the first item also bears the start-up.
            started = clock.now()
            for position, ok, value in invoke_batch_json(library, batch["activity"], args, context):
                map_id, index, attempt, _ = tasks[position]
                finished = clock.now()
                seconds, started = finished - started, finished
                # What the item printed goes out before its result: the node's page shows it with
                # its batch (sys.stdout, now stderr's pipe, is buffered when not a terminal).
                sys.stdout.flush()
                if ok:  # a TaskResult array: map_id, index, attempt, ok, value, error, seconds
                    _write([map_id, index, attempt, True, value, None, seconds])
                else:
                    _write([map_id, index, attempt, False, None, _text(value), seconds])
            sys.stdout.flush()
            sys.stderr.flush()
            _write({"done": batch["batch_id"]})


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m witengine.node.batch_process")
    parser.add_argument("--plugins", default="", help="comma-separated module:attribute refs")
    parser.add_argument("--blobs", required=True, type=Path)
    parser.add_argument("--threads", type=int, default=None, help="cores one item may use")
    parser.add_argument("--speed", type=float, default=1.0, help="synthetic speed (Compute.Work)")
    parser.add_argument(
        "--scratch", type=Path, default=None, help="the folder to make work folders in"
    )
    parser.add_argument(
        "--path", action="append", default=[], help="a folder to import plugins from (repeatable)"
    )
    options = parser.parse_args()
    sys.path.extend(options.path)  # after the node's own packages: a bundle never shadows them
    refs = [r for r in options.plugins.split(",") if r]
    _Channel.claim()
    # Its agent gone (the batch process is told by SIGTERM) or stopping it: the programs it started
    # stop and its scratch folder goes, as at the end of its input.
    signal.signal(signal.SIGTERM, _stop)
    serve(refs, options.blobs, options.threads, options.speed, options.scratch)


def _stop(number: int, _frame: object) -> None:
    raise SystemExit(128 + number)


if __name__ == "__main__":
    main()
