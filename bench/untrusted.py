"""What verifying untrusted nodes costs, and whether a cheater gets through: E, the share of work
replicated, wrong results committed, on a real farm of volunteers with one cheater.

A real hub and, in an untrusted pool, 5 honest nodes of 5 owners at speeds 1/16, 1/8, 1/4, 1/4
and 1/2, and one cheater of a sixth owner at speed 1/4: a real `wit node` whose results are
altered before they are sent (`witengine.testing.cheaters`; by default `mostly`, right 19 times
in 20, seed 4, whose first wrong result is its 48th: late enough to be trusted by then). All
real processes on loopback; `Compute.Work` is paced by the wall clock (`--pace`, see the compute
plugin), so each node's true rate is its speed x pace, exactly. Nodes report exact benchmarks.
One job of N items of varied units, allowed on the pool, runs with the hub's verification as it
ships (a new node's every result replicated; a node reliable after 10 results that agreed, then
a share of 10 % down to 2 %; spot checks in 5 % of batches).

Every node notes each result it sends (`WIT_ANSWERS`), so each item's answers are counted:
- replicated share: the units of answers beyond an item's first, over the job's units; over the
  job, over its first tenth and its second half (items in the order of their first answer);
- E = bound / makespan, where the bound is the work that really had to be done at the honest
  nodes' true rates: each item's units once if accepted unchecked, twice if verified (a quorum is
  two answers), and nothing of the cheater's (its work is worth nothing, its capacity too);
- wrong results committed: results that differ from the item's own units (Compute.Work returns
  them), which must be 0;
- whether the cheater was caught: its reputation, as the hub's API gives it.

    .venv/bin/python bench/untrusted.py [--items 2000] [--seconds 60] [--cheat mostly] [--seed 4]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from witengine.testing.processes import ProcessFarm, free_port, wait_until

HONEST = {"ada": 0.0625, "bob": 0.125, "cyd": 0.25, "dee": 0.25, "eli": 0.5}  # owner: speed
CHEATER, CHEATER_SPEED = "mal", 0.25
POOL = "volunteers"
ACTIVITY = "Compute.Work"
SCRIPT = """\
Job:Volunteers(DoubleCollection:units)
{
    DoubleCollection:done = Grid.ForEach(u in units) => Compute.Work(u);
}
"""


@dataclass
class Answers:
    """Who answered each item, in the order the answers were sent."""

    by_item: dict[int, list[tuple[float, str]]] = field(default_factory=dict)

    @classmethod
    def read(cls, folder: Path, names: list[str]) -> Answers:
        answers = cls()
        for name in names:
            path = folder / f"{name}.answers"
            lines = path.read_text().splitlines() if path.exists() else []
            for line in lines:
                sent, _map, index, _attempt = line.split()
                answers.by_item.setdefault(int(index), []).append((float(sent), name))
        for said in answers.by_item.values():
            said.sort()
        return answers

    def in_order(self) -> list[int]:
        """Items by the time of their first answer."""
        return sorted(self.by_item, key=lambda item: self.by_item[item][0][0])

    def replicated(self, items: list[int], units: list[float]) -> float:
        """The units of answers beyond each item's first, over the items' units."""
        extra = sum(units[i] * (len(self.by_item[i]) - 1) for i in items)
        return extra / max(sum(units[i] for i in items), 1e-9)

    def needed(self, units: list[float]) -> float:
        """The work that had to be done: each item once, or twice when honest nodes verified it."""
        honest = {i: sum(name != CHEATER for _, name in said) for i, said in self.by_item.items()}
        return sum(units[i] * min(max(honest.get(i, 1), 1), 2) for i in range(len(units)))

    def count(self, name: str | None = None) -> int:
        return sum(name is None or who == name for said in self.by_item.values() for _, who in said)


def items(count: int, mean: float, seed: int = 7) -> list[float]:
    """Varied units: log-uniform over 0.25x to 4x, scaled to the mean, rounded to 3 decimals."""
    rng = random.Random(seed)
    raw = [2 ** rng.uniform(-2, 2) for _ in range(count)]
    scale = mean * count / sum(raw)
    return [round(u * scale, 3) for u in raw]


def start(farm: ProcessFarm, cheat: str, seed: int, bench_seconds: float) -> None:
    """The hub, its untrusted pool, and the nodes, each joining it for its own owner."""
    farm.start_hub()
    added = farm.api("POST", "/pools", json={"name": POOL, "tier": "untrusted"})
    assert added.status_code == 201, added.text
    nodes = [(owner, speed, ("honest", 0)) for owner, speed in HONEST.items()]
    nodes.append((CHEATER, CHEATER_SPEED, (cheat, seed)))
    for owner, speed, mode in nodes:
        made = farm.api("POST", "/tokens", json={"role": "node", "pool": POOL, "owner": owner})
        assert made.status_code == 201, made.text
        farm.start_node(
            owner,
            *("--token", made.json()["token"], "--speed", str(speed)),
            *("--bench-seconds", str(bench_seconds), "--bench-error", "0"),
            env={"WIT_ANSWERS": str(farm.root / f"{owner}.answers")},
            cheat=mode,
        )

    def rated() -> bool:
        found = farm.api("GET", "/nodes").json()
        return sum(any(r["activity"] == ACTIVITY for r in n["rates"]) for n in found) == len(nodes)

    wait_until(rated, 120, "every node to report a Compute.Work rate")
    time.sleep(1.0)  # let the last benchmarks' reports settle


def run_job(farm: ProcessFarm, units: list[float], timeout: float) -> dict[str, Any]:
    text = "[" + ", ".join(repr(u) for u in units) + "]"
    answer = farm.api(
        "POST",
        "/jobs",
        json={"script": SCRIPT, "filename": "volunteers.wit", "parameters": {"units": text},
              "pools": [POOL]},
        timeout=60,
    )  # fmt: skip
    assert answer.status_code == 201, answer.text
    return farm.wait_done(str(answer.json()["id"]), timeout)


def reputation(farm: ProcessFarm, name: str) -> dict[str, Any]:
    node = next(n for n in farm.api("GET", "/nodes").json() if n["name"] == name)
    records = farm.api("GET", f"/nodes/{node['id']}/reputation").json()
    return next((r for r in records if r["activity"] == ACTIVITY), {"state": "new"})


@contextlib.contextmanager
def folder(keep: bool) -> Iterator[Path]:
    if keep:
        path = Path(tempfile.mkdtemp(prefix="wit-untrusted-"))
        print(f"logs in {path}", file=sys.stderr)
        yield path
    else:
        with tempfile.TemporaryDirectory(prefix="wit-untrusted-") as path:
            yield Path(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument(
        "--seconds", type=float, default=60.0, help="the job's work at the honest nodes' rates"
    )
    parser.add_argument("--cheat", default="mostly", help="the cheater's mode (testing.cheaters)")
    parser.add_argument("--seed", type=int, default=4, help="the cheater's seed")
    parser.add_argument(
        "--pace", type=float, default=200.0, help="Compute.Work's units/s at speed 1"
    )
    parser.add_argument("--bench-seconds", type=float, default=0.5)
    parser.add_argument("--keep", action="store_true", help="keep the hub's and nodes' logs")
    options = parser.parse_args()

    os.environ["WIT_WORK_PACE"] = repr(options.pace)  # the nodes inherit it
    rates = {owner: speed * options.pace for owner, speed in HONEST.items()}
    honest_rate = sum(rates.values())
    units = items(options.items, options.seconds * honest_rate / options.items)
    total = sum(units)
    with folder(options.keep) as path:
        farm = ProcessFarm(path, free_port())
        try:
            start(farm, options.cheat, options.seed, options.bench_seconds)
            job = run_job(farm, units, timeout=20 * options.seconds + 120)
            cheater = reputation(farm, CHEATER)
        finally:
            farm.stop()
        answers = Answers.read(path, [*HONEST, CHEATER])
    if job["status"] != "completed":
        raise SystemExit(f"the job {job['status']}: {job.get('error')}")
    done = job["variables"]["done"]
    wrong = sum(got != want for got, want in zip(done, units, strict=True))
    makespan = job["finished_at"] - job["started_at"]
    needed = answers.needed(units)
    bound = needed / honest_rate
    order = answers.in_order()
    half, tenth = order[len(order) // 2 :], order[: max(len(order) // 10, 1)]
    share, second = answers.replicated(order, units), answers.replicated(half, units)
    caught = cheater["state"] == "blocked"

    speeds = ", ".join(f"{s:g}" for s in HONEST.values())
    print(
        f"\nUntrusted farm: {len(HONEST)} honest nodes of {len(HONEST)} owners at speeds "
        f"{speeds}, and a cheater ({options.cheat}, seed {options.seed}) at speed "
        f"{CHEATER_SPEED:g}; {options.items} Compute.Work items, {total:.0f} units, paced at "
        f"{options.pace:g} units/s at speed 1 (the honest nodes: {honest_rate:g} units/s)"
    )
    print(
        f"  makespan {makespan:.1f} s; bound {bound:.1f} s (the work that had to be done, "
        f"{needed:.0f} units: each item once, twice when verified, at the honest nodes' rates); "
        f"E {bound / makespan:.3f}"
    )
    print(
        f"  answers: {answers.count():,} ({answers.count(CHEATER):,} from the cheater) for "
        f"{len(units):,} items; replicated share of the work: over the job "
        f"{share:.1%}, its first tenth {answers.replicated(tenth, units):.1%}, its second half "
        f"{second:.1%}"
    )
    print(
        f"  cheater: {cheater['state']}, results accepted {cheater.get('accepted', 0)}, "
        f"rejected {cheater.get('rejected', 0)}, spot checks failed "
        f"{cheater.get('spot_failed', 0)}: {'caught' if caught else 'NOT caught'}"
    )
    print(f"  wrong results committed: {wrong} (must be 0: {'met' if wrong == 0 else 'MISSED'})")
    print(
        f"goal: replicated share over the second half under 15 %: "
        f"{'met' if second < 0.15 else 'missed'} ({second:.1%})"
    )
    if wrong:
        raise SystemExit(f"{wrong} wrong result(s) committed")


if __name__ == "__main__":
    main()
