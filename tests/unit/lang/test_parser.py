"""Every construct of the Wit language parses into the tree LANGUAGE.md describes."""

from __future__ import annotations

from pathlib import Path

import pytest

from witengine.lang import syntax as s
from witengine.lang.parser import parse

EXAMPLES = Path(__file__).parents[3] / "examples"

FIRST_SCRIPT = """Job:RenderAnimation(FrameCollection:frames)
{
~ Distribute rendering across all available machines ~
ImageCollection:images = Grid.ForEach(frame in frames)
=> Renderer.RenderFrame(frame);
Video:result = Video.Compose(images);
}"""


def statements(body: str) -> tuple[s.Statement, ...]:
    """The statements of a job whose body is `body`."""
    return parse("Job:T()\n{\n" + body + "\n}").body.statements


def statement(body: str) -> s.Statement:
    (only,) = statements(body)
    return only


def value(expr: str) -> s.Expr | s.Arrow:
    """The value of `Object:v = <expr>;`."""
    decl = statement(f"Object:v = {expr};")
    assert isinstance(decl, s.Declaration)
    assert decl.value is not None
    return decl.value


def name(text: str) -> s.NameRef:
    return s.NameRef(text)


def call(callee: str, *args: s.Arg) -> s.Call:
    return s.Call(callee, args)


def integer(number: int) -> s.IntLiteral:
    return s.IntLiteral(number)


# ---------------------------------------------------------------- the job


def test_the_published_first_script_parses_into_its_tree() -> None:
    job = parse(FIRST_SCRIPT)
    assert job == s.Job(
        "RenderAnimation",
        (s.Parameter("FrameCollection", "frames", None),),
        s.Block(
            (
                s.Declaration(
                    "ImageCollection",
                    "images",
                    s.Arrow(
                        "Grid.ForEach",
                        (s.Binding("frame", name("frames")),),
                        call("Renderer.RenderFrame", name("frame")),
                    ),
                ),
                s.Declaration("Video", "result", call("Video.Compose", name("images"))),
            )
        ),
    )


def test_the_first_script_keeps_the_source_positions_of_its_parts() -> None:
    job = parse(FIRST_SCRIPT)
    assert job.name_span == s.Span(1, 5, 1, 20)
    assert job.params[0].type_span == s.Span(1, 21, 1, 36)
    assert job.params[0].name_span == s.Span(1, 37, 1, 43)
    images = job.body.statements[0]
    assert isinstance(images, s.Declaration)
    assert images.span == s.Span(4, 1, 5, 32)
    assert images.type_span == s.Span(4, 1, 4, 16)
    assert images.name_span == s.Span(4, 17, 4, 23)
    assert isinstance(images.value, s.Arrow)
    assert images.value.head_span == s.Span(4, 26, 4, 38)
    assert isinstance(images.value.body, s.Call)
    assert images.value.body.name_span == s.Span(5, 4, 5, 24)


def test_a_job_without_parameters_or_statements_is_an_empty_job() -> None:
    assert parse("Job:Empty(){}") == s.Job("Empty", (), s.Block(()))


def test_job_parameters_take_default_values() -> None:
    job = parse(
        'Job:P(Long:n = 20000, String:label = "frames", IntCollection:sizes = [1, 2],'
        " Bool:dry = false, Double:scale = -0.5, Scene:scene)\n{\n}"
    )
    assert job.params == (
        s.Parameter("Long", "n", integer(20000)),
        s.Parameter("String", "label", s.StringLiteral("frames")),
        s.Parameter("IntCollection", "sizes", s.ArrayLiteral((integer(1), integer(2)))),
        s.Parameter("Bool", "dry", s.BoolLiteral(False)),
        s.Parameter("Double", "scale", s.Unary("-", s.DecimalLiteral(0.5))),
        s.Parameter("Scene", "scene", None),
    )


