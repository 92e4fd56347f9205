"""Static types of expressions and the checking of call arguments.

Owns scopes and the typing rules of section 4 of the language contract: literals, arrays,
operators, members, indexing, constructors and activity calls. Problems are reported through the
callback the checker passes in; a wrong expression gets the type ERROR.
"""

from __future__ import annotations

import difflib
import itertools
import re
from collections.abc import Callable, Iterator, Sequence, Sized
from dataclasses import dataclass, field
from enum import StrEnum

from witengine.lang import syntax as s
from witengine.lang.errors import SHOWN, did_you_mean
from witengine.lang.forms import FORMS, FormKind
from witengine.lang.types import (
    BOOL,
    DOUBLE,
    EMPTY_COLLECTION,
    ERROR,
    INT,
    LONG,
    NOTHING,
    NULL,
    OBJECT,
    ORDERED_TYPES,
    STRING,
    ActivitySpec,
    Catalog,
    ParamSpec,
    Placement,
    WitType,
    assignable,
    collection_of,
    is_dynamic,
    is_numeric,
    resolve_type,
    wider_numeric,
)

Report = Callable[[str, s.Span, "str | None"], None]
INT_MAX = 2**31 - 1
LONG_MAX = 2**63 - 1
_ITEM = re.compile(r"Item([1-9][0-9]*)")


class VariableKind(StrEnum):
    PARAMETER = "parameter"
    VARIABLE = "variable"
    LOOP = "loop variable"


@dataclass(frozen=True)
class Variable:
    name: str
    type: WitType
    span: s.Span
    kind: VariableKind


@dataclass
class Scope:
    """One block's names; inner scopes see (and may assign) outer ones."""

    parent: Scope | None
    variables: dict[str, Variable] = field(default_factory=dict)

    def lookup(self, name: str) -> Variable | None:
        scope: Scope | None = self
        while scope is not None:
            if name in scope.variables:
                return scope.variables[name]
            scope = scope.parent
        return None

    def visible(self) -> Iterator[str]:
        scope: Scope | None = self
        while scope is not None:
            yield from scope.variables
            scope = scope.parent


# A 'did you mean' searches every name in scope: past this many, or once the report's first
# SHOWN problems are found (no later one is shown), a long script's thousands of mistakes would
# make the search quadratic (50,000 of them among 50,000 variables: hours).
_HINTED_NAMES = 2_000


