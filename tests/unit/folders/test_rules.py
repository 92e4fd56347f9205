"""What job a dropped file makes: NAME.wit with NAME.params read as `wit run` reads its
arguments; NAME.py, NAME.rib and NAME.blend by the jobs their plugins declare (the .blend one the
published example, unchanged); what each needs of a node; how a plugin declares one."""

from __future__ import annotations

from pathlib import Path

import pytest

from witengine.errors import ParameterError, PluginError, WitError
from witengine.folders.rules import FileJob, check_job, declared_rules, extensions, job_for, needs
from witengine.plugins.api import Plugin
from witengine.plugins.registry import build_library, discover
from witengine.plugins.render import ANIMATION_JOB

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def plugins() -> list[Plugin]:
    return discover({})


def test_a_wit_file_runs_itself_with_the_parameters_beside_it(
    tmp_path: Path, plugins: list[Plugin]
) -> None:
    (tmp_path / "primes.wit").write_text((ROOT / "examples" / "primes.wit").read_text())
    (tmp_path / "primes.params").write_text("# small\nn=50\n")
    job = job_for(tmp_path / "primes.wit", declared_rules(plugins))
    assert job.parameters == {"n": "50"}
    assert job.filename == "primes.wit"
    assert needs(check_job(job, build_library(plugins)), build_library(plugins)) == ()


def test_a_wrong_params_line_names_the_file(tmp_path: Path, plugins: list[Plugin]) -> None:
    (tmp_path / "a.wit").write_text("Job:A(Int:n) { }")
    (tmp_path / "a.params").write_text("n=1\nn=2\n")
    with pytest.raises(ParameterError, match=r"a\.params: parameter 'n' is given twice"):
        job_for(tmp_path / "a.wit", declared_rules(plugins))


@pytest.mark.parametrize(
    ("name", "parameter", "need"),
    [("report.py", "script", "python"), ("shot.rib", "rib", "prman")],
)
def test_tool_files_run_the_tool_plugins_job_on_a_node_with_the_tool(
    tmp_path: Path, plugins: list[Plugin], name: str, parameter: str, need: str
) -> None:
    (tmp_path / name).write_text("x")
    job = job_for(tmp_path / name, declared_rules(plugins))
    assert job.parameters == {parameter: str(tmp_path / name)}
    assert dict(job.texts) == {"stdout.txt": "stdout", "stderr.txt": "stderr"}
    library = build_library(plugins)
    assert needs(check_job(job, library), library) == (need,)


def test_a_blend_file_runs_the_published_render_job_unchanged(plugins: list[Plugin]) -> None:
    published = (ROOT / "examples" / "render_animation.wit").read_text()
    assert published == ANIMATION_JOB
    rules = declared_rules(plugins)
    assert extensions(rules) >= {".wit", ".py", ".rib", ".blend"}
    library = build_library(plugins)
    blend = rules[".blend"]
    assert check_job(job_for_text(blend.script), library).name == "RenderAnimation"


def job_for_text(source: str) -> FileJob:
    return FileJob(source, "job.wit", {})


def test_a_blend_that_is_not_one_says_so(tmp_path: Path, plugins: list[Plugin]) -> None:
    (tmp_path / "shot.blend").write_text("not a scene")
    with pytest.raises(ParameterError, match=r"cannot read its scene's frame range"):
        job_for(tmp_path / "shot.blend", declared_rules(plugins))


def test_an_extension_no_plugin_runs_is_refused(tmp_path: Path) -> None:
    with pytest.raises(WitError, match=r"no plugin runs \.txt files"):
        job_for(tmp_path / "notes.txt", {})


@pytest.mark.parametrize("extension", ["py", ".PY", ".wit", ".params", ".a b"])
def test_a_plugin_declares_only_a_plain_lowercase_extension_of_its_own(extension: str) -> None:
    plugin = Plugin("mine", "1")
    with pytest.raises(PluginError, match="an extension is a dot and lowercase"):
        plugin.job_file(extension, script="Job:A() { }", parameters=lambda path: {})


def test_a_plugin_declares_an_extension_once() -> None:
    plugin = Plugin("mine", "1")
    plugin.job_file(".pov", script="Job:A() { }", parameters=lambda path: {})
    with pytest.raises(PluginError, match="declared twice"):
        plugin.job_file(".pov", script="Job:A() { }", parameters=lambda path: {})
    assert [rule.extension for rule in plugin.job_files] == [".pov"]
