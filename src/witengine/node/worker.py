"""The child process a node runs batches in: `python -m witengine.node.worker`.

Reads one batch per line (JSON) on stdin and writes one result per line on stdout as each item
finishes, then a line saying the batch is done. It loads the plugins once and runs batches one
after another until stdin closes. A crash here costs the agent one batch, never itself.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from witengine.clock import SystemClock
from witengine.errors import ActivityError
from witengine.plugins.registry import library_from_refs
from witengine.runtime.blobs import LocalBlobStore
from witengine.runtime.invoke import ActivityContext, invoke_json


def _write(data: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(data, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def serve(plugin_refs: list[str], blob_root: Path) -> None:
    library = library_from_refs(plugin_refs)
    clock = SystemClock()
    with tempfile.TemporaryDirectory(prefix="wit-node-work-") as scratch:
        context = ActivityContext(LocalBlobStore(blob_root), Path(scratch))
        for line in sys.stdin:
            batch = json.loads(line)
            for task in batch["tasks"]:
                started = clock.now()
                result: dict[str, Any] = {
                    "map_id": task["map_id"],
                    "index": task["index"],
                    "attempt": task["attempt"],
                }
                try:
                    value = invoke_json(library, batch["activity"], task["args"], context)
                    result.update(ok=True, value=value)
                except ActivityError as error:
                    result.update(ok=False, error=str(error))
                result["seconds"] = clock.now() - started
                _write({"result": result})
            _write({"done": batch["batch_id"]})


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m witengine.node.worker")
    parser.add_argument("--plugins", default="", help="comma-separated module:attribute refs")
    parser.add_argument("--blobs", required=True, type=Path)
    options = parser.parse_args()
    refs = [r for r in options.plugins.split(",") if r]
    serve(refs, options.blobs)


if __name__ == "__main__":
    main()
