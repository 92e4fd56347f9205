"""A syntax error names its file, line and column, shows the line and a caret under the spot."""

from __future__ import annotations

import re
import time

import pytest

from witengine.errors import WitError
from witengine.lang.errors import ScriptError
from witengine.lang.parser import parse

HEADER = re.compile(r"^bad\.wit:(\d+):(\d+): ")


def syntax_error(source: str) -> ScriptError:
    with pytest.raises(ScriptError) as caught:
        parse(source, "bad.wit")
    return caught.value


REPORTS = [
    pytest.param(
        "Job:A()\n{\n    Int:x = 1 # 2;\n}\n",
        (
            "bad.wit:3:15: unexpected character '#'",
            "        Int:x = 1 # 2;",
            "                  ^",
        ),
        id="unexpected-character",
    ),
    pytest.param(
        "Job:A()\n{\n    String:s = 'single';\n}\n",
        (
            'bad.wit:3:16: unexpected character "\'"',
            "        String:s = 'single';",
            "                   ^",
        ),
        id="unexpected-character-quote",
    ),
    pytest.param(
        "Job:A()\n{\n    ~ never closed\n    Int:x = 1;\n}\n",
        (
            "bad.wit:3:5: unterminated comment",
            "        ~ never closed",
            "        ^",
            "    a comment ends with a second '~'",
        ),
        id="unterminated-comment",
    ),
    pytest.param(
        'Job:A()\n{\n    Trace("half);\n}\n',
        (
            "bad.wit:3:11: unterminated string",
            '        Trace("half);',
            "              ^",
            "    a string ends with '\"' on its line",
        ),
        id="unterminated-string",
    ),
    pytest.param(
        'Job:A()\n{\n    Trace("one\n    two");\n}\n',
        (
            "bad.wit:3:11: unterminated string",
            '        Trace("one',
            "              ^",
            "    a string ends with '\"' on its line",
        ),
        id="string-broken-by-line",
    ),
    pytest.param(
        'Job:A()\n{\n    Trace("C:\\temp\\new\\x");\n}\n',
        (
            "bad.wit:3:22: unknown escape '\\x' in string",
            '        Trace("C:\\temp\\new\\x");',
            "                         ^~",
            '    the escapes are \\" \\\\ \\n \\t and \\uXXXX',
        ),
        id="unknown-escape",
    ),
    pytest.param(
        "Job:A()\n{\n    Double:d = 1e400;\n}\n",
        (
            "bad.wit:3:16: number is too large",
            "        Double:d = 1e400;",
            "                   ^~~~~",
        ),
        id="number-too-large",
    ),
    pytest.param(
        "Job:A()\n{\n    Else\n    {\n    }\n}\n",
        (
            "bad.wit:3:5: 'Else' must follow the block of an If",
            "        Else",
            "        ^~~~",
            "    write: If(c) { … } Else { … }",
        ),
        id="else-at-statement-start",
    ),
    pytest.param(
        'Job:A()\n{\n    Trace("x");\n    Else { }\n}\n',
        (
            "bad.wit:4:5: 'Else' must follow the block of an If",
            "        Else { }",
            "        ^~~~",
            "    write: If(c) { … } Else { … }",
        ),
        id="else-after-call",
    ),
    pytest.param(
        "Job:A(Bool:b)\n{\n    If(b) { } Else { } Else { }\n}\n",
        (
            "bad.wit:3:24: 'Else' must follow the block of an If",
            "        If(b) { } Else { } Else { }",
            "                           ^~~~",
            "    write: If(c) { … } Else { … }",
        ),
        id="second-else",
    ),
    pytest.param(
        "Job:A(Bool:b)\n{\n    If(b) { } Else If(!b) { }\n}\n",
        (
            "bad.wit:3:20: expected '{' after 'Else', found name 'If'",
            "        If(b) { } Else If(!b) { }",
            "                       ^~",
            "    an Else takes a block; for else-if write: Else { If(c) { … } }",
        ),
        id="else-if",
    ),
    pytest.param(
        "Job:A(Bool:b)\n{\n    If(b) { } Else\n}\n",
        (
            "bad.wit:4:1: expected '{' after 'Else', found '}'",
            "    }",
            "    ^",
            "    an Else takes a block; for else-if write: Else { If(c) { … } }",
        ),
        id="else-without-block",
    ),
    pytest.param(
        "Job:A()\n{\n    Int:x = 1\n    Int:y = 2;\n}\n",
        (
            "bad.wit:3:14: expected ';' before name 'Int'",
            "        Int:x = 1",
            "                 ^",
        ),
        id="semicolon-at-end-of-line",
    ),
    pytest.param(
        "Job:A()\n{\n    Int:x = 1 ~ one ~\n    ~ two ~ Int:y = 2;\n}\n",
        (
            "bad.wit:3:14: expected ';' before name 'Int'",
            "        Int:x = 1 ~ one ~",
            "                 ^",
        ),
        id="semicolon-before-comment",
    ),
    pytest.param(
        "Job:A()\n{\n    Int:x = 1 }\n",
        (
            "bad.wit:3:15: expected ';', found '}'",
            "        Int:x = 1 }",
            "                  ^",
        ),
        id="semicolon-on-same-line",
    ),
    pytest.param(
        "Job:A()\n{\n    Int:x = Count(xs\n    Int:y = 2;\n}\n",
        (
            "bad.wit:4:5: expected ')', '(', ',' or 'in', found name 'Int'",
            "        Int:y = 2;",
            "        ^~~",
        ),
        id="close-paren-on-next-line",
    ),
    pytest.param(
        "Job:A()\n{\n    IntCollection:xs = [1, 2;\n}\n",
        (
            "bad.wit:3:29: expected ']' or ',', found ';'",
            "        IntCollection:xs = [1, 2;",
            "                                ^",
        ),
        id="close-bracket",
    ),
    pytest.param(
        "Job:A()\n{\n    Int:x = ;\n}\n",
        (
            "bad.wit:3:13: expected an expression, found ';'",
            "        Int:x = ;",
            "                ^",
        ),
        id="missing-expression",
    ),
    pytest.param(
        'Job:A()\n{\n    Trace("a", );\n}\n',
        (
            "bad.wit:3:16: expected an expression, found ')'",
            '        Trace("a", );',
            "                   ^",
        ),
        id="trailing-comma",
    ),
    pytest.param(
        "Job:A()\n{\n    Int:x = 1 + * 2;\n}\n",
        (
            "bad.wit:3:17: expected an expression, found '*'",
            "        Int:x = 1 + * 2;",
            "                    ^",
        ),
        id="operator-without-operand",
    ),
    pytest.param(
        "Job:A()\n{\n    Int x = 1;\n}\n",
        (
            "bad.wit:3:9: expected ';', '(', '=>', '=' or ':', found name 'x'",
            "        Int x = 1;",
            "            ^",
        ),
        id="space-instead-of-colon",
    ),
    pytest.param(
        "Job:A(IntCollection:xs)\n{\n    IntCollection:ys = Grid.ForEach(x in xs) => ;\n}\n",
        (
            "bad.wit:3:49: expected an expression, found ';'",
            "        IntCollection:ys = Grid.ForEach(x in xs) => ;",
            "                                                    ^",
        ),
        id="arrow-without-body",
    ),
    pytest.param(
        'Job:A()\n{\n    Loop(3) Trace("x");\n}\n',
        (
            "bad.wit:3:13: expected ';', '{' or '=>', found name 'Trace'",
            '        Loop(3) Trace("x");',
            "                ^~~~~",
        ),
        id="composite-without-block",
    ),
    pytest.param(
        'Job:A()\n{\n    Loop(3)\n    {\n        Trace("x");\n}\n',
        (
            "bad.wit:6:2: expected '}', a name or 'Else', found the end of the script",
            "    }",
            "     ^",
        ),
        id="unclosed-block",
    ),
    pytest.param(
        'Job:A()\n{\n}\nTrace("x");\n',
        (
            "bad.wit:4:1: expected the end of the script, found name 'Trace'",
            '    Trace("x");',
            "    ^~~~~",
        ),
        id="text-after-job",
    ),
    pytest.param(
        "Task:A()\n{\n}\n",
        (
            "bad.wit:1:1: expected 'Job', found name 'Task'",
            "    Task:A()",
            "    ^~~~",
        ),
        id="no-job-keyword",
    ),
    pytest.param(
        "Job A()\n{\n}\n",
        (
            "bad.wit:1:5: expected ':', found name 'A'",
            "    Job A()",
            "        ^",
        ),
        id="job-without-colon",
    ),
    pytest.param(
        "Job:A(frames)\n{\n}\n",
        (
            "bad.wit:1:13: expected ':', found ')'",
            "    Job:A(frames)",
            "                ^",
        ),
        id="parameter-without-type",
    ),
    pytest.param(
        "",
        (
            "bad.wit:1:1: expected 'Job', found the end of the script",
            "    ",
            "    ^",
        ),
        id="empty-script",
    ),
    pytest.param(
        "~ nothing here ~\n",
        (
            "bad.wit:1:1: expected 'Job', found the end of the script",
            "    ~ nothing here ~",
            "    ^",
        ),
        id="comment-only-script",
    ),
    pytest.param(
        "Job:A()\n{\n\tIf(x)\n\t{\n\t\tInt:y = @;\n\t}\n}\n",
        (
            "bad.wit:5:11: unexpected character '@'",
            "            Int:y = @;",
            "                    ^",
        ),
        id="tabs",
    ),
    pytest.param(
        "Job:A()\r\n{\r\n    Int:x = 1 2;\r\n}\r\n",
        (
            "bad.wit:3:15: expected ';', found number '2'",
            "        Int:x = 1 2;",
            "                  ^",
        ),
        id="crlf",
    ),
    pytest.param(
        "Job:A()\x0c\n{\n    Int:x = $;\n}\n",
        (
            "bad.wit:3:13: unexpected character '$'",
            "        Int:x = $;",
            "                ^",
        ),
        id="form-feed-is-not-a-line-break",
    ),
    pytest.param(
        "Job:A()\n{ ~ \u2028 ~\n    Int:x = $;\n}\n",
        (
            "bad.wit:3:13: unexpected character '$'",
            "        Int:x = $;",
            "                ^",
        ),
        id="unicode-line-separator-in-comment",
    ),
    pytest.param(  # one name token to the parser, 1000 member accesses to what walks the tree
        "Job:A()\n{\n    Object:x = y" + ".a" * 1000 + ";\n}\n",
        (
            "bad.wit:3:307: the script nests too deeply here: "
            "more than 150 levels of blocks and expressions",
            "    …" + ".a" * 80 + "…",  # a long line: a window of it, from a little before
            "    " + " " * 41 + "^",
            "    split the expression or the blocks, e.g. with variables for the parts",
        ),
        id="nested-too-deeply-members",
    ),
    pytest.param(
        "Job:A()\n{\n    Object:x = " + "(" * 1000 + "1" + ")" * 1000 + ";\n}\n",
        (
            "bad.wit:3:161: the script nests too deeply here: "
            "more than 150 levels of blocks and expressions",
            "    …" + "(" * 160 + "…",
            "    " + " " * 41 + "^",
            "    split the expression or the blocks, e.g. with variables for the parts",
        ),
        id="nested-too-deeply-parentheses",
    ),
    pytest.param(
        'Job:A()\n{\n    Int:x = 1 + "' + "a" * 500 + '" # 2;\n}\n',
        (
            "bad.wit:3:520: unexpected character '#'",
            "    …" + "a" * 154 + '" # 2;',  # the window ends where the line does
            "    " + " " * 157 + "^",
        ),
        id="long-line-shown-around-the-spot",
    ),
]


