"""Names from clients, scripts and archives never leave their folder: one helper, hostile names."""

from __future__ import annotations

from pathlib import Path

import pytest

from witengine.api import plan_export
from witengine.filenames import UnsafePath, check_file_name, inside, relative_path, safe_name
from witengine.lang.types import WitType
from witengine.plugins.registry import build_library
from witengine.runtime.blobs import Blob

HOSTILE = [
    "../../etc/passwd",
    "/etc/passwd",
    "..\\..\\windows\\system32",
    "..",
    ".",
    "",
    "a\x00b",
    "C:\\Users\\me\\secret",
    "a/../../b",
]


@pytest.mark.parametrize("name", HOSTILE)
def test_a_hostile_file_name_is_refused_with_a_reason(name: str) -> None:
    with pytest.raises(UnsafePath) as refused:
        check_file_name(name)
    assert str(refused.value)


@pytest.mark.parametrize("name", ["frame 0001.png", "scene.v2.blend", "ünïcødé.txt", "x" * 255])
def test_a_plain_file_name_is_accepted_unchanged(name: str) -> None:
    assert check_file_name(name) == name


def test_a_file_name_over_the_length_limit_names_the_limit_and_its_length() -> None:
    with pytest.raises(UnsafePath, match="has 300 characters, over 255"):
        check_file_name("x" * 300)
    with pytest.raises(UnsafePath, match="over 10"):
        check_file_name("x" * 11, max_chars=10)


@pytest.mark.parametrize("name", [*HOSTILE, "weird:name?.txt", "\n", " . ", "x" * 300])
def test_safe_name_reduces_anything_to_one_plain_file_name(name: str) -> None:
    reduced = safe_name(name)
    assert check_file_name(reduced) == reduced
    assert reduced not in (".", "..")


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("../evil.py", "climbs out"),
        ("pkg/../../evil.py", "climbs out"),
        ("pkg//evil.py", "empty part"),
        ("./evil.py", "climbs out"),
        ("/etc/passwd", "absolute"),
        ("C:/evil.py", "absolute"),
        ("..\\evil.py", "backslash"),
        ("evil\x00.py", "NUL"),
        ("", "empty"),
    ],
)
def test_a_member_path_that_could_leave_its_folder_is_refused(path: str, reason: str) -> None:
    with pytest.raises(UnsafePath, match=reason):
        relative_path(path)
    with pytest.raises(UnsafePath, match=reason):
        inside(Path("/srv/root"), path)


def test_a_member_path_below_its_folder_joins_it(tmp_path: Path) -> None:
    assert inside(tmp_path, "pkg/module.py") == tmp_path / "pkg" / "module.py"
    assert inside(tmp_path, Path("frames", "0001.png")) == tmp_path / "frames" / "0001.png"


def test_a_path_through_a_symlink_that_points_outside_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "root"
    outside = tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (root / "link").symlink_to(outside)
    with pytest.raises(UnsafePath, match="through a symlink"):
        inside(root, "link/passwd")
    (root / "file").symlink_to("/etc/passwd")
    with pytest.raises(UnsafePath, match="through a symlink"):
        inside(root, "file")


def test_a_symlink_that_stays_inside_is_allowed(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "alias").symlink_to(tmp_path / "real")
    assert inside(tmp_path, "alias/x") == tmp_path / "alias" / "x"


@pytest.mark.parametrize("name", HOSTILE)
def test_an_output_file_named_by_the_hub_is_written_inside_the_output_folder(
    tmp_path: Path, name: str
) -> None:
    """`wit run` downloads a job's files under the names the hub gives: hostile ones too."""
    out = tmp_path / "wit-out" / "Job"
    blob = Blob("ab" * 32, 3, name)
    types = {"one": WitType("Blob"), "many": WitType("BlobCollection", WitType("Blob"))}
    _, files = plan_export({"one": blob, "many": [blob, blob]}, types, build_library([]), out)
    assert len(files) == 3
    for _, target in files:
        assert target.resolve().is_relative_to(out.resolve()), target
        assert check_file_name(target.name) == target.name
    assert len({target for _, target in files}) == 3
