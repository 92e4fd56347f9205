"""Cheating nodes, for the fault suite and the untrusted farm's bench: a real `wit node` whose
results are altered before they are sent, where a modified node would alter them.

    python -m witengine.testing.cheaters MODE SEED node --hub URL ...   (the node's arguments)

The launcher patches the node agent and runs the `wit` command as it is: the hub sees an
ordinary node, enrolled and connected as any other. Each mode is what some cheater would do:

- `random`: every result a random value of the right kind (a broken machine, or a lazy one).
- `copy`: returns, for each item, the result of the item it computed before (credit for work it
  never did); its very first result is right, having nothing to copy.
- `mostly`: right but for one result in twenty, at random (a flaky GPU, an overclocked CPU).
- `spotwise`: right wherever it guesses it is being checked, wrong everywhere else, once it
  expects to be trusted: honest for its first `HONEST_FOR` results (the hub's docs say a node is
  reliable after 10 agreeing ones), then wrong on fresh items only. It takes for a check what
  spot checks and replicas look like from a node: an item already tried (an attempt above 1: a
  replica is a retried item), or an item apart from the rest of its batch's run of indices
  (where the hub hides a spot check: an item verified before, inserted among the others).
- `lookalike`: the other way about: wrong only on what `spotwise` takes for a check (a retried
  item, or one apart from its batch's run), right everywhere else, from its first result (a
  modified plugin that errs on items computed before, say).
- `collude`: a wrong value derived from the right one only, so that every node of the owner
  returns the same wrong answer for an item (two nodes of one owner backing each other).
- `honest`: alters nothing: the honest nodes of a bench, launched the same way so that they
  count their answers alike.

With `WIT_ANSWERS=PATH` in its environment, a node started here also writes a line for each
result it sends, `TIME MAP INDEX ATTEMPT`, for a bench to count the answers each item took.

Results are altered only when they succeeded; failures go as they are. For `Image`-like
results (a render's file), the file itself is altered before it is uploaded: `black` (every
pixel black) and `shifted` (the frame moved right by one pixel) are the render modes. Every
choice comes from `random.Random(SEED)`, so a run repeats.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import random
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from witengine.protocol import Assign, TaskResult

MODES = (
    "random",
    "copy",
    "mostly",
    "spotwise",
    "lookalike",
    "collude",
    "honest",
    "black",
    "shifted",
)
RENDER_MODES = ("black", "shifted")
HONEST_FOR = 12  # results a spotwise cheater returns right before it starts cheating
MOSTLY_WRONG = 0.05  # the share of a `mostly` cheater's results that are wrong

Json = Any
log = logging.getLogger(__name__)


class Cheat:
    """What a cheater of `mode` sends in place of each result: pure, seeded."""

    def __init__(self, mode: str, seed: int) -> None:
        if mode not in MODES:
            raise ValueError(f"no cheater mode {mode!r}: one of {', '.join(MODES)}")
        self.mode = mode
        self.random = random.Random(seed)
        self.sent = 0  # results sent so far
        self.previous: dict[str, Json] = {}  # activity -> the last right value it computed

    def results(self, assign: Assign, results: Sequence[TaskResult]) -> list[TaskResult]:
        """The batch's results as this cheater sends them."""
        checks = looks_checked(assign)
        altered = []
        for result in results:
            if result.ok and self.mode not in RENDER_MODES:
                value = self.value(assign.activity, result, (result.map_id, result.index) in checks)
                if value != result.value:  # in its own log only: the hub sees an ordinary node
                    log.info(
                        "cheating (%s) on item %s of %s", self.mode, result.index, result.map_id
                    )
                result = result._replace(value=value)
            altered.append(result)
            self.sent += 1
        return altered

    def value(self, activity: str, result: TaskResult, checked: bool) -> Json:
        right = result.value
        mode = self.mode
        if mode == "random":
            return scrambled(right, self.random)
        if mode == "copy":
            copied = self.previous.get(activity, right)
            self.previous[activity] = right
            return copied
        if mode == "mostly":
            wrong = self.random.random() < MOSTLY_WRONG
            return scrambled(right, self.random) if wrong else right
        if mode == "spotwise":
            return right if checked or self.sent < HONEST_FOR else scrambled(right, self.random)
        if mode == "lookalike":
            return scrambled(right, self.random) if checked else right
        if mode == "collude":
            return derived(right)
        return right

    def picture(self, data: bytes) -> bytes:
        """A render's image file as this cheater sends it (PNG)."""
        from PIL import Image, ImageChops

        with Image.open(io.BytesIO(data)) as opened:
            frame = opened.copy()
        if self.mode == "black":
            frame = Image.new(frame.mode, frame.size)
        else:
            frame = ImageChops.offset(frame, 1, 0)
        out = io.BytesIO()
        frame.save(out, "PNG")
        return out.getvalue()


