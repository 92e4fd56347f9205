"""The syntax tree of a Wit script: plain, frozen, typed dataclasses with source spans.

Spans never take part in equality, so a tree printed and parsed again equals the original.
The tree is pure data: it knows nothing of types, activities or how a job runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Span:
    """Where a node sits in its source: 1-based line and column; the end is exclusive."""

    line: int
    column: int
    end_line: int
    end_column: int


NOWHERE = Span(0, 0, 0, 0)


def _span() -> Span:
    return field(default=NOWHERE, compare=False, kw_only=True, repr=False)


# ---------------------------------------------------------------- expressions


@dataclass(frozen=True)
class IntLiteral:
    value: int
    span: Span = _span()


@dataclass(frozen=True)
class DecimalLiteral:
    value: float
    span: Span = _span()


@dataclass(frozen=True)
class StringLiteral:
    value: str
    span: Span = _span()


@dataclass(frozen=True)
class BoolLiteral:
    value: bool
    span: Span = _span()


@dataclass(frozen=True)
class NullLiteral:
    span: Span = _span()


@dataclass(frozen=True)
class ArrayLiteral:
    items: tuple[Expr, ...]
    span: Span = _span()


@dataclass(frozen=True)
class NameRef:
    """A variable (or job parameter) used as a value."""

    name: str
    span: Span = _span()


@dataclass(frozen=True)
class Member:
    """`target.name`: a tuple item (`t.Item1`) or a property of a value."""

    target: Expr
    name: str
    span: Span = _span()


@dataclass(frozen=True)
class Index:
    """`target[index]`: an item of a collection."""

    target: Expr
    index: Expr
    span: Span = _span()


@dataclass(frozen=True)
class Binding:
    """`name in source`: binds a loop variable to each item of `source`."""

    name: str
    source: Expr
    span: Span = _span()
    name_span: Span = _span()


@dataclass(frozen=True)
class Call:
    """A call of an activity or a type's constructor by its (qualified) name."""

    name: str
    args: tuple[Expr | Binding, ...]
    span: Span = _span()
    name_span: Span = _span()


@dataclass(frozen=True)
class Unary:
    op: str  # "-" or "!"
    operand: Expr
    span: Span = _span()


@dataclass(frozen=True)
class Binary:
    op: str  # || && == != < <= > >= + - * / %
    left: Expr
    right: Expr
    span: Span = _span()


Expr = (
    IntLiteral
    | DecimalLiteral
    | StringLiteral
    | BoolLiteral
    | NullLiteral
    | ArrayLiteral
    | NameRef
    | Member
    | Index
    | Call
    | Unary
    | Binary
)
Arg = Expr | Binding


@dataclass(frozen=True)
class Arrow:
    """`Head[(args)] => body`: Grid.ForEach, Grid.Delegate or Transform.ForEach.

    `head_args` is None when the head has no parentheses. The body is parsed as any expression
    so that the checker can say clearly when it is not a single call.
    """

    head: str
    head_args: tuple[Arg, ...] | None
    body: Expr
    span: Span = _span()
    head_span: Span = _span()


# ----------------------------------------------------------------- statements


@dataclass(frozen=True)
class Block:
    statements: tuple[Statement, ...]
    span: Span = _span()


@dataclass(frozen=True)
class Declaration:
    """`Type:name [= value];`"""

    type_name: str
    name: str
    value: Expr | Arrow | None
    span: Span = _span()
    type_span: Span = _span()
    name_span: Span = _span()


@dataclass(frozen=True)
class Assignment:
    """`name = value;`"""

    target: str
    value: Expr | Arrow
    span: Span = _span()
    target_span: Span = _span()


@dataclass(frozen=True)
class CallStatement:
    """A call used as a statement; `Break;` is the same as `Break();`."""

    call: Call
    span: Span = _span()


@dataclass(frozen=True)
class ArrowStatement:
    arrow: Arrow
    span: Span = _span()


@dataclass(frozen=True)
class Composite:
    """`Name(args) { … } [Else { … }]`: If, Loop, ForEach, Timer and the other block activities."""

    name: str
    args: tuple[Arg, ...]
    body: Block
    else_body: Block | None
    span: Span = _span()
    name_span: Span = _span()
    else_span: Span = _span()


Statement = Declaration | Assignment | CallStatement | ArrowStatement | Composite


# ---------------------------------------------------------------------- job


@dataclass(frozen=True)
class Parameter:
    """`Type:name [= default]` in the job's header."""

    type_name: str
    name: str
    default: Expr | None
    span: Span = _span()
    type_span: Span = _span()
    name_span: Span = _span()


@dataclass(frozen=True)
class Job:
    """A whole script: `Job:Name(params) { … }`."""

    name: str
    params: tuple[Parameter, ...]
    body: Block
    span: Span = _span()
    name_span: Span = _span()
