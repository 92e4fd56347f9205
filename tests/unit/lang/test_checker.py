"""The checker accepts every well-typed construct of LANGUAGE.md and gives it the right static type.

Scripts are checked against the real library (built-ins and the compute plugin); the first,
published script also needs a render plugin, defined here the way a plugin author would.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import pytest

from witengine.lang import syntax as s
from witengine.lang.checker import CheckedJob, check, check_source
from witengine.lang.errors import ScriptError
from witengine.lang.parser import parse
from witengine.plugins import compute, render, tool, video
from witengine.plugins.api import Plugin
from witengine.plugins.registry import build_library
from witengine.runtime.library import Json, Library

EXAMPLES = Path(__file__).parents[3] / "examples"
# The examples use every shipped plugin.
SHIPPED = build_library([compute.plugin, render.plugin, tool.plugin, video.plugin])
COMPUTE = build_library([compute.plugin])

# ------------------------------------------------------------ a render plugin

render = Plugin("render-check", version="1.0")


@render.type("Frame", accepts=("Int", "Long", "String"))
@dataclass(frozen=True)
class Frame:
    number: int

    @classmethod
    def from_value(cls, value: Any) -> Self:
        return cls(int(value))

    def to_json(self) -> Json:
        return self.number

    @classmethod
    def from_json(cls, data: Json) -> Self:
        return cls(int(data))


@render.type("Image", accepts=("String",))
@dataclass(frozen=True)
class Image:
    name: str

    @classmethod
    def from_value(cls, value: Any) -> Self:
        return cls(str(value))

    def to_json(self) -> Json:
        return self.name

    @classmethod
    def from_json(cls, data: Json) -> Self:
        return cls(str(data))


@render.type("Video", accepts=("String",))
@dataclass(frozen=True)
class Video:
    name: str

    @classmethod
    def from_value(cls, value: Any) -> Self:
        return cls(str(value))

    def to_json(self) -> Json:
        return self.name

    @classmethod
    def from_json(cls, data: Json) -> Self:
        return cls(str(data))


@render.activity("Renderer.RenderFrame")
def render_frame(frame: Frame) -> Image:
    """An image of the frame."""
    return Image(f"frame-{frame.number}.png")


@render.activity("Video.Compose")
def compose(images: list[Image]) -> Video:
    """A video of the images, in order."""
    return Video("+".join(image.name for image in images))


WITH_RENDER = build_library([compute.plugin, render])

# -------------------------------------------------------------------- helpers


def checked(source: str, library: Library = COMPUTE) -> CheckedJob:
    """Check a script; fail the test with the rendered errors if it does not pass."""
    try:
        return check_source(textwrap.dedent(source).strip(), library, "job.wit")
    except ScriptError as error:
        pytest.fail(f"the script should check cleanly:\n{error.render()}")


def body(statements: str, params: str = "") -> str:
    return f"Job:T({params})\n{{\n{textwrap.dedent(statements).strip()}\n}}\n"


def variables(statements: str, params: str = "") -> dict[str, str]:
    """The top-level variables a well-typed job declares, with their declared types."""
    return {name: str(t) for name, t in checked(body(statements, params)).variables}


def static_type(statements: str, params: str = "") -> str:
    """The static type the checker gives the value assigned to `Tuple:probe`.

    Tuple's constructor accepts nothing, so the checker names the type it found for any other
    type in its message; a Tuple is returned as such.
    """
    try:
        check_source(body(statements, params), COMPUTE, "job.wit")
    except ScriptError as error:
        (diagnostic,) = error.diagnostics
        found = re.fullmatch(r"cannot assign (\S+) to 'probe' of type Tuple", diagnostic.message)
        assert found is not None, error.render()
        return found.group(1)
    return "Tuple"


# ------------------------------------------------------------------ the first script

FIRST_SCRIPT = """Job:RenderAnimation(FrameCollection:frames)
{
~ Distribute rendering across all available machines ~
ImageCollection:images = Grid.ForEach(frame in frames)
=> Renderer.RenderFrame(frame);
Video:result = Video.Compose(images);
}"""


def test_the_published_first_script_checks_unchanged() -> None:
    job = check_source(FIRST_SCRIPT, WITH_RENDER, "render.wit")
    assert job.name == "RenderAnimation"
    assert [(p.name, str(p.type), p.default) for p in job.parameters] == [
        ("frames", "FrameCollection", None)
    ]
    assert [(name, str(t)) for name, t in job.variables] == [
        ("images", "ImageCollection"),
        ("result", "Video"),
    ]


def test_the_first_script_needs_its_plugin() -> None:
    with pytest.raises(ScriptError) as raised:
        check_source(FIRST_SCRIPT, COMPUTE, "render.wit")
    messages = [d.message for d in raised.value.diagnostics]
    assert "unknown type 'FrameCollection'" in messages
    assert "unknown activity 'Renderer.RenderFrame'" in messages


def test_the_errors_example_of_section_5_renders_as_the_contract_shows() -> None:
    source = FIRST_SCRIPT.replace(
        "ImageCollection:images = Grid.ForEach(frame in frames)\n=> Renderer.RenderFrame",
        "ImageCollection:images = Grid.ForEach(frame in frames) => Renderer.RenderFrme",
    )
    with pytest.raises(ScriptError) as raised:
        check_source(source, WITH_RENDER, "render.wit")
    # LANGUAGE.md prints "render.wit:4:32" with the caret one column right of 'Renderer';
    # the name really starts at column 59 of line 4, where this caret and column point.
    assert raised.value.render() == (
        "render.wit:4:59: unknown activity 'Renderer.RenderFrme'\n"
        "    ImageCollection:images = Grid.ForEach(frame in frames) => "
        "Renderer.RenderFrme(frame);\n"
        "                                                              ^~~~~~~~~~~~~~~~~~~\n"
        "    did you mean 'Renderer.RenderFrame'?"
    )


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.wit")), ids=lambda p: p.name)
def test_every_example_script_checks(path: Path) -> None:
    job = check_source(path.read_text("utf-8"), SHIPPED, str(path))
    assert job.variables, "an example declares results"


def test_the_primes_example_has_the_types_its_text_declares() -> None:
    job = check_source((EXAMPLES / "primes.wit").read_text("utf-8"), COMPUTE, "primes.wit")
    assert [(p.name, str(p.type)) for p in job.parameters] == [("n", "Long")]
    assert job.parameters[0].default == s.IntLiteral(20000)
    assert [(name, str(t)) for name, t in job.variables] == [
        ("numbers", "LongCollection"),
        ("flags", "BoolCollection"),
        ("count", "Int"),
    ]


# ---------------------------------------------------------------- static types


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("42", "Int"),
        ("-7", "Int"),
        ("3000000000", "Long"),
        ("3.25", "Double"),
        ("1e-3", "Double"),
        ('"text"', "String"),
        ("true", "Bool"),
        ("False", "Bool"),
        ("[1, 2, 3]", "IntCollection"),
        ("[1, 3000000000]", "LongCollection"),
        ("[1, 2.5]", "DoubleCollection"),
        ('["a", null]', "StringCollection"),
        ("[[1, 2], [3]]", "IntCollectionCollection"),
        ('[1, "a"]', "ObjectCollection"),
        ("1 + 2 * 3", "Int"),
        ("7 % 2", "Int"),
        ("1 + 3000000000", "Long"),
        ("1 / 2.0", "Double"),
        ('"n = " + 3', "String"),
        ("1 < 2 && !false || 1 == 2", "Bool"),
        ("-(1.5)", "Double"),
        ("(1 + 2)", "Int"),
        ("[10, 20][0]", "Int"),
        ('"abc"[1]', "String"),
        ('"abc".Length', "Int"),
        ("[1, 2].Count", "Int"),
        ('Color("#3366AA").R', "Int"),
        ('TimeSpan("0:01:30").TotalSeconds', "Double"),
        ('Int("5")', "Int"),
        ('Long("5")', "Long"),
        ('Color("#FFAA00")', "Color"),
        ('TimeSpan("0:01:30")', "TimeSpan"),
        ('DateTime("2024-05-01T12:00:00")', "DateTime"),
        ('IntCollection(["1", "2"])', "IntCollection"),
        ("Int.Range(0, 10)", "IntCollection"),
        ("Int.Range(0, 10, 2)", "IntCollection"),
        ("Long.Range(0, 10)", "LongCollection"),
        ("Double.Range(0, 1, 0.25)", "DoubleCollection"),
        ('Zip([1, 2], ["a", "b"])', "TupleCollection"),
        ("Zip([1], [2], [3])", "TupleCollection"),
        ('Zip([1, 2], ["a", "b"])[0].Item1', "Int"),
        ('Zip([1, 2], ["a", "b"])[0].Item2', "String"),
        ('Tuple(1, "a", true).Item3', "Bool"),
        ("Count([1, 2])", "Int"),
        ('Count("text")', "Int"),
        ("Concat([1], [2])", "IntCollection"),
        ("Concat([1], [])", "IntCollection"),
        ('Concat([1], ["a"])', "ObjectCollection"),
        ('Concat("a", 1)', "String"),
        ('Format("{0} of {1}", 1, 2)', "String"),
        ('ProcessingOptions("Balanced", 4)', "ProcessingOptions"),
        ("Guid.New()", "Guid"),
        ("Compute.IsPrime(7)", "Bool"),
        ('Compute.Hash("a")', "String"),
        ("Compute.Work(1.5)", "Double"),
        ("Compute.Sleep(5)", "Int"),
        ('Compute.WriteText("hello", "a.txt")', "Blob"),
        ('Compute.ReadText(Compute.WriteText("hello", "a.txt"))', "String"),
    ],
)
def test_an_expression_has_the_static_type_its_form_gives(expr: str, expected: str) -> None:
    assert static_type(f"Tuple:probe = {expr};") == expected


def test_a_tuple_value_keeps_its_tuple_type() -> None:
    assert static_type('Tuple:probe = Tuple(1, "a");') == "Tuple"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Grid.ForEach(x in Int.Range(0, 5)) => Compute.IsPrime(x)", "BoolCollection"),
        (
            'Grid.ForEach(x in ["a"], ProcessingOptions("Queued")) => Compute.Hash(x)',
            "StringCollection",
        ),
        ('Grid.ForEach(x in [1], "Balanced") => Compute.Work(x)', "DoubleCollection"),
        ('Grid.Delegate => Compute.Hash("a")', "String"),
        ('Grid.Delegate(ProcessingOptions("Adaptive", 2)) => Compute.Sleep(5)', "Int"),
        ('Transform.ForEach(x in [1, 2]) => Format("{0}", x)', "StringCollection"),
        ('Transform.ForEach(x in ["1", "2"]) => Int(x)', "IntCollection"),
        ('Transform.ForEach(p in Zip([1], ["a"])) => Compute.Hash(p.Item2)', "StringCollection"),
    ],
)
def test_an_arrow_has_the_type_of_its_call_once_or_per_item(value: str, expected: str) -> None:
    assert static_type(f"Tuple:probe = {value};") == expected


@pytest.mark.parametrize(
    ("statements", "expected"),
    [
        ("ForEach(x in Int.Range(0, 3)) { Tuple:probe = x; }", "Int"),
        ('ForEach(x in ["a"]) { Tuple:probe = x; }', "String"),
        ("ForEach(p in Zip(Int.Range(0, 3), [true])) { Tuple:probe = p.Item1; }", "Int"),
        ("ForEach(p in Zip(Int.Range(0, 3), [true])) { Tuple:probe = p.Item2; }", "Bool"),
        ('ForEach(p in Zip([1], ["a"], [2.5])) { Tuple:probe = p.Item3; }', "Double"),
        ("ForEach(row in [[1, 2], [3]]) { Tuple:probe = row; }", "IntCollection"),
        ("Parallel.ForEach(x in Long.Range(0, 3)) { Tuple:probe = x; }", "Long"),
        ("Parallel.ForEach(x in [1.5], 2) { Tuple:probe = x; }", "Double"),
        ("Grid.ForEach(x in [1]) => Compute.Hash(x); Tuple:probe = [1];", "IntCollection"),
        ("Int:n = 3; If(n > 2) { Tuple:probe = n; }", "Int"),
        ("Loop(2) { Tuple:probe = Compute.IsPrime(3); }", "Bool"),
    ],
)
def test_a_loop_variable_has_the_element_type_of_its_collection(
    statements: str, expected: str
) -> None:
    assert static_type(statements) == expected


def test_a_job_parameter_has_its_declared_type_in_the_body() -> None:
    assert static_type("Tuple:probe = frames;", "IntCollection:frames") == "IntCollection"
    assert static_type("ForEach(f in frames) { Tuple:probe = f; }", "LongCollection:frames") == (
        "Long"
    )


def test_items_of_an_empty_array_or_of_an_object_are_objects() -> None:
    assert variables("ForEach(x in []) { Int:y = x; } Object:o = 1; ForEach(z in o) { }") == {
        "o": "Object"
    }


# ------------------------------------------------ declarations and implicit constructors


@pytest.mark.parametrize(
    "declaration",
    [
        'Color:c = "#3366AA";',
        'Color:c = Color("#3366AA");',
        'TimeSpan:t = "0:01:30";',
        "TimeSpan:t = 90000;",
        'DateTime:d = "2024-05-01T12:00:00";',
        'Guid:g = "6f9619ff-8b86-d011-b42d-00c04fc964ff";',
        'ProcessingOptions:o = "Queued";',
        'Int:i = "5";',
        "Long:l = 5;",
        "Double:d = 5;",
        "Float:f = 1.5;",
        "Int:i = Compute.Sleep(1); Long:l = i; Int:back = l;",
        "String:s = 5;",
        'String:s = Color("#3366AA");',
        'Blob:b = "sha256:00";',
        "Object:o = [1, 2];",
        'Object:o = Tuple(1, "a");',
        "Object:o = null;",
        "String:s = null;",
        "Int:i;",
        "IntCollection:xs;",
        "IntCollection:xs = [];",
        "IntCollection:xs = null;",
        'IntCollection:xs = ["1", 2];',
        "LongCollection:xs = Int.Range(0, 3);",
        "DoubleCollection:xs = [1, 2, 3];",
        'ColorCollection:cs = ["#FFAA00", "#3366AA"];',
        'ObjectCollection:os = [1, "a", [2]];',
        "TupleCollection:ts = Zip([1], [2]);",
        "BlobCollection:bs = [];",
        "IntCollectionCollection:m = [[1, 2], []];",
        "Bool:b = Compute.IsPrime(7);",
        'Bool:b = "true";',
    ],
)
def test_a_declaration_accepts_its_type_or_what_its_constructor_accepts(declaration: str) -> None:
    checked(body(declaration))


def test_top_level_declarations_are_the_job_variables_in_order_with_declared_types() -> None:
    assert variables(
        """
        Int:count = 0;
        Color:c = "#3366AA";
        ForEach(x in Int.Range(0, 3))
        {
            Int:inner = x;
            count = count + inner;
        }
        IntCollection:numbers;
        DoubleCollection:more = [1, 2];
        """,
        "Long:n",
    ) == {
        "count": "Int",
        "c": "Color",
        "numbers": "IntCollection",
        "more": "DoubleCollection",
    }


def test_job_parameters_keep_their_types_and_defaults_in_order() -> None:
    job = checked(
        """
        Job:Defaults(Long:n = 20000, String:name = "frames", IntCollection:xs = [1, 2],
                     Color:c = "#3366AA", Int:half = n / 2, Blob:input)
        {
            Trace(Format("{0} {1} {2} {3} {4} {5}", n, name, xs, c, half, input));
        }
        """
    )
    assert [(p.name, str(p.type)) for p in job.parameters] == [
        ("n", "Long"),
        ("name", "String"),
        ("xs", "IntCollection"),
        ("c", "Color"),
        ("half", "Int"),
        ("input", "Blob"),
    ]
    assert job.parameters[0].default == s.IntLiteral(20000)
    assert job.parameters[1].default == s.StringLiteral("frames")
    assert job.parameters[2].default == s.ArrayLiteral((s.IntLiteral(1), s.IntLiteral(2)))
    assert job.parameters[5].default is None
    assert job.variables == ()


# ------------------------------------------------------------ every language form


@pytest.mark.parametrize(
    "statements",
    [
        pytest.param('If(1 < 2) { Trace("yes"); }', id="If"),
        pytest.param('If(true) { Trace("yes"); } Else { Trace("no"); }', id="If-Else"),
        pytest.param(
            'Int:n = 3; If(n == 1) { Trace("one"); } Else { If(n == 2) { Trace("two"); } }',
            id="If-Else-If",
        ),
        pytest.param("Int:i = 0; Loop(10) { i = i + 1; }", id="Loop"),
        pytest.param("Loop(Count([1, 2])) { Break; }", id="Loop-count-expression"),
        pytest.param("ForEach(x in [1, 2]) { Trace(x); }", id="ForEach"),
        pytest.param(
            'ForEach(p in Zip([1, 2], ["a", "b"])) { Trace(Format("{0}={1}", p.Item1, p.Item2)); }',
            id="ForEach-tuples",
        ),
        pytest.param(
            "TupleCollection:ts = Zip([1], [2]); ForEach(t in ts) { Int:a = t.Item1; }",
            id="ForEach-declared-tuples",
        ),
        pytest.param("Parallel.ForEach(x in Int.Range(0, 8)) { Trace(x); }", id="Parallel.ForEach"),
        pytest.param("Parallel.ForEach(x in [1], 4) { Trace(x); }", id="Parallel.ForEach-max"),
        pytest.param('Invoke() { Trace("a"); Trace("b"); }', id="Invoke"),
        pytest.param('Parallel.Invoke() { Compute.Sleep(10); Trace("b"); }', id="Parallel.Invoke"),
        pytest.param('Delay(500) { Trace("later"); }', id="Delay"),
        pytest.param('Timer(1000) { Trace("tick"); }', id="Timer"),
        pytest.param('Timer(1000, 10000) { Trace("tick"); }', id="Timer-timeout"),
        pytest.param("Pause(250);", id="Pause"),
        pytest.param('Pause(250, "settle");', id="Pause-message"),
        pytest.param("Return();", id="Return-nothing"),
        pytest.param('Return(1, "a", [true]);', id="Return-values"),
        pytest.param('Trace("a line");', id="Trace"),
        pytest.param('Trace(42); Trace([1]); Trace("stop", true);', id="Trace-any-fail"),
        pytest.param("Compute.Sleep(1);", id="activity-statement-result-ignored"),
        pytest.param('Compute.Fail("on purpose");', id="activity-returning-nothing"),
        pytest.param("Grid.ForEach(x in [1, 2]) => Compute.Sleep(x);", id="Grid.ForEach-statement"),
        pytest.param('Grid.Delegate => Compute.Fail("x");', id="Grid.Delegate-statement"),
        pytest.param(
            "Transform.ForEach(x in [1]) => Compute.Sleep(x);", id="Transform.ForEach-statement"
        ),
        pytest.param(
            'ProcessingOptions:o = ProcessingOptions("Balanced"); '
            "IntCollection:r = Grid.ForEach(x in [1], o) => Compute.Sleep(x);",
            id="Grid.ForEach-options-variable",
        ),
        pytest.param(
            "StringCollection:hs = Grid.ForEach(i in Int.Range(0, 3)) "
            '=> Compute.Hash(Format("{0}", i));',
            id="Grid.ForEach-hub-helpers-in-arguments",
        ),
        pytest.param(
            "LongCollection:ns = Long.Range(2, 50); "
            "BoolCollection:ps = Grid.ForEach(n in ns) => Compute.IsPrime(n);",
            id="Grid.ForEach-declared",
        ),
        pytest.param("~ a comment ~ Int:x = 1; ~ another\nover lines ~", id="comments"),
    ],
)
def test_a_well_typed_use_of_each_form_checks(statements: str) -> None:
    checked(body(statements))


@pytest.mark.parametrize(
    "loop", ["Loop(3)", "ForEach(x in [1])", "Parallel.ForEach(x in [1])", "Timer(10)"]
)
@pytest.mark.parametrize(
    "inside",
    [
        "Break;",
        "Continue;",
        "Break();",
        "Continue();",
        "If(true) { Break; } Else { Continue; }",
        "Invoke() { Break; }",
        "Delay(1) { Continue; }",
        "Loop(2) { Break; } Continue;",
    ],
)
def test_break_and_continue_check_anywhere_inside_a_loop(loop: str, inside: str) -> None:
    checked(body(f"{loop} {{ {inside} }}"))


# ------------------------------------------------------------------------ scope


def test_an_inner_block_sees_and_assigns_outer_variables_and_parameters() -> None:
    assert variables(
        """
        Int:total = 0;
        ForEach(x in Int.Range(0, 3))
        {
            If(x > 0)
            {
                total = total + x + limit;
            }
        }
        """,
        "Int:limit = 1",
    ) == {"total": "Int"}


def test_the_same_name_may_be_declared_in_sibling_blocks_and_shadow_an_outer_one() -> None:
    assert variables(
        """
        Int:x = 1;
        If(x > 0) { String:x = "inner"; Int:y = 2; } Else { Bool:y = true; }
        ForEach(i in [1]) { Int:y = i; }
        ForEach(i in ["a"]) { String:y = i; }
        Loop(2) { Int:x = 3; }
        """
    ) == {"x": "Int"}


def test_a_loop_variable_may_reuse_the_name_of_an_outer_variable() -> None:
    checked(body('String:x = "outer"; ForEach(x in [1, 2]) { Int:y = x; } Trace(x);'))


def test_an_arrow_loop_variable_lives_only_in_its_call() -> None:
    assert variables(
        "IntCollection:x = Grid.ForEach(x in [1, 2]) => Compute.Sleep(x); Int:n = x.Count;"
    ) == {"x": "IntCollection", "n": "Int"}


def test_a_parameter_default_may_use_an_earlier_parameter() -> None:
    job = checked("Job:T(Int:a = 2, Int:b = a * 2) { Trace(b); }")
    assert [p.name for p in job.parameters] == ["a", "b"]


# ------------------------------------------------------------------- the API


def test_checking_a_parsed_tree_gives_what_checking_the_source_gives() -> None:
    source = (EXAMPLES / "primes.wit").read_text("utf-8")
    from_tree = check(parse(source, "primes.wit"), COMPUTE, source, "primes.wit")
    from_source = check_source(source, COMPUTE, "primes.wit")
    assert from_tree == from_source
    assert from_tree.job == parse(source)


def test_a_checked_job_keeps_its_source_and_file_name() -> None:
    source = 'Job:Hello() { Trace("hi"); }'
    job = check_source(source, COMPUTE, "hello.wit")
    assert (job.name, job.source, job.filename) == ("Hello", source, "hello.wit")
