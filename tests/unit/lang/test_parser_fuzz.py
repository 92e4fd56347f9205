"""Whatever text it is given, the language answers with a ScriptError or a tree, nothing else.

Three sources of text: arbitrary Unicode, soups of the language's own tokens (which get much
further into the grammar than random characters do), and real scripts with a slice cut out, a
token put in or two pieces swapped. Each text goes through the parser and, when it parses, the
checker; a ScriptError must always carry at least one located diagnostic that renders.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import SCRIPTS, TOKENS

from witengine.lang.checker import check_source
from witengine.lang.errors import ScriptError
from witengine.plugins import compute
from witengine.plugins.registry import build_library

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
