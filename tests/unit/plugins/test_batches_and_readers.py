"""Two optional parts of a plugin: an activity's batch form (many items in one call, results as
each finishes, the rest one by one) and a type's reader (a parameter's text that names files,
read where the files are and again on a hub with the files uploaded)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import pytest

from witengine.errors import ParameterError, PluginError
from witengine.lang.checker import CheckedJob, check_source
from witengine.plugins.api import ActivityContext, Blob, Files, Long, Plugin
from witengine.plugins.registry import build_library
from witengine.runtime.blobs import LocalBlobStore, blobs_in
from witengine.runtime.executor import MapRequest
from witengine.runtime.invoke import invoke_batch_json
from witengine.runtime.library import Json, Library
from witengine.runtime.local import LocalExecutor
from witengine.runtime.parameters import check_sent, files_named, read_parameters

tally = Plugin("tally", version="1.0")


@tally.activity("Tally.Square")
def square(n: Long) -> Long:
    """n squared, one at a time."""
    if n == 13:
        raise ValueError("unlucky")
    return n * n


@tally.batch("Tally.Square")
def squares(context: ActivityContext, items: Sequence[Sequence[Any]]) -> Iterator[tuple[int, Any]]:
    """Squares in reverse order; leaves 7 to the one-at-a-time form; fails 13 by itself."""
    numbers = [n for (n,) in items]
    for position in reversed(range(len(numbers))):
        n = numbers[position]
        if n == 13:
            yield position, ValueError("unlucky in a batch")
        elif n != 7:
            yield position, n * n


@tally.activity("Tally.Halve")
def halve(n: Long) -> Long:
    return n // 2


@tally.batch("Tally.Halve")
def halves(context: ActivityContext, items: Sequence[Sequence[Any]]) -> Iterator[tuple[int, Any]]:
    """Halves the first item, reports it twice, then breaks down."""
    yield 0, items[0][0] // 2
    yield 0, -1
    raise RuntimeError("the batch broke down")


@tally.activity("Tally.Origin")
def origin(n: Long) -> str:
    """How the item was run: alone."""
    return f"{n} alone"


@tally.batch("Tally.Origin")
def origins(context: ActivityContext, items: Sequence[Sequence[Any]]) -> Iterator[tuple[int, Any]]:
    """How each item was run: in a batch of so many, in this process."""
    for position, (n,) in enumerate(items):
        yield position, f"{n} in a batch of {len(items)}"


@tally.type("Bundle", accepts=("Blob",), members={"Label": "String"})
@dataclass(frozen=True)
class Bundle:
    """A label and a file, written `label:path` on the command line."""

    label: str
    file: Blob

    @classmethod
    def from_value(cls, value: Any) -> Self:
        return cls("", value)

    def to_json(self) -> Json:
        return {"label": self.label, "file": [self.file.sha256, self.file.size, self.file.name]}

    @classmethod
    def from_json(cls, data: Json) -> Self:
        return cls(data["label"], Blob(*data["file"]))


def shout(file: Path, scratch: Path) -> Path:
    """A prepared file: the text in capitals (one in capitals already is sent as it is); a text
    that says 'missing' cannot be prepared."""
    text = file.read_text()
    if "missing" in text:
        raise ValueError(f"{file.name} says something is missing")
    if text == text.upper():
        return file
    prepared = scratch / file.name
    prepared.write_text(text.upper())
    return prepared


@tally.reader("Bundle")
def read_bundle(text: str, files: Files) -> Bundle:
    """`label:path`; the label `loud` sends the file prepared by shout()."""
    label, _, path = text.partition(":")
    if not path:
        raise ValueError(f"'{text}' is not label:path")
    return Bundle(label, files(path, shout if label == "loud" else None))


@tally.reader("BundleCollection")
def read_bundles(text: str, files: Files) -> list[Bundle]:
    return [read_bundle(part, files) for part in text.split(";")]


@pytest.fixture(scope="module")
def library() -> Library:
    return build_library([tally])


@pytest.fixture
def context(tmp_path: Path) -> ActivityContext:
    return ActivityContext(LocalBlobStore(tmp_path / "blobs"), tmp_path)


def outcomes(
    library: Library, activity: str, items: list[list[Json]], context: ActivityContext
) -> list[tuple[int, bool, Json]]:
    return list(invoke_batch_json(library, activity, items, context))


# ------------------------------------------------------------------ batches


def test_a_batch_form_gets_every_item_at_once_and_reports_each_as_it_finishes(
    library: Library, context: ActivityContext
) -> None:
    found = outcomes(library, "Tally.Square", [[2], [3], [4]], context)

    assert found == [(2, True, 16), (1, True, 9), (0, True, 4)]


def test_items_a_batch_form_leaves_out_run_one_by_one_after_it(
    library: Library, context: ActivityContext
) -> None:
    found = outcomes(library, "Tally.Square", [[7], [3]], context)

    assert found == [(1, True, 9), (0, True, 49)]


def test_an_exception_a_batch_form_reports_fails_that_item_alone(
    library: Library, context: ActivityContext
) -> None:
    found = outcomes(library, "Tally.Square", [[2], [13], [4]], context)

    assert sorted(found) == [
        (0, True, 4),
        (1, False, "Tally.Square: ValueError: unlucky in a batch"),
        (2, True, 16),
    ]


def test_a_batch_form_that_raises_fails_the_items_it_had_not_reported(
    library: Library, context: ActivityContext
) -> None:
    found = outcomes(library, "Tally.Halve", [[10], [20], [30]], context)

    broke = "Tally.Halve: RuntimeError: the batch broke down"
    assert found == [(0, True, 5), (1, False, broke), (2, False, broke)]


def test_an_item_with_bad_arguments_fails_alone_and_the_batch_gets_the_others(
    library: Library, context: ActivityContext
) -> None:
    found = outcomes(library, "Tally.Square", [[2], ["two"], [4]], context)

    assert found[0] == (1, False, "Tally.Square: bad arguments: text 'two' is not a Long")
    assert sorted(found[1:]) == [(0, True, 4), (2, True, 16)]


def test_a_single_item_runs_through_the_activity_itself(
    library: Library, context: ActivityContext
) -> None:
    assert outcomes(library, "Tally.Square", [[13]], context) == [
        (0, False, "Tally.Square: ValueError: unlucky")
    ]


async def test_the_local_pool_hands_each_chunk_to_the_batch_form_in_one_call(
    tmp_path: Path,
) -> None:
    items = [[n] for n in range(16)]

    async with LocalExecutor([f"{__name__}:tally"], tmp_path / "blobs", 2) as executor:
        assert executor.chunk_size(len(items)) == 2  # two workers, four chunks each
        results = await executor.map(MapRequest("Tally.Origin", items), lambda done, total: None)

    assert results == [f"{n} in a batch of 2" for n in range(16)]


@pytest.mark.parametrize(
    ("register", "message"),
    [
        (
            lambda p: p.batch("Tally.Nothing")(squares),
            "plugin 'bad': a batch form of 'Tally.Nothing', which it does not offer",
        ),
        (
            lambda p: p.batch("Tally.Square")(lambda items: iter(())),
            "plugin 'bad': the batch form of 'Tally.Square' must take (context, items)",
        ),
    ],
)
def test_a_wrong_batch_form_is_refused_with_its_plugin_named(register: Any, message: str) -> None:
    plugin = Plugin("bad", version="1")
    plugin.activity("Tally.Square")(square)

    with pytest.raises(PluginError) as caught:
        register(plugin)
        plugin.activity_defs()

    assert str(caught.value) == message


def test_an_activity_has_one_batch_form() -> None:
    plugin = Plugin("bad", version="1")
    plugin.batch("Tally.Square")(squares)

    with pytest.raises(PluginError, match=r"the batch form of 'Tally\.Square' is registered twice"):
        plugin.batch("Tally.Square")(squares)


# ------------------------------------------------------------------ readers


def job(library: Library) -> CheckedJob:
    return check_source(
        'Job:Pack(Bundle:one, BundleCollection:many, String:note = "")\n{\n}\n',
        library,
        "pack.wit",
    )


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    made = {}
    for name in ("a.txt", "b.txt"):
        made[name] = tmp_path / name
        made[name].write_text(f"this is {name}\n")
    return made


def test_a_reader_makes_the_files_its_text_names_into_blobs(
    library: Library, files: dict[str, Path], tmp_path: Path
) -> None:
    store = LocalBlobStore(tmp_path / "store")
    texts = {"one": f"first:{files['a.txt']}", "many": f"x:{files['a.txt']};y:{files['b.txt']}"}

    values = read_parameters(job(library), library, texts, store)

    assert values["one"].label == "first"
    assert store.path(values["one"].file).read_text() == "this is a.txt\n"
    assert [b.label for b in values["many"]] == ["x", "y"]
    assert values["many"][1].file.name == "b.txt"


def test_a_hub_reads_the_same_text_with_the_files_the_client_uploaded_in_order(
    library: Library, files: dict[str, Path], tmp_path: Path
) -> None:
    checked = job(library)
    texts = {"one": f"first:{files['a.txt']}", "many": f"x:{files['b.txt']};y:{files['a.txt']}"}
    named = files_named(checked, library, texts, tmp_path)
    assert named == {
        "one": [files["a.txt"]],
        "many": [files["b.txt"], files["a.txt"]],
    }
    uploaded = LocalBlobStore(tmp_path / "hub")
    attached = {name: [uploaded.put_file(p) for p in paths] for name, paths in named.items()}

    values = read_parameters(checked, library, texts, attached=attached)

    assert values["one"].file == attached["one"][0]
    assert [b.file.name for b in values["many"]] == ["b.txt", "a.txt"]


@pytest.mark.parametrize(
    ("texts", "message"),
    [
        (
            {"one": "first"},
            "parameter 'one' (Bundle): 'first' is not label:path",
        ),
        (
            {"one": "first:/no/such/file.txt"},
            "parameter 'one' (Bundle): cannot read '/no/such/file.txt': No such file or directory",
        ),
    ],
)
def test_a_client_learns_of_a_wrong_text_or_a_missing_file_before_uploading(
    library: Library, texts: dict[str, str], message: str, tmp_path: Path
) -> None:
    with pytest.raises(ParameterError) as caught:
        files_named(job(library), library, texts, tmp_path)

    assert str(caught.value) == message


def test_a_file_the_client_did_not_send_is_named(
    library: Library, files: dict[str, Path], tmp_path: Path
) -> None:
    texts = {"one": "first:a.txt", "many": "x:a.txt;y:b.txt"}
    blob = LocalBlobStore(tmp_path / "hub").put_file(files["a.txt"])

    with pytest.raises(ParameterError) as caught:
        read_parameters(job(library), library, texts, attached={"one": [blob], "many": [blob]})

    assert str(caught.value) == (
        "parameter 'many' (BundleCollection): the file 'b.txt' was not sent with the job"
    )


def test_a_reader_is_only_for_its_own_plugins_types() -> None:
    plugin = Plugin("bad", version="1")
    plugin.reader("Scene")(read_bundle)

    with pytest.raises(PluginError, match="a reader for 'Scene', which is not one of its types"):
        plugin.type_defs()


def test_the_blobs_inside_a_plugins_value_are_found(files: dict[str, Path], tmp_path: Path) -> None:
    blob = LocalBlobStore(tmp_path / "store").put_file(files["a.txt"])

    assert list(blobs_in([Bundle("x", blob), (Bundle("y", blob),)])) == [blob, blob]


def test_a_file_the_reader_prepares_is_sent_prepared_under_its_own_name(
    library: Library, files: dict[str, Path], tmp_path: Path
) -> None:
    checked = job(library)
    texts = {"one": f"loud:{files['a.txt']}", "many": f"quiet:{files['b.txt']}"}
    store = LocalBlobStore(tmp_path / "store")

    named = files_named(checked, library, texts, tmp_path / "scratch")
    local = read_parameters(checked, library, texts, store)

    assert [p.read_text() for p in named["one"]] == ["THIS IS A.TXT\n"]
    assert named["one"][0].name == "a.txt"
    assert named["many"] == [files["b.txt"]]
    assert store.path(local["one"].file).read_text() == "THIS IS A.TXT\n"
    assert local["one"].file.name == "a.txt"
    assert files["a.txt"].read_text() == "this is a.txt\n"  # the user's file is left alone


def test_a_file_that_cannot_be_prepared_fails_the_parameter_before_anything_is_sent(
    library: Library, files: dict[str, Path], tmp_path: Path
) -> None:
    files["a.txt"].write_text("the texture is missing\n")
    texts = {"one": f"loud:{files['a.txt']}", "many": f"quiet:{files['b.txt']}"}

    with pytest.raises(ParameterError) as caught:
        files_named(job(library), library, texts, tmp_path / "scratch")

    assert str(caught.value) == "parameter 'one' (Bundle): a.txt says something is missing"


def test_a_hub_hands_the_files_a_browser_sent_to_the_reader_as_they_are(
    library: Library, files: dict[str, Path], tmp_path: Path
) -> None:
    files["a.txt"].write_text("THIS IS A.TXT\n")
    checked = job(library)
    texts = {"one": "loud:a.txt", "many": "quiet:b.txt;loud:a.txt"}
    store = LocalBlobStore(tmp_path / "hub")
    sent = {"one": [store.put_file(files["a.txt"])], "many": [store.put_file(files["b.txt"])]}
    sent["many"].append(sent["one"][0])

    check_sent(checked, library, texts, sent, store)

    assert store.path(sent["one"][0]).read_text() == "THIS IS A.TXT\n"
    assert read_parameters(checked, library, texts, attached=sent, stored=store)["one"].label


@pytest.mark.parametrize("text", ["the scene is lower case\n", "the texture is missing\n"])
def test_a_hub_never_prepares_a_sent_file_on_its_own_disk(
    library: Library, files: dict[str, Path], tmp_path: Path, text: str
) -> None:
    """Preparing a sent file (packing a scene's textures into it) would read the hub's own
    files, by paths the sender chose: the hub leaves that to the reader's own checks."""
    files["a.txt"].write_text(text)
    store = LocalBlobStore(tmp_path / "hub")
    sent = {"one": [store.put_file(files["a.txt"])], "many": [store.put_file(files["b.txt"])]}

    check_sent(job(library), library, {"one": "loud:x", "many": "quiet:b.txt"}, sent, store)

    assert store.path(sent["one"][0]).read_text() == text
