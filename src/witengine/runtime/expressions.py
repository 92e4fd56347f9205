"""Expressions that need no waiting, compiled once into plain functions of a scope.

Literals, variables, operators and calls of builtin activities (`Format`, `Int.Range`…) are
evaluated the same way every time: a map evaluates its call's arguments for every item, and
compiled, an item costs a few function calls rather than a coroutine per sub-expression. An
expression that calls a plugin's activity (run in a thread) or a form (`Trace`, `Pause`…) does
not compile: the interpreter evaluates it. What compiles does what the interpreter would, with
the same operators, conversions and errors; this module never runs a plugin's code.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from witengine.errors import RunError
from witengine.lang import syntax as s
from witengine.lang.forms import FORMS
from witengine.runtime import operators
from witengine.runtime.context import ActivityContext
from witengine.runtime.invoke import coerce_args, run_activity
from witengine.runtime.library import Library
from witengine.runtime.values import to_text


class Scope(Protocol):
    def get(self, name: str) -> Any: ...


Evaluate = Callable[[Scope], Any]


def truth(value: Any) -> bool:
    """A condition's value, which must be true or false."""
    if not isinstance(value, bool):
        raise RunError(f"a condition must be true or false, found {to_text(value)}")
    return value


class Compiler:
    """Compiles a job's expressions, each once (by identity: a job's syntax tree outlives it)."""

    def __init__(self, library: Library, context: ActivityContext | None) -> None:
        self.library = library
        self.context = context
        self._compiled: dict[int, tuple[s.Expr, Evaluate | None]] = {}  # holds the expression

    def compiled(self, expr: s.Expr) -> Evaluate | None:
        """The expression as a function of its scope, or None when it must be awaited."""
        found = self._compiled.get(id(expr))
        if found is None:
            found = self._compiled[id(expr)] = (expr, self._compile(expr))
        return found[1]

    def all_compiled(self, args: Sequence[s.Arg]) -> list[Evaluate] | None:
        parts = [self.compiled(a) if not isinstance(a, s.Binding) else None for a in args]
        return None if any(p is None for p in parts) else parts  # type: ignore[return-value]

    def _compile(self, expr: s.Expr) -> Evaluate | None:
        match expr:
            case s.Call(name, args):
                return self._call(name, args)
            case s.NameRef(name):
                return lambda scope: scope.get(name)
            case (
                s.IntLiteral(value)
                | s.DecimalLiteral(value)
                | s.StringLiteral(value)
                | s.BoolLiteral(value)
            ):
                return lambda scope: value
            case s.NullLiteral():
                return lambda scope: None
            case s.ArrayLiteral(items):
                return _all_then(self.all_compiled(items), lambda *values: list(values))
            case s.Member(target, name):
                return _all_then(self.all_compiled([target]), lambda t: operators.member(t, name))
            case s.Index(target, index):
                return _all_then(self.all_compiled([target, index]), operators.index)
            case s.Unary(op, operand):
                return _all_then(self.all_compiled([operand]), lambda v: operators.unary(op, v))
            case s.Binary("&&" | "||" as op, left, right):
                return self._logical(op, left, right)
            case s.Binary(op, left, right):
                return _all_then(
                    self.all_compiled([left, right]), lambda a, b: operators.binary(op, a, b)
                )

    def _call(self, name: str, args: Sequence[s.Arg]) -> Evaluate | None:
        definition = self.library.activities.get(name)
        if name in FORMS or definition is None or definition.plugin != "builtin":
            return None  # a form, a plugin's activity (in a thread) or a type's constructor
        parts = self.all_compiled(args)
        if parts is None:
            return None
        library, context = self.library, self.context
        types = definition.spec.argument_types(len(parts))

        def call(scope: Scope) -> Any:
            values = coerce_args(library, definition, [part(scope) for part in parts], types)
            return run_activity(library, definition, values, context)

        return call

    def _logical(self, op: str, left: s.Expr, right: s.Expr) -> Evaluate | None:
        parts = self.all_compiled([left, right])
        if parts is None:
            return None
        first, second = parts
        if op == "&&":
            return lambda scope: truth(first(scope)) and truth(second(scope))
        return lambda scope: truth(first(scope)) or truth(second(scope))


def _all_then(parts: list[Evaluate] | None, then: Callable[..., Any]) -> Evaluate | None:
    """Evaluate every part in order, then combine their values."""
    if parts is None:
        return None
    return lambda scope: then(*[part(scope) for part in parts])
