"""Expressions compiled once into functions (runtime.expressions), and those that cannot be:
the interpreter awaits them, with the same results and errors."""

from __future__ import annotations

import hashlib

import pytest

from witengine.errors import RunError
from witengine.lang import syntax as s
from witengine.protocol.states import JobStatus
from witengine.runtime.expressions import Compiler
from witengine.runtime.library import Library

from .conftest import Runner
from .test_interpreter import job


class Scope(dict[str, object]):
    def get(self, name: str) -> object:  # type: ignore[override]
        return self[name]


def value_of(runner: Runner, expression: str, before: str = "") -> s.Expr:
    """The expression of `Object:v = EXPRESSION;` (after `before`), parsed and checked."""
    checked = runner.check(job(f"{before}\nObject:v = {expression};"))
    statement = checked.job.body.statements[-1]
    assert isinstance(statement, s.Declaration)
    assert statement.value is not None and not isinstance(statement.value, s.Arrow)
    return statement.value


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ('Format("item-{0}", 7)', "item-7"),
        ("[1, 2 + 3, Count([4])]", [1, 5, 1]),
        ('"ab".Length * 2', 4),
        ("-(1 + 2)", -3),
        ("[10, 20][1]", 20),
        ("1 < 2 && !false", True),
    ],
)
def test_literals_operators_and_builtins_compile(
    run: Runner, expression: str, expected: object
) -> None:
    compiled = Compiler(run.library, run.context).compiled(value_of(run, expression))

    assert compiled is not None
    assert compiled(Scope()) == expected


def test_a_plugins_activity_does_not_compile_nor_does_what_holds_it(
    run: Runner, library: Library
) -> None:
    compiler = Compiler(library, run.context)

    assert compiler.compiled(value_of(run, 'Compute.Hash("a")')) is None
    assert compiler.compiled(value_of(run, 'Compute.Hash("a") + "!"')) is None
    assert compiler.compiled(value_of(run, '[1, Count(Compute.Hash("a"))]')) is None


def test_an_expression_compiles_once(run: Runner) -> None:
    compiler = Compiler(run.library, run.context)
    expr = value_of(run, "1 + 2")

    assert compiler.compiled(expr) is compiler.compiled(expr)


def test_a_compiled_condition_fails_as_the_interpreter_says(run: Runner) -> None:
    compiled = Compiler(run.library, run.context).compiled(
        value_of(run, "x && true", before="Object:x = 3;")
    )

    assert compiled is not None
    with pytest.raises(RunError, match="a condition must be true or false, found 3"):
        compiled(Scope(x=3))


async def test_an_expression_holding_a_plugin_call_is_awaited_with_the_same_result(
    run: Runner,
) -> None:
    done = await run(
        job(
            """
            String:h = Compute.Hash("a") + "!";
            Int:n = Count([Compute.Hash("a"), Format("{0}", 1)]) * 2;
            """
        )
    )

    assert done.status is JobStatus.COMPLETED, done.error
    assert done.variables["h"] == hashlib.sha256(b"a").hexdigest() + "!"
    assert done.variables["n"] == 4


async def test_a_grid_of_compiled_arguments_sends_what_the_interpreter_would(run: Runner) -> None:
    done = await run(
        job('Grid.ForEach(i in [1, 2]) => Compute.Hash(Format("item-{0}-{0:D3}", i + 1));')
    )

    assert done.status is JobStatus.COMPLETED, done.error
    assert done.executor.requests[0].items == [["item-2-002"], ["item-3-003"]]
