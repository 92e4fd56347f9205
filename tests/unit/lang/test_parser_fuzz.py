"""Whatever text it is given, the language answers with a ScriptError or a tree, nothing else.

Sources of text: arbitrary Unicode, soups of the language's own tokens (which get much
further into the grammar than random characters do), real scripts with a slice cut out, a
token put in or two pieces swapped, and every form of nesting (brackets, calls, blocks, chains
of operators, members and indexes) to any depth. Each text goes
through the parser and, when it parses, the checker; a ScriptError must always carry at least one
located diagnostic that renders. Parameter texts, read by the declared types, give a value or a
ParameterError.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import SCRIPTS, TOKENS, deep_scripts, long_scripts

from witengine.api import JobResult, run_file
from witengine.errors import ParameterError
from witengine.lang import parser
from witengine.lang.checker import check_source
from witengine.lang.errors import ScriptError
from witengine.lang.nesting import MAX_NESTING, too_deep
from witengine.lang.parser import parse
from witengine.lang.printer import format_source
from witengine.plugins import compute
from witengine.plugins.registry import build_library
from witengine.protocol.states import JobStatus
from witengine.runtime.parameters import read_parameters
from witengine.testing.scripts import DEEP_FORMS, nested_script

LIBRARY = build_library([compute.plugin])
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

token_soup = st.lists(st.sampled_from(TOKENS), max_size=40).map(" ".join)
tight_soup = st.lists(st.sampled_from(TOKENS), max_size=40).map("".join)


@st.composite
def mangled_scripts(draw: st.DrawFn) -> str:
    """A real script with one edit: a slice removed, a token inserted, or two slices swapped."""
    script = draw(st.sampled_from(SCRIPTS))
    a = draw(st.integers(0, len(script)))
    b = draw(st.integers(a, min(len(script), a + 30)))
    edit = draw(st.sampled_from(["cut", "insert", "swap", "truncate"]))
    if edit == "cut":
        return script[:a] + script[b:]
    if edit == "insert":
        return script[:a] + draw(st.sampled_from(TOKENS)) + script[a:]
    if edit == "swap":
        c = draw(st.integers(b, len(script)))
        return script[:a] + script[b:c] + script[a:b] + script[c:]
    return script[:a]


def outcome(source: str) -> None:
    """Parse and check `source`; only a well-formed ScriptError may come out."""
    try:
        check_source(source, LIBRARY, "fuzz.wit")
    except ScriptError as error:
        assert error.diagnostics, "a ScriptError without a diagnostic"
        for diagnostic in error.diagnostics:
            assert diagnostic.span.line >= 1 and diagnostic.span.column >= 1
        report = str(error)
        assert report.startswith("fuzz.wit:"), report


@FUZZ
@given(st.text(max_size=200))
def test_arbitrary_text_gives_a_tree_or_a_script_error(source: str) -> None:
    outcome(source)


@FUZZ
@given(token_soup)
def test_token_soup_gives_a_tree_or_a_script_error(source: str) -> None:
    outcome(source)


@FUZZ
@given(tight_soup)
def test_tokens_run_together_give_a_tree_or_a_script_error(source: str) -> None:
    outcome(source)


@FUZZ
@given(mangled_scripts())
def test_a_real_script_with_one_edit_gives_a_tree_or_a_script_error(source: str) -> None:
    outcome(source)


@FUZZ
@given(st.text(max_size=60), st.sampled_from(SCRIPTS))
def test_text_inside_a_job_body_gives_a_tree_or_a_script_error(inner: str, script: str) -> None:
    body_start = script.index("{") + 1
    outcome(script[:body_start] + inner + script[body_start:])


# ----------------------------------------------------------------- nesting

# Forms whose innermost part names nothing undeclared, so that they check and run.
RUNNABLE = sorted(
    set(DEEP_FORMS)
    - {"members", "members_after_a_call", "spaced_members", "indexes", "index_in_index"}
)


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(sorted(DEEP_FORMS)), st.integers(0, 3000))
def test_any_nesting_depth_gives_a_tree_or_a_script_error(kind: str, depth: int) -> None:
    outcome(nested_script(kind, depth))


# How fast a script is refused or checked is bench/parse_limits.py's to measure: a wall-clock
# bound here only ever failed on a busy machine.


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(deep_scripts())
def test_any_mix_of_nesting_forms_gives_a_tree_or_a_script_error_without_parsing_a_deep_one(
    source: str,
) -> None:
    """Past the limit the script is refused by a look at its text, before any parsing: the
    refusal is the look's, and the grammar's parser is never started."""
    deep = too_deep(source)
    if deep is None:
        outcome(source)
        return
    with (
        mock.patch.object(parser, "_parser", side_effect=AssertionError("parsed")),
        pytest.raises(ScriptError) as refused,
    ):
        check_source(source, LIBRARY, "fuzz.wit")
    assert refused.value.diagnostics == [deep]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(long_scripts)
def test_a_long_flat_script_gives_a_tree_or_a_script_error(source: str) -> None:
    outcome(source)


@pytest.mark.parametrize("kind", sorted(DEEP_FORMS))
def test_a_script_nested_past_the_limit_is_a_located_script_error(kind: str) -> None:
    """Not a RecursionError from deep inside: one diagnostic, on the line that nests."""
    with pytest.raises(ScriptError) as refused:
        check_source(nested_script(kind, 5000), LIBRARY, "deep.wit")
    [diagnostic] = refused.value.diagnostics
    assert diagnostic.span.line == 3
    assert f"more than {MAX_NESTING} levels" in diagnostic.message


@pytest.mark.parametrize("kind", RUNNABLE)
def test_a_script_nested_just_inside_the_limit_checks_prints_and_runs(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WIT_CACHE_DIR", str(tmp_path / "cache"))
    depth = next(d for d in range(MAX_NESTING, 0, -1) if _fits(nested_script(kind, d)))
    assert depth >= MAX_NESTING // 3, f"{kind}: only {depth} levels fit"
    source = nested_script(kind, depth)
    checked = check_source(source, LIBRARY, "deep.wit")
    assert format_source(source, checked.job)
    script = tmp_path / "deep.wit"
    script.write_text(source)
    result = asyncio.run(_run_on_a_deep_stack(script))
    assert result.status == JobStatus.COMPLETED, result.error


def _fits(source: str) -> bool:
    try:
        parse(source, "deep.wit")
    except ScriptError:
        return False
    return True


async def _run_on_a_deep_stack(script: Path, frames: int = 150) -> JobResult:
    """Run the job with `frames` calls already on the stack, as a hub's server has."""
    if frames:
        return await _run_on_a_deep_stack(script, frames - 1)
    return await run_file(script, {}, workers=1)


# ------------------------------------------------------- parameter texts

PARAMETER_TYPES = ("Int", "Long", "Double", "Bool", "String", "IntCollection", "StringCollection")
TYPED = check_source(
    "Job:Typed(" + ", ".join(f"{t}:p{i}" for i, t in enumerate(PARAMETER_TYPES)) + ")\n{\n}\n",
    LIBRARY,
    "typed.wit",
)
parameter_text = st.one_of(
    st.text(max_size=40),
    st.lists(st.sampled_from(TOKENS), max_size=12).map("".join),
    st.integers().map(str),
    st.floats().map(str),
)


@FUZZ
@given(st.integers(0, len(PARAMETER_TYPES) - 1), parameter_text)
def test_any_parameter_text_gives_a_value_or_a_parameter_error(which: int, text: str) -> None:
    """What `wit run job.wit n=TEXT` (or a client, over HTTP) gives a parameter."""
    texts = {f"p{i}": "1" for i in range(len(PARAMETER_TYPES)) if i != which}
    texts.update({f"p{i}": "[]" for i, t in enumerate(PARAMETER_TYPES) if "Collection" in t})
    texts[f"p{which}"] = text
    with contextlib.suppress(ParameterError):
        read_parameters(TYPED, LIBRARY, texts)
