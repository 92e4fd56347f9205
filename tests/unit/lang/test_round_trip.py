"""Printing and parsing are inverse: parse(print(tree)) == tree, and formatting is idempotent."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import SCRIPTS, jobs, with_comments

from witengine.lang import syntax as s
from witengine.lang.parser import parse
from witengine.lang.printer import find_comments, format_source, print_expr, print_job

PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def fmt(source: str) -> str:
    return format_source(source, parse(source))


def comment_texts(source: str) -> list[str]:
    return [comment.text for comment in find_comments(source)]


@PROPERTY
@given(jobs)
def test_a_printed_tree_parses_back_into_the_same_tree(job: s.Job) -> None:
    assert parse(print_job(job)) == job


@PROPERTY
@given(jobs)
def test_printed_text_is_already_canonical(job: s.Job) -> None:
    text = print_job(job)
    assert fmt(text) == text


@PROPERTY
@given(st.data(), jobs)
def test_formatting_keeps_every_comment_in_order_and_the_tree(
    data: st.DataObject, job: s.Job
) -> None:
    source, comments = data.draw(with_comments(print_job(job)))
    formatted = fmt(source)
    assert parse(formatted) == job
    assert comment_texts(formatted) == comments


@PROPERTY
@given(st.data(), jobs)
def test_formatting_twice_changes_nothing(data: st.DataObject, job: s.Job) -> None:
    source, _ = data.draw(with_comments(print_job(job)))
    once = fmt(source)
    assert fmt(once) == once


@PROPERTY
@given(st.data(), st.sampled_from(SCRIPTS))
def test_hand_written_scripts_keep_their_tree_and_comments_through_format(
    data: st.DataObject, script: str
) -> None:
    source, _ = data.draw(with_comments(script))
    formatted = fmt(source)
    assert parse(formatted) == parse(script)
    assert comment_texts(formatted) == comment_texts(source)
    assert fmt(formatted) == formatted


# ---------------------------------------------------------------- examples


def test_the_first_script_formats_to_the_canonical_text_with_its_comment() -> None:
    first = SCRIPTS[0]
    assert fmt(first) == (
        "Job:RenderAnimation(FrameCollection:frames)\n"
        "{\n"
        "    ~ Distribute rendering across all available machines ~\n"
        "    ImageCollection:images = Grid.ForEach(frame in frames)"
        " => Renderer.RenderFrame(frame);\n"
        "    Video:result = Video.Compose(images);\n"
        "}\n"
    )


def test_comments_before_at_the_end_of_and_after_statements_stay_there() -> None:
    source = (
        "~ about the job ~\n"
        "Job:A(Int:n)\n"
        "{\n"
        "    ~ before x ~\n"
        "    Int:x = n; ~ after x ~\n"
        "    Loop(n)\n"
        "    {\n"
        "        x = x - 1;\n"
        "        ~ closing the loop ~\n"
        "    }\n"
        "}\n"
        "~ after the job ~\n"
    )
    assert fmt(source) == source


def test_a_comment_inside_a_statement_moves_after_it_and_is_kept() -> None:
    source = "Job:A()\n{\n    Int:x = ~ why one ~ 1;\n    Int:y = (\n~ on its own ~\n 2);\n}\n"
    assert fmt(source) == (
        "Job:A()\n{\n    Int:x = 1; ~ why one ~\n    Int:y = 2; ~ on its own ~\n}\n"
    )


def test_a_comment_spanning_lines_is_kept_whole() -> None:
    source = "Job:A()\n{\n~ first line\n  second line ~\nBreak;\n}\n"
    assert fmt(source) == "Job:A()\n{\n    ~ first line\n  second line ~\n    Break;\n}\n"


def test_a_tilde_in_a_string_is_not_a_comment_for_the_formatter() -> None:
    source = 'Job:A()\n{\n    Trace("~ not a comment ~"); ~ a comment ~\n}\n'
    assert comment_texts(source) == ["~ a comment ~"]
    assert fmt(source) == source


def test_format_puts_statements_one_per_line_and_indents_blocks() -> None:
    source = "Job:A(Bool:b){If(b){Break;}Else{Continue();}Grid.Delegate=>X.Y();}"
    assert fmt(source) == (
        "Job:A(Bool:b)\n"
        "{\n"
        "    If(b)\n"
        "    {\n"
        "        Break;\n"
        "    }\n"
        "    Else\n"
        "    {\n"
        "        Continue;\n"
        "    }\n"
        "    Grid.Delegate => X.Y();\n"
        "}\n"
    )


def test_a_long_arrow_breaks_before_its_arrow() -> None:
    source = (
        "Job:A(FrameCollection:frames) { ImageCollection:images = Grid.ForEach(frame in frames, "
        'ProcessingOptions("Balanced", 12)) => Renderer.RenderFrame(frame, 80); }'
    )
    assert fmt(source) == (
        "Job:A(FrameCollection:frames)\n"
        "{\n"
        "    ImageCollection:images = Grid.ForEach(frame in frames, "
        'ProcessingOptions("Balanced", 12))\n'
        "        => Renderer.RenderFrame(frame, 80);\n"
        "}\n"
    )


def test_literal_spellings_are_made_canonical() -> None:
    source = 'Job:A() { Object:v = [True, FALSE_, NULL, 1E3, "\\u00e9\\t"]; }'
    assert fmt(source).splitlines()[2] == '    Object:v = [true, FALSE_, null, 1000.0, "é\\t"];'


def name(text: str) -> s.NameRef:
    return s.NameRef(text)


@pytest.mark.parametrize(
    ("expr", "text"),
    [
        (s.Binary("-", name("a"), s.Unary("-", s.IntLiteral(1))), "a - -1"),
        (s.Unary("!", s.Binary("==", name("a"), name("b"))), "!(a == b)"),
        (s.Binary("&&", s.Unary("!", name("a")), name("b")), "!a && b"),
        (s.Binary("*", s.Binary("+", name("a"), name("b")), name("c")), "(a + b) * c"),
        (s.Binary("-", name("a"), s.Binary("-", name("b"), name("c"))), "a - (b - c)"),
        (s.Binary("-", s.Binary("-", name("a"), name("b")), name("c")), "a - b - c"),
        (s.Binary("||", s.Binary("&&", name("a"), name("b")), name("c")), "a && b || c"),
        (s.Member(s.Unary("-", name("t")), "Item1"), "(-t).Item1"),
        (s.Index(s.Member(name("t"), "Item1"), s.IntLiteral(0)), "t.Item1[0]"),
        (
            s.Binary("==", s.Binary("<", name("a"), name("b")), s.BoolLiteral(True)),
            "(a < b) == true",
        ),
        (s.StringLiteral('say "hi"\n\\ \x01'), '"say \\"hi\\"\\n\\\\ \\u0001"'),
        (s.DecimalLiteral(1e-3), "0.001"),
        (s.DecimalLiteral(1e20), "1e+20"),
        (s.ArrayLiteral((s.ArrayLiteral(()), s.NullLiteral())), "[[], null]"),
    ],
)
def test_expressions_print_with_the_parentheses_their_precedence_needs(
    expr: s.Expr, text: str
) -> None:
    assert print_expr(expr) == text
    decl = parse(f"Job:A() {{ Object:v = {text}; }}").body.statements[0]
    assert isinstance(decl, s.Declaration)
    assert decl.value == expr