class ExpressionChecker:
    def __init__(self, catalog: Catalog, report: Report, found: Sized = ()) -> None:
        self.catalog = catalog
        self.report = report
        self.found = found  # the problems the checker has found so far
        self.ended: dict[str, Variable] = {}  # names of blocks already left, for hints

    def leave(self, scope: Scope) -> None:
        """Remember the names of a block being left, to explain a later use of one of them."""
        self.ended.update(scope.variables)

    def unknown_hint(self, name: str, scope: Scope) -> str | None:
        """Why `name` is not a variable here: declared in a block already left, or misspelled."""
        gone = self.ended.get(name)
        if gone is not None and gone.kind is VariableKind.LOOP:
            return f"'{name}' is the loop variable of line {gone.span.line}; it exists only there"
        if gone is not None:
            return (
                f"'{name}' is declared inside a block (line {gone.span.line}) and is not visible "
                "after it; declare it before that block"
            )
        if len(self.found) >= SHOWN:
            return None
        visible = list(itertools.islice(scope.visible(), _HINTED_NAMES + 1))
        return did_you_mean(name, visible) if len(visible) <= _HINTED_NAMES else None

    # ---------------------------------------------------------------- calls

    def call(
        self, call: s.Call, scope: Scope, *, want_value: bool, spec: ActivitySpec | None = None
    ) -> WitType | None:
        """Check a call; return its result type, None when it returns nothing."""
        form = FORMS.get(call.name)
        if form is not None:
            if form.kind is FormKind.ARROW:
                self.report(f"'{call.name}' needs '=>' and an activity call", call.span, None)
                return ERROR
            if form.kind is FormKind.BLOCK:
                # Its arguments follow the rules of its own statement form; checking them as a
                # call's would add messages about a mistake already reported.
                self.report(f"'{call.name}' cannot be used as a value", call.name_span, None)
                return ERROR
            if want_value:
                self.report(f"'{call.name}' returns no value", call.name_span, None)
            self.arguments(call.args, form.spec, call, scope)
            return ERROR
        distributed = spec is not None  # the activity of a Grid arrow, which runs on a node
        spec = spec or self.catalog.activity(call.name)
        if spec is not None:
            if spec.placement is Placement.NODE and not distributed:
                self.report(
                    f"'{call.name}' runs on nodes only, and a call outside Grid.* runs on the hub",
                    call.name_span,
                    f"run it on a node: Grid.Delegate => {call.name}(…)",
                )
            arg_types = self.arguments(call.args, spec, call, scope)
            result = spec.returns
            if spec.result is not None and ERROR not in arg_types:
                computed = spec.result(arg_types)
                if isinstance(computed, str):
                    self.report(computed, call.span, None)
                    return ERROR
                result = computed
            if result is None and want_value:
                self.report(f"'{call.name}' returns no value", call.name_span, None)
                return ERROR
            return result
        type_spec = self.catalog.type_spec(call.name)
        if type_spec is not None or call.name.endswith("Collection"):
            constructed = self.constructor(call, scope)
            if constructed is not None:
                return constructed
        known = [*self.catalog.activity_names(), *FORMS, *self.catalog.type_names()]
        self.report(
            f"unknown activity '{call.name}'", call.name_span, _activity_hint(call.name, known)
        )
        for arg in call.args:
            self.arg_type(arg, scope)
        return ERROR

    def constructor(self, call: s.Call, scope: Scope) -> WitType | None:
        """`T(value…)`: a type's constructor; None when `call.name` names no type."""
        target = resolve_type(call.name, self.catalog)
        if target is None:
            return None
        type_spec = self.catalog.type_spec(target.name)
        types = [self.arg_type(arg, scope) for arg in call.args]
        if len(types) != 1:
            self.report(
                f"the constructor '{call.name}' takes 1 argument, got {len(types)}", call.span, None
            )
            return target
        if not assignable(types[0], target, self.catalog):
            accepted = sorted(type_spec.accepts) if type_spec is not None else []
            hint = f"{call.name} accepts {', '.join(accepted)}" if accepted else None
            self.report(f"'{call.name}' cannot be made from {types[0]}", call.args[0].span, hint)
        return target

    def arguments(
        self,
        args: Sequence[s.Arg],
        spec: ActivitySpec,
        node: s.Call | s.Composite | s.Arrow,
        scope: Scope,
        *,
        bound: bool = False,
    ) -> list[WitType]:
        """Check argument count and types against a signature; return the argument types.

        `bound` says that `args` follow a leading `x in items` the caller has already taken, so
        that counts and positions in messages are those the script shows.
        """
        lead = 1 if bound else 0
        count, low, high = len(args), spec.min_args, spec.max_args
        if count < low or (high is not None and count > high):
            wanted = _count_text(low + lead, None if high is None else high + lead)
            signature = spec.signature()
            if bound:
                head, _, rest = signature.partition("(")
                signature = f"{head}(x in items{', ' if rest != ')' else ''}{rest}"
            self.report(
                f"'{spec.name}' takes {wanted}, got {count + lead}",
                _name_span(node),
                f"signature: {signature}",
            )
        types = []
        for position, arg in enumerate(args):
            param = _param_at(spec, position)
            expected = param.type if param is not None else None
            found = self.arg_type(arg, scope, expected)
            types.append(found)
            if param is not None and not assignable(found, param.type, self.catalog):
                self.report(
                    f"argument {position + lead + 1} of '{spec.name}' ({param.name}) must be "
                    f"{param.type}, found {found}",
                    arg.span,
                    None,
                )
        return types

    def arg_type(self, arg: s.Arg, scope: Scope, expected: WitType | None = None) -> WitType:
        if isinstance(arg, s.Binding):
            self.report(
                f"'{arg.name} in …' binds a loop variable only as the first argument of "
                "ForEach, Parallel.ForEach, Grid.ForEach or Transform.ForEach",
                arg.span,
                None,
            )
            self.type_of(arg.source, scope)
            return ERROR
        return self.type_of(arg, scope, expected)

    # ---------------------------------------------------------- expressions

    def type_of(self, expr: s.Expr, scope: Scope, expected: WitType | None = None) -> WitType:
        match expr:
            case s.IntLiteral(value):
                return self.integer(value, expr.span)
            case s.DecimalLiteral():
                return DOUBLE
            case s.StringLiteral():
                return STRING
            case s.BoolLiteral():
                return BOOL
            case s.NullLiteral():
                return NULL
            case s.ArrayLiteral(items):
                return self.array(items, scope, expected)
            case s.NameRef(name):
                return self.name(name, expr.span, scope)
            case s.Member(target, name):
                if self.uncalled(_dotted(expr), scope, expr.span):
                    return ERROR
                return self.member(self.type_of(target, scope), name, expr.span)
            case s.Index(target, index):
                return self.index(target, index, scope)
            case s.Call():
                return self.call(expr, scope, want_value=True) or ERROR
            case s.Unary(op, operand):
                return self.unary(op, self.type_of(operand, scope), expr.span)
            case s.Binary(op, left, right):
                return self.binary(op, self.type_of(left, scope), self.type_of(right, scope), expr)
        raise AssertionError(f"not an expression: {expr!r}")

    def integer(self, value: int, span: s.Span) -> WitType:
        if value <= INT_MAX:
            return INT
        if value <= LONG_MAX:
            return LONG
        self.report(f"integer {value} is too large (the largest Long is {LONG_MAX})", span, None)
        return ERROR

    def array(self, items: Sequence[s.Expr], scope: Scope, expected: WitType | None) -> WitType:
        if expected is not None and expected.element is not None:
            for item in items:
                found = self.type_of(item, scope, expected.element)
                if not assignable(found, expected.element, self.catalog):
                    self.report(
                        f"an item of {expected} must be {expected.element}, found {found}",
                        item.span,
                        None,
                    )
            return expected
        if not items:
            return EMPTY_COLLECTION
        return collection_of(_unify([self.type_of(item, scope) for item in items]))

    def name(self, name: str, span: s.Span, scope: Scope) -> WitType:
        variable = scope.lookup(name)
        if variable is not None:
            return variable.type
        if not self.uncalled(name, scope, span):
            self.report(f"unknown variable '{name}'", span, self.unknown_hint(name, scope))
        return ERROR

    def uncalled(self, name: str | None, scope: Scope, span: s.Span) -> bool:
        """Report an activity or type named where a value belongs (`Compute.IsPrime` without its
        parentheses); False when `name` is no such thing, or is a variable."""
        if name is None or scope.lookup(name.split(".", 1)[0]) is not None:
            return False
        if name in FORMS:
            self.report(f"'{name}' cannot be used as a value", span, None)
            return True
        if self.catalog.activity(name) is not None:
            self.report(f"'{name}' is an activity, not a value", span, f"write: {name}(…)")
            return True
        if resolve_type(name, self.catalog) is not None:
            self.report(f"'{name}' is a type, not a value", span, f"write: {name}(value)")
            return True
        return False

    def member(self, target: WitType, name: str, span: s.Span) -> WitType:
        if is_dynamic(target):
            return target
        if target.name == "Tuple":
            match = _ITEM.fullmatch(name)
            if match is None:
                self.report(
                    f"a Tuple has no member '{name}'", span, "its items are Item1, Item2, …"
                )
                return ERROR
            if target.items is None:
                return OBJECT
            position = int(match.group(1))
            if position > len(target.items):
                count = len(target.items)
                self.report(
                    f"this Tuple has only {count} item{'s' if count != 1 else ''}", span, None
                )
                return ERROR
            return target.items[position - 1]
        members = self.members(target)
        if name in members:
            return members[name]
        self.report(f"{target} has no member '{name}'", span, did_you_mean(name, members))
        return ERROR

    def members(self, target: WitType) -> dict[str, WitType]:
        if target.element is not None:
            return {"Count": INT}
        if target == STRING:
            return {"Length": INT}
        spec = self.catalog.type_spec(target.name)
        return dict(spec.members) if spec is not None else {}

    def index(self, target: s.Expr, index: s.Expr, scope: Scope) -> WitType:
        container = self.type_of(target, scope)
        position = self.type_of(index, scope)
        if not (is_dynamic(position) or position in (INT, LONG)):
            self.report(f"an index must be Int, found {position}", index.span, None)
        if is_dynamic(container):
            return container
        if container.element is not None:
            return OBJECT if container.element == NOTHING else container.element
        if container == STRING:
            return STRING
        self.report(f"{container} cannot be indexed", target.span, None)
        return ERROR

    def element_of(self, source: WitType, span: s.Span, form: str) -> WitType:
        """The type of each item when a loop goes over `source`."""
        if is_dynamic(source):
            return source
        if source.element is not None:
            return OBJECT if source.element == NOTHING else source.element
        self.report(f"{form} goes over a collection, found {source}", span, None)
        return ERROR

    def unary(self, op: str, operand: WitType, span: s.Span) -> WitType:
        if is_dynamic(operand):
            return BOOL if op == "!" else operand
        if op == "!":
            if operand != BOOL:
                self.report(f"'!' needs a Bool, found {operand}", span, None)
            return BOOL
        if not is_numeric(operand):
            self.report(f"'-' needs a number, found {operand}", span, None)
            return ERROR
        return operand

    def binary(self, op: str, left: WitType, right: WitType, expr: s.Binary) -> WitType:
        if op in ("&&", "||"):
            for side, found in ((expr.left, left), (expr.right, right)):
                if not is_dynamic(found) and found != BOOL:
                    self.report(f"'{op}' needs Bool on both sides, found {found}", side.span, None)
            return BOOL
        if op in ("==", "!="):
            if not _comparable(left, right, self.catalog):
                self.report(f"cannot compare {left} with {right}", expr.span, None)
            return BOOL
        if op in ("<", "<=", ">", ">="):
            ordered = (is_numeric(left) and is_numeric(right)) or (
                left == right and left.name in ORDERED_TYPES
            )
            if not (ordered or is_dynamic(left) or is_dynamic(right)):
                self.report(f"cannot order {left} and {right} with '{op}'", expr.span, None)
            return BOOL
        if op == "+" and STRING in (left, right):
            return STRING
        if is_dynamic(left) or is_dynamic(right):
            return OBJECT if ERROR not in (left, right) else ERROR
        if is_numeric(left) and is_numeric(right):
            return wider_numeric(left, right)
        self.report(f"'{op}' cannot combine {left} and {right}", expr.span, None)
        return ERROR