def looks_checked(assign: Assign) -> set[tuple[str, int]]:
    """The items of a batch a cheater would take for checks: retried ones (attempt above 1), and
    those apart from the batch's longest run of consecutive indices."""
    indices = sorted(task.index for task in assign.tasks)
    best: list[int] = []
    run: list[int] = []
    for index in indices:
        run = [*run, index] if run and index == run[-1] + 1 else [index]
        if len(run) > len(best):
            best = run
    if len(indices) < 3:
        best = []  # one or two items: no run to stand apart from
    in_run = set(best)
    return {
        (task.map_id, task.index)
        for task in assign.tasks
        if task.attempt > 1 or (in_run and task.index not in in_run)
    }


def scrambled(value: Json, rng: random.Random) -> Json:
    """A random value of the same kind, never equal to `value`."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + rng.randint(1, 1_000_000)
    if isinstance(value, float):
        return value + rng.uniform(0.5, 1000.0)
    if isinstance(value, str):
        text = value
        while text == value:
            text = "".join(rng.choice("0123456789abcdef") for _ in range(max(len(value), 8)))
        return text
    if isinstance(value, list):
        return [scrambled(item, rng) for item in value] or [0]
    return {"garbage": rng.random()}


def derived(value: Json) -> Json:
    """A wrong value computed from the right one alone: the same at every colluding node."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float):
        return value + 1.0
    if isinstance(value, str):
        return hashlib.sha256(f"collude:{value}".encode()).hexdigest()[: max(len(value), 8)]
    if isinstance(value, list):
        return [derived(item) for item in value] or [0]
    return {"colluded": True}


def swap_files(value: Json, swapped: Callable[[dict[str, Any]], tuple[str, int] | None]) -> Json:
    """The JSON value with each file reference ({"sha256": ..., "size": ...}) that `swapped`
    names another file for replaced by it."""
    if isinstance(value, list):
        return [swap_files(item, swapped) for item in value]
    if not isinstance(value, dict):
        return value
    if isinstance(value.get("sha256"), str) and (other := swapped(value)) is not None:
        return {**value, "sha256": other[0], "size": other[1]}
    return {key: swap_files(item, swapped) for key, item in value.items()}


def patch(cheat: Cheat, answers: str | None = None) -> None:
    """Alter the node agent's results before they are sent, as `cheat` says; with `answers`, a
    file, note each result sent there."""
    from witengine.node import agent, batch_files

    deliver = agent.Agent._deliver
    upload = batch_files.upload_outputs

    def cheating_deliver(self: agent.Agent, batch: Any, *results: TaskResult) -> None:
        sent = cheat.results(batch.assign, results)
        if answers is not None:
            now = time.time()
            lines = [f"{now:.4f} {r.map_id} {r.index} {r.attempt}\n" for r in sent if r.ok]
            with open(answers, "a") as ledger:  # noqa: PTH123
                ledger.writelines(lines)
        deliver(self, batch, *sent)

    async def cheating_upload(
        library: Any, cache: Any, files: Any, activity: str, result: TaskResult
    ) -> TaskResult:
        if cheat.mode in RENDER_MODES and result.ok:
            log.info("cheating (%s) on item %s of %s", cheat.mode, result.index, result.map_id)
            result = result._replace(value=_altered_files(cheat, cache, result.value))
        return await upload(library, cache, files, activity, result)

    agent.Agent._deliver = cheating_deliver  # type: ignore[method-assign]
    agent.upload_outputs = cheating_upload  # type: ignore[attr-defined]  # as agent names it


def _altered_files(cheat: Cheat, cache: Any, value: Json) -> Json:
    from witengine.runtime.blobs import Blob

    def swapped(reference: dict[str, Any]) -> tuple[str, int] | None:
        try:
            path = cache.store.path(Blob(reference["sha256"], int(reference.get("size", 0))))
            data = cheat.picture(path.read_bytes())
        except (OSError, ValueError):
            return None  # not an image of this node's: left as it is
        blob: Blob = cache.store.put_bytes(data)
        return blob.sha256, blob.size

    return swap_files(value, swapped)


def main(argv: Sequence[str]) -> None:
    if len(argv) < 3:
        raise SystemExit("usage: python -m witengine.testing.cheaters MODE SEED node ...")
    mode, seed, *rest = argv
    patch(Cheat(mode, int(seed)), os.environ.get("WIT_ANSWERS") or None)
    sys.argv = ["wit", *rest]
    from witengine.cli.entry import main as wit

    wit()


if __name__ == "__main__":
    main(sys.argv[1:])
