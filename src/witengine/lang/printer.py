"""Syntax tree to canonical text (`wit fmt`).

Printing is deterministic and parsing the printed text gives an equal tree. Comments are not part
of the tree; `format_source` finds them in the original text and keeps each one before the
statement it preceded (or after it, when it stood at the end of that statement's line).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from witengine.lang import syntax as s

INDENT = "    "
LINE_LIMIT = 100

_LEVEL = {"||": 1, "&&": 2, "==": 4, "!=": 4, "<": 4, "<=": 4, ">": 4, ">=": 4}
_LEVEL.update({"+": 5, "-": 5, "*": 6, "/": 6, "%": 6})
_NOT, _COMPARE, _SUM, _NEGATE, _POSTFIX, _ATOM = 3, 4, 5, 7, 8, 9
_BARE_TARGETS = (s.BoolLiteral, s.NullLiteral, s.IntLiteral, s.DecimalLiteral)
_BARE_COMMANDS = frozenset({"Break", "Continue"})


@dataclass(frozen=True)
class Comment:
    """A `~ … ~` comment as it appears in the source."""

    text: str
    line: int
    column: int
    end_line: int


def find_comments(source: str) -> list[Comment]:
    """Every comment in a script that parsed, skipping tildes inside strings."""
    comments: list[Comment] = []
    line, column, i = 1, 1, 0
    in_string = False
    start: tuple[int, int, int] | None = None
    while i < len(source):
        char = source[i]
        if start is not None:
            if char == "~":
                comments.append(Comment(source[start[0] : i + 1], start[1], start[2], line))
                start = None
        elif in_string:
            if char == "\\":
                i += 1
                column += 1
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char == "~":
            start = (i, line, column)
        if char == "\n":
            line, column = line + 1, 1
        else:
            column += 1
        i += 1
    return comments


def format_source(source: str, job: s.Job) -> str:
    """The canonical text of `job`, keeping the comments found in `source`."""
    return _Printer(find_comments(source)).job(job)


def print_job(job: s.Job) -> str:
    """The canonical text of a job, without comments."""
    return _Printer([]).job(job)


def print_expr(expr: s.Expr | s.Binding | s.Arrow) -> str:
    """The canonical text of one expression."""
    if isinstance(expr, s.Arrow):
        return _arrow(expr)
    return _arg(expr)


class _Printer:
    def __init__(self, comments: Sequence[Comment]) -> None:
        self.pending = sorted(comments, key=lambda c: (c.line, c.column))
        self.lines: list[str] = []

    def job(self, job: s.Job) -> str:
        params = ", ".join(_parameter(p) for p in job.params)
        self._leading(job.body.span.line, job.body.span.column, "")
        self.lines.append(f"Job:{job.name}({params})")
        self.block(job.body, "")
        for comment in self.pending:
            self.lines.append(comment.text)
        return "\n".join(self.lines) + "\n"

    def block(self, block: s.Block, indent: str) -> None:
        self.lines.append(indent + "{")
        inner = indent + INDENT
        for statement in block.statements:
            self._leading(statement.span.line, statement.span.column, inner)
            self.statement(statement, inner)
            self._trailing(statement.span.end_line, statement.span.end_column)
        self._leading(block.span.end_line, block.span.end_column - 1, inner)
        self.lines.append(indent + "}")

    def statement(self, statement: s.Statement, indent: str) -> None:
        match statement:
            case s.Composite(name, args, body, else_body):
                self.lines.append(f"{indent}{name}({_args(args)})")
                self.block(body, indent)
                if else_body is not None:
                    self.lines.append(f"{indent}Else")
                    self.block(else_body, indent)
            case _:
                self.lines.extend(indent + line for line in _simple(statement, indent))

    def _leading(self, line: int, column: int, indent: str) -> None:
        if not line:
            return
        while self.pending and (self.pending[0].line, self.pending[0].column) < (line, column):
            self.lines.append(indent + self.pending.pop(0).text)

    def _trailing(self, end_line: int, end_column: int) -> None:
        # Comments inside the statement follow it, as do those after it on its last line (or on
        # the last line of a comment that follows it).
        last_line = end_line
        while self.pending and (
            (self.pending[0].line, self.pending[0].column) < (end_line, end_column)
            or self.pending[0].line == last_line
        ):
            comment = self.pending.pop(0)
            self.lines[-1] += " " + comment.text
            last_line = max(last_line, comment.end_line)


def _parameter(param: s.Parameter) -> str:
    text = f"{param.type_name}:{param.name}"
    return text if param.default is None else f"{text} = {_expr(param.default, 0)}"


def _simple(statement: s.Statement, indent: str) -> list[str]:
    """A statement that is not a composite, as one line or, when long, two."""
    match statement:
        case s.Declaration(type_name, name, value):
            head = f"{type_name}:{name}"
            if value is None:
                return [head + ";"]
            return _with_value(head + " = ", value, indent)
        case s.Assignment(target, value):
            return _with_value(f"{target} = ", value, indent)
        case s.CallStatement(call):
            if not call.args and call.name in _BARE_COMMANDS:
                return [call.name + ";"]
            return [_expr(call, 0) + ";"]
        case s.ArrowStatement(arrow):
            return _with_value("", arrow, indent)
    raise AssertionError(f"not a simple statement: {statement!r}")


def _with_value(prefix: str, value: s.Expr | s.Arrow, indent: str) -> list[str]:
    if not isinstance(value, s.Arrow):
        return [prefix + _expr(value, 0) + ";"]
    head = prefix + _arrow_head(value)
    body = "=> " + _expr(value.body, 0) + ";"
    if len(indent) + len(head) + 1 + len(body) <= LINE_LIMIT:
        return [head + " " + body]
    return [head, INDENT + body]


def _arrow_head(arrow: s.Arrow) -> str:
    return arrow.head if arrow.head_args is None else f"{arrow.head}({_args(arrow.head_args)})"


def _arrow(arrow: s.Arrow) -> str:
    return f"{_arrow_head(arrow)} => {_expr(arrow.body, 0)}"


def _args(args: Sequence[s.Arg]) -> str:
    return ", ".join(_arg(a) for a in args)


def _arg(arg: s.Arg) -> str:
    if isinstance(arg, s.Binding):
        return f"{arg.name} in {_expr(arg.source, 0)}"
    return _expr(arg, 0)


def _string(value: str) -> str:
    out = []
    for char in value:
        if char == '"':
            out.append('\\"')
        elif char == "\\":
            out.append("\\\\")
        elif char == "\n":
            out.append("\\n")
        elif char == "\t":
            out.append("\\t")
        elif ord(char) < 0x20 or ord(char) == 0x7F or 0xD800 <= ord(char) <= 0xDFFF:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def _expr(expr: s.Expr, floor: int) -> str:
    """`expr` as text, in parentheses when its precedence is below `floor`."""
    level, text = _expr_level(expr)
    return f"({text})" if level < floor else text


def _literal(expr: s.Expr) -> str | None:
    match expr:
        case s.IntLiteral(value):
            return str(value)
        case s.DecimalLiteral(value):
            return repr(value)
        case s.StringLiteral(value):
            return _string(value)
        case s.BoolLiteral(value):
            return "true" if value else "false"
        case s.NullLiteral():
            return "null"
    return None


def _expr_level(expr: s.Expr) -> tuple[int, str]:
    literal = _literal(expr)
    if literal is not None:
        return _ATOM, literal
    match expr:
        case s.ArrayLiteral(items):
            return _ATOM, "[" + ", ".join(_expr(i, 0) for i in items) + "]"
        case s.NameRef(name):
            return _ATOM, name
        case s.Call(name, args):
            return _ATOM, f"{name}({_args(args)})"
        case s.Member(target, name):
            # `false.x` and `1.5.x` would read as a dotted name and a number: such a target keeps
            # its parentheses.
            bare = isinstance(target, _BARE_TARGETS)
            return _POSTFIX, f"{_expr(target, _ATOM + 1 if bare else _POSTFIX)}.{name}"
        case s.Index(target, index):
            return _POSTFIX, f"{_expr(target, _POSTFIX)}[{_expr(index, 0)}]"
        case s.Unary("!", operand):
            # `!a == b` means `!(a == b)`; the parentheses stay for the reader's sake.
            return _NOT, "!" + _expr(operand, _NEGATE)
        case s.Unary(op, operand):
            return _NEGATE, op + _expr(operand, _NEGATE)
        case s.Binary(op, left, right):
            level = _LEVEL[op]
            if level == _COMPARE:
                return level, f"{_expr(left, _SUM)} {op} {_expr(right, _SUM)}"
            return level, f"{_expr(left, level)} {op} {_expr(right, level + 1)}"
    raise AssertionError(f"not an expression: {expr!r}")


def statement_text(statement: s.Statement) -> str:
    """One line naming a statement: the whole of a simple one, the head of a composite."""
    if isinstance(statement, s.Composite):
        return f"{statement.name}({_args(statement.args)})"
    return " ".join(line.strip() for line in _simple(statement, ""))
