"""How fast the language refuses a deep script, and checks a long one, at a hub's largest size.

For every form of nesting (tests' `DEEP_FORMS`), a script as deep as `--size` characters allow:
the time `parse` takes to refuse it (the look at its text before parsing; goal: under 100 ms).
For every long flat form (`LONG_FORMS`): the time of that look alone, and of the whole parse and
check, which a hub does in a thread. Each figure is the median of `--repeat` runs.

    .venv/bin/python bench/parse_limits.py [--size 1000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from witengine.lang.checker import check_source
from witengine.lang.errors import ScriptError
from witengine.lang.nesting import too_deep
from witengine.plugins import compute
from witengine.plugins.registry import build_library
from witengine.testing.scripts import DEEP_FORMS, LONG_FORMS, deep_script, long_script

GOAL_MS = 100.0
LIBRARY = build_library([compute.plugin])


def median_ms(work: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def verdict(source: str) -> str:
    try:
        check_source(source, LIBRARY, "bench.wit")
    except ScriptError as error:
        return f"{len(error.diagnostics):,} error(s): {error.diagnostics[0].message[:48]}"
    return "checked"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    verdict("Job:Warm()\n{\n}\n")  # the first parse builds the grammar's tables
    print(f"deep scripts of {args.size:,} characters, refused (median of {args.repeat}):")
    worst = 0.0
    for form in sorted(DEEP_FORMS):
        source = deep_script(form, args.size)
        took = median_ms(lambda source=source: verdict(source), args.repeat)  # type: ignore[misc]
        worst = max(worst, took)
        print(f"  {form:22} {took:9.2f} ms  {verdict(source)}")
    print(f"goal {GOAL_MS:.0f} ms: worst {worst:.2f} ms, {'met' if worst < GOAL_MS else 'MISSED'}")
    print(f"long flat scripts of {args.size:,} characters: the look, and the parse and check:")
    for form in sorted(LONG_FORMS):
        source = long_script(form, args.size)
        look = median_ms(lambda source=source: too_deep(source), args.repeat)  # type: ignore[misc]
        whole = median_ms(lambda source=source: verdict(source), 1)  # type: ignore[misc]
        print(f"  {form:26} {look:9.1f} ms {whole / 1000:8.2f} s  {verdict(source)}")


if __name__ == "__main__":
    main()
