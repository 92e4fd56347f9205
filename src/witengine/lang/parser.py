"""Text to syntax tree: the only module that knows Lark.

`parse(source, filename)` returns a `Job` or raises `ScriptError` with a located, readable
diagnostic. The grammar lives beside this file in `grammar.lark`.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterator
from importlib import resources
from typing import Any

from lark import Lark, Token, Transformer, Tree, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken, VisitError
from lark.lexer import PatternStr

from witengine.lang import syntax as s
from witengine.lang.errors import Diagnostic, ScriptError
from witengine.lang.expressions import LONG_MAX
from witengine.lang.nesting import MAX_NESTING, nested_too_deeply, too_deep

# A longer integer is refused here; a shorter one past the largest Long, by the checker.
_INTEGER_DIGITS = 100


class _SyntaxProblem(Exception):
    """Raised inside the transformer; turned into a ScriptError by `parse`."""

    def __init__(self, message: str, span: s.Span, hint: str | None = None) -> None:
        super().__init__(message)
        self.diagnostic = Diagnostic(message, span, hint)


def _token_span(token: Token) -> s.Span:
    return s.Span(token.line or 0, token.column or 0, token.end_line or 0, token.end_column or 0)


def _meta_span(meta: Any) -> s.Span:
    if getattr(meta, "empty", True):
        return s.NOWHERE
    return s.Span(meta.line, meta.column, meta.end_line, meta.end_column)


_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "t": "\t"}
_ESCAPE_RE = re.compile(r"\\(u[0-9a-fA-F]{4}|.)")


def _decode_string(token: Token) -> str:
    def replace(match: re.Match[str]) -> str:
        code = match.group(1)
        if code in _ESCAPES:
            return _ESCAPES[code]
        if code.startswith("u") and len(code) == 5:
            return chr(int(code[1:], 16))
        column = (token.column or 0) + match.start()
        span = s.Span(token.line or 0, column, token.line or 0, column + 2)
        raise _SyntaxProblem(
            f"unknown escape '\\{code}' in string",
            span,
            'the escapes are \\" \\\\ \\n \\t and \\uXXXX',
        )

    return _ESCAPE_RE.sub(replace, str(token)[1:-1])


def _value_name(token: Token) -> s.Expr:
    """A dotted name used as a value: the variable, then member accesses (`t.Item1`)."""
    parts = str(token).split(".")
    line, column = token.line or 0, token.column or 0
    expr: s.Expr = s.NameRef(parts[0], span=s.Span(line, column, line, column + len(parts[0])))
    end = column + len(parts[0])
    for part in parts[1:]:
        end += 1 + len(part)
        expr = s.Member(expr, part, span=s.Span(line, column, line, end))
    return expr


@v_args(meta=True)
class _ToSyntax(Transformer[Token, s.Job]):
    """Builds the syntax tree while parsing (Lark calls these methods bottom-up)."""

    def start(self, meta: Any, children: list[Any]) -> s.Job:
        job: s.Job = children[0]
        return job

    def job(self, meta: Any, children: list[Any]) -> s.Job:
        _keyword, name, *rest = children
        params = tuple(p for p in rest[:-1] if p is not None)
        return s.Job(
            str(name), params, rest[-1], span=_meta_span(meta), name_span=_token_span(name)
        )

    def param(self, meta: Any, children: list[Any]) -> s.Parameter:
        type_token, name, default = children
        return s.Parameter(
            str(type_token),
            str(name),
            default,
            span=_meta_span(meta),
            type_span=_token_span(type_token),
            name_span=_token_span(name),
        )

    def block(self, meta: Any, children: list[Any]) -> s.Block:
        return s.Block(tuple(children), span=_meta_span(meta))

    def decl(self, meta: Any, children: list[Any]) -> s.Declaration:
        type_token, name, value = children
        return s.Declaration(
            str(type_token),
            str(name),
            value,
            span=_meta_span(meta),
            type_span=_token_span(type_token),
            name_span=_token_span(name),
        )

    def assign(self, meta: Any, children: list[Any]) -> s.Assignment:
        target, value = children
        return s.Assignment(
            str(target), value, span=_meta_span(meta), target_span=_token_span(target)
        )

    def command(self, meta: Any, children: list[Any]) -> s.Statement:
        (inner,) = children
        if isinstance(inner, s.Arrow):
            return s.ArrowStatement(inner, span=_meta_span(meta))
        return s.CallStatement(inner, span=_meta_span(meta))

    def bare(self, meta: Any, children: list[Any]) -> s.Call:
        (name,) = children
        return s.Call(str(name), (), span=_token_span(name), name_span=_token_span(name))

    def composite(self, meta: Any, children: list[Any]) -> s.Composite:
        name, args, body, else_token, else_body = children
        return s.Composite(
            str(name),
            tuple(args or ()),
            body,
            else_body,
            span=_meta_span(meta),
            name_span=_token_span(name),
            else_span=_token_span(else_token) if else_token is not None else s.NOWHERE,
        )

    def arrow(self, meta: Any, children: list[Any]) -> s.Arrow:
        head, head_args, body = children
        return s.Arrow(
            str(head),
            head_args,
            body,
            span=_meta_span(meta),
            head_span=_token_span(head),
        )

    def arrow_args(self, meta: Any, children: list[Any]) -> tuple[s.Arg, ...]:
        (args,) = children
        return tuple(args or ())

    def call(self, meta: Any, children: list[Any]) -> s.Call:
        name, args = children
        return s.Call(
            str(name), tuple(args or ()), span=_meta_span(meta), name_span=_token_span(name)
        )

    def args(self, meta: Any, children: list[Any]) -> list[s.Arg]:
        return children

    def binding(self, meta: Any, children: list[Any]) -> s.Binding:
        name, source = children
        return s.Binding(str(name), source, span=_meta_span(meta), name_span=_token_span(name))

    def binary(self, meta: Any, children: list[Any]) -> s.Binary:
        left, op, right = children
        return s.Binary(str(op), left, right, span=_meta_span(meta))

    def unary(self, meta: Any, children: list[Any]) -> s.Unary:
        op, operand = children
        return s.Unary(str(op), operand, span=_meta_span(meta))

    def member(self, meta: Any, children: list[Any]) -> s.Expr:
        target, name = children
        expr: s.Expr = target
        for part in str(name).split("."):
            expr = s.Member(expr, part, span=_meta_span(meta))
        return expr

    def index(self, meta: Any, children: list[Any]) -> s.Index:
        target, index = children
        return s.Index(target, index, span=_meta_span(meta))

    def integer(self, meta: Any, children: list[Any]) -> s.IntLiteral:
        (token,) = children
        significant = str(token).lstrip("0") or "0"
        if len(significant) > _INTEGER_DIGITS:  # past 4,300 digits, int() refuses the text
            raise _SyntaxProblem(
                f"integer of {len(significant):,} digits is too large "
                f"(the largest Long is {LONG_MAX})",
                _token_span(token),
            )
        return s.IntLiteral(int(significant), span=_token_span(token))

    def decimal(self, meta: Any, children: list[Any]) -> s.DecimalLiteral:
        (token,) = children
        value = float(token)
        if not math.isfinite(value):
            raise _SyntaxProblem("number is too large", _token_span(token))
        return s.DecimalLiteral(value, span=_token_span(token))

    def string(self, meta: Any, children: list[Any]) -> s.StringLiteral:
        (token,) = children
        return s.StringLiteral(_decode_string(token), span=_token_span(token))

    def true(self, meta: Any, children: list[Any]) -> s.BoolLiteral:
        return s.BoolLiteral(True, span=_token_span(children[0]))

    def false(self, meta: Any, children: list[Any]) -> s.BoolLiteral:
        return s.BoolLiteral(False, span=_token_span(children[0]))

    def null(self, meta: Any, children: list[Any]) -> s.NullLiteral:
        return s.NullLiteral(span=_token_span(children[0]))

    def name(self, meta: Any, children: list[Any]) -> s.Expr:
        return _value_name(children[0])

    def array(self, meta: Any, children: list[Any]) -> s.ArrayLiteral:
        items = tuple(c for c in children if c is not None)
        return s.ArrayLiteral(items, span=_meta_span(meta))


@functools.cache
def _parser() -> Lark:
    grammar = resources.files("witengine.lang").joinpath("grammar.lark").read_text("utf-8")
    return Lark(
        grammar,
        parser="lalr",
        lexer="contextual",
        propagate_positions=True,
        maybe_placeholders=True,
        cache=True,
    )


def parse(source: str, filename: str = "<script>") -> s.Job:
    """Parse a whole script; raise ScriptError with a located diagnostic on any syntax error."""
    deep = too_deep(source)  # before parsing: a deep script costs a look at its text, no more
    if deep is not None:
        raise ScriptError([deep], source, filename)
    try:
        tree = _parser().parse(source)
        _check_nesting(tree)
        job: s.Job = _ToSyntax().transform(tree)
    except _SyntaxProblem as problem:
        raise ScriptError([problem.diagnostic], source, filename) from None
    except VisitError as error:
        if isinstance(error.orig_exc, _SyntaxProblem):
            raise ScriptError([error.orig_exc.diagnostic], source, filename) from None
        raise
    except UnexpectedInput as error:
        raise ScriptError([_describe(error, source)], source, filename) from None
    return job


def tree_depth(source: str) -> int:
    """How deep the parse tree of a script that parses goes, each member of a dotted name
    counted: what the walks over the tree recurse into, and what `too_deep` may never count
    lower (its tests compare the two)."""
    return max(depth for _, depth, _ in _levels(_parser().parse(source)))


def _check_nesting(tree: Tree[Token]) -> None:
    """Refuse a tree nested deeper than MAX_NESTING, at the first place that goes too deep.

    `too_deep` has refused such a script before it was parsed; this walk stays as the backstop
    that keeps a RecursionError out of every later walk over the tree, should the two disagree.
    """
    for _, depth, located in _levels(tree):
        if depth > MAX_NESTING:
            problem = nested_too_deeply(_meta_span(located))
            raise _SyntaxProblem(problem.message, problem.span, problem.hint)


def _levels(tree: Tree[Token]) -> Iterator[tuple[Tree[Token], int, Any]]:
    """Each node with its depth (a dotted name used as a value is a member access per dot) and
    the nearest located node, walked with a stack of its own: the parser itself does not
    recurse, but every later walk over the tree does."""
    stack: list[tuple[Tree[Token], int, Any]] = [(tree, 1, tree.meta)]
    while stack:
        node, depth, located = stack.pop()
        if not getattr(node.meta, "empty", True):
            located = node.meta
        if node.data in ("name", "member"):
            depth += str(node.children[-1]).count(".")
        yield node, depth, located
        stack.extend((c, depth + 1, located) for c in node.children if isinstance(c, Tree))


# ------------------------------------------------------------ syntax errors

_FRIENDLY = {
    "NAME": "a name",
    "INTEGER": "a number",
    "DECIMAL": "a number",
    "STRING": "a string",
    "CMP_OP": "a comparison",
    "ADD_OP": "'+' or '-'",
    "MUL_OP": "'*', '/' or '%'",
    "TRUE": "true",
    "TRUE_PASCAL": "true",
    "FALSE": "false",
    "FALSE_PASCAL": "false",
    "NULL": "null",
    "NULL_UPPER": "null",
    "$END": "the end of the script",
}
# The order in which expected tokens are worth mentioning: structure first, operators last.
_PRIORITY = [";", ")", "}", "]", "{", "(", ",", "=>", "=", ":", "a name", "in", "Else"]


def _terminal_text(name: str) -> str:
    if name in _FRIENDLY:
        return _FRIENDLY[name]
    terminal = next((t for t in _parser().terminals if t.name == name), None)
    if terminal is not None and isinstance(terminal.pattern, PatternStr):
        return terminal.pattern.value
    return name.lower()


# After a value an operator may always follow; naming them all hides the token that is missing.
_OPERATORS = frozenset({"||", "&&", "a comparison", "'+' or '-'", "'*', '/' or '%'", ".", "["})


def _expected_list(names: set[str]) -> list[str]:
    texts = sorted({_terminal_text(n) for n in names})
    texts.sort(key=lambda t: _PRIORITY.index(t) if t in _PRIORITY else len(_PRIORITY))
    structural = [t for t in texts if t not in _OPERATORS]
    return structural or texts


def _quote(text: str) -> str:
    return text if text.startswith(("a ", "the ", "true", "false", "null", "'")) else f"'{text}'"


def _found(token: Token) -> str:
    if token.type == "$END":
        return "the end of the script"
    kind = {"NAME": "name", "STRING": "string", "INTEGER": "number", "DECIMAL": "number"}
    if token.type in kind:
        return f"{kind[token.type]} '{token}'"
    return f"'{token}'"


def _previous_token_end(source: str, position: int) -> tuple[int, int] | None:
    """Line and column just after the last token before `position`, skipping blanks and comments.

    It goes back by offsets, never by copies of the text: a script of a million characters may
    hold a third of a million comments before the spot.
    """
    end = position
    while True:
        while end > 0 and source[end - 1].isspace():
            end -= 1
        if end == 0 or source[end - 1] != "~":
            break
        opening = source.rfind("~", 0, end - 1)
        if opening < 0:
            break
        end = opening
    if end == 0:
        return None
    line = source.count("\n", 0, end) + 1
    column = end - (source.rfind("\n", 0, end) + 1) + 1
    return line, column


def _stray_else(token: Token, source: str) -> s.Span | None:
    """The span of an 'Else' that does not follow a block (the lexer then reads it as a name)."""
    if token.type == "ELSE" or (token.type == "NAME" and str(token) == "Else"):
        return _token_span(token)
    if token.start_pos is None:
        return None
    before = source[: token.start_pos].rstrip()
    if before.endswith("Else") and not before[:-4][-1:].isalnum():
        start = len(before) - 4
        line = before.count("\n") + 1
        column = start - (before.rfind("\n") + 1) + 1
        return s.Span(line, column, line, column + 4)
    return None


def _acceptable(error: UnexpectedToken) -> set[str]:
    """The terminals that can really come next.

    LALR shares states between contexts, so `error.expected` may list tokens that would fail a step
    later (a ')' after `Int:x = 1`); feeding each to a copy of the parser keeps the real ones.
    """
    parser = getattr(error, "interactive_parser", None)
    if parser is None:
        return set(error.expected)
    accepted: set[str] = parser.accepts()
    return accepted or set(error.expected)


def _describe(error: UnexpectedInput, source: str) -> Diagnostic:
    if isinstance(error, UnexpectedCharacters):
        return _describe_character(error, source)
    assert isinstance(error, UnexpectedToken)
    token = error.token
    acceptable = _acceptable(error)
    expected = _expected_list(acceptable)
    if token.type == "$END":
        # Just after the last token, so that the caret stands on a line the reader can see.
        line, column = _previous_token_end(source, len(source)) or (1, 1)
        span = s.Span(line, column, line, column + 1)
    else:
        span = _token_span(token)
    else_problem = _describe_else(token, source, acceptable, span)
    if else_problem is not None:
        return else_problem
    if ";" in expected and token.type != "$END" and token.start_pos is not None:
        end = _previous_token_end(source, token.start_pos)
        if end is not None and end[0] < span.line:
            where = s.Span(end[0], end[1], end[0], end[1] + 1)
            return Diagnostic(f"expected ';' before {_found(token)}", where)
    if {"NAME", "INTEGER", "STRING"} <= acceptable:
        return Diagnostic(f"expected an expression, found {_found(token)}", span)
    shown = [_quote(t) for t in expected[:5]]
    wanted = shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " or " + shown[-1]
    if len(expected) > 5:
        wanted = ", ".join(shown) + " or another"
    return Diagnostic(f"expected {wanted}, found {_found(token)}", span)


def _describe_character(error: UnexpectedCharacters, source: str) -> Diagnostic:
    line, column = error.line, error.column
    position = error.pos_in_stream or 0
    char = source[position] if position < len(source) else ""
    span = s.Span(line, column, line, column + 1)
    if char == "~":
        return Diagnostic("unterminated comment", span, "a comment ends with a second '~'")
    if char == '"':
        return Diagnostic("unterminated string", span, "a string ends with '\"' on its line")
    return Diagnostic(f"unexpected character {char!r}", span)


def _describe_else(
    token: Token, source: str, acceptable: set[str], span: s.Span
) -> Diagnostic | None:
    """An Else out of place, or an Else the parser took as one but without its block."""
    else_span = _stray_else(token, source)
    if else_span is None:
        return None
    if acceptable == {"LBRACE"} and else_span != _token_span(token):
        # `Else If(…)` is no else-if: the Else needs a block of its own.
        hint = "an Else takes a block; for else-if write: Else { If(c) { … } }"
        return Diagnostic(f"expected '{{' after 'Else', found {_found(token)}", span, hint)
    return Diagnostic(
        "'Else' must follow the block of an If", else_span, "write: If(c) { … } Else { … }"
    )
