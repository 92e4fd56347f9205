"""Runs a checked job statement by statement.

The interpreter owns a job's variables and control flow. It evaluates expressions, calls hub-side
activities directly, hands `Grid.*` arrows to an `Executor`, reports events to a sink, and honours
pause, resume and cancel between statements. A failure ends the job with a message naming the
file, line and statement.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Awaitable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from witengine.clock import Clock, SystemClock
from witengine.errors import LimitExceeded, ParameterError, RunError, WitError
from witengine.lang import syntax as s
from witengine.lang.checker import CheckedJob
from witengine.lang.forms import FORMS
from witengine.lang.printer import statement_text
from witengine.lang.types import OBJECT, PROCESSING_OPTIONS, WitType
from witengine.protocol.events import (
    EventSink,
    JobFinished,
    JobPaused,
    JobResumed,
    ProgressReported,
    StatementFinished,
    StatementStarted,
    TraceLogged,
    ValuesReturned,
)
from witengine.protocol.states import JobStatus
from witengine.runtime import operators
from witengine.runtime.budget import CURRENT, Budget, JobLimits, size_of
from witengine.runtime.context import ActivityContext
from witengine.runtime.control import JobCancelled, JobControl
from witengine.runtime.executor import Executor, ItemFailed, MapRequest
from witengine.runtime.expressions import Compiler, truth
from witengine.runtime.invoke import coerce_args, run_activity
from witengine.runtime.library import Json, Library
from witengine.runtime.values import ConversionError, ProcessingOptions, to_text

# A map's arguments are evaluated in one go; every so many items the interpreter lets the rest of
# the process run (a hub's other jobs, its nodes and its API), so a large map does not stall it.
YIELD_EVERY = 500

# Parallel.ForEach runs at most so many branches at once when the script sets no maximum.
PARALLEL_BRANCHES = 1_000


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


@dataclass(frozen=True)
class JobOutcome:
    """How a job ended and the values of its top-level variables."""

    status: JobStatus
    error: str | None
    variables: dict[str, Any] = field(default_factory=dict)
    types: dict[str, WitType] = field(default_factory=dict)

    def variables_json(self, library: Library) -> dict[str, Json]:
        return {n: library.encode(v, self.types[n]) for n, v in self.variables.items()}


class _Env:
    """Variables of one block; inner blocks see and assign outer ones."""

    def __init__(self, parent: _Env | None) -> None:
        self.parent = parent
        self.values: dict[str, Any] = {}
        self.types: dict[str, WitType] = {}

    def owner(self, name: str) -> _Env:
        env: _Env | None = self
        while env is not None:
            if name in env.values:
                return env
            env = env.parent
        raise RunError(f"unknown variable '{name}'")

    def get(self, name: str) -> Any:
        return self.owner(name).values[name]


class Interpreter:
    """Runs one checked job."""

    def __init__(
        self,
        checked: CheckedJob,
        library: Library,
        executor: Executor,
        *,
        events: EventSink | None = None,
        clock: Clock | None = None,
        control: JobControl | None = None,
        context: ActivityContext | None = None,
        budget: Budget | None = None,
    ) -> None:
        self.checked = checked
        self.library = library
        self.executor = executor
        self.emit: EventSink = events or (lambda event: None)
        self.clock = clock or SystemClock()
        self.control = control or JobControl()
        self.context = context
        self.budget = budget or Budget(JobLimits(), self.clock.now)
        self.globals = _Env(None)
        self.compiler = Compiler(library, context)
        self._texts: dict[int, str] = {}

    # ------------------------------------------------------------- the job

    async def run(self, arguments: Mapping[str, Any]) -> JobOutcome:
        """Run the job to its end; never raises for a job's own failure or cancellation."""
        task = asyncio.current_task()
        if task is not None:
            self.control.attach(task)
        budget = CURRENT.set(self.budget)
        try:
            await self._bind_parameters(arguments)
            await self.block(self.checked.job.body.statements, self.globals)
            self._store_variables()
        except (RunError, ParameterError) as error:
            return self._finish(JobStatus.FAILED, str(error))
        except JobCancelled:
            return self._finish(JobStatus.CANCELLED, "the job was cancelled")
        except asyncio.CancelledError:
            if not self.control.cancelled:
                raise
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()
            return self._finish(JobStatus.CANCELLED, "the job was cancelled")
        except (_Break, _Continue):  # the checker rules these out
            return self._finish(JobStatus.FAILED, "Break or Continue outside a loop")
        finally:
            self.control.detach()
            CURRENT.reset(budget)
        return self._finish(JobStatus.COMPLETED, None)

    def _store_variables(self) -> None:
        """Fail the job when its variables are more than the hub may store for it."""
        limit = self.budget.limits.stored_bytes
        if limit is None:
            return
        allowed = max(0, limit - self.budget.stored)
        size = sum(size_of(self.globals.values.get(n), allowed) for n, _ in self.checked.variables)
        try:
            self.budget.store(size, "what the hub stores for the job, with its variables")
        except LimitExceeded as error:
            raise RunError(f"{self.checked.filename}: {error}", located=True) from None

    def _finish(self, status: JobStatus, error: str | None) -> JobOutcome:
        variables, types = {}, {}
        for name, type_ in self.checked.variables:
            if name in self.globals.values:
                variables[name] = self.globals.values[name]
                types[name] = type_
        self.emit(JobFinished(status=status, error=error))
        return JobOutcome(status, error, variables, types)

    async def _bind_parameters(self, arguments: Mapping[str, Any]) -> None:
        names = {p.name for p in self.checked.parameters}
        unknown = sorted(set(arguments) - names)
        if unknown:
            takes = ", ".join(sorted(names)) or "no parameters"
            raise ParameterError(
                f"unknown parameter '{unknown[0]}'; {self.checked.name} takes {takes}"
            )
        for param in self.checked.parameters:
            if param.name in arguments:
                value = arguments[param.name]
            elif param.default is not None:
                try:
                    value = await self.eval(param.default, self.globals)
                except WitError as error:
                    raise ParameterError(
                        f"parameter '{param.name}' ({param.type}): its default: {error}"
                    ) from None
            else:
                raise ParameterError(f"missing parameter '{param.name}' ({param.type})")
            try:
                value = self.library.coerce(value, param.type)
            except ConversionError as error:
                raise ParameterError(f"parameter '{param.name}' ({param.type}): {error}") from None
            self.globals.values[param.name] = value
            self.globals.types[param.name] = param.type

    # ---------------------------------------------------------- statements

    async def block(self, statements: Sequence[s.Statement], env: _Env) -> None:
        for statement in statements:
            await self.statement(statement, env)

    async def statement(self, statement: s.Statement, env: _Env) -> None:
        await self._honour_control()
        line = statement.span.line
        announce = not _IN_LOOP.get()
        if announce:
            self.emit(StatementStarted(line=line, text=self.text(statement)))
        try:
            if self.budget.step():
                await self._give_turn()
            await self._execute(statement, env)
        except RunError as error:
            if error.located:
                raise
            raise self._failure(statement, str(error)) from None
        except (_Break, _Continue, JobCancelled, asyncio.CancelledError):
            raise
        except WitError as error:
            raise self._failure(statement, str(error)) from None
        if announce:
            self.emit(StatementFinished(line=line))

    def text(self, statement: s.Statement) -> str:
        """The statement's one-line text, printed once per statement."""
        key = id(statement)
        if key not in self._texts:
            self._texts[key] = statement_text(statement)
        return self._texts[key]

    def _failure(self, statement: s.Statement, message: str) -> RunError:
        where = f"{self.checked.filename}:{statement.span.line}"
        return RunError(f"{where}: {message} (in: {self.text(statement)})", located=True)

    async def _execute(self, statement: s.Statement, env: _Env) -> None:
        match statement:
            case s.Declaration(type_name, name, value):
                declared = self.library.resolve(type_name)
                result = None if value is None else await self.value(value, env, statement)
                env.types[name] = declared
                env.values[name] = (
                    _default(declared) if value is None else self._keep(result, declared, name)
                )
            case s.Assignment(target, value):
                owner = env.owner(target)
                result = await self.value(value, env, statement)
                owner.values[target] = self._keep(result, owner.types[target], target)
            case s.CallStatement(call):
                await self.call(call, env, statement)
            case s.ArrowStatement(arrow):
                await self.arrow(arrow, env, statement)
            case s.Composite():
                await self.composite(statement, env)

    def _keep(self, value: Any, target: WitType, name: str) -> Any:
        """The value to store in variable `name`: of its type, and not too large."""
        value = self._coerce(value, target, name)
        if type(value) not in _SMALL:
            self.budget.check_value(value, f"the value of '{name}'")
        return value

    def _coerce(self, value: Any, target: WitType, name: str) -> Any:
        try:
            return self.library.coerce(value, target)
        except ConversionError as error:
            raise RunError(f"cannot store in '{name}' ({target}): {error}") from None

    async def value(self, value: s.Expr | s.Arrow, env: _Env, statement: s.Statement) -> Any:
        if isinstance(value, s.Arrow):
            return await self.arrow(value, env, statement)
        return await self.eval(value, env)

    async def composite(self, composite: s.Composite, env: _Env) -> None:
        name, args, body = composite.name, composite.args, composite.body.statements
        if name == "If":
            if truth(await self.eval(_expr(args[0]), env)):
                await self.block(body, _Env(env))
            elif composite.else_body is not None:
                await self.block(composite.else_body.statements, _Env(env))
        elif name == "Loop":
            await self.loop(range(_count(await self.eval(_expr(args[0]), env))), None, body, env)
        elif name == "ForEach":
            binding = _binding(args[0])
            items = _items(await self.eval(binding.source, env))
            await self.loop(items, binding.name, body, env)
        elif name == "Parallel.ForEach":
            binding = _binding(args[0])
            limit = _count(await self.eval(_expr(args[1]), env)) if len(args) > 1 else None
            await self.parallel_loop(
                _items(await self.eval(binding.source, env)), binding.name, limit, body, env
            )
        elif name == "Invoke":
            await self.block(body, _Env(env))
        elif name == "Parallel.Invoke":
            inner = _Env(env)
            with self.budget.parallel(len(body)):
                await _all([self.statement(st, inner) for st in body])
        elif name == "Delay":
            with self.budget.waiting():
                await self.clock.sleep(_count(await self.eval(_expr(args[0]), env)) / 1000)
            await self.block(body, _Env(env))
        elif name == "Timer":
            values = [_count(await self.eval(_expr(a), env)) for a in args]
            await self.timer(values[0], values[1] if len(values) > 1 else None, body, env)
        else:
            raise RunError(f"unknown block activity '{name}'")

    async def loop(
        self,
        items: Sequence[Any] | range,
        variable: str | None,
        body: Sequence[s.Statement],
        env: _Env,
    ) -> None:
        with self._in_loop():
            await self._loop(items, variable, body, env)

    @contextmanager
    def _in_loop(self) -> Iterator[None]:
        token = _IN_LOOP.set(True)
        try:
            yield
        finally:
            _IN_LOOP.reset(token)

    async def _loop(
        self,
        items: Sequence[Any] | range,
        variable: str | None,
        body: Sequence[s.Statement],
        env: _Env,
    ) -> None:
        for item in items:
            if self.budget.step():  # a loop whose body is empty still takes time
                await self._give_turn()
            inner = _Env(env)
            if variable is not None:
                inner.values[variable] = item
                inner.types[variable] = OBJECT
            try:
                await self.block(body, inner)
            except _Continue:
                continue
            except _Break:
                break

    async def _give_turn(self) -> None:
        """The script has run for a slice: the rest of the hub runs before it goes on, and a
        pause asked meanwhile holds it here (a loop with an empty body has no statement)."""
        await asyncio.sleep(0)
        self.budget.turned()
        if self.control.paused:
            await self._honour_control()

    async def _honour_control(self) -> None:
        """Raise JobCancelled when the job was cancelled; wait here while it is paused."""
        if self.control.paused:
            self.emit(JobPaused())
            with self.budget.waiting():
                await self.control.checkpoint()
            self.emit(JobResumed())
        else:
            await self.control.checkpoint()

    async def parallel_loop(
        self,
        items: Sequence[Any],
        variable: str,
        limit: int | None,
        body: Sequence[s.Statement],
        env: _Env,
    ) -> None:
        """The block for every item, `limit` (else `PARALLEL_BRANCHES`) at a time: so many
        branches take the items in turn, so a million items are never a million tasks."""
        pending = iter(items)
        stopped = False

        async def branch() -> None:
            nonlocal stopped
            for item in pending:  # shared by the branches: each takes the next item
                if stopped:
                    return
                if self.budget.step():
                    await self._give_turn()
                inner = _Env(env)
                inner.values[variable] = item
                inner.types[variable] = OBJECT
                try:
                    await self.block(body, inner)
                except _Continue:
                    pass
                except _Break:
                    stopped = True

        branches = min(len(items), limit or PARALLEL_BRANCHES)
        with self._in_loop(), self.budget.parallel(branches):
            await _all([branch() for _ in range(branches)])

    async def timer(
        self, interval_ms: int, timeout_ms: int | None, body: Sequence[s.Statement], env: _Env
    ) -> None:
        with self._in_loop():
            await self._timer(interval_ms, timeout_ms, body, env)

    async def _timer(
        self, interval_ms: int, timeout_ms: int | None, body: Sequence[s.Statement], env: _Env
    ) -> None:
        started = self.clock.now()
        while True:
            with self.budget.waiting():
                await self.clock.sleep(interval_ms / 1000)
            # whole microseconds, so float noise cannot drop a round due exactly at the timeout
            elapsed_ms = round((self.clock.now() - started) * 1000, 3)
            if timeout_ms is not None and elapsed_ms > timeout_ms:
                return
            if self.budget.step():
                await self._give_turn()
            try:
                await self.block(body, _Env(env))
            except _Continue:
                continue
            except _Break:
                return

    # -------------------------------------------------------------- calls

    async def call(self, call: s.Call, env: _Env, statement: s.Statement) -> Any:
        name = call.name
        if name in FORMS:
            return await self.command(call, env, statement)
        args = [await self.eval(_expr(a), env) for a in call.args]
        definition = self.library.activities.get(name)
        if definition is not None:
            args = coerce_args(self.library, definition, args)
            if definition.plugin == "builtin":
                return run_activity(self.library, definition, args, self.context)
            with self.budget.waiting():  # a plugin's activity, in a thread of its own
                return await asyncio.to_thread(
                    run_activity, self.library, definition, args, self.context
                )
        try:
            return self.library.coerce(args[0], self.library.resolve(name))
        except ConversionError as error:
            raise RunError(f"{name}: {error}") from None

    async def command(self, call: s.Call, env: _Env, statement: s.Statement) -> None:
        line = statement.span.line
        args = [await self.eval(_expr(a), env) for a in call.args]
        match call.name:
            case "Break":
                raise _Break
            case "Continue":
                raise _Continue
            case "Trace":
                message = to_text(args[0])
                self.emit(TraceLogged(line=line, message=message))
                if len(args) > 1 and truth(args[1]):
                    raise self._failure(statement, message)
            case "Return":
                self.emit(
                    ValuesReturned(line=line, values=[self.library.encode_dynamic(a) for a in args])
                )
            case "Pause":
                message = f": {to_text(args[1])}" if len(args) > 1 else ""
                self.emit(TraceLogged(line=line, message=f"pause of {_count(args[0])} ms{message}"))
                with self.budget.waiting():
                    await self.clock.sleep(_count(args[0]) / 1000)
            case other:
                raise RunError(f"'{other}' cannot be used here")

    async def arrow(self, arrow: s.Arrow, env: _Env, statement: s.Statement) -> Any:
        body = arrow.body
        assert isinstance(body, s.Call)
        if arrow.head == "Transform.ForEach":
            return await self.transform(_binding((arrow.head_args or ())[0]), body, env, statement)
        head_args = list(arrow.head_args or ())
        binding: s.Binding | None = None
        items: Sequence[Any] = [None]
        if arrow.head == "Grid.ForEach":
            binding = _binding(head_args.pop(0))
            items = _items(await self.eval(binding.source, env))
        options: ProcessingOptions | None = None
        if head_args:
            value = await self.eval(_expr(head_args[0]), env)
            try:
                options = self.library.coerce(value, PROCESSING_OPTIONS)
            except ConversionError as error:
                raise RunError(f"{arrow.head} options: {error}") from None
        results = await self.grid(body, binding, items, options, env, statement)
        return results if arrow.head == "Grid.ForEach" else results[0]

    async def transform(
        self, binding: s.Binding, call: s.Call, env: _Env, statement: s.Statement
    ) -> list[Any]:
        """Transform.ForEach: the call for each item, on the hub, in order."""
        results = []
        for item in _items(await self.eval(binding.source, env)):
            if self.budget.step():
                await self._give_turn()
            inner = _Env(env)
            inner.values[binding.name] = item
            inner.types[binding.name] = OBJECT
            results.append(await self.call(call, inner, statement))
        return results

    async def grid(
        self,
        call: s.Call,
        binding: s.Binding | None,
        items: Sequence[Any],
        options: ProcessingOptions | None,
        env: _Env,
        statement: s.Statement,
    ) -> list[Any]:
        definition = self.library.activities[call.name]
        # What every item's arguments share, worked out once: their types, and how they are
        # encoded (any past the parameters as dynamic values).
        types = definition.spec.argument_types(len(call.args))
        params = definition.spec.params
        encodings = [p.type for p in params[: len(types)]] + [OBJECT] * (len(types) - len(params))
        encode = self.library.encode
        encoded = []
        inner = _Env(env)  # one for every item: arguments are expressions, which assign nothing
        compiled = self.compiler.all_compiled(call.args)
        stored = 0
        allowed = self.budget.limits.stored_bytes
        for count, item in enumerate(items, start=1):
            if count % YIELD_EVERY == 0:
                self.budget.store(stored, "what the hub stores for the job, with a map's items")
                stored = 0
                await asyncio.sleep(0)  # a large map's arguments take a while: let others run
                self.budget.turned()
            if binding is not None:
                inner.values[binding.name] = item
                inner.types[binding.name] = OBJECT
            if compiled is not None:
                values = [part(inner) for part in compiled]
            else:
                values = [await self.eval(_expr(a), inner) for a in call.args]
            args = coerce_args(self.library, definition, values, types)
            one = [encode(a, t) for a, t in zip(args, encodings, strict=True)]
            if allowed is not None:
                stored += _arguments_size(one, allowed)
            encoded.append(one)
        self.budget.store(stored, "what the hub stores for the job, with a map's items")
        line = statement.span.line
        request = MapRequest(
            call.name,
            encoded,
            options,
            label=f"{self.checked.filename}:{line}: {self.text(statement)}",
            delegate=binding is None,
        )

        def progress(done: int, total: int) -> None:
            self.emit(ProgressReported(line=line, activity=call.name, done=done, total=total))

        progress(0, len(encoded))
        try:
            with self.budget.waiting():
                results = await self.executor.map(request, progress)
        except ItemFailed as failure:
            which = f"item {failure.index}" + (
                f" ({binding.name} = {to_text(items[failure.index])})"
                if binding is not None
                else ""
            )
            raise self._failure(statement, f"{which} failed: {failure.message}") from None
        returns = definition.spec.returns
        if returns is None:
            return [None] * len(results)
        decode = self.library.decode
        decoded = []
        for count, result in enumerate(results, start=1):
            if count % YIELD_EVERY == 0:
                await asyncio.sleep(0)  # a large map's results take a while too
                self.budget.turned()
            decoded.append(decode(result, returns))
        return decoded

    # -------------------------------------------------------- expressions

    async def eval(self, expr: s.Expr, env: _Env) -> Any:
        compiled = self.compiler.compiled(expr)  # literals, variables, builtins: no waiting
        if compiled is not None:
            return compiled(env)
        match expr:  # what holds a plugin's activity or a form
            case s.Call():
                return await self.call(expr, env, _EXPRESSION)
            case s.ArrayLiteral(items):
                return [await self.eval(i, env) for i in items]
            case s.Member(target, name):
                return operators.member(await self.eval(target, env), name)
            case s.Index(target, index):
                return operators.index(await self.eval(target, env), await self.eval(index, env))
            case s.Unary(op, operand):
                return operators.unary(op, await self.eval(operand, env))
            case s.Binary("&&", left, right):
                return truth(await self.eval(left, env)) and truth(await self.eval(right, env))
            case s.Binary("||", left, right):
                return truth(await self.eval(left, env)) or truth(await self.eval(right, env))
            case s.Binary(op, left, right):
                return operators.binary(op, await self.eval(left, env), await self.eval(right, env))
        raise RunError(f"cannot evaluate {expr!r}")


