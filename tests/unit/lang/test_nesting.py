"""The look at a script's text that refuses deep nesting before parsing: it never counts fewer
levels than the parse tree has, it refuses every form of nesting at once however long the
script, and it lets through what a real script does."""

from __future__ import annotations

import time

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

SIZE = 1_000_000  # a hub's default limits.script_chars
# Measured at about a millisecond on a busy machine; parsing such a script took 8 to 18 s.
AT_ONCE = 0.1
LONG_ENOUGH = 2.0  # measured at 0.1 to 0.5 s for the longest flat script; parsing it, 10 to 20 s


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
def test_each_form_nested_as_deep_as_a_hubs_largest_script_is_refused_at_once(form: str) -> None:
    source = deep_script(form, SIZE)
    started = time.perf_counter()
    found = too_deep(source)
    took = time.perf_counter() - started
    assert found is not None
    assert f"more than {MAX_NESTING} levels" in found.message
    assert found.span.line == 3
    assert took < AT_ONCE, f"{took * 1000:.1f} ms"


@pytest.mark.parametrize("form", sorted(LONG_FORMS))
def test_a_long_flat_script_is_let_through_in_bounded_time(form: str) -> None:
    source = long_script(form, SIZE)
    started = time.perf_counter()
    assert too_deep(source) is None
    assert time.perf_counter() - started < LONG_ENOUGH


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