@pytest.mark.parametrize(("source", "report"), REPORTS)
def test_each_syntax_error_is_reported_with_its_place_line_and_caret(
    source: str, report: tuple[str, ...]
) -> None:
    error = syntax_error(source)
    assert error.render() == "\n".join(report)


@pytest.mark.parametrize(("source", "report"), REPORTS)
def test_each_syntax_error_is_one_diagnostic_at_the_place_its_report_names(
    source: str, report: tuple[str, ...]
) -> None:
    error = syntax_error(source)
    (diagnostic,) = error.diagnostics
    header = HEADER.match(report[0])
    assert header is not None
    assert (diagnostic.span.line, diagnostic.span.column) == (
        int(header[1]),
        int(header[2]),
    )
    assert diagnostic.span.end_line >= diagnostic.span.line
    assert report[0].endswith(diagnostic.message)


def test_a_syntax_error_is_a_wit_error_and_never_a_parser_traceback() -> None:
    error = syntax_error("Job:A() { Int:x = ; }")
    assert isinstance(error, WitError)
    assert str(error) == error.render()
    assert error.__cause__ is None
    assert error.__suppress_context__
    assert error.filename == "bad.wit"


def test_a_syntax_error_travels_as_plain_data() -> None:
    error = syntax_error('Job:A()\n{\n    Trace("C:\\q");\n}\n')
    assert error.to_json() == [
        {
            "file": "bad.wit",
            "line": 3,
            "column": 13,
            "end_line": 3,
            "end_column": 15,
            "message": "unknown escape '\\q' in string",
            "hint": 'the escapes are \\" \\\\ \\n \\t and \\uXXXX',
        }
    ]


