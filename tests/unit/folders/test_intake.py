"""Which files of a watched folder are taken: complete ones (unchanged for the settle time), not
Syncthing's temporary files, editors' backups or hidden files, and a job not before its
.params; what a .params file says; names in done/ and failed/ never overwritten."""

from __future__ import annotations

import pytest

from witengine.errors import ParameterError
from witengine.folders.intake import (
    Stat,
    free_name,
    ignored,
    job_files,
    parse_params,
    settle,
)
from witengine.runtime.parameters import split_assignments

EXTENSIONS = frozenset({".wit", ".py", ".blend", ".rib"})


@pytest.mark.parametrize(
    ("name", "skipped"),
    [
        ("shot.blend", False),
        ("render.wit", False),
        (".syncthing.shot.blend.tmp", True),
        ("~syncthing~shot.blend.tmp", True),
        ("render.wit~", True),
        (".#render.wit", True),
        (".render.wit.swp", True),
        ("render.wit.swp", True),
        ("#render.wit#", True),
        (".hidden.wit", True),
        (".stversions", True),
    ],
)
def test_temporary_backup_and_hidden_files_are_ignored(name: str, skipped: bool) -> None:
    assert ignored(name) is skipped


def test_a_file_is_complete_once_unchanged_for_the_settle_time() -> None:
    seen, complete = settle({}, {"a.wit": Stat(10, 1)}, now=0.0, settle_seconds=2.0)
    assert complete == []
    seen, complete = settle(seen, {"a.wit": Stat(10, 1)}, now=1.9, settle_seconds=2.0)
    assert complete == []
    seen, complete = settle(seen, {"a.wit": Stat(10, 1)}, now=2.0, settle_seconds=2.0)
    assert complete == ["a.wit"]


def test_a_file_still_growing_is_not_complete_until_it_stops() -> None:
    seen, _ = settle({}, {"big.blend": Stat(100, 1)}, now=0.0)
    seen, complete = settle(seen, {"big.blend": Stat(200, 2)}, now=3.0)
    assert complete == [], "its size changed: the settle time starts again"
    seen, complete = settle(seen, {"big.blend": Stat(200, 3)}, now=6.0)
    assert complete == [], "its modification time changed: the settle time starts again"
    _, complete = settle(seen, {"big.blend": Stat(200, 3)}, now=8.0)
    assert complete == ["big.blend"]


def test_a_file_that_went_away_is_forgotten() -> None:
    seen, _ = settle({}, {"a.wit": Stat(1, 1)}, now=0.0)
    seen, _ = settle(seen, {}, now=1.0)
    assert seen == {}
    _, complete = settle(seen, {"a.wit": Stat(1, 1)}, now=2.5)
    assert complete == [], "back again: seen anew"


def test_only_files_a_rule_knows_are_jobs_and_a_job_waits_for_its_params() -> None:
    listing = {n: Stat(1, 1) for n in ("a.wit", "a.params", "b.py", "notes.txt", "c.WIT")}
    assert job_files(["a.params", "a.wit", "b.py", "c.WIT", "notes.txt"], listing, EXTENSIONS) == [
        "a.wit",
        "b.py",
        "c.WIT",
    ]
    assert job_files(["a.wit", "b.py"], listing, EXTENSIONS) == ["b.py"], (
        "a.params is still arriving"
    )


def test_params_lines_are_read_as_wit_run_reads_its_arguments() -> None:
    text = "# the job's parameters\nn=10\n\n  name=a b  \nids=1,2,3\n"
    assert split_assignments(parse_params(text)) == {"n": "10", "name": "a b", "ids": "1,2,3"}
    with pytest.raises(ParameterError, match="'oops' is not name=value"):
        split_assignments(parse_params("n=1\noops\n"))


def test_a_result_folder_is_never_overwritten() -> None:
    assert free_name(set(), "shot") == "shot"
    assert free_name({"shot"}, "shot") == "shot.2"
    assert free_name({"shot", "shot.2"}, "shot") == "shot.3"