def test_the_examples_parse() -> None:
    scripts = sorted(EXAMPLES.glob("*.wit"))
    assert scripts
    for script in scripts:
        job = parse(script.read_text(), script.name)
        assert job.body.statements, script.name


# ---------------------------------------------------------------- comments and white space


def test_comments_may_stand_wherever_white_space_may_and_span_lines() -> None:
    job = parse(
        "~ leading ~Job~a~:~b~Sum~c~(~d~Int~e~:~f~n~g~)~h~\n{~ one\n two ~Int~i~:x~j~=~k~n~l~;~m~}"
        "~ trailing ~"
    )
    assert job == s.Job(
        "Sum",
        (s.Parameter("Int", "n", None),),
        s.Block((s.Declaration("Int", "x", name("n")),)),
    )


def test_white_space_and_line_breaks_are_free() -> None:
    spread = statement("Int\n:\tx\r\n=\n\n1\n;")
    assert spread == s.Declaration("Int", "x", integer(1))


def test_a_tilde_inside_a_string_does_not_open_a_comment() -> None:
    assert value('"~ not a comment ~"') == s.StringLiteral("~ not a comment ~")


# ---------------------------------------------------------------- declarations and assignments


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("Int:count;", s.Declaration("Int", "count", None)),
        ("Int:count = 0;", s.Declaration("Int", "count", integer(0))),
        ('Color:c = "#3366AA";', s.Declaration("Color", "c", s.StringLiteral("#3366AA"))),
        (
            'TimeSpan:t = TimeSpan("0:01:30");',
            s.Declaration("TimeSpan", "t", call("TimeSpan", s.StringLiteral("0:01:30"))),
        ),
        (
            "IntCollection:xs = [1, [2, 3], []];",
            s.Declaration(
                "IntCollection",
                "xs",
                s.ArrayLiteral(
                    (integer(1), s.ArrayLiteral((integer(2), integer(3))), s.ArrayLiteral(()))
                ),
            ),
        ),
        ("count = count + 1;", s.Assignment("count", s.Binary("+", name("count"), integer(1)))),
    ],
    ids=["no-value", "int", "implicit-constructor", "explicit-constructor", "array", "assign"],
)
def test_declarations_and_assignments(source: str, expected: s.Statement) -> None:
    assert statement(source) == expected


def test_a_declaration_names_its_type_and_variable_where_they_stand() -> None:
    decl = statement('    Color:c = "#3366AA";')
    assert isinstance(decl, s.Declaration)
    assert decl.span == s.Span(3, 5, 3, 25)
    assert decl.type_span == s.Span(3, 5, 3, 10)
    assert decl.name_span == s.Span(3, 11, 3, 12)
    assert isinstance(decl.value, s.StringLiteral)
    assert decl.value.span == s.Span(3, 15, 3, 24)


# ---------------------------------------------------------------- literals


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("42", integer(42)),
        ("-7", s.Unary("-", integer(7))),
        ("3.25", s.DecimalLiteral(3.25)),
        ("1e-3", s.DecimalLiteral(0.001)),
        ("2E+2", s.DecimalLiteral(200.0)),
        ("1.5e3", s.DecimalLiteral(1500.0)),
        ('"plain"', s.StringLiteral("plain")),
        ('""', s.StringLiteral("")),
        (r'"q\" b\\ n\n t\t e\u00e9"', s.StringLiteral('q" b\\ n\n t\t e\u00e9')),
        ("true", s.BoolLiteral(True)),
        ("True", s.BoolLiteral(True)),
        ("false", s.BoolLiteral(False)),
        ("False", s.BoolLiteral(False)),
        ("null", s.NullLiteral()),
        ("NULL", s.NullLiteral()),
    ],
)
def test_literals(source: str, expected: s.Expr) -> None:
    assert value(source) == expected