def test_the_default_file_name_is_script() -> None:
    with pytest.raises(ScriptError) as caught:
        parse("Job:A() { @ }")
    assert caught.value.render().startswith("<script>:1:11: unexpected character '@'")


def test_a_caret_spans_the_whole_offending_token() -> None:
    error = syntax_error("Job:A()\n{\n    Int:x = 1 longName;\n}\n")
    assert error.render().splitlines()[1:] == [
        "        Int:x = 1 longName;",
        "                  ^~~~~~~~",
    ]


def fifty_line_script() -> list[str]:
    """A realistic 50-line job; line 26 lacks the ')' that closes `Format(`."""
    lines = [
        "~ Render an animation, then compose the video and report on the way ~",
        "Job:RenderReport(FrameCollection:frames, Int:quality = 80, Bool:preview = false)",
        "{",
        "    ~ every frame becomes one task on the farm ~",
        '    ProcessingOptions:options = ProcessingOptions("Adaptive", 16);',
        "    ImageCollection:images = Grid.ForEach(frame in frames, options)",
        "        => Renderer.RenderFrame(frame, quality);",
        "    Int:count = Count(images);",
        "    Int:done = 0;",
        "    IntCollection:indexes = Int.Range(0, count);",
        "    TupleCollection:pairs = Zip(indexes, images);",
        "    ForEach(pair in pairs)",
        "    {",
        "        If(pair.Item1 % 10 == 0)",
        "        {",
        '            Trace(Format("frame {0} of {1}", pair.Item1, count));',
        "        }",
        "        Else",
        "        {",
        "            done = done + 1;",
        "        }",
        "    }",
        "    Loop(3)",
        "    {",
        "        Pause(100);",
        '        Trace(Format("{0} frames done", done);',
        "    }",
        "    If(preview && count > 0)",
        "    {",
        "        Image:first = images[0];",
        "        Return(first);",
        "    }",
        "    Parallel.Invoke()",
        "    {",
        '        Trace("composing");',
        '        Trace("cleaning");',
        "    }",
        "    Timer(1000, 60000)",
        "    {",
        '        Trace("still composing");',
        "        Break;",
        "    }",
        "    Video:result = Grid.Delegate => Video.Compose(images);",
        "    Delay(10)",
        "    {",
        "        Continue;",
        "    }",
        '    Trace(Format("{0} frames in the video", count));',
        "    Return(result);",
        "}",
    ]
    assert len(lines) == 50
    return lines


