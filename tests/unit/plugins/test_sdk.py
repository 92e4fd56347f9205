"""The plugin SDK: a plugin written the way an author would write one, and the ways to get it
wrong. Plugins here are real Python objects; activities run for real, in this process and in the
local pool's worker processes (which load this module by its `module:attribute` reference)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Self

import pytest

from witengine.api import run_checked
from witengine.errors import ActivityError, PluginError
from witengine.lang.checker import check_source
from witengine.lang.errors import ScriptError
from witengine.lang.types import WitType
from witengine.plugins.api import ActivityContext, Double, Int, Long, Plugin, WitName
from witengine.plugins.registry import build_library
from witengine.protocol.states import JobStatus
from witengine.runtime.blobs import LocalBlobStore
from witengine.runtime.invoke import invoke_json
from witengine.runtime.library import Json, Library
from witengine.runtime.local import LocalExecutor
from witengine.runtime.values import ConversionError

geometry = Plugin("geometry", version="2.1", summary="points in the plane")


@geometry.type("Point", accepts=("String",), members={"X": "Double", "Y": "Double"})
@dataclass(frozen=True)
class Point:
    """A point in the plane, written "x,y"."""

    x: float
    y: float

    @classmethod
    def from_value(cls, value: Any) -> Self:
        x, y = str(value).split(",")
        return cls(float(x), float(y))

    def to_json(self) -> Json:
        return {"x": self.x, "y": self.y}

    @classmethod
    def from_json(cls, data: Json) -> Self:
        return cls(float(data["x"]), float(data["y"]))


@geometry.activity("Geometry.Distance")
def distance(a: Point, b: Point) -> Double:
    """The straight-line distance between two points."""
    return math.dist((a.x, a.y), (b.x, b.y))


@geometry.activity("Geometry.Scale")
def scale(point: Point, factor: Int = 2) -> Point:
    return Point(point.x * factor, point.y * factor)


@geometry.activity("Geometry.Centroid", summary="the mean of the points")
def centroid(points: list[Point]) -> Point:
    return Point(
        sum(p.x for p in points) / len(points),
        sum(p.y for p in points) / len(points),
    )


@geometry.activity("Geometry.Label")
def label(context: ActivityContext, point: Point, name: str) -> str:
    return f"{name}@{point.x:g},{point.y:g}"


@geometry.activity("Geometry.Grid")
def grid(size: Long) -> list[Point]:
    return [Point(float(i), float(i)) for i in range(size)]


@pytest.fixture(scope="module")
def library() -> Library:
    return build_library([geometry])


# ------------------------------------------------------------------ a good plugin


def test_a_plugin_registers_its_types_and_activities_with_their_wit_signatures(
    library: Library,
) -> None:
    assert ("geometry", "2.1") in library.plugins
    assert library.type_spec("Point") is not None
    signatures = {
        name: library.activities[name].spec.signature()
        for name in library.activity_names()
        if name.startswith("Geometry.")
    }
    assert signatures == {
        "Geometry.Distance": "Geometry.Distance(Point a, Point b) -> Double",
        "Geometry.Scale": "Geometry.Scale(Point point, Int? factor) -> Point",
        "Geometry.Centroid": "Geometry.Centroid(PointCollection points) -> Point",
        "Geometry.Label": "Geometry.Label(Point point, String name) -> String",
        "Geometry.Grid": "Geometry.Grid(Long size) -> PointCollection",
    }
    assert library.activities["Geometry.Label"].takes_context
    assert library.activities["Geometry.Distance"].plugin == "geometry"


def test_summaries_come_from_the_docstring_or_the_decorator(library: Library) -> None:
    assert library.activities["Geometry.Distance"].spec.summary == (
        "The straight-line distance between two points."
    )
    assert library.activities["Geometry.Centroid"].spec.summary == "the mean of the points"
    type_spec = library.type_spec("Point")
    assert type_spec is not None
    assert type_spec.summary == 'A point in the plane, written "x,y".'
    assert type_spec.members == {"X": WitType("Double"), "Y": WitType("Double")}


def test_activities_are_callable_through_the_library_with_json(library: Library) -> None:
    origin, corner = {"x": 0.0, "y": 0.0}, {"x": 3.0, "y": 4.0}
    assert invoke_json(library, "Geometry.Distance", [origin, corner], None) == 5.0
    assert invoke_json(library, "Geometry.Scale", [corner], None) == {"x": 6.0, "y": 8.0}
    assert invoke_json(library, "Geometry.Scale", [corner, 3], None) == {"x": 9.0, "y": 12.0}
    assert invoke_json(library, "Geometry.Centroid", [[origin, corner]], None) == {
        "x": 1.5,
        "y": 2.0,
    }
    assert invoke_json(library, "Geometry.Grid", [2], None) == [
        {"x": 0.0, "y": 0.0},
        {"x": 1.0, "y": 1.0},
    ]


def test_an_activity_that_takes_a_context_refuses_to_run_without_one(library: Library) -> None:
    with pytest.raises(ActivityError, match=r"Geometry\.Label: needs an activity context"):
        invoke_json(library, "Geometry.Label", [{"x": 1, "y": 2}, "p"], None)


def test_a_plugin_type_is_made_from_a_literal_by_its_constructor(library: Library) -> None:
    point = library.coerce("1.5,-2", WitType("Point"))
    assert point == Point(1.5, -2.0)
    assert library.coerce(point, WitType("Point")) is point
    assert library.coerce(["0,1", "2,3"], library.resolve("PointCollection")) == [
        Point(0.0, 1.0),
        Point(2.0, 3.0),
    ]


def test_a_literal_the_constructor_cannot_read_is_a_conversion_error(library: Library) -> None:
    with pytest.raises(ConversionError, match=r"cannot make a Point from 'nowhere'"):
        library.coerce("nowhere", WitType("Point"))


def test_plugin_values_round_trip_through_json_and_dynamic_json(library: Library) -> None:
    point = Point(2.5, -1.0)
    point_type = WitType("Point")
    assert library.decode(library.encode(point, point_type), point_type) == point
    tagged = library.encode_dynamic(point)
    assert tagged == {"$type": "Point", "value": {"x": 2.5, "y": -1.0}}
    assert library.decode_dynamic(tagged) == point
    assert library.type_of_value(point) == point_type


async def test_a_script_uses_a_plugin_type_with_a_literal_and_its_members(
    library: Library, tmp_path: Path
) -> None:
    checked = check_source(
        """Job:Far() {
            Point:home = "3,4";
            Double:far = Geometry.Distance(home, "0,0");
            Double:x = home.X;
        }""",
        library,
        "far.wit",
    )
    store = LocalBlobStore(tmp_path / "blobs")
    async with LocalExecutor([], tmp_path / "blobs") as executor:
        result = await run_checked(checked, {}, library=library, executor=executor, store=store)
    assert result.status is JobStatus.COMPLETED, result.error
    assert result.variables == {"home": {"x": 3.0, "y": 4.0}, "far": 5.0, "x": 3.0}


def test_the_checker_refuses_a_value_the_plugin_type_does_not_accept(library: Library) -> None:
    with pytest.raises(ScriptError) as caught:
        check_source("Job:Bad() { Point:p = 42; }", library, "bad.wit")
    assert "Point" in str(caught.value)


async def test_plugin_values_travel_as_json_to_worker_processes_and_back(
    library: Library, tmp_path: Path
) -> None:
    checked = check_source(
        """Job:Scaled(Long:n) {
            PointCollection:points = Geometry.Grid(n);
            PointCollection:scaled = Grid.ForEach(p in points) => Geometry.Scale(p, 10);
            Point:middle = Geometry.Centroid(scaled);
        }""",
        library,
        "scaled.wit",
    )
    store = LocalBlobStore(tmp_path / "blobs")
    async with LocalExecutor([f"{__name__}:geometry"], tmp_path / "blobs", 2) as executor:
        result = await run_checked(
            checked, {"n": "5"}, library=library, executor=executor, store=store
        )
    assert result.status is JobStatus.COMPLETED, result.error
    assert result.variables["scaled"] == [{"x": 10.0 * i, "y": 10.0 * i} for i in range(5)]
    assert result.variables["middle"] == {"x": 20.0, "y": 20.0}


# ------------------------------------------------------------------- bad plugins


def build_one(plugin: Plugin) -> Library:
    return build_library([plugin])


def test_a_parameter_without_annotation_is_refused_naming_plugin_and_activity() -> None:
    bad = Plugin("sloppy", version="0")

    @bad.activity("Sloppy.Add")
    def add(a: int, b) -> int:  # type: ignore[no-untyped-def]
        return a + int(b)

    with pytest.raises(PluginError) as caught:
        build_one(bad)
    assert str(caught.value) == (
        "plugin 'sloppy': activity 'Sloppy.Add': parameter 'b' has no annotation"
    )


def test_a_missing_return_annotation_is_refused_naming_plugin_and_activity() -> None:
    bad = Plugin("sloppy", version="0")

    @bad.activity("Sloppy.Twice")
    def twice(a: int):  # type: ignore[no-untyped-def]
        return 2 * a

    with pytest.raises(PluginError, match=r"^plugin 'sloppy': activity 'Sloppy\.Twice': .*return"):
        build_one(bad)


def test_an_activity_returning_nothing_says_so_with_none() -> None:
    fine = Plugin("quiet", version="0")

    @fine.activity("Quiet.Nothing")
    def nothing(a: int) -> None:
        return None

    assert build_one(fine).activities["Quiet.Nothing"].spec.returns is None


def test_an_annotation_with_no_wit_type_is_refused_naming_plugin_and_activity() -> None:
    bad = Plugin("bytes", version="0")

    @bad.activity("Bytes.Length")
    def length(data: bytes) -> int:
        return len(data)

    with pytest.raises(PluginError) as caught:
        build_one(bad)
    message = str(caught.value)
    assert message.startswith("plugin 'bytes': activity 'Bytes.Length': no Wit type")
    assert "bytes" in message


def test_an_unknown_wit_type_name_is_refused_naming_plugin_and_activity() -> None:
    bad = Plugin("typo", version="0")

    @bad.activity("Typo.Echo")
    def echo(text: Annotated[str, WitName("Strng")]) -> str:
        return text

    with pytest.raises(PluginError) as caught:
        build_one(bad)
    assert str(caught.value) == (
        "plugin 'typo': activity 'Typo.Echo' uses the unknown Wit type 'Strng'"
    )


def test_an_unknown_member_type_is_refused_naming_plugin_and_type() -> None:
    bad = Plugin("typo", version="0")

    @bad.type("Pair", members={"Left": "Dubble"})
    class Pair(Point):
        pass

    with pytest.raises(
        PluginError, match=r"^plugin 'typo': type 'Pair' .*unknown Wit type 'Dubble'"
    ):
        build_one(bad)


def test_a_type_of_another_plugin_may_be_used_when_both_are_loaded() -> None:
    user = Plugin("mapper", version="0")

    @user.activity("Mapper.Origin")
    def origin() -> Point:
        return Point(0.0, 0.0)

    with pytest.raises(PluginError, match="unknown Wit type 'Point'"):
        build_one(user)
    assert build_library([geometry, user]).activity("Mapper.Origin") is not None


def test_an_activity_registered_twice_in_one_plugin_is_refused_at_once() -> None:
    bad = Plugin("twice", version="0")

    @bad.activity("Twice.Run")
    def first(a: int) -> int:
        return a

    with pytest.raises(PluginError) as caught:

        @bad.activity("Twice.Run")
        def second(a: int) -> int:
            return a

    assert str(caught.value) == "plugin 'twice': activity 'Twice.Run' is registered twice"


def test_two_plugins_defining_one_activity_are_refused_naming_both() -> None:
    other = Plugin("rival", version="0")

    @other.activity("Geometry.Distance")
    def rival_distance(a: Point, b: Point) -> Double:
        return 0.0

    with pytest.raises(PluginError) as caught:
        build_library([geometry, other])
    assert str(caught.value) == (
        "activity 'Geometry.Distance' is defined by both geometry and rival"
    )


def test_two_plugins_defining_one_type_are_refused_naming_both() -> None:
    other = Plugin("rival", version="0")
    other.type("Point")(Point)

    with pytest.raises(PluginError) as caught:
        build_library([geometry, other])
    assert str(caught.value) == (
        "plugin 'rival': type 'Point' is already defined by plugin 'geometry'"
    )


def test_a_plugin_type_may_not_replace_a_built_in_type() -> None:
    bad = Plugin("shadow", version="0")
    bad.type("Color")(Point)

    with pytest.raises(PluginError, match=r"^plugin 'shadow': type 'Color' is already defined by"):
        build_one(bad)


def test_a_type_registered_twice_in_one_plugin_is_refused_at_once() -> None:
    bad = Plugin("twice", version="0")
    bad.type("Spot")(Point)
    with pytest.raises(PluginError, match=r"^plugin 'twice': type 'Spot' is registered twice$"):
        bad.type("Spot")(Point)


def test_a_type_class_without_json_encoding_is_refused_naming_plugin_and_type() -> None:
    bad = Plugin("plain", version="0")

    class Plain:
        @classmethod
        def from_value(cls, value: Any) -> Plain:
            return cls()

    with pytest.raises(PluginError, match=r"^plugin 'plain': type 'Plain' \(Plain\) lacks to_json"):
        bad.type("Plain")(Plain)


def test_an_activity_name_without_a_module_is_refused_naming_the_plugin() -> None:
    bad = Plugin("flat", version="0")
    with pytest.raises(PluginError, match=r"^plugin 'flat': activity name 'Run' must be"):
        bad.activity("Run")


def test_the_context_must_come_first() -> None:
    bad = Plugin("late", version="0")

    @bad.activity("Late.Context")
    def late(text: str, context: ActivityContext) -> str:
        return text

    with pytest.raises(
        PluginError, match=r"^plugin 'late': activity 'Late\.Context': the ActivityContext must"
    ):
        build_one(bad)


def test_keyword_only_parameters_are_refused() -> None:
    bad = Plugin("keywords", version="0")

    @bad.activity("Keywords.Run")
    def run(*, text: str) -> str:
        return text

    with pytest.raises(PluginError, match="parameter 'text' must be positional"):
        build_one(bad)


def test_an_activity_failure_is_an_activity_error_naming_the_activity(library: Library) -> None:
    with pytest.raises(ActivityError) as caught:
        invoke_json(library, "Geometry.Centroid", [[]], None)
    assert str(caught.value) == "Geometry.Centroid: ZeroDivisionError: division by zero"
