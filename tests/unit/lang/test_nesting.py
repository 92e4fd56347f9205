"""The look at a script's text that refuses deep nesting before parsing: it never counts fewer
levels than the parse tree has, it refuses every form of nesting in a script of a hub's largest
size, and it lets through what a real script does (how fast: bench/parse_limits.py)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from strategies import deep_scripts, jobs, with_comments

from witengine.lang.errors import ScriptError
from witengine.lang.nesting import MAX_NESTING, too_deep
from witengine.lang.parser import parse, tree_depth
from witengine.lang.printer import print_job
from witengine.testing.scripts import (
    DEEP_FORMS,
    LONG_FORMS,
    deep_script,
    long_script,
    nested_script,
)

# A hub's default limits.script_chars. How long the look takes at this size (about a millisecond
# to refuse, well under a second to let a flat script through; parsing one takes 10 to 20 s) is
# what bench/parse_limits.py measures: a wall-clock bound here only failed on a busy machine.
SIZE = 1_000_000


def counted(source: str) -> int:
    """The levels `too_deep` counts in `source`: the least limit it lets it through at."""
    low, high = 0, 10 * len(source) + 10
    while low < high:
        middle = (low + high) // 2
        if too_deep(source, middle) is None:
            high = middle
        else:
            low = middle + 1
    return low


def assert_never_below_the_tree(source: str) -> None:
    try:
        parse(source, "deep.wit")
    except ScriptError:
        return  # nothing to compare with: no tree
    assert counted(source) >= tree_depth(source), source


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(jobs.map(print_job).flatmap(with_comments))
def test_the_count_is_never_below_the_parse_trees_depth(commented: tuple[str, list[str]]) -> None:
    assert_never_below_the_tree(commented[0])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(deep_scripts())
def test_the_count_of_forms_inside_one_another_is_never_below_the_parse_trees_depth(
    source: str,
) -> None:
    assert_never_below_the_tree(source)


@pytest.mark.parametrize("form", sorted(DEEP_FORMS))
@pytest.mark.parametrize("depth", [0, 1, 2, 7, 40])
def test_the_count_of_each_form_is_never_below_the_parse_trees_depth(form: str, depth: int) -> None:
    assert_never_below_the_tree(nested_script(form, depth))


@pytest.mark.parametrize("form", sorted(DEEP_FORMS))
def test_each_form_nested_as_deep_as_a_hubs_largest_script_is_refused(form: str) -> None:
    found = too_deep(deep_script(form, SIZE))
    assert found is not None
    assert f"more than {MAX_NESTING} levels" in found.message
    assert found.span.line == 3


@pytest.mark.parametrize("form", sorted(LONG_FORMS))
def test_a_long_flat_script_is_let_through(form: str) -> None:
    assert too_deep(long_script(form, SIZE)) is None


@pytest.mark.parametrize(
    ("where", "text"),
    [
        ("a string", '"((((((((((((((((((((((((((((((((((((((((((((((((((((((((("'),
        ("a comment", "~ ((((((((((((((((((((((((((((((((((((((((((((((((((((((((((( ~"),
    ],
)
def test_brackets_in_strings_and_comments_do_not_count(where: str, text: str) -> None:
    source = f"Job:A()\n{{\n    Object:x = {text * 10};\n}}\n".replace("~;", "~ 1;")
    assert too_deep(source, 10) is None, where


def test_the_place_refused_is_where_the_limit_is_passed() -> None:
    source = "Job:A()\n{\n    Object:x = " + "(" * 300 + "1" + ")" * 300 + ";\n}\n"
    found = too_deep(source)
    assert found is not None
    # 3 levels for the script, 2 for its block: the parenthesis past the limit is the 146th.
    assert (found.span.line, found.span.column) == (3, 16 + MAX_NESTING - 5)
