"""Syntax tree to checked job: names, scopes, types and arguments, before anything runs.

`check(job, catalog, …)` walks the tree once with a chain of scopes, reports every problem it
finds as a located diagnostic (with a 'did you mean' where a name is unknown), and returns a
`CheckedJob` that the interpreter runs. Wrong expressions get the type ERROR, which is silently
compatible with everything, so one mistake yields one message rather than a cascade.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace

from witengine.lang import syntax as s
from witengine.lang.errors import Diagnostic, ScriptError, did_you_mean
from witengine.lang.expressions import ExpressionChecker, Scope, Variable, VariableKind
from witengine.lang.forms import FORMS, FormKind
from witengine.lang.parser import parse
from witengine.lang.types import (
    ERROR,
    NULL,
    ActivitySpec,
    Catalog,
    Placement,
    WitType,
    assignable,
    collection_of,
    resolve_type,
)


@dataclass(frozen=True)
class JobParameter:
    """A parameter of the job, as the caller must supply it."""

    name: str
    type: WitType
    default: s.Expr | None


@dataclass(frozen=True)
class CheckedJob:
    """A job that passed the checker: the tree with its source and what it takes and gives."""

    job: s.Job
    source: str
    filename: str
    parameters: tuple[JobParameter, ...]
    variables: tuple[tuple[str, WitType], ...]  # top-level declarations, in order

    @property
    def name(self) -> str:
        return self.job.name


def check_source(source: str, catalog: Catalog, filename: str = "<script>") -> CheckedJob:
    """Parse and check a script; raise ScriptError with every problem found."""
    return check(parse(source, filename), catalog, source, filename)


def check(job: s.Job, catalog: Catalog, source: str = "", filename: str = "<script>") -> CheckedJob:
    """Check a parsed job against the catalog of types and activities."""
    checker = _Checker(catalog)
    parameters, variables = checker.job(job)
    if checker.diagnostics:
        raise ScriptError(checker.diagnostics, source, filename)
    return CheckedJob(job, source, filename, parameters, variables)


_KIND_NAMES = {
    VariableKind.PARAMETER: "a job parameter",
    VariableKind.VARIABLE: "a variable",
    VariableKind.LOOP: "a loop variable",
}


class _Checker:
    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.diagnostics: list[Diagnostic] = []
        self.expressions = ExpressionChecker(catalog, self.report, self.diagnostics)
        self.loop_depth = 0

    def report(self, message: str, span: s.Span, hint: str | None = None) -> None:
        self.diagnostics.append(Diagnostic(message, span, hint))

    # ------------------------------------------------------------------ job

    def job(self, job: s.Job) -> tuple[tuple[JobParameter, ...], tuple[tuple[str, WitType], ...]]:
        scope = Scope(None)
        parameters = []
        for param in job.params:
            declared = self.declared_type(param.type_name, param.type_span)
            if param.default is not None:
                self.expect(param.default, declared, scope, f"the default of '{param.name}'")
            self.declare(scope, param.name, declared, param.name_span, VariableKind.PARAMETER)
            parameters.append(JobParameter(param.name, declared, param.default))
        self.statements(job.body.statements, scope)
        variables = tuple(
            (v.name, v.type) for v in scope.variables.values() if v.kind is VariableKind.VARIABLE
        )
        return tuple(parameters), variables

    def declared_type(self, name: str, span: s.Span) -> WitType:
        resolved = resolve_type(name, self.catalog)
        if resolved is None:
            self.report(f"unknown type '{name}'", span, did_you_mean(name, self.type_names()))
            return ERROR
        return resolved

    def type_names(self) -> list[str]:
        names = list(self.catalog.type_names())
        return names + [n + "Collection" for n in names]

    def declare(
        self, scope: Scope, name: str, type_: WitType, span: s.Span, kind: VariableKind
    ) -> None:
        if "." in name:
            self.report(f"a variable name cannot contain '.': '{name}'", span)
            return
        previous = scope.variables.get(name)
        if previous is not None:
            what = _KIND_NAMES[previous.kind]
            self.report(
                f"'{name}' is already declared in this scope ({what}, line {previous.span.line})",
                span,
            )
            return
        scope.variables[name] = Variable(name, type_, span, kind)

    # ----------------------------------------------------------- statements

    def statements(self, statements: Sequence[s.Statement], scope: Scope) -> None:
        for statement in statements:
            self.statement(statement, scope)

    def statement(self, statement: s.Statement, scope: Scope) -> None:
        match statement:
            case s.Declaration():
                self.declaration(statement, scope)
            case s.Assignment():
                self.assignment(statement, scope)
            case s.CallStatement(call):
                self.call_statement(call, scope)
            case s.ArrowStatement(arrow):
                self.arrow(arrow, scope, want_value=False)
            case s.Composite():
                self.composite(statement, scope)

    def declaration(self, decl: s.Declaration, scope: Scope) -> None:
        declared = self.declared_type(decl.type_name, decl.type_span)
        if decl.value is not None:
            self.value(decl.value, declared, scope, f"'{decl.name}'")
        self.declare(scope, decl.name, declared, decl.name_span, VariableKind.VARIABLE)

    def assignment(self, assign: s.Assignment, scope: Scope) -> None:
        variable = scope.lookup(assign.target)
        if variable is None:
            self.report(
                f"unknown variable '{assign.target}'",
                assign.target_span,
                self.expressions.unknown_hint(assign.target, scope),
            )
            target = ERROR
        else:
            target = variable.type
        self.value(assign.value, target, scope, f"'{assign.target}'")

    def value(self, value: s.Expr | s.Arrow, target: WitType, scope: Scope, what: str) -> None:
        if isinstance(value, s.Arrow):
            found = self.arrow(value, scope, want_value=True)
            if not assignable(found, target, self.catalog):
                self.report(f"cannot assign {found} to {what} of type {target}", value.span)
        else:
            self.expect(value, target, scope, what)

    def expect(self, expr: s.Expr, target: WitType, scope: Scope, what: str) -> None:
        found = self.expressions.type_of(expr, scope, expected=target)
        if not assignable(found, target, self.catalog):
            self.report(f"cannot assign {found} to {what} of type {target}", expr.span)

    def call_statement(self, call: s.Call, scope: Scope) -> None:
        form = FORMS.get(call.name)
        if form is None:
            self.expressions.call(call, scope, want_value=False)
            return
        if form.kind is FormKind.BLOCK:
            self.report(f"'{call.name}' needs a block", call.span, f"write: {call.name}(…) {{ … }}")
        elif form.kind is FormKind.ARROW:
            self.report(f"'{call.name}' needs '=>' and an activity call", call.span)
        elif form.loop_control and self.loop_depth == 0:
            self.report(f"'{call.name}' outside a loop", call.span)
        if form.binds and call.args and isinstance(call.args[0], s.Binding):
            # `ForEach(x in items);`: the block is missing, the loop variable is not misplaced.
            args = self.bind(call.args, form.binds, call.name, call.name_span, Scope(scope))
            self.expressions.arguments(args, form.spec, call, scope, bound=True)
        else:
            self.expressions.arguments(call.args, form.spec, call, scope)

    def composite(self, composite: s.Composite, scope: Scope) -> None:
        form = FORMS.get(composite.name)
        if form is None or form.kind is not FormKind.BLOCK:
            self.not_a_block(composite)
            # Check the block as a loop's, with any loop variable known, so that the one
            # mistake in the head is not followed by a message for each use in the block.
            inner = Scope(scope)
            self.tolerate(composite.args, inner)
            self.block(composite.body, inner, loops=True)
            return
        inner = Scope(scope)
        args = self.bind(composite.args, form.binds, composite.name, composite.name_span, inner)
        self.expressions.arguments(args, form.spec, composite, scope, bound=form.binds)
        self.block(composite.body, inner, loops=form.loops)
        if composite.else_body is not None:
            if composite.name != "If":
                self.report(f"'Else' can only follow If, not {composite.name}", composite.else_span)
            self.block(composite.else_body, Scope(scope), loops=False)

    def not_a_block(self, composite: s.Composite) -> None:
        name, span = composite.name, composite.name_span
        form = FORMS.get(name)
        if form is not None and form.kind is FormKind.ARROW:
            self.report(
                f"'{name}' does not take a block", span, f"write: {name}(…) => Plugin.Activity(…);"
            )
        elif form is not None or self.catalog.activity(name) is not None:
            self.report(f"'{name}' does not take a block", span, f"write: {name}(…);")
        else:
            block_forms = [n for n, f in FORMS.items() if f.kind is FormKind.BLOCK]
            self.report(f"unknown block activity '{name}'", span, did_you_mean(name, block_forms))

    def block(self, block: s.Block, scope: Scope, *, loops: bool) -> None:
        with self.loop(loops):
            self.statements(block.statements, scope)
        self.expressions.leave(scope)

    @contextmanager
    def loop(self, loops: bool) -> Iterator[None]:
        self.loop_depth += loops
        try:
            yield
        finally:
            self.loop_depth -= loops

    def bind(
        self,
        args: Sequence[s.Arg],
        binds: bool,
        name: str,
        span: s.Span,
        inner: Scope,
    ) -> Sequence[s.Arg]:
        """Declare the loop variable of `x in c` in `inner`; return the remaining arguments."""
        if not binds:
            self.tolerate(args, inner)
            return args
        if not args or not isinstance(args[0], s.Binding):
            self.report(f"'{name}' needs a loop variable first", span, f"write: {name}(x in items)")
            return args[1:] if args and not isinstance(args[0], s.Binding) else args
        binding = args[0]
        source = self.expressions.type_of(binding.source, inner.parent or inner)
        element = self.expressions.element_of(source, binding.source.span, name)
        self.declare(inner, binding.name, element, binding.name_span, VariableKind.LOOP)
        self.tolerate(args[1:], inner)
        return args[1:]

    def tolerate(self, args: Sequence[s.Arg], inner: Scope) -> None:
        """Give the names of misplaced `x in c` (reported where they stand) the type ERROR in
        `inner`, so that their uses add no message."""
        for arg in args:
            if isinstance(arg, s.Binding) and arg.name not in inner.variables:
                inner.variables[arg.name] = Variable(
                    arg.name, ERROR, arg.name_span, VariableKind.LOOP
                )

    # --------------------------------------------------------------- arrows

    def arrow(self, arrow: s.Arrow, scope: Scope, *, want_value: bool) -> WitType:
        """Check `Head(args) => Activity(…)`; return the type of its value."""
        form = FORMS.get(arrow.head)
        if form is None or form.kind is not FormKind.ARROW:
            arrows = [n for n, f in FORMS.items() if f.kind is FormKind.ARROW]
            self.report(
                f"'{arrow.head}' cannot stand before '=>'",
                arrow.head_span,
                did_you_mean(arrow.head, arrows)
                or "use Grid.ForEach, Grid.Delegate or Transform.ForEach",
            )
            return ERROR
        inner = Scope(scope)
        args = self.bind(arrow.head_args or (), form.binds, arrow.head, arrow.head_span, inner)
        self.expressions.arguments(args, form.spec, arrow, scope, bound=form.binds)
        body = arrow.body
        if not isinstance(body, s.Call) or body.name in FORMS:
            message = "the right side of '=>' must be a single activity call"
            if isinstance(body, s.Call):
                message = f"'{body.name}' is part of the language, not an activity; {message}"
            self.report(message, body.span, f"write: {arrow.head}(…) => Plugin.Activity(…)")
            return ERROR
        spec = self.grid_activity(arrow.head, body) if arrow.head.startswith("Grid.") else None
        result = self.expressions.call(body, inner, want_value=want_value, spec=spec)
        self.expressions.leave(inner)
        if result is None:
            return NULL
        if arrow.head == "Grid.Delegate" or result is ERROR:
            return result
        return collection_of(result)

    def grid_activity(self, head: str, body: s.Call) -> ActivitySpec | None:
        """The activity a Grid arrow distributes; None after reporting why it cannot."""
        spec = self.catalog.activity(body.name)
        if spec is None:
            if resolve_type(body.name, self.catalog) is not None:
                self.report(
                    f"the constructor '{body.name}' runs on the hub only and cannot be "
                    f"distributed by {head}",
                    body.name_span,
                    f"convert on the hub: Transform.ForEach(…) => {body.name}(…)",
                )
            return None  # an unknown name is reported by the call check
        if spec.placement is Placement.HUB:
            self.report(
                f"'{body.name}' runs on the hub only and cannot be distributed by {head}",
                body.name_span,
            )
            return replace(spec, placement=Placement.ANYWHERE)
        return spec
