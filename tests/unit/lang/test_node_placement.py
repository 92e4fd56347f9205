"""An activity its plugin declares `Placement.NODE` (it needs what only nodes have): the checker
refuses a call that would run it on the hub (a plain call, Transform.ForEach, an argument
worked out on the hub) and points to Grid.Delegate; through Grid.* it checks."""

from __future__ import annotations

import pytest

from witengine.lang.checker import check_source
from witengine.lang.errors import ScriptError
from witengine.plugins.api import Int, Placement, Plugin
from witengine.plugins.registry import build_library

gpu = Plugin("gpu", version="1")


@gpu.activity("Gpu.Square", placement=Placement.NODE)
def square(n: Int) -> Int:
    return n * n


LIBRARY = build_library([gpu])


@pytest.mark.parametrize(
    "body",
    [
        "Int:x = Grid.Delegate => Gpu.Square(3);",
        "IntCollection:x = Grid.ForEach(n in [1, 2]) => Gpu.Square(n);",
    ],
)
def test_through_the_grid_it_checks(body: str) -> None:
    check_source(f"Job:J()\n{{\n    {body}\n}}\n", LIBRARY)


@pytest.mark.parametrize(
    "body",
    [
        "Int:x = Gpu.Square(3);",
        "IntCollection:x = Transform.ForEach(n in [1, 2]) => Gpu.Square(n);",
        "IntCollection:x = Grid.ForEach(n in [1, 2]) => Gpu.Square(Gpu.Square(n));",
    ],
)
def test_a_call_that_would_run_it_on_the_hub_is_refused(body: str) -> None:
    with pytest.raises(ScriptError) as caught:
        check_source(f"Job:J()\n{{\n    {body}\n}}\n", LIBRARY, "j.wit")
    (found,) = caught.value.diagnostics
    assert found.message == (
        "'Gpu.Square' runs on nodes only, and a call outside Grid.* runs on the hub"
    )
    assert found.hint == "run it on a node: Grid.Delegate => Gpu.Square(…)"
    # The call that would run on the hub: the last one written (in a Grid's argument, say).
    assert (found.span.line, found.span.column) == (3, 4 + body.rindex("Gpu.Square") + 1)