_EXPRESSION = s.CallStatement(s.Call("", ()))

# Values whose size is never worth measuring.
_SMALL = frozenset({int, float, bool, type(None), dt.datetime, dt.timedelta, uuid.UUID})


def _arguments_size(arguments: list[Json], allowed: int) -> int:
    """About how many bytes one item's arguments take as the hub stores them."""
    total = 0
    for argument in arguments:
        kind = type(argument)
        if kind is int or kind is float:
            total += 8
        elif kind is str:
            total += len(argument) + 2
        else:
            total += size_of(argument, allowed)
    return total


# Statement events are not emitted inside loop bodies. A context variable, not a counter, so each
# branch of Parallel.Invoke (a task with a copy of the context) knows whether it is in a loop.
_IN_LOOP: ContextVar[bool] = ContextVar("witengine_in_loop", default=False)


async def _all(coroutines: Sequence[Awaitable[None]]) -> None:
    """Run concurrently; on the first error, cancel the rest and raise that error itself."""
    try:
        async with asyncio.TaskGroup() as group:
            for coroutine in coroutines:
                group.create_task(coroutine)  # type: ignore[arg-type]
    except BaseExceptionGroup as errors:
        raise errors.exceptions[0] from None


def _expr(arg: s.Arg) -> s.Expr:
    if isinstance(arg, s.Binding):
        raise RunError(f"'{arg.name} in …' is not a value")
    return arg


def _binding(arg: s.Arg) -> s.Binding:
    if not isinstance(arg, s.Binding):
        raise RunError("a loop needs 'x in items' first")
    return arg


def _count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RunError(f"expected a number, found {to_text(value)}")
    if value < 0:
        raise RunError(f"expected a number not below 0, found {to_text(value)}")
    return int(value)


def _items(value: Any) -> Sequence[Any]:
    if isinstance(value, list | tuple | str):
        return value
    raise RunError(f"expected a collection, found {to_text(value)}")


def _default(type_: WitType) -> Any:
    """The value of a variable declared without one: .NET's default for the types that cannot
    be null (the checker relies on them never being null), else null."""
    if type_.element is not None:
        return []
    return _DEFAULTS.get(type_.name)


_DEFAULTS: dict[str, Any] = {
    "Int": 0,
    "Long": 0,
    "Float": 0.0,
    "Double": 0.0,
    "Bool": False,
    "String": "",
    "TimeSpan": dt.timedelta(0),
    "DateTime": dt.datetime(1, 1, 1),
    "Guid": uuid.UUID(int=0),
}
