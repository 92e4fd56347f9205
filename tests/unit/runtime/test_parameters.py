"""Job parameters from command-line text: each read by its declared type, every mistake named."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from witengine.errors import ParameterError
from witengine.lang.checker import CheckedJob, check_source
from witengine.protocol.states import JobStatus
from witengine.runtime.blobs import Blob, LocalBlobStore
from witengine.runtime.library import Library
from witengine.runtime.parameters import read_parameters, split_assignments
from witengine.runtime.values import Color, ProcessingOptions
from witengine.scheduling.strategy import Strategy

from .conftest import Frame, Runner


def job_taking(library: Library, params: str) -> CheckedJob:
    return check_source(f"Job:Test({params})\n{{\n}}\n", library, "test.wit")


# ---------------------------------------------------------------- name=value pairs


def test_pairs_split_at_the_first_equals_sign() -> None:
    pairs = ["n=10", " name =a b", "expr=x=1", "empty="]

    assert split_assignments(pairs) == {"n": "10", "name": "a b", "expr": "x=1", "empty": ""}


@pytest.mark.parametrize(
    ("pairs", "message"),
    [
        (["n"], "'n' is not name=value"),
        (["=5"], "'=5' is not name=value"),
        ([" =5"], "' =5' is not name=value"),
        (["n=1", "n=2"], "parameter 'n' is given twice"),
        (["n=1", " n =2"], "parameter 'n' is given twice"),
    ],
)
def test_bad_pairs_are_refused(pairs: list[str], message: str) -> None:
    with pytest.raises(ParameterError) as caught:
        split_assignments(pairs)

    assert str(caught.value) == message


# ------------------------------------------------------------------- reading values


@pytest.mark.parametrize(
    ("declared", "text", "expected"),
    [
        ("Int", "10", 10),
        ("Int", " -3 ", -3),
        ("Long", "3000000000", 3_000_000_000),
        ("Double", "2.5", 2.5),
        ("Float", "1e-3", 0.001),
        ("Bool", "yes", True),
        ("Bool", "False", False),
        ("String", " a b ", " a b "),
        ("String", "", ""),
        ("Color", "#FF0000", Color(255, 0, 0)),
        ("TimeSpan", "90s", dt.timedelta(seconds=90)),
        ("DateTime", "2026-11-23T08:30:00", dt.datetime(2026, 11, 23, 8, 30)),
        ("ProcessingOptions", "queued", ProcessingOptions(Strategy.QUEUED)),
        ("Object", "anything", "anything"),
        ("Frame", "7", Frame(7)),
        ("IntCollection", "1, 2,3", [1, 2, 3]),
        ("IntCollection", "[1, 2, 3]", [1, 2, 3]),
        ("IntCollection", "", []),
        ("IntCollection", "[]", []),
        ("StringCollection", '["a,b", "c"]', ["a,b", "c"]),
        ("StringCollection", "a,b", ["a", "b"]),
        ("BoolCollection", "[true, false]", [True, False]),
        ("DoubleCollection", "[1, 2.5]", [1.0, 2.5]),
        ("FrameCollection", "3,1", [Frame(3), Frame(1)]),
    ],
)
def test_text_is_read_by_the_declared_type(
    library: Library, declared: str, text: str, expected: Any
) -> None:
    checked = job_taking(library, f"{declared}:p")

    values = read_parameters(checked, library, {"p": text})

    assert values == {"p": expected}
    assert [type(v) for v in _flat(values["p"])] == [type(v) for v in _flat(expected)]


def _flat(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


def test_parameters_with_defaults_may_be_left_out(library: Library) -> None:
    checked = job_taking(library, 'Int:n, Int:m = 5, String:s = "x"')

    assert read_parameters(checked, library, {"n": "1"}) == {"n": 1}
    assert read_parameters(checked, library, {"n": "1", "m": "2"}) == {"n": 1, "m": 2}


@pytest.mark.parametrize(
    ("texts", "message"),
    [
        ({}, "missing parameters: n=<Int>, names=<StringCollection>"),
        ({"n": "1"}, "missing parameter: names=<StringCollection>"),
        ({"n": "ten", "names": ""}, "parameter 'n' (Int): 'ten' is not a whole number"),
        ({"n": "1.5", "names": ""}, "parameter 'n' (Int): '1.5' is not a whole number"),
        (
            {"n": "2147483648", "names": ""},
            "parameter 'n' (Int): 2147483648 does not fit in Int (-2147483648 to 2147483647)",
        ),
        (
            {"n": "1", "names": "", "colour": "blurple"},
            "parameter 'colour' (Color): 'blurple' is not a colour; write #RRGGBB or #RRGGBBAA",
        ),
        (
            {"n": "1", "names": "", "m": "2"},
            "unknown parameter 'm'; Test takes Int:n, StringCollection:names, Color:colour",
        ),
    ],
)
def test_missing_unknown_and_unreadable_parameters_are_named(
    library: Library, texts: dict[str, str], message: str
) -> None:
    checked = job_taking(library, 'Int:n, StringCollection:names, Color:colour = "red"')

    with pytest.raises(ParameterError) as caught:
        read_parameters(checked, library, texts)

    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1,x", "parameter 'xs' (IntCollection): 'x' is not a whole number"),
        ("[1,", "parameter 'xs' (IntCollection): '[1,' is not a JSON array: Expecting value"),
        ('["a"]', "parameter 'xs' (IntCollection): 'a' is not a whole number"),
        ("[true]", "parameter 'xs' (IntCollection): Bool true is not a whole number (Int)"),
        ("[[1]]", "parameter 'xs' (IntCollection): collection [1] is not a whole number (Int)"),
    ],
)
def test_a_bad_collection_names_its_parameter(library: Library, text: str, message: str) -> None:
    checked = job_taking(library, "IntCollection:xs")

    with pytest.raises(ParameterError) as caught:
        read_parameters(checked, library, {"xs": text})

    assert str(caught.value) == message


def test_a_job_without_parameters_says_so(library: Library) -> None:
    with pytest.raises(ParameterError, match=r"^unknown parameter 'n'; Test takes no parameters$"):
        read_parameters(job_taking(library, ""), library, {"n": "1"})


# ------------------------------------------------------------------ values given


def test_given_values_are_checked_against_the_declared_types(library: Library) -> None:
    checked = job_taking(library, "Int:n, Color:c")

    values = read_parameters(checked, library, {}, given={"n": 4, "c": "#000000"})

    assert values == {"n": 4, "c": Color(0, 0, 0)}


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"n": "x", "c": "red"}, "parameter 'n' (Int): 'x' is not a whole number"),
        ({"n": 1, "c": 5}, "parameter 'c' (Color): number 5 cannot become a Color"),
        ({"n": 1, "c": "red", "z": 1}, "unknown parameter 'z'"),
    ],
)
def test_bad_given_values_are_named(library: Library, given: dict[str, Any], message: str) -> None:
    checked = job_taking(library, "Int:n, Color:c")

    with pytest.raises(ParameterError) as caught:
        read_parameters(checked, library, {}, given=given)

    assert str(caught.value) == message


# -------------------------------------------------------------------------- files


def test_a_blob_parameter_stores_the_file_its_text_names(library: Library, tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "blobs")
    (tmp_path / "scene.txt").write_text("hello")
    (tmp_path / "b.txt").write_text("other")
    checked = job_taking(library, "Blob:scene, BlobCollection:all")

    values = read_parameters(
        checked,
        library,
        {
            "scene": str(tmp_path / "scene.txt"),
            "all": f"{tmp_path / 'scene.txt'}, {tmp_path / 'b.txt'},",
        },
        store,
    )

    scene = values["scene"]
    assert isinstance(scene, Blob)
    assert (scene.name, scene.size) == ("scene.txt", 5)
    assert store.path(scene).read_text() == "hello"
    assert [b.name for b in values["all"]] == ["scene.txt", "b.txt"]


def test_a_missing_file_is_named_with_its_parameter(library: Library, tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "blobs")
    checked = job_taking(library, "Blob:scene")
    missing = tmp_path / "nope.blend"

    with pytest.raises(ParameterError) as caught:
        read_parameters(checked, library, {"scene": str(missing)}, store)

    assert str(caught.value) == (
        f"parameter 'scene' (Blob): cannot read '{missing}': No such file or directory"
    )


def test_without_a_store_a_blob_parameter_takes_a_digest(library: Library) -> None:
    checked = job_taking(library, "Blob:scene")
    digest = "ab" * 32

    assert read_parameters(checked, library, {"scene": f"sha256:{digest}"}) == {
        "scene": Blob(digest, 0)
    }
    with pytest.raises(ParameterError, match=r"^parameter 'scene' \(Blob\): text 'x.blend'"):
        read_parameters(checked, library, {"scene": "x.blend"})


# ------------------------------------------------------------------ into a running job


async def test_parameters_read_from_text_run_the_job(run: Runner) -> None:
    source = 'Job:Test(Long:n, String:who = "you")\n{\nTrace(Format("{0} for {1}", n * 2, who));\n}'
    values = read_parameters(run.check(source), run.library, split_assignments(["n=21"]))

    done = await run(source, values)

    assert done.status is JobStatus.COMPLETED
    assert done.traces() == ["42 for you"]
