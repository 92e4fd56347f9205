"""Finding plugins: installed packages' entry points and `WIT_PLUGINS` references.

Entry points are real: each test writes a small `*.dist-info` (METADATA and entry_points.txt)
into a directory it puts on `sys.path`, exactly what installing a plugin package leaves behind,
and `importlib.metadata` finds it there. The plugins they point at live in this module.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from witengine.errors import PluginError
from witengine.plugins import compute
from witengine.plugins.api import Int, Plugin
from witengine.plugins.registry import (
    ENTRY_POINT_GROUP,
    build_library,
    default_library,
    discover,
    library_from_refs,
    load_ref,
)
from witengine.runtime.executor import MapRequest
from witengine.runtime.invoke import invoke_json
from witengine.runtime.local import LocalExecutor

atlas = Plugin("atlas", version="3.0")


@atlas.activity("Atlas.Double")
def double(n: Int) -> Int:
    return 2 * n


def make_almanac() -> Plugin:
    """A factory: entry points and references may name a callable that returns the plugin."""
    almanac = Plugin("almanac", version="1.0")

    @almanac.activity("Almanac.Year")
    def year(n: Int) -> Int:
        return 2000 + n

    return almanac


not_a_plugin = {"name": "atlas"}

HERE = __name__


def install(site: Path, dist: str, entries: dict[str, str]) -> None:
    """Leave what installing a package with these `witengine.plugins` entry points leaves."""
    info = site / f"{dist}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    lines = [f"[{ENTRY_POINT_GROUP}]", *(f"{name} = {value}" for name, value in entries.items())]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh site directory on sys.path, and no WIT_PLUGINS from the caller's environment."""
    directory = tmp_path / "site"
    directory.mkdir()
    monkeypatch.syspath_prepend(str(directory))
    monkeypatch.delenv("WIT_PLUGINS", raising=False)
    return directory


def by_name(plugins: list[Plugin]) -> dict[str, Plugin]:
    return {plugin.name: plugin for plugin in plugins}


# ------------------------------------------------------------------ entry points


def test_the_compute_plugin_is_found_through_its_installed_entry_point(site: Path) -> None:
    found = by_name(discover({}))
    assert found["compute"] is compute.plugin
    assert found["compute"].ref == "witengine.plugins.compute:plugin"


def test_an_installed_package_s_entry_point_registers_its_plugin(site: Path) -> None:
    assert "atlas" not in by_name(discover({}))
    install(site, "witengine_atlas", {"atlas": f"{HERE}:atlas"})
    found = by_name(discover({}))
    assert found["atlas"] is atlas
    assert found["atlas"].ref == f"{HERE}:atlas"
    library = default_library()
    assert ("atlas", "3.0") in library.plugins
    assert invoke_json(library, "Atlas.Double", [21], None) == 42


def test_an_entry_point_may_name_a_factory(site: Path) -> None:
    install(site, "witengine_almanac", {"almanac": f"{HERE}:make_almanac"})
    library = build_library(discover({}))
    assert invoke_json(library, "Almanac.Year", [24], None) == 2024


def test_an_entry_point_whose_module_is_missing_is_an_error_naming_it(site: Path) -> None:
    install(site, "witengine_ghost", {"ghost": "witengine_ghost_plugin:plugin"})
    with pytest.raises(PluginError) as caught:
        discover({})
    message = str(caught.value)
    assert message.startswith("plugin 'ghost' (witengine_ghost_plugin:plugin) failed to load")
    assert "witengine_ghost_plugin" in message.split("failed to load")[1]


def test_an_entry_point_to_something_else_than_a_plugin_is_an_error_naming_it(
    site: Path,
) -> None:
    install(site, "witengine_odd", {"odd": f"{HERE}:not_a_plugin"})
    with pytest.raises(PluginError) as caught:
        discover({})
    assert str(caught.value) == (
        f"entry point 'odd' ({HERE}:not_a_plugin) is not a witengine Plugin"
    )


async def test_a_plugin_found_by_entry_point_runs_in_the_pool_by_its_reference(
    site: Path, tmp_path: Path
) -> None:
    install(site, "witengine_atlas", {"atlas": f"{HERE}:atlas"})
    refs = [plugin.ref for plugin in discover({})]
    assert f"{HERE}:atlas" in refs
    async with LocalExecutor(refs, tmp_path / "blobs", 2) as executor:
        doubled = await executor.map(
            MapRequest("Atlas.Double", [[i] for i in range(50)]), lambda done, total: None
        )
    assert doubled == [2 * i for i in range(50)]


# -------------------------------------------------------------------- WIT_PLUGINS


def test_wit_plugins_names_plugins_by_module_and_attribute(site: Path) -> None:
    found = by_name(discover({"WIT_PLUGINS": f" {HERE}:atlas ,, {HERE}:make_almanac "}))
    assert found["atlas"] is atlas
    assert found["atlas"].ref == f"{HERE}:atlas"
    assert found["almanac"].ref == f"{HERE}:make_almanac"
    assert "compute" in found


def test_wit_plugins_is_read_from_the_environment(
    site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WIT_PLUGINS", "witengine.testing.plugins:plugin")
    library = default_library()
    assert "Testing.Record" in library.activities
    assert "Compute.IsPrime" in library.activities


def test_a_plugin_both_installed_and_named_in_wit_plugins_is_loaded_once(site: Path) -> None:
    install(site, "witengine_atlas", {"atlas": f"{HERE}:atlas"})
    plugins = discover({"WIT_PLUGINS": f"{HERE}:atlas"})
    assert [p.name for p in plugins].count("atlas") == 1
    build_library(plugins)  # no "defined by both" conflict


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("witengine_nowhere:plugin", "plugin 'witengine_nowhere:plugin' failed to load: "),
        (f"{HERE}:nothing", f"plugin '{HERE}:nothing' failed to load: "),
        (f"{HERE}:not_a_plugin", f"{HERE}:not_a_plugin is not a witengine Plugin"),
        ("witengine.plugins.compute", "plugin reference 'witengine.plugins.compute' must be"),
        (":plugin", "plugin reference ':plugin' must be module:attribute"),
    ],
)
def test_a_bad_wit_plugins_reference_is_an_error_naming_it(
    site: Path, ref: str, expected: str
) -> None:
    with pytest.raises(PluginError) as caught:
        discover({"WIT_PLUGINS": ref})
    assert str(caught.value).startswith(expected)


def test_workers_rebuild_the_same_library_from_references() -> None:
    refs = ["witengine.plugins.compute:plugin", f"{HERE}:atlas"]
    library = library_from_refs(refs)
    assert library.plugins == [("compute", compute.plugin.version), ("atlas", "3.0")]
    assert set(build_library([compute.plugin, atlas]).activities) == set(library.activities)
    assert load_ref(f"{HERE}:atlas") is atlas
