"""Docs are executable: every script under examples/ is checked, and every one that needs only
the built-ins and the compute plugin runs on this machine's cores with small parameters and gives
the answer written below.

An example that needs a plugin this environment lacks (a render example without the render
plugin, say) is skipped with the reason; once its plugin is registered it is checked too. A new
example that could run but has no entry in RUNS fails, so that its answer gets written down.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from witengine import api
from witengine.lang import syntax
from witengine.lang.parser import parse
from witengine.plugins.registry import default_library
from witengine.runtime.builtins.variables import BUILTIN
from witengine.runtime.events import Event, JobStatus, TraceLogged
from witengine.runtime.library import Library
from witengine.settings import Settings

pytestmark = pytest.mark.timeout(60)

EXAMPLES_DIR = Path(__file__).resolve().parents[1] / "examples"
EXAMPLES = sorted(EXAMPLES_DIR.rglob("*.wit"))
RUNNABLE_PLUGINS = frozenset({BUILTIN, "compute"})


@dataclass(frozen=True)
class Expected:
    """Small parameters for one example, and what its run must give."""

    parameters: dict[str, str]
    variables: dict[str, Any] = field(default_factory=dict)
    traces: list[str] = field(default_factory=list)
    check: Callable[[api.JobResult], None] | None = None


def _primes_flags(result: api.JobResult) -> None:
    numbers, flags = result.variables["numbers"], result.variables["flags"]
    assert numbers == list(range(2, 2000))
    assert [n for n, prime in zip(numbers, flags, strict=True) if prime][:10] == [
        2,
        3,
        5,
        7,
        11,
        13,
        17,
        19,
        23,
        29,
    ]


RUNS: dict[str, Expected] = {
    "primes.wit": Expected(
        {"n": "2000"},
        variables={"count": 303},
        traces=["303 primes below 2000"],
        check=_primes_flags,
    ),
}


def example_id(path: Path) -> str:
    return str(path.relative_to(EXAMPLES_DIR))


@pytest.fixture(scope="module")
def library() -> Library:
    return default_library()


def calls_in(node: object) -> Iterator[str]:
    """The name of every call in a syntax tree: activities and constructors."""
    if isinstance(node, syntax.Call):
        yield node.name
    if isinstance(node, tuple):
        for item in node:
            yield from calls_in(item)
    elif dataclasses.is_dataclass(node) and not isinstance(node, type):
        for part in dataclasses.fields(node):
            yield from calls_in(getattr(node, part.name))


@dataclass(frozen=True)
class Needs:
    plugins: frozenset[str]  # registered plugins whose activities the example calls
    missing: frozenset[str]  # modules no registered plugin provides


def needs(path: Path, library: Library) -> Needs:
    """Which plugins an example calls, and which activity modules nothing here provides.

    A call to an unknown activity of a module some plugin does provide is a mistake in the
    example, not a missing plugin: the checker reports it.
    """
    job = parse(path.read_text("utf-8"), str(path))
    plugins: set[str] = set()
    missing: set[str] = set()
    modules = {name.rpartition(".")[0] for name in library.activity_names()}
    for name in calls_in(job):
        found = library.activities.get(name)
        if found is not None:
            plugins.add(found.plugin)
        elif name not in library.types and "." in name:
            module = name.rpartition(".")[0]
            if module not in modules and module not in library.types:
                missing.add(module)
    return Needs(frozenset(plugins), frozenset(missing))


def skip_unless_registered(path: Path, library: Library) -> Needs:
    found = needs(path, library)
    if found.missing:
        modules = ", ".join(sorted(found.missing))
        pytest.skip(f"{example_id(path)} needs a plugin for {modules}, which is not registered")
    return found


def test_there_are_examples() -> None:
    assert [p.name for p in EXAMPLES], f"no example scripts under {EXAMPLES_DIR}"


@pytest.mark.parametrize("path", EXAMPLES, ids=example_id)
def test_every_example_passes_the_checker(path: Path, library: Library) -> None:
    skip_unless_registered(path, library)
    checked = api.check_file(path, library)  # ScriptError shows every problem with a caret
    assert checked.job.name


@pytest.mark.parametrize("path", EXAMPLES, ids=example_id)
def test_every_example_prints_back_as_text_that_parses_the_same(path: Path) -> None:
    source = path.read_text("utf-8")
    canonical = api.format_text(source, str(path))
    assert api.format_text(canonical, str(path)) == canonical


@pytest.mark.parametrize("path", EXAMPLES, ids=example_id)
async def test_every_example_with_built_in_work_runs_and_gives_its_answer(
    path: Path, library: Library, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    found = skip_unless_registered(path, library)
    others = found.plugins - RUNNABLE_PLUGINS
    if others:
        pytest.skip(f"{example_id(path)} needs the plugins {sorted(others)}: checked, not run")
    expected = RUNS.get(example_id(path))
    assert expected is not None, (
        f"{example_id(path)} needs only built-in work: add its small parameters and its answer "
        "to RUNS in tests/test_examples.py"
    )
    monkeypatch.delenv("WIT_PLUGINS", raising=False)
    events: list[Event] = []
    result = await api.run_file(
        path,
        expected.parameters,
        out_dir=tmp_path / "out",
        events=events.append,
        settings=Settings(cache_dir=tmp_path / "cache"),
        workers=2,
    )
    assert result.status is JobStatus.COMPLETED, result.error
    for name, value in expected.variables.items():
        assert result.variables[name] == value, name
    traces = [event.message for event in events if isinstance(event, TraceLogged)]
    assert traces == expected.traces
    if expected.check is not None:
        expected.check(result)
    assert (tmp_path / "out" / "results.json").is_file()


def test_every_entry_in_runs_names_an_example() -> None:
    assert set(RUNS) <= {example_id(p) for p in EXAMPLES}
