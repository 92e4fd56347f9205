"""The Blender add-on's two packages, as `wit addon build` makes them: the files Blender loads,
none importing witengine (Blender's Python has none of it), and an extension manifest with the
fields Blender 4.2+ requires, in the forms it accepts."""

from __future__ import annotations

import ast
import re
import tomllib
import zipfile
from pathlib import Path

import pytest

from witengine import __version__
from witengine.addon import PACKAGE, SOURCE, build
from witengine.testing.addon import load_client, load_lan

client = load_client()
ADDON_FILES = {
    "__init__.py",
    "client.py",
    "following.py",
    "lan.py",
    "settings.py",
    "blender_pack.py",
}


@pytest.fixture(scope="module")
def packages(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return build(tmp_path_factory.mktemp("dist"))


def imported(source: str) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_the_legacy_zip_holds_the_add_on_in_one_folder(packages: tuple[Path, Path]) -> None:
    legacy, _ = packages
    names = set(zipfile.ZipFile(legacy).namelist())
    assert names == {f"{PACKAGE}/{name}" for name in ADDON_FILES}
    init = zipfile.ZipFile(legacy).read(f"{PACKAGE}/__init__.py").decode()
    assert '"blender": (3, 4, 0)' in init  # bl_info: the oldest Blender it runs in


def test_the_extension_zip_has_a_valid_manifest_beside_the_files(
    packages: tuple[Path, Path],
) -> None:
    _, extension = packages
    archive = zipfile.ZipFile(extension)
    assert set(archive.namelist()) == {"blender_manifest.toml", *ADDON_FILES}
    manifest = tomllib.loads(archive.read("blender_manifest.toml").decode())

    required = {"schema_version", "id", "version", "name", "tagline", "maintainer", "type"}
    assert required | {"blender_version_min", "license"} <= manifest.keys()
    assert manifest["id"] == PACKAGE and manifest["type"] == "add-on"
    assert manifest["version"] == __version__
    assert re.fullmatch(r"\d+\.\d+\.\d+", manifest["schema_version"])
    assert re.fullmatch(r"\d+\.\d+\.\d+", manifest["blender_version_min"])
    assert tuple(int(p) for p in manifest["blender_version_min"].split(".")) >= (4, 2, 0)
    # Blender refuses a tagline over 64 characters or ending in punctuation.
    assert len(manifest["tagline"]) <= 64 and manifest["tagline"][-1].isalnum()
    assert all(entry.startswith("SPDX:") for entry in manifest["license"])
    for reason in manifest["permissions"].values():
        assert len(reason) <= 64 and reason[-1].isalnum()
    assert set(manifest["permissions"]) <= {"files", "network", "clipboard", "camera", "microphone"}


# The fields of schema 1.0.0 and their types, as Blender's extension tool (bl_pkg's
# blender_ext.py, `pkg_manifest_known_keys_and_types`) checks them when it builds or validates.
MANIFEST_TYPES: dict[str, type | tuple[type, ...]] = {
    "id": str,
    "schema_version": str,
    "name": str,
    "tagline": str,
    "version": str,
    "type": str,
    "maintainer": str,
    "license": list,
    "blender_version_min": str,
    "blender_version_max": str,
    "website": str,
    "copyright": list,
    "permissions": dict,
    "tags": list,
    "platforms": list,
    "wheels": list,
}
SEMVER = r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"


def test_the_manifest_passes_blenders_own_rules_for_each_field(
    packages: tuple[Path, Path],
) -> None:
    """Blender 4.2+ cannot run here (Debian has 3.4): these are the checks its extension tool
    makes in strict mode (`blender --command extension validate`), written out."""
    manifest = tomllib.loads(zipfile.ZipFile(packages[1]).read("blender_manifest.toml").decode())

    assert set(manifest) <= set(MANIFEST_TYPES)  # a misspelt field would be silently ignored
    for key, value in manifest.items():
        assert isinstance(value, MANIFEST_TYPES[key]), key
    identifier = manifest["id"]  # a Python identifier, single separators, none at either end
    assert identifier.isidentifier() and "__" not in identifier
    assert not identifier.startswith("_") and not identifier.endswith("_")
    assert re.fullmatch(SEMVER, manifest["version"])
    assert manifest["schema_version"] == "1.0.0"  # the one schema Blender reads
    assert manifest["blender_version_min"].count(".") == 2  # three numbers, strictly
    assert manifest["type"] in ("add-on", "theme")
    for key in ("name", "maintainer", "website", "tagline"):  # stripped, no control characters
        value = manifest[key]
        assert value and value == value.strip(), key
        assert not re.search(r"[\x00-\x1f\x7f-\x9f]", value), key
    assert manifest["license"] and all(entry for entry in manifest["license"])
    assert manifest["tags"] == ["Render"]  # one of the add-on tags Blender's platform lists


def test_the_add_on_uses_no_module_blender_4_removed() -> None:
    """bgl went in Blender 4.0; the add-on draws with UILayout only and imports nothing else
    of Blender's beyond bpy (checked as source: Blender 4.x cannot run here)."""
    allowed_blender = {"bpy"}
    for path in sorted(SOURCE.glob("*.py")):
        modules = imported(path.read_text())
        assert "bgl" not in modules and "gpu" not in modules, path.name
        blender_modules = modules & {"bpy", "bgl", "blf", "gpu", "bmesh", "mathutils", "aud"}
        assert blender_modules <= allowed_blender, path.name


def test_no_file_of_the_add_on_imports_witengine(packages: tuple[Path, Path]) -> None:
    for package in packages:
        archive = zipfile.ZipFile(package)
        for name in archive.namelist():
            if name.endswith(".py"):
                modules = imported(archive.read(name).decode())
                assert "witengine" not in modules, name
                assert not modules & {"httpx", "pydantic", "typer"}, name


def test_the_client_and_the_lan_search_import_no_blender_so_they_run_outside_it() -> None:
    for module in (client, load_lan()):
        source = Path(module.__file__).read_text()
        assert "bpy" not in imported(source), module.__file__


def test_frames_text_is_what_the_published_job_reads() -> None:
    from witengine.plugins.render.types import parse_frames_text

    text = client.frames_text("shot.blend", 1, 48, step=2, samples=16, percent=50)
    parsed = parse_frames_text(text)

    assert text == "shot.blend@1-48x2 samples=16 percent=50"
    assert parsed.path == "shot.blend" and parsed.frames == list(range(1, 49, 2))
    assert (parsed.options.samples, parsed.options.percent) == (16, 50)
    assert client.frames_text("a.blend", 3, 3) == "a.blend@3-3"


def test_the_add_ons_jobs_are_the_published_ones() -> None:
    from witengine.plugins.render import ANIMATION_JOB

    repository = Path(__file__).resolve().parents[2]
    assert client.ANIMATION_JOB == ANIMATION_JOB
    assert (repository / "examples" / "render_animation.wit").read_text() == client.ANIMATION_JOB


@pytest.mark.parametrize(
    ("text", "pin"),
    [
        ("sha256:" + "ab" * 32, "sha256:" + "ab" * 32),
        ("AB" * 32, "sha256:" + "ab" * 32),
        ("SHA256 Fingerprint=" + ":".join(["AB"] * 32), "sha256:" + "ab" * 32),
        ("", ""),
    ],
)
def test_a_fingerprint_is_read_in_the_forms_the_project_prints(text: str, pin: str) -> None:
    from witengine.security.tls import parse_fingerprint

    assert client.parse_fingerprint(text) == pin
    if text:
        assert parse_fingerprint(text) == pin


def test_a_malformed_fingerprint_is_refused_saying_what_is_expected() -> None:
    with pytest.raises(client.HubError, match="expected sha256: followed by 64 hex digits"):
        client.parse_fingerprint("sha256:abc")


def test_a_token_is_not_sent_over_plain_http_to_another_machine_unless_allowed() -> None:
    with pytest.raises(client.HubError) as caught:
        client.Hub("http://192.168.1.20:8765", "wit-submitter.tok_1.secret")

    assert str(caught.value) == (
        "refusing to send a token over plain HTTP to http://192.168.1.20:8765: use the hub's "
        "https:// address (wit hub --tls) with its certificate's fingerprint, or tick Allow "
        "plain HTTP on a network you trust"
    )
    assert client.Hub("http://192.168.1.20:8765", "wit-x", insecure=True).token == "wit-x"
    assert client.Hub("http://localhost:8765", "wit-x").host == "localhost"
    assert client.Hub("http://[::1]:8765", "wit-x").host == "::1"
    assert client.Hub("http://192.168.1.20:8765").token == ""  # no token: nothing to leak


def page(items: list[int], after: int | None = None, seq: int = 1) -> dict[str, object]:
    """A page of `GET /jobs/{id}/items` as the hub answers it, of frames `index + 1`."""
    return {
        "maps": [{"seq": seq, "activity": "Renderer.RenderFrame", "count": 100}],
        "map": 1,
        "items": [
            {"index": i, "value": {"sha256": f"{i:064x}", "frame": i + 1}, "error": None}
            for i in items
        ],
        "next_after": after,
    }


def test_a_running_jobs_frames_are_taken_once_each_and_the_next_look_moves_on() -> None:
    arrivals = client.Arrivals(page=3)

    first = arrivals.take(page([0, 5, 6], after=6))  # a full page: the next goes on from it
    assert [v["frame"] for v in first] == [1, 6, 7] and arrivals.after == 6
    last = arrivals.take(page([9]))  # not full: the next look starts again at the first gap
    assert [v["frame"] for v in last] == [10] and arrivals.after == 0  # item 1: not seen
    again = arrivals.take(page([1, 2, 5]))  # 5 was seen: not taken twice
    assert [v["frame"] for v in again] == [2, 3]
    assert arrivals.after == 2 and 9 in arrivals and 4 not in arrivals


def test_a_failed_item_is_passed_over_and_a_job_not_yet_at_its_render_map_gives_nothing() -> None:
    arrivals = client.Arrivals()
    assert arrivals.take({"maps": [], "map": 1, "items": [], "next_after": None}) == []
    failed = page([])
    failed["items"] = [{"index": 0, "value": None, "error": "Blender crashed"}]
    assert arrivals.take(failed) == [] and arrivals.after == 0
    elsewhere = page([], seq=2)  # the frames are the job's second map: the next look asks it
    assert arrivals.take(elsewhere) == [] and (arrivals.map_seq, arrivals.after) == (2, -1)
