"""What a plugin declares about each activity's work: its unit and estimate, its benchmark, its
requirements and placement, how two of its results are compared; and the mistakes an author
gets told about when the plugin loads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from witengine.errors import ActivityError, PluginError
from witengine.plugins.api import (
    EXACT,
    ActivityContext,
    Double,
    ImagesWithin,
    Int,
    Placement,
    Plugin,
    Requirements,
    TrustedCrop,
)
from witengine.plugins.compute import plugin as compute_plugin
from witengine.plugins.registry import build_library
from witengine.plugins.render import plugin as render_plugin
from witengine.plugins.tool import plugin as tool_plugin
from witengine.plugins.video import plugin as video_plugin
from witengine.runtime.blobs import LocalBlobStore
from witengine.runtime.comparisons import Agreeing
from witengine.runtime.invoke import requirements_json
from witengine.runtime.library import ActivityDef


def only(plugin: Plugin) -> ActivityDef:
    (definition,) = plugin.activity_defs()
    return definition


def test_an_activity_without_declarations_is_one_item_of_work_anywhere() -> None:
    plugin = Plugin("plain", version="1.0")

    @plugin.activity("Plain.Echo")
    def echo(text: str) -> str:
        return text

    definition = only(plugin)
    assert (definition.unit, definition.work(["hi"])) == ("items@1", 1.0)
    assert definition.benchmark is None and definition.requirements is None
    assert definition.spec.placement is Placement.ANYWHERE


def test_a_full_declaration_reaches_the_library() -> None:
    plugin = Plugin("render", version="3.1")
    needs = Requirements(software="blender>=3.0", min_ram_gib=4)

    @plugin.activity(
        "Render.Frame",
        unit="pixel-samples@1",
        estimate=lambda frame, width, height, samples: width * height * samples,
        requires=needs,
        placement=Placement.NODE,
    )
    def frame(context: ActivityContext, frame: Int, width: Int, height: Int, samples: Int) -> Int:
        return frame

    @plugin.benchmark("Render.Frame")
    def frame_benchmark(context: ActivityContext) -> float:
        return 64 * 64 * 16.0

    definition = build_library([plugin]).activities["Render.Frame"]
    assert definition.unit == "pixel-samples@1"
    assert definition.work([1, 1920, 1080, 128]) == 1920 * 1080 * 128
    assert definition.requirements is needs
    assert definition.spec.placement is Placement.NODE
    assert definition.benchmark is not None
    assert definition.benchmark(context_in(Path("/nonexistent"))) == 65536.0


def context_in(root: Path) -> ActivityContext:
    return ActivityContext(LocalBlobStore(root / "blobs"), root)


def test_an_estimate_sees_the_defaults_of_arguments_a_script_left_out() -> None:
    plugin = Plugin("tiles", version="1.0")

    @plugin.activity("Tiles.Cut", unit="tiles@1", estimate=lambda size, parts: size * parts)
    def cut(size: Int, parts: Int = 4) -> Int:
        return size

    definition = only(plugin)
    assert definition.work([10]) == 40.0
    assert definition.work([10, 2]) == 20.0


def test_a_benchmark_may_take_no_context() -> None:
    plugin = Plugin("quick", version="1.0")

    @plugin.activity("Quick.Nap", unit="naps@2", estimate=lambda n: n)
    def nap(n: Double) -> Double:
        return n

    @plugin.benchmark("Quick.Nap")
    def nap_benchmark() -> float:
        return 3.0

    benchmark = only(plugin).benchmark
    assert benchmark is not None
    assert benchmark(context_in(Path("/nonexistent"))) == 3.0


@pytest.mark.parametrize(
    ("result", "message"),
    [
        (-1.0, r"^Demo\.Run: its work estimate must be a finite number >= 0, got -1\.0$"),
        (float("nan"), r"must be a finite number >= 0, got nan"),
        ("many", r"^Demo\.Run: its work estimate failed: ValueError: could not convert"),
    ],
)
def test_a_bad_estimate_is_an_activity_error_naming_the_activity(result: Any, message: str) -> None:
    plugin = Plugin("demo", version="1.0")

    @plugin.activity("Demo.Run", unit="runs@1", estimate=lambda n: result)
    def run(n: Int) -> Int:
        return n

    with pytest.raises(ActivityError, match=message):
        only(plugin).work([1])


def declare(**options: Any) -> Plugin:
    plugin = Plugin("demo", version="1.0")

    @plugin.activity("Demo.Run", **options)
    def run(context: ActivityContext, n: Int, m: Int = 1) -> Int:
        return n

    return plugin


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"unit": "pixels"}, "unit 'pixels' must be a lowercase name and a version"),
        ({"unit": "Pixels@1"}, "unit 'Pixels@1' must be a lowercase name and a version, like"),
        ({"unit": "pixels@0"}, "unit 'pixels@0' must be"),
        ({"estimate": lambda n: n}, r"an estimate needs the unit it counts in \(unit='…@1'\)"),
        ({"requires": ["blender>=3"]}, r"requires must be a Requirements\(…\) or a function"),
    ],
)
def test_a_wrong_declaration_is_refused_when_the_activity_is_declared(
    options: dict[str, Any], message: str
) -> None:
    with pytest.raises(PluginError, match=rf"^plugin 'demo': activity 'Demo.Run': {message}"):
        declare(**options)


def test_an_estimate_must_take_the_activity_arguments() -> None:
    plugin = declare(unit="runs@1", estimate=lambda: 1.0)
    with pytest.raises(
        PluginError, match=r"its estimate must take the activity's arguments \(n, m\)"
    ):
        plugin.activity_defs()


def test_a_benchmark_of_an_activity_the_plugin_lacks_is_refused() -> None:
    plugin = declare()

    @plugin.benchmark("Demo.Walk")
    def walk() -> float:
        return 1.0

    with pytest.raises(PluginError, match=r"a benchmark for 'Demo\.Walk', which it does not offer"):
        plugin.activity_defs()


def test_an_activity_has_at_most_one_benchmark() -> None:
    plugin = declare()

    @plugin.benchmark("Demo.Run")
    def first() -> float:
        return 1.0

    with pytest.raises(PluginError, match=r"activity 'Demo\.Run' has two benchmarks"):

        @plugin.benchmark("Demo.Run")
        def second() -> float:
            return 1.0


def test_a_benchmark_takes_only_a_context() -> None:
    plugin = declare()

    @plugin.benchmark("Demo.Run")
    def needs_arguments(size: int) -> float:
        return 1.0

    with pytest.raises(PluginError, match=r"its benchmark may take only an ActivityContext"):
        plugin.activity_defs()


def test_requirements_that_depend_on_the_arguments_are_asked_per_item_with_defaults() -> None:
    plugin = declare(requires=lambda n, m: Requirements(software=f"tool{n}>={m}"))
    (definition,) = plugin.activity_defs()
    assert definition.requirements is None, "nodes offer it whatever tools they have"
    assert definition.item_requirements is not None
    assert definition.item_requirements(2) == Requirements(software="tool2>=1")
    library = build_library([plugin])
    assert requirements_json(library, "Demo.Run", [3, 4]) == Requirements(software="tool3>=4")


def test_per_item_requirements_must_take_the_arguments_and_give_requirements() -> None:
    with pytest.raises(
        PluginError, match=r"its requires function must take the activity's arguments \(n, m\)"
    ):
        declare(requires=lambda: Requirements()).activity_defs()
    library = build_library([declare(requires=lambda n, m: f"tool{n}")])
    with pytest.raises(ActivityError, match=r"^Demo.Run: .*gave 'tool1', not Requirements"):
        requirements_json(library, "Demo.Run", [1])
    library = build_library([declare(requires=lambda n, m: Requirements(software="t >= = 1"))])
    with pytest.raises(ActivityError, match=r"^Demo.Run: cannot read the software requirement"):
        requirements_json(library, "Demo.Run", [1])


def test_a_plugin_declares_the_tools_nodes_look_for() -> None:
    plugin = Plugin("demo", version="1.0")
    hython = plugin.tool(
        "houdini", version=("--version",), pattern=r"Houdini (\S+)", executables=("hython",)
    )
    assert plugin.tools == (hython,)
    assert hython.read_version("Houdini 20.0.547\n") == "20.0.547"
    assert plugin.tool("nuke", version=["-v"], pattern=r"Nuke (\S+)").executables == ("nuke",)


@pytest.mark.parametrize(
    ("name", "options", "message"),
    [
        ("Houdini", {}, "a tool's name is lowercase letters"),
        ("houdini", {"pattern": r"Houdini \S+"}, "its version pattern needs a group"),
        ("houdini", {"pattern": r"Houdini (\S+"}, "its version pattern does not compile"),
        ("houdini", {"version": "--version"}, "version and executables are sequences"),
        ("houdini", {"executables": ("/opt/hfs/bin/hython",)}, "'/opt/hfs/bin/hython' is not a"),
        ("houdini", {"timeout": 0}, "its timeout must be above 0"),
    ],
)
def test_a_wrong_tool_declaration_is_refused_naming_plugin_and_tool(
    name: str, options: dict[str, Any], message: str
) -> None:
    plugin = Plugin("demo", version="1.0")
    declared = {"version": ("--version",), "pattern": r"Houdini (\S+)", **options}
    with pytest.raises(PluginError, match=rf"^plugin 'demo': tool '{name}': {message}"):
        plugin.tool(name, **declared)


def test_a_tool_is_declared_once() -> None:
    plugin = Plugin("demo", version="1.0")
    plugin.tool("nuke", version=("-v",), pattern=r"Nuke (\S+)")
    with pytest.raises(PluginError, match="tool 'nuke' is declared twice"):
        plugin.tool("nuke", version=("-v",), pattern=r"Nuke (\S+)")


def test_an_activity_without_a_comparison_cannot_be_compared() -> None:
    assert only(declare()).compare is None


@pytest.mark.parametrize(
    "compare",
    [EXACT, ImagesWithin(), ImagesWithin(level=0, share=0), ImagesWithin(level=254, share=0.5)],
)
def test_a_declared_comparison_reaches_the_library(compare: Any) -> None:
    assert build_library([declare(compare=compare)]).activities["Demo.Run"].compare == compare


def test_a_comparison_function_is_kept_as_the_plugin_wrote_it() -> None:
    def same_parity(first: int, second: int) -> bool:
        return first % 2 == second % 2

    found = only(declare(compare=same_parity)).compare
    assert isinstance(found, Agreeing) and found.function is same_parity


ANY_COMPARISON = (
    r"compare must be EXACT, ImagesWithin\(…\), TrustedCrop\(…\) or a function of two results"
)


@pytest.mark.parametrize(
    ("compare", "message"),
    [
        ("exact", rf"{ANY_COMPARISON}, not"),
        (0.01, rf"{ANY_COMPARISON}, not 0\.01"),
        (lambda result: True, r"its compare function must take two results \(first, second\)"),
        (lambda a, b, c: True, r"its compare function must take two results"),
        (ImagesWithin(level=-1), r"ImagesWithin's level is a whole number of 8-bit steps, 0 to"),
        (ImagesWithin(level=255), r"ImagesWithin's level is .*, 0 to 254, not 255$"),
        (ImagesWithin(level=2.5), r"ImagesWithin's level is .* not 2\.5$"),  # type: ignore[arg-type]
        (ImagesWithin(share=1), r"ImagesWithin's share is the part of a square's pixels that may"),
        (ImagesWithin(share=-0.1), r"ImagesWithin's share .* not -0\.1$"),
        (ImagesWithin(share="1%"), r"ImagesWithin's share .* not '1%'$"),  # type: ignore[arg-type]
        (TrustedCrop(by=""), r"TrustedCrop's by names the activity that renders a crop, not ''$"),
        (
            TrustedCrop(by="R.Crop", share=0),
            r"TrustedCrop's share is the part of a frame's .* not 0$",
        ),
        (TrustedCrop(by="R.Crop", share=1.5), r"TrustedCrop's share .* not 1\.5$"),
        (
            TrustedCrop(by="R.Crop", within=ImagesWithin(level=300)),
            r"ImagesWithin's level .* not 300$",
        ),
    ],
)
def test_a_wrong_comparison_is_refused_when_the_activity_is_declared(
    compare: Any, message: str
) -> None:
    with pytest.raises(PluginError, match=rf"^plugin 'demo': activity 'Demo.Run': {message}"):
        declare(compare=compare)


def test_images_are_compared_only_for_an_activity_that_returns_something() -> None:
    plugin = Plugin("demo", version="1.0")

    @plugin.activity("Demo.Touch", compare=ImagesWithin())
    def touch(n: Int) -> None:
        return None

    with pytest.raises(
        PluginError,
        match=r"activity 'Demo.Touch': compare=ImagesWithin\(…\) compares the images it "
        "returns, but it returns nothing",
    ):
        plugin.activity_defs()


def test_the_shipped_plugins_declare_how_their_results_are_compared() -> None:
    library = build_library([compute_plugin, render_plugin, tool_plugin, video_plugin])
    compare = {name: found.compare for name, found in library.activities.items()}
    assert {name for name, found in compare.items() if found == EXACT} == {
        "Compute.IsPrime",
        "Compute.Hash",
        "Compute.Work",
        "Compute.Sleep",
        "Compute.Fail",
        "Compute.WriteText",
        "Compute.ReadText",
        "Render.Frames",
        "Render.SplitTiles",
    }
    assert {name for name, found in compare.items() if isinstance(found, ImagesWithin)} == {
        "Renderer.RenderTile",
        "Render.StitchTiles",
    }
    # An expensive frame is checked by a trusted render of a twentieth of it, within the same
    # tolerance; the crop itself runs on trusted nodes only.
    assert compare["Renderer.RenderFrame"] == TrustedCrop(
        by="Renderer.RenderCrop", share=0.05, within=compare["Renderer.RenderTile"], above=1e6
    )
    assert compare["Renderer.RenderCrop"] is None
    # A tool's files are seldom the same bytes twice; a video is the encoder's: trusted only.
    assert {name for name, found in compare.items() if found is None} >= {
        "Tool.Run",
        "Tool.Python",
        "Video.Compose",
    }