def test_a_syntax_error_in_the_middle_of_a_fifty_line_script_names_its_line_and_column() -> None:
    lines = fifty_line_script()
    source = "\n".join(lines) + "\n"
    started = time.perf_counter()
    with pytest.raises(ScriptError) as caught:
        parse(source, "bad.wit")
    report = caught.value.render()
    elapsed = time.perf_counter() - started
    print(f"\nparse and report of a 50-line script with a syntax error: {elapsed * 1000:.1f} ms")
    column = lines[25].index(";") + 1
    assert (caught.value.diagnostics[0].span.line, caught.value.diagnostics[0].span.column) == (
        26,
        column,
    )
    assert report.splitlines() == [
        f"bad.wit:26:{column}: expected ')' or ',', found ';'",
        "    " + lines[25],
        " " * (4 + column - 1) + "^",
    ]


def test_the_fifty_line_script_parses_once_its_error_is_fixed() -> None:
    lines = fifty_line_script()
    lines[25] = lines[25].replace("done);", "done));")
    job = parse("\n".join(lines))
    assert len(job.body.statements) == 15


@pytest.mark.parametrize("digits", [101, 4301, 5000, 100_000])
def test_an_integer_too_long_for_a_long_is_a_located_error_however_long(digits: int) -> None:
    """Past 4,300 digits Python's int() refuses the text (it was a 500 on the hub's API)."""
    error = syntax_error(f"Job:A()\n{{\n    Object:x = {'9' * digits};\n}}\n")

    assert str(error).startswith(
        f"bad.wit:3:16: integer of {digits:,} digits is too large "
        "(the largest Long is 9223372036854775807)"
    )


def test_leading_zeros_do_not_make_an_integer_too_large() -> None:
    checked = parse(f"Job:A()\n{{\n    Object:x = {'0' * 5000}7;\n}}\n", "ok.wit")

    assert checked.body.statements
