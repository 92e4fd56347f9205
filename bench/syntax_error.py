"""How fast a syntax error in the middle of a 50-line script is reported (goal: under 200 ms).

Two figures: the language alone (parse, fail, render the report, in this process, warm) and the
whole `wit check bad.wit` command as a user runs it (a fresh Python process: imports, plugins,
parse, report). Each is the median of several runs; the report is checked to name line 26.

    .venv/bin/python bench/syntax_error.py [--repeat 7]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from witengine.lang.errors import ScriptError
from witengine.lang.parser import parse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "unit" / "lang"))
from test_syntax_errors import fifty_line_script  # noqa: E402

GOAL_MS = 200.0


def in_process(source: str) -> tuple[float, str]:
    started = time.perf_counter()
    try:
        parse(source, "bad.wit")
    except ScriptError as error:
        report = error.render()
    else:
        raise SystemExit("the script parsed: it was meant to hold a syntax error")
    return (time.perf_counter() - started) * 1000, report


def whole_command(path: Path) -> tuple[float, str]:
    wit = Path(sys.executable).parent / "wit"
    started = time.perf_counter()
    done = subprocess.run([str(wit), "check", str(path)], capture_output=True, text=True)
    elapsed = (time.perf_counter() - started) * 1000
    if done.returncode != 2:
        raise SystemExit(f"wit check exited {done.returncode}, not 2:\n{done.stderr}")
    return elapsed, done.stdout + done.stderr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()

    source = "\n".join(fifty_line_script()) + "\n"
    in_process(source)  # the first parse builds the grammar's tables; users pay it in the command
    warm = [in_process(source) for _ in range(args.repeat)]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bad.wit"
        path.write_text(source)
        command = [whole_command(path) for _ in range(args.repeat)]

    for _, report in warm + command:
        if ":26:" not in report:
            raise SystemExit(f"the report does not name line 26:\n{report}")
    print(command[0][1].strip())
    print()
    warm_ms = statistics.median(ms for ms, _ in warm)
    command_ms = statistics.median(ms for ms, _ in command)
    print(f"parse + report, in process (median of {args.repeat}): {warm_ms:7.1f} ms")
    print(f"`wit check bad.wit`, whole command (median):         {command_ms:7.1f} ms")
    print(f"goal {GOAL_MS:.0f} ms: in process {GOAL_MS / warm_ms:.0f}x under; ", end="")
    verdict = "under" if command_ms < GOAL_MS else "OVER"
    print(f"whole command {verdict} ({command_ms / GOAL_MS:.2f} of the goal)")


if __name__ == "__main__":
    main()
