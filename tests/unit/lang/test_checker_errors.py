"""Every checker error, located and rendered exactly: golden scripts and their expected reports.

Each `goldens/checker/<case>.wit` is a script with one mistake (one case has several); the
matching `<case>.err` is the full report `wit check` prints for it: file, line and column, the
source line, a caret under the spot and, where one helps, a hint. The table below names the
mistake each case is about, so a golden cannot quietly drift to another error.

To write the `.err` files again after an intended change of wording, run the tests with
`WIT_UPDATE_GOLDENS=1` and review the diff.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import pytest

from witengine.lang import errors, expressions
from witengine.lang.checker import check_source
from witengine.lang.errors import SHOWN, ScriptError
from witengine.plugins import compute
from witengine.plugins.registry import build_library

GOLDENS = Path(__file__).parent / "goldens" / "checker"
LIBRARY = build_library([compute.plugin])
UPDATE = os.environ.get("WIT_UPDATE_GOLDENS") == "1"

# case -> the message of its (first) diagnostic
CASES: dict[str, str] = {
    # ---- unknown names, with suggestions
    "unknown_variable_did_you_mean": "unknown variable 'cuont'",
    "unknown_variable_without_suggestion": "unknown variable 'visitor'",
    "unknown_assignment_target": "unknown variable 'totl'",
    "variable_used_after_its_block": "unknown variable 'found'",
    "loop_variable_used_after_its_loop": "unknown variable 'item'",
    "variable_used_before_its_declaration": "unknown variable 'single'",
    "unknown_activity_did_you_mean": "unknown activity 'Compute.IsPrme'",
    "unknown_module_did_you_mean": "unknown activity 'Compte.IsPrime'",
    "unknown_activity_lists_its_module": "unknown activity 'Compute.Factorize'",
    "unknown_module_names_the_missing_plugin": "unknown activity 'Renderer.RenderFrame'",
    "unknown_activity_without_module": "unknown activity 'IsPrime'",
    "unknown_type_did_you_mean": "unknown type 'Strng'",
    "unknown_collection_type": "unknown type 'IntColection'",
    "unknown_parameter_type": "unknown type 'Colour'",
    "unknown_block_activity_did_you_mean": "unknown block activity 'Forach'",
    "unknown_block_activity": "unknown block activity 'Retry'",
    "activity_named_without_parentheses": "'Compute.IsPrime' is an activity, not a value",
    "type_named_as_a_value": "'Color' is a type, not a value",
    "language_form_named_as_a_value": "'Break' cannot be used as a value",
    # ---- declarations
    "redeclared_variable": "'count' is already declared in this scope (a variable, line 3)",
    "parameter_redeclared_in_the_body": (
        "'n' is already declared in this scope (a job parameter, line 1)"
    ),
    "duplicate_parameter": "'a' is already declared in this scope (a job parameter, line 1)",
    "loop_variable_redeclared_in_its_body": (
        "'x' is already declared in this scope (a loop variable, line 3)"
    ),
    "variable_name_with_a_dot": "a variable name cannot contain '.': 'frame.number'",
    "loop_variable_name_with_a_dot": "a variable name cannot contain '.': 'frame.number'",
    # ---- values of the wrong type
    "declaration_type_mismatch": "cannot assign Double to 'half' of type Int",
    "assignment_type_mismatch": "cannot assign Int to 'done' of type Bool",
    "null_for_a_value_type": "cannot assign null to 'count' of type Int",
    "parameter_default_type_mismatch": "cannot assign Double to the default of 'n' of type Long",
    "arrow_result_type_mismatch": "cannot assign BoolCollection to 'flags' of type IntCollection",
    "collection_for_a_scalar": "cannot assign IntCollection to 'numbers' of type Int",
    "array_item_type_mismatch": "an item of IntCollection must be Int, found Bool",
    "integer_too_large": (
        "integer 9223372036854775808 is too large (the largest Long is 9223372036854775807)"
    ),
    # ---- calls
    "too_many_arguments": "'Compute.IsPrime' takes 1 argument, got 2",
    "too_few_arguments": "'Int.Range' takes 2 to 3 arguments, got 1",
    "wrong_argument_type": "argument 1 of 'Compute.IsPrime' (n) must be Long, found Bool",
    "collection_for_a_scalar_argument": (
        "argument 1 of 'Compute.Hash' (text) must be String, found StringCollection"
    ),
    "block_form_argument_count": "'Timer' takes 1 to 2 arguments, got 0",
    "block_form_argument_type": "argument 1 of 'Delay' (milliseconds) must be Long, found Double",
    "loop_form_argument_count_counts_the_loop_variable": (
        "'Parallel.ForEach' takes 1 to 2 arguments, got 3"
    ),
    "grid_options_argument_type": (
        "argument 2 of 'Grid.ForEach' (options) must be ProcessingOptions, found Int"
    ),
    "constructor_argument_count": "the constructor 'Int' takes 1 argument, got 2",
    "constructor_cannot_convert": "'Color' cannot be made from Int",
    "activity_returning_nothing_used_as_a_value": "'Compute.Fail' returns no value",
    "command_used_as_a_value": "'Return' returns no value",
    "block_form_used_as_a_value": "'If' cannot be used as a value",
    "arrow_form_used_as_a_value_without_an_arrow": "'Grid.ForEach' needs '=>' and an activity call",
    "zip_of_a_non_collection": "argument 2 of 'Zip' must be a collection, found Int",
    "count_of_a_non_collection": "'Count' needs a collection, found Int",
    "concat_of_a_collection_and_text": (
        "'Concat' joins two collections or two texts, found IntCollection and String"
    ),
    "loop_variable_binding_out_of_place": (
        "'x in …' binds a loop variable only as the first argument of ForEach, "
        "Parallel.ForEach, Grid.ForEach or Transform.ForEach"
    ),
    "loop_variable_in_a_form_that_binds_none": (
        "'x in …' binds a loop variable only as the first argument of ForEach, "
        "Parallel.ForEach, Grid.ForEach or Transform.ForEach"
    ),
    # ---- statements and blocks
    "break_outside_a_loop": "'Break' outside a loop",
    "continue_outside_a_loop": "'Continue' outside a loop",
    "break_in_an_if_outside_a_loop": "'Break' outside a loop",
    "break_in_parallel_invoke_outside_a_loop": "'Break' outside a loop",
    "else_after_a_loop": "'Else' can only follow If, not Loop",
    "block_form_without_a_block": "'If' needs a block",
    "foreach_without_a_block": "'ForEach' needs a block",
    "arrow_form_without_an_arrow": "'Grid.ForEach' needs '=>' and an activity call",
    "activity_with_a_block": "'Compute.Hash' does not take a block",
    "command_form_with_a_block": "'Pause' does not take a block",
    "arrow_form_with_a_block": "'Transform.ForEach' does not take a block",
    "foreach_without_a_loop_variable": "'ForEach' needs a loop variable first",
    "foreach_over_a_non_collection": "ForEach goes over a collection, found Int",
    # ---- arrows
    "grid_foreach_without_a_loop_variable": "'Grid.ForEach' needs a loop variable first",
    "grid_delegate_with_a_loop_variable": (
        "'x in …' binds a loop variable only as the first argument of ForEach, "
        "Parallel.ForEach, Grid.ForEach or Transform.ForEach"
    ),
    "unknown_arrow_head": "'Grid.Map' cannot stand before '=>'",
    "block_form_before_an_arrow": "'Loop' cannot stand before '=>'",
    "arrow_body_not_a_call": "the right side of '=>' must be a single activity call",
    "arrow_body_is_a_language_form": (
        "'Trace' is part of the language, not an activity; "
        "the right side of '=>' must be a single activity call"
    ),
    "arrow_body_is_break": (
        "'Break' is part of the language, not an activity; "
        "the right side of '=>' must be a single activity call"
    ),
    "grid_body_runs_on_the_hub": (
        "'Format' runs on the hub only and cannot be distributed by Grid.ForEach"
    ),
    "grid_body_is_a_constructor": (
        "the constructor 'Int' runs on the hub only and cannot be distributed by Grid.ForEach"
    ),
    "grid_body_unknown_activity": "unknown activity 'Compute.IsPrim'",
    # ---- members, tuples, indexing and operators
    "tuple_has_no_such_member": "a Tuple has no member 'First'",
    "tuple_item_zero": "a Tuple has no member 'Item0'",
    "tuple_item_beyond_its_items": "this Tuple has only 2 items",
    "tuple_items_of_a_non_tuple": "Int has no member 'Item1'",
    "unknown_member_did_you_mean": "Color has no member 'r'",
    "unknown_member_of_a_collection": "IntCollection has no member 'Length'",
    "index_not_a_number": "an index must be Int, found String",
    "value_not_indexable": "Int cannot be indexed",
    "not_of_a_number": "'!' needs a Bool, found Int",
    "minus_of_text": "'-' needs a number, found String",
    "and_of_a_number": "'&&' needs Bool on both sides, found Int",
    "comparison_of_unrelated_types": "cannot compare Color with Int",
    "ordering_of_unordered_values": "cannot order Bool and Bool with '<'",
    "arithmetic_on_a_bool": "'+' cannot combine Bool and Int",
    # ---- several mistakes at once
    "several_errors_in_source_order": "unknown variable 'cuont'",
}
SEVERAL = {"several_errors_in_source_order": 3}


def script_error(case: str) -> ScriptError:
    source = (GOLDENS / f"{case}.wit").read_text("utf-8")
    try:
        check_source(source, LIBRARY, f"{case}.wit")
    except ScriptError as error:
        return error
    pytest.fail(f"{case}.wit checked cleanly; it should report: {CASES[case]}")


def test_every_golden_script_is_in_the_table_and_every_case_has_its_files() -> None:
    scripts = {path.stem for path in GOLDENS.glob("*.wit")}
    reports = {path.stem for path in GOLDENS.glob("*.err")}
    assert scripts == set(CASES)
    assert UPDATE or reports == set(CASES)


@pytest.mark.parametrize("case", list(CASES))
def test_a_script_error_is_reported_once_where_it_is_with_its_exact_text(case: str) -> None:
    error = script_error(case)
    assert [d.message for d in error.diagnostics][:1] == [CASES[case]]
    assert len(error.diagnostics) == SEVERAL.get(case, 1), error.render()
    golden = GOLDENS / f"{case}.err"
    if UPDATE:
        golden.write_text(error.render() + "\n", "utf-8")
    assert error.render() + "\n" == golden.read_text("utf-8")


# ---------------------------------------------------- what every report has


@pytest.mark.parametrize("case", list(CASES))
def test_every_report_names_the_file_line_and_column_and_points_at_the_source(case: str) -> None:
    error = script_error(case)
    lines = (GOLDENS / f"{case}.wit").read_text("utf-8").splitlines()
    rendered = error.render().splitlines()
    first = error.diagnostics[0]
    span = first.span
    assert rendered[0] == f"{case}.wit:{span.line}:{span.column}: {first.message}"
    assert rendered[1] == "    " + lines[span.line - 1]
    caret = rendered[2]
    assert caret.index("^") == 4 + span.column - 1
    assert set(caret.strip()) <= {"^", "~"}
    assert "Traceback" not in error.render()


def test_the_diagnostics_are_in_source_order_and_also_given_as_data() -> None:
    error = script_error("several_errors_in_source_order")
    assert error.to_json() == [
        {
            "file": "several_errors_in_source_order.wit",
            "line": 6,
            "column": 9,
            "end_line": 6,
            "end_column": 14,
            "message": "unknown variable 'cuont'",
            "hint": "did you mean 'count'?",
        },
        {
            "file": "several_errors_in_source_order.wit",
            "line": 8,
            "column": 14,
            "end_line": 8,
            "end_column": 28,
            "message": "unknown activity 'Compute.IsPrme'",
            "hint": "did you mean 'Compute.IsPrime'?",
        },
        {
            "file": "several_errors_in_source_order.wit",
            "line": 9,
            "column": 5,
            "end_line": 9,
            "end_column": 10,
            "message": "'Break' outside a loop",
            "hint": None,
        },
    ]


# ------------------------------------------------ one mistake, one message


@pytest.mark.parametrize(
    ("statements", "message"),
    [
        ("Int:x = nope; Int:y = x + 1; Trace(x);", "unknown variable 'nope'"),
        ("Int:x = Unknown.Thing(1) + 2;", "unknown activity 'Unknown.Thing'"),
        ("Frob:f = 1; Trace(f); f = 2;", "unknown type 'Frob'"),
        ("ForEach(x in 42) { Int:y = x.Item1 + 1; }", "ForEach goes over a collection, found Int"),
        ("Forach(x in [1]) { Trace(x); Break; }", "unknown block activity 'Forach'"),
        ('Compute.Hash("a") { Break; }', "'Compute.Hash' does not take a block"),
        ("ForEach(x in [1]);", "'ForEach' needs a block"),
        ("Grid.ForEach(x in [1]);", "'Grid.ForEach' needs '=>' and an activity call"),
        ("Object:o = ForEach(x in [1]);", "'ForEach' cannot be used as a value"),
        ('String:h = Grid.Delegate(x in ["a"]) => Compute.Hash(x);', None),
        ("Loop(x in [1]) { Trace(x); }", None),
        ("IntCollection:v = Grid.ForEach(x in [1]) => Trace(x);", None),
        ("Int:n = Count(42) + 1;", "'Count' needs a collection, found Int"),
    ],
)
def test_one_mistake_gives_one_message_and_no_cascade(statements: str, message: str | None) -> None:
    with pytest.raises(ScriptError) as raised:
        check_source(f"Job:T()\n{{\n{statements}\n}}", LIBRARY, "t.wit")
    assert len(raised.value.diagnostics) == 1, raised.value.render()
    if message is not None:
        assert raised.value.diagnostics[0].message == message


def test_every_mistake_of_a_script_is_reported_not_only_the_first() -> None:
    statements = "\n".join(f"Int:v{i} = missing{i};" for i in range(5))
    with pytest.raises(ScriptError) as raised:
        check_source(f"Job:T()\n{{\n{statements}\n}}", LIBRARY, "t.wit")
    assert [(d.span.line, d.message) for d in raised.value.diagnostics] == [
        (3 + i, f"unknown variable 'missing{i}'") for i in range(5)
    ]


def test_a_report_shows_the_first_hundred_mistakes_and_counts_the_others() -> None:
    """A script on one line of a million characters can hold 250,000 mistakes: a report of them
    all, each with its line, was larger than the script 250,000 times over."""
    statements = "x=1;" * 2_500
    with pytest.raises(ScriptError) as raised:
        check_source(f"Job:T(){{{statements}}}", LIBRARY, "t.wit")
    error = raised.value
    assert len(error.diagnostics) == 2_500
    assert len(error.shown) == len(error.to_json()) == SHOWN
    report = error.render()
    assert report.endswith("\nt.wit: and 2,400 more errors")
    assert len(report) < SHOWN * 1000


def test_thousands_of_misspelled_names_among_thousands_of_variables_search_only_for_the_shown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each unknown name's 'did you mean' searched every name in scope: 2,000 of them among 2,000
    variables took a minute, and a script of the largest size would have taken hours. Only the
    mistakes a report shows get a search, and keep their hints (how fast: bench/)."""
    searched: list[str] = []

    def did_you_mean(name: str, known: Iterable[str]) -> str | None:
        searched.append(name)
        return errors.did_you_mean(name, known)

    monkeypatch.setattr(expressions, "did_you_mean", did_you_mean)
    declarations = "".join(f"Int:a{i}=1;" for i in range(2_000))
    misspelled = "".join(f"a{i}x=1;" for i in range(2_000))
    with pytest.raises(ScriptError) as raised:
        check_source(f"Job:T(){{{declarations}{misspelled}}}", LIBRARY, "t.wit")
    diagnostics = raised.value.diagnostics
    assert len(diagnostics) == 2_000
    assert searched == [f"a{i}x" for i in range(SHOWN)]
    assert [d.hint for d in diagnostics[:SHOWN]] == [f"did you mean 'a{i}'?" for i in range(SHOWN)]
    assert {d.hint for d in diagnostics[SHOWN:]} == {None}
    assert diagnostics[0].message == "unknown variable 'a0x'"