def test_names_that_begin_with_a_keyword_stay_names() -> None:
    assert value("trueValue") == name("trueValue")
    assert value("nullable && Falsey") == s.Binary("&&", name("nullable"), name("Falsey"))
    assert value("Jobs") == name("Jobs")
    assert value("index") == name("index")


def test_a_decimal_keeps_the_type_of_decimal_even_when_whole() -> None:
    whole = value("2.0")
    assert isinstance(whole, s.DecimalLiteral)
    assert whole.value == 2.0


# ---------------------------------------------------------------- expressions


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (
            "1 + 2 * 3",
            s.Binary("+", integer(1), s.Binary("*", integer(2), integer(3))),
        ),
        (
            "1 - 2 - 3",
            s.Binary("-", s.Binary("-", integer(1), integer(2)), integer(3)),
        ),
        (
            "(1 - 2) % 3 / 4",
            s.Binary(
                "/",
                s.Binary("%", s.Binary("-", integer(1), integer(2)), integer(3)),
                integer(4),
            ),
        ),
        (
            "a || b && c",
            s.Binary("||", name("a"), s.Binary("&&", name("b"), name("c"))),
        ),
        (
            "!a == b",
            s.Unary("!", s.Binary("==", name("a"), name("b"))),
        ),
        (
            "!a && b",
            s.Binary("&&", s.Unary("!", name("a")), name("b")),
        ),
        (
            "a + 1 <= b * 2",
            s.Binary(
                "<=",
                s.Binary("+", name("a"), integer(1)),
                s.Binary("*", name("b"), integer(2)),
            ),
        ),
        ("--a", s.Unary("-", s.Unary("-", name("a")))),
        ("a - -1", s.Binary("-", name("a"), s.Unary("-", integer(1)))),
        ("-a.Item1", s.Unary("-", s.Member(name("a"), "Item1"))),
    ],
)
def test_operators_follow_the_precedence_of_the_grammar(source: str, expected: s.Expr) -> None:
    assert value(source) == expected


@pytest.mark.parametrize("op", ["==", "!=", "<", "<=", ">", ">="])
def test_every_comparison(op: str) -> None:
    assert value(f"a {op} 1") == s.Binary(op, name("a"), integer(1))


def test_tuple_items_and_indexes_are_postfix_operations() -> None:
    assert value("t.Item1") == s.Member(name("t"), "Item1")
    assert value("frames[0]") == s.Index(name("frames"), integer(0))
    assert value("pairs[i + 1].Item2") == s.Member(
        s.Index(name("pairs"), s.Binary("+", name("i"), integer(1))), "Item2"
    )
    assert value("Zip(a, b)[0].Item1.Length") == s.Member(
        s.Member(s.Index(call("Zip", name("a"), name("b")), integer(0)), "Item1"), "Length"
    )
    assert value("grid[0][1]") == s.Index(s.Index(name("grid"), integer(0)), integer(1))


def test_a_dotted_name_used_as_a_value_is_a_variable_and_its_members() -> None:
    member = value("job.scene.name")
    assert member == s.Member(s.Member(name("job"), "scene"), "name")
    assert isinstance(member, s.Member)
    assert isinstance(member.target, s.Member)
    assert isinstance(member.target.target, s.NameRef)
    assert member.target.target.span == s.Span(3, 12, 3, 15)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("Count(c)", call("Count", name("c"))),
        ("Concat(a, b)", call("Concat", name("a"), name("b"))),
        (
            'Format("{0} of {1}", a, b)',
            call("Format", s.StringLiteral("{0} of {1}"), name("a"), name("b")),
        ),
        ("Zip(a, b, c)", call("Zip", name("a"), name("b"), name("c"))),
        ("Int.Range(0, 10)", call("Int.Range", integer(0), integer(10))),
        ("Long.Range(0, n, 2)", call("Long.Range", integer(0), name("n"), integer(2))),
        (
            "Double.Range(0.5, 1.5)",
            call("Double.Range", s.DecimalLiteral(0.5), s.DecimalLiteral(1.5)),
        ),
        ('Int("5")', call("Int", s.StringLiteral("5"))),
        ("ProcessingOptions()", call("ProcessingOptions")),
        (
            'ProcessingOptions("Queued", 4)',
            call("ProcessingOptions", s.StringLiteral("Queued"), integer(4)),
        ),
    ],
)
def test_calls_of_helpers_ranges_constructors_and_options(source: str, expected: s.Expr) -> None:
    assert value(source) == expected