def _comparable(left: WitType, right: WitType, catalog: Catalog) -> bool:
    if is_numeric(left) and is_numeric(right):
        return True
    return assignable(left, right, catalog) or assignable(right, left, catalog)


def _unify(types: Sequence[WitType]) -> WitType:
    """The element type of an array literal: common type, widest number, or Object."""
    known = [t for t in types if t != NULL]
    if not known:
        return OBJECT
    first = known[0]
    if all(t.name == first.name for t in known):
        if first.name == "Tuple" and any(t.items != first.items for t in known):
            return WitType("Tuple")
        return first
    if all(is_numeric(t) for t in known):
        widest = known[0]
        for t in known[1:]:
            widest = wider_numeric(widest, t)
        return widest
    return OBJECT


def _activity_hint(name: str, known: Sequence[str]) -> str | None:
    """A hint for an unknown activity: the closest activity, else what its module offers.

    Within a known module only the part after the dot is compared, so that the shared
    `Module.` prefix does not make an unrelated activity look close.
    """
    module, dot, tail = name.rpartition(".")
    offered = sorted(k for k in known if k.rpartition(".")[0] == module) if dot else []
    if offered:
        by_tail = {k.rpartition(".")[2]: k for k in offered}
        close = difflib.get_close_matches(tail, list(by_tail), n=1, cutoff=0.6)
        if close:
            return f"did you mean '{by_tail[close[0]]}'?"
        return f"{module} offers {', '.join(offered)}"
    hint = did_you_mean(name, known)
    if hint is not None or not dot:
        return hint
    modules = {k.rpartition(".")[0] for k in known if "." in k}
    close_module = did_you_mean(module, modules)
    tail_hint = f"; {close_module}" if close_module else ""
    return f"no installed plugin offers '{module}' activities{tail_hint}"


def _dotted(expr: s.Expr) -> str | None:
    """`a.b.c` as one qualified name when `expr` is only names joined by dots."""
    match expr:
        case s.NameRef(name):
            return name
        case s.Member(target, name):
            head = _dotted(target)
            return None if head is None else f"{head}.{name}"
    return None


def _param_at(spec: ActivitySpec, position: int) -> ParamSpec | None:
    if position < len(spec.params):
        return spec.params[position]
    if spec.variadic is not None:
        return ParamSpec(f"argument {position + 1}", spec.variadic)
    return None


def _count_text(low: int, high: int | None) -> str:
    if high is None:
        return f"at least {low} argument{'s' if low != 1 else ''}"
    if low == high:
        return f"{low} argument{'s' if low != 1 else ''}"
    return f"{low} to {high} arguments"


def _name_span(node: s.Call | s.Composite | s.Arrow) -> s.Span:
    if isinstance(node, s.Arrow):
        return node.head_span
    return node.name_span
