"""Docs are executable: every script under examples/ and docs/examples/ is checked, and every one
that needs only the built-ins and the compute plugin runs on this machine's cores with small
parameters and gives the answer written below.

An example that needs a plugin this environment lacks (a render example without the render
plugin, say) is skipped with the reason; once its plugin is registered it is checked too. A new
example that could run but has no entry in RUNS fails, so that its answer gets written down.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from witengine import api
from witengine.lang import syntax
from witengine.lang.parser import parse
from witengine.plugins.registry import default_library
from witengine.protocol.events import JobEvent, TraceLogged
from witengine.protocol.states import JobStatus
from witengine.runtime.builtins.variables import BUILTIN
from witengine.runtime.library import Library
from witengine.settings import Settings

pytestmark = pytest.mark.timeout(60)

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted(ROOT.joinpath("examples").rglob("*.wit")) + sorted(
    ROOT.joinpath("docs", "examples").glob("*.wit")
)
DATA = ROOT / "docs" / "examples" / "data"
# The tool plugin's Tool.Python runs the Python every machine running these tests has.
RUNNABLE_PLUGINS = frozenset({BUILTIN, "compute", "tool"})


@dataclass(frozen=True)
class Expected:
    """Small parameters for one example, and what its run must give."""

    parameters: dict[str, str]
    variables: dict[str, Any] = field(default_factory=dict)
    traces: list[str] | None = field(default_factory=list)  # None: in any order (parallel)
    check: Callable[[api.JobResult], None] | None = None
    status: JobStatus = JobStatus.COMPLETED
    error: str | None = None  # a part of the error a failing example must give


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


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _files(result: api.JobResult) -> None:
    copy, parts = result.variables["copy"], result.variables["parts"]
    assert copy["blob"] == _sha256("first line\n") and copy["name"] == "copy.txt"
    assert [p["blob"] for p in parts] == [_sha256(f"part {i}") for i in (1, 2, 3)]
    assert [p["name"] for p in parts] == ["part-1.txt", "part-2.txt", "part-3.txt"]


def _reports(result: api.JobResult) -> None:
    reports, runs = result.variables["reports"], result.variables["runs"]
    assert [r["name"] for r in reports] == ["report-alpha.txt", "report-beta.txt"]
    assert Path(reports[1]["path"]).read_text() == "report for beta: 4 letters\n"
    assert [run["exit_code"] for run in runs] == [0, 0]
    assert all(run["tool"].startswith("python 3.") for run in runs)


def _timing(result: api.JobResult) -> None:
    assert result.variables == {"ticks": 3, "sum": 110}


RUNS: dict[str, Expected] = {
    "docs/examples/collections.wit": Expected(
        {},
        variables={
            "frames": [1, 3, 5, 7, 9],
            "steps": [0.0, 0.25, 0.5, 0.75],
            "empty": [],
            "first": 1,
            "n": 5,
            "all": [1, 2, 3, 1, 3, 5, 7, 9],
            "joined": "abcd",
            "second": "x",
            "inner": [3],
            "labels": ["frame 0001", "frame 0003", "frame 0005", "frame 0007", "frame 0009"],
        },
        traces=["1 -> a", "2 -> b"],
    ),
    "docs/examples/control.wit": Expected(
        {"limit": "5"}, variables={"rounds": 3, "total": 6, "verdict": "big"}
    ),
    "docs/examples/files.wit": Expected(
        {"input": str(DATA / "notes.txt"), "more": str(DATA / "other.txt")},
        variables={"text": "first line\n", "texts": ["second file\n"], "name": "notes.txt"},
        check=_files,
    ),
    "docs/examples/grid.wit": Expected(
        {"count": "3"},
        variables={
            "words": ["word-000", "word-001", "word-002"],
            "hashes": [_sha256(f"word-00{i}") for i in range(3)],
            "units": [0.5, 1.0, 2.0],
            "one": _sha256("single"),
        },
    ),
    "docs/examples/hello.wit": Expected(
        {"name": "farm", "times": "2"},
        variables={"greeting": "Hello, farm!"},
        traces=["Hello, farm!", "Hello, farm!"],
    ),
    "docs/examples/literals.wit": Expected(
        {},
        variables={
            "i": 42,
            "negative": -7,
            "big": 5000000000,
            "small": 0.001,
            "s": 'say "hi"\tand café',
            "anything": None,
            "parsed": 5,
            "total": 90.0,
            "red": 51,
            "length": 17,
        },
    ),
    "docs/examples/operators.wit": Expected(
        {},
        variables={
            "quotient": 3,
            "remainder": -1,
            "exact": 3.5,
            "product": 7000000000,
            "between": True,
            "either": True,
            "text": "a is 7",
            "grouped": 18,
        },
    ),
    "docs/examples/slow.wit": Expected({"n": "3", "ms": "10"}, variables={"waited": [10] * 3}),
    "docs/examples/stop-early.wit": Expected(
        {"frames": "0"},
        traces=None,
        status=JobStatus.FAILED,
        error="stop-early.wit:6: no frames to render",
    ),
    "docs/examples/sweep.wit": Expected(
        {}, variables={"results": [0.5, 1.0, 1.0, 2.0, 2.0, 4.0]}, traces=["6 cases, last result 4"]
    ),
    "docs/examples/timing.wit": Expected({}, traces=None, check=_timing),
    "examples/tool_python.wit": Expected(
        {"script": str(DATA / "report.py"), "names": "alpha,beta"},
        traces=["wrote the report for alpha\n", "wrote the report for beta\n"],
        check=_reports,
    ),
    "examples/primes.wit": Expected(
        {"n": "2000"},
        variables={"count": 303},
        traces=["303 primes below 2000"],
        check=_primes_flags,
    ),
}


def example_id(path: Path) -> str:
    return str(path.relative_to(ROOT))


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
    assert [p.name for p in EXAMPLES], f"no example scripts under {ROOT}"


@pytest.mark.parametrize("path", EXAMPLES, ids=example_id)
def test_every_example_passes_the_checker(path: Path, library: Library) -> None:
    skip_unless_registered(path, library)
    checked = api.check_file(path, library)  # ScriptError shows every problem with a caret
    assert checked.job.name


@pytest.mark.parametrize("path", EXAMPLES, ids=example_id)
def test_every_example_is_in_canonical_form(path: Path) -> None:
    source = path.read_text("utf-8")
    assert api.format_text(source, str(path)) == source, f"run: wit fmt {example_id(path)}"


PUBLISHED = """Job:RenderAnimation(FrameCollection:frames)
{
~ Distribute rendering across all available machines ~
ImageCollection:images = Grid.ForEach(frame in frames)
=> Renderer.RenderFrame(frame);
Video:result = Video.Compose(images);
}
"""


def test_the_render_example_is_the_published_script_in_canonical_form() -> None:
    # The published text itself parses, checks and runs unchanged (tests/unit); the shipped
    # file is that text as `wit fmt` writes it, so `wit fmt --check examples/*.wit` passes.
    shipped = ROOT.joinpath("examples", "render_animation.wit").read_text("utf-8")
    assert api.format_text(PUBLISHED) == shipped


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
    events: list[JobEvent] = []
    result = await api.run_file(
        path,
        expected.parameters,
        out_dir=tmp_path / "out",
        events=events.append,
        settings=Settings(cache_dir=tmp_path / "cache"),
        workers=2,
    )
    assert result.status is expected.status, result.error
    if expected.error is not None:
        assert expected.error in (result.error or ""), result.error
    for name, value in expected.variables.items():
        assert result.variables[name] == value, name
    traces = [event.message for event in events if isinstance(event, TraceLogged)]
    if expected.traces is not None:
        assert traces == expected.traces
    if expected.check is not None:
        expected.check(result)
    if expected.status is JobStatus.COMPLETED:
        assert (tmp_path / "out" / "results.json").is_file()


def test_every_entry_in_runs_names_an_example() -> None:
    assert set(RUNS) <= {example_id(p) for p in EXAMPLES}
