"""Calling one activity: arguments in, value out, every failure as a readable ActivityError."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from witengine.errors import ActivityError, WitError
from witengine.plugins import compute
from witengine.plugins.api import ActivityContext, Blob, Color, Int, Plugin
from witengine.plugins.registry import build_library
from witengine.runtime.blobs import LocalBlobStore
from witengine.runtime.invoke import coerce_args, invoke_json, run_activity
from witengine.runtime.library import Library

probe = Plugin("probe", version="1.0")


@probe.activity("Probe.Twice")
def twice(n: Int) -> Int:
    """n * 2."""
    return n * 2


@probe.activity("Probe.Refuse")
def refuse(reason: str) -> None:
    """Fails on purpose, the way plugins report bad input."""
    raise WitError(reason)


@probe.activity("Probe.Crash")
def crash() -> Int:
    """A plugin bug."""
    return {}["missing"]  # type: ignore[no-any-return]


@probe.activity("Probe.Liar")
def liar() -> Int:
    """Says it returns Int, returns text."""
    return "not a number"  # type: ignore[return-value]


@probe.activity("Probe.Huge")
def huge() -> Int:
    """Says it returns Int, returns more than an Int holds."""
    return 2**40


@probe.activity("Probe.Save")
def save(context: ActivityContext, text: str) -> Blob:
    """Stores text as a file."""
    return context.save_bytes(text.encode(), "saved.txt")


@probe.activity("Probe.Paint")
def paint(colour: Color) -> str:
    """The colour as text."""
    return str(colour)


@probe.activity("Probe.Nothing")
def nothing(n: Int) -> None:
    """Returns nothing."""


@pytest.fixture(scope="module")
def library() -> Library:
    return build_library([compute.plugin, probe])


def call(library: Library, name: str, *args: Any, context: ActivityContext | None = None) -> Any:
    definition = library.activities[name]
    return run_activity(library, definition, coerce_args(library, definition, args), context)


def test_an_activity_gets_its_arguments_as_its_types(library: Library) -> None:
    assert call(library, "Probe.Twice", "21") == 42
    assert call(library, "Probe.Paint", "#00FF00") == "#00FF00"
    assert call(library, "Probe.Nothing", 1) is None


def test_arguments_that_cannot_become_their_types_name_the_activity(library: Library) -> None:
    definition = library.activities["Probe.Paint"]

    with pytest.raises(ActivityError) as caught:
        coerce_args(library, definition, ["puce"])

    assert str(caught.value) == ("Probe.Paint: 'puce' is not a colour; write #RRGGBB or #RRGGBBAA")


def test_variadic_arguments_keep_their_values(library: Library) -> None:
    definition = library.activities["Format"]

    assert coerce_args(library, definition, ["{0}-{1}", 1, "a"]) == ["{0}-{1}", 1, "a"]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("Probe.Crash", "Probe.Crash: KeyError: 'missing'"),
        (
            "Probe.Liar",
            "Probe.Liar: returned a value that is not a Int: 'not a number' is not a whole number",
        ),
        (
            "Probe.Huge",
            "Probe.Huge: returned a value that is not a Int: "
            "1099511627776 does not fit in Int (-2147483648 to 2147483647)",
        ),
    ],
)
def test_a_plugin_bug_is_reported_never_raised_through(
    library: Library, name: str, message: str
) -> None:
    with pytest.raises(ActivityError) as caught:
        call(library, name)

    assert str(caught.value) == message


def test_an_error_a_plugin_raises_on_purpose_keeps_its_message(library: Library) -> None:
    with pytest.raises(ActivityError) as caught:
        call(library, "Probe.Refuse", "the scene has no camera")

    assert str(caught.value) == "Probe.Refuse: the scene has no camera"


def test_an_activity_that_needs_files_fails_clearly_without_a_context(library: Library) -> None:
    with pytest.raises(ActivityError) as caught:
        call(library, "Probe.Save", "x")

    assert str(caught.value) == "Probe.Save: needs an activity context, and none was given"


def test_an_activity_with_a_context_stores_its_files(library: Library, tmp_path: Path) -> None:
    context = ActivityContext(LocalBlobStore(tmp_path / "blobs"), tmp_path)

    blob = call(library, "Probe.Save", "hello", context=context)

    assert isinstance(blob, Blob)
    assert context.file(blob).read_text() == "hello"


# ------------------------------------------------------------------------------ JSON


def test_invoke_json_takes_and_gives_json(library: Library) -> None:
    assert invoke_json(library, "Probe.Twice", [4], None) == 8
    assert invoke_json(library, "Probe.Paint", ["#FF0000"], None) == "#FF0000"
    assert invoke_json(library, "Probe.Nothing", [1], None) is None
    assert invoke_json(library, "Zip", [[1, 2], ["a", "b"]], None) == [
        {"$type": "Tuple", "items": [1, "a"]},
        {"$type": "Tuple", "items": [2, "b"]},
    ]


@pytest.mark.parametrize(
    ("name", "args", "message"),
    [
        ("Probe.Gone", [1], "Probe.Gone: no such activity in this process's plugins"),
        (
            "Probe.Twice",
            [1, 2],
            "Probe.Twice: bad arguments: takes 1, got 2",
        ),
        ("Probe.Twice", [], "Probe.Twice: bad arguments: takes 1, got 0"),
        ("Format", [], "Format: bad arguments: takes 1 or more, got 0"),
        (
            "ProcessingOptions",
            ["Queued", 2, "default", 4],
            "ProcessingOptions: bad arguments: takes 1 to 3, got 4",
        ),
        (
            "Probe.Paint",
            ["nope"],
            "Probe.Paint: bad arguments: 'nope' is not a colour; write #RRGGBB or #RRGGBBAA",
        ),
    ],
)
def test_invoke_json_names_what_is_wrong(
    library: Library, name: str, args: list[Any], message: str
) -> None:
    with pytest.raises(ActivityError) as caught:
        invoke_json(library, name, args, None)

    assert str(caught.value) == message