# ---------------------------------------------------------------- arrows


def test_grid_for_each_with_processing_options() -> None:
    arrow = value(
        'Grid.ForEach(f in frames, ProcessingOptions("Balanced", 8)) => Renderer.RenderFrame(f)'
    )
    assert arrow == s.Arrow(
        "Grid.ForEach",
        (
            s.Binding("f", name("frames")),
            call("ProcessingOptions", s.StringLiteral("Balanced"), integer(8)),
        ),
        call("Renderer.RenderFrame", name("f")),
    )


def test_grid_delegate_without_and_with_options() -> None:
    assert value("Grid.Delegate => Video.Compose(images)") == s.Arrow(
        "Grid.Delegate", None, call("Video.Compose", name("images"))
    )
    assert value("Grid.Delegate() => Video.Compose(images)") == s.Arrow(
        "Grid.Delegate", (), call("Video.Compose", name("images"))
    )
    assert value("Grid.Delegate(options) => Video.Compose(images)") == s.Arrow(
        "Grid.Delegate", (name("options"),), call("Video.Compose", name("images"))
    )


def test_transform_for_each() -> None:
    assert value("Transform.ForEach(x in Int.Range(0, 4)) => Compute.Square(x)") == s.Arrow(
        "Transform.ForEach",
        (s.Binding("x", call("Int.Range", integer(0), integer(4))),),
        call("Compute.Square", name("x")),
    )


def test_an_arrow_body_is_any_expression_so_the_checker_can_refuse_it() -> None:
    assert value("Grid.ForEach(x in xs) => x + 1") == s.Arrow(
        "Grid.ForEach", (s.Binding("x", name("xs")),), s.Binary("+", name("x"), integer(1))
    )


def test_arrows_as_assignments_and_as_statements() -> None:
    assert statement("images = Grid.ForEach(f in frames) => R.Render(f);") == s.Assignment(
        "images",
        s.Arrow("Grid.ForEach", (s.Binding("f", name("frames")),), call("R.Render", name("f"))),
    )
    assert statement("Grid.Delegate => Disk.Clean();") == s.ArrowStatement(
        s.Arrow("Grid.Delegate", None, call("Disk.Clean"))
    )


# ---------------------------------------------------------------- commands


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("Break;", call("Break")),
        ("Break();", call("Break")),
        ("Continue;", call("Continue")),
        ("Continue();", call("Continue")),
        ("Return(a, b);", call("Return", name("a"), name("b"))),
        ('Trace("hi");', call("Trace", s.StringLiteral("hi"))),
        (
            'Trace("bad input", true);',
            call("Trace", s.StringLiteral("bad input"), s.BoolLiteral(True)),
        ),
        ("Pause(100);", call("Pause", integer(100))),
        ('Pause(100, "waiting");', call("Pause", integer(100), s.StringLiteral("waiting"))),
        ("Disk.Clean;", call("Disk.Clean")),
    ],
)
def test_commands_are_calls_and_bare_names_are_calls_without_arguments(
    source: str, expected: s.Call
) -> None:
    command = statement(source)
    assert command == s.CallStatement(expected)


# ---------------------------------------------------------------- composites


def composite(
    callee: str,
    args: tuple[s.Arg, ...],
    body: tuple[s.Statement, ...],
    else_body: s.Block | None = None,
) -> s.Composite:
    return s.Composite(callee, args, s.Block(body), else_body)


BREAK = s.CallStatement(call("Break"))
CONTINUE = s.CallStatement(call("Continue"))


def test_if_without_and_with_else() -> None:
    assert statement("If(a > 1) { Break; }") == composite(
        "If", (s.Binary(">", name("a"), integer(1)),), (BREAK,)
    )
    with_else = statement("If(a)\n{\n    Break;\n}\nElse\n{\n    Continue;\n}")
    assert with_else == composite("If", (name("a"),), (BREAK,), s.Block((CONTINUE,)))
    assert isinstance(with_else, s.Composite)
    assert with_else.else_span == s.Span(7, 1, 7, 5)
    assert with_else.name_span == s.Span(3, 1, 3, 3)


def test_else_if_chains_nest() -> None:
    assert statement("If(a) { } Else { If(b) { } Else { } }") == composite(
        "If",
        (name("a"),),
        (),
        s.Block((composite("If", (name("b"),), (), s.Block(())),)),
    )


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("Loop(3) { Break; }", composite("Loop", (integer(3),), (BREAK,))),
        (
            "ForEach(t in Zip(a, b)) { Trace(t.Item1); }",
            composite(
                "ForEach",
                (s.Binding("t", call("Zip", name("a"), name("b"))),),
                (s.CallStatement(call("Trace", s.Member(name("t"), "Item1"))),),
            ),
        ),
        (
            "Parallel.ForEach(x in xs) { Continue; }",
            composite("Parallel.ForEach", (s.Binding("x", name("xs")),), (CONTINUE,)),
        ),
        ("Invoke() { Break; }", composite("Invoke", (), (BREAK,))),
        ("Parallel.Invoke() { }", composite("Parallel.Invoke", (), ())),
        ("Delay(500) { }", composite("Delay", (integer(500),), ())),
        ("Timer(100) { }", composite("Timer", (integer(100),), ())),
        ("Timer(100, 5000) { }", composite("Timer", (integer(100), integer(5000)), ())),
    ],
    ids=[
        "Loop",
        "ForEach",
        "Parallel.ForEach",
        "Invoke",
        "Parallel.Invoke",
        "Delay",
        "Timer",
        "Timer-timeout",
    ],
)
def test_block_activities(source: str, expected: s.Composite) -> None:
    assert statement(source) == expected


def test_blocks_nest_and_own_their_statements() -> None:
    nested = statement(
        """Parallel.Invoke()
        {
            ForEach(t in pairs)
            {
                Int:x = t.Item2;
                If(x % 2 == 0) { Continue; }
                Loop(x) { Trace(x); }
            }
            Grid.Delegate => Disk.Clean();
        }"""
    )
    assert nested == composite(
        "Parallel.Invoke",
        (),
        (
            composite(
                "ForEach",
                (s.Binding("t", name("pairs")),),
                (
                    s.Declaration("Int", "x", s.Member(name("t"), "Item2")),
                    composite(
                        "If",
                        (s.Binary("==", s.Binary("%", name("x"), integer(2)), integer(0)),),
                        (CONTINUE,),
                    ),
                    composite("Loop", (name("x"),), (s.CallStatement(call("Trace", name("x"))),)),
                ),
            ),
            s.ArrowStatement(s.Arrow("Grid.Delegate", None, call("Disk.Clean"))),
        ),
    )


def test_else_after_a_block_other_than_if_parses_so_the_checker_can_name_it() -> None:
    loop = statement("Loop(2) { } Else { }")
    assert loop == composite("Loop", (integer(2),), (), s.Block(()))


def test_a_whole_script_keeps_its_statements_in_order() -> None:
    kinds = [
        type(st)
        for st in statements(
            """
            Int:n = 3;
            n = n - 1;
            Trace(n);
            Grid.Delegate => Disk.Clean();
            Loop(n) { }
            """
        )
    ]
    assert kinds == [s.Declaration, s.Assignment, s.CallStatement, s.ArrowStatement, s.Composite]
