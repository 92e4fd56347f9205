"""Tool jobs on a real farm: a hub and three real nodes on 127.0.0.1, one of which hides its
Python (`WIT_HIDE_TOOLS`, as a machine without it would be) and one of which runs no tool jobs
(`--no-tool-jobs`). `wit run` sends a Python script that writes a file: every item runs on the
node that has Python and takes tool jobs, and the files come back. A tool no node has
(RenderMan's prman, which this machine lacks) makes the job fail saying so, and nothing runs on
the wrong node; a failing program fails the job with its stderr; arguments full of shell
characters reach the program untouched. A tool that a plugin the node installs from its hub
declares is looked for too, and routes that plugin's work."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from witengine.testing.processes import TEST_PLUGINS, ProcessFarm, free_port, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "tool_python.wit"
REPORT = ROOT / "docs" / "examples" / "data" / "report.py"
NAMES = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta"]
WORDS = ["two words", "; rm -rf x", "$(touch pwned)", "'quoted' \"twice\"", "*", "$HOME", ""]


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProcessFarm]:
    root = tmp_path_factory.mktemp("tools")
    hub_args = ("--lease", "10", "--heartbeat", "0.5", "--grace", "1", "--no-node-wait", "3")
    farm = ProcessFarm(root, free_port(), hub_args=hub_args)
    try:
        farm.start_hub()
        farm.start_node("with-python")
        farm.start_node("without-python", env={"WIT_HIDE_TOOLS": "python"})
        farm.start_node("no-tool-jobs", "--no-tool-jobs")
        wait_until(lambda: len(farm.online()) == 3, 60, "the nodes to connect")
        yield farm
    finally:
        farm.stop()


def nodes(farm: ProcessFarm) -> dict[str, Any]:
    return {node["name"]: node for node in farm.api("GET", "/nodes").json()}


def done_by_node(farm: ProcessFarm) -> dict[str, int]:
    """Items each node has done since the hub started."""
    return {name: node["done"] for name, node in nodes(farm).items()}


def wit(farm: ProcessFarm, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "witengine", *args, "--hub", farm.url],
        env={**farm.env, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_each_node_reports_the_tools_it_has_and_wit_nodes_shows_them(farm: ProcessFarm) -> None:
    found = {name: node["capabilities"]["software"] for name, node in nodes(farm).items()}
    assert "python" in found["with-python"]
    assert "python" not in found["without-python"]
    assert "python" in found["no-tool-jobs"]
    plugins = {name: {p["name"] for p in node["plugins"]} for name, node in nodes(farm).items()}
    assert "tool" in plugins["with-python"] and "tool" not in plugins["no-tool-jobs"]
    listing = wit(farm, "nodes", "--wide")
    assert listing.returncode == 0, listing.stderr
    assert f"python {found['with-python']['python']}" in listing.stdout


def test_python_jobs_run_only_on_the_node_that_has_python(
    farm: ProcessFarm, tmp_path: Path
) -> None:
    before = done_by_node(farm)
    out = tmp_path / "out"
    done = wit(
        farm, "run", str(EXAMPLE), f"script={REPORT}", f"names={','.join(NAMES)}", "--out", str(out)
    )
    assert done.returncode == 0, done.stdout + done.stderr
    reports = sorted(path.name for path in (out / "reports").iterdir())
    assert reports == sorted(f"report-{name}.txt" for name in NAMES)
    assert (out / "reports" / "report-gamma.txt").read_text() == "report for gamma: 5 letters\n"
    after = done_by_node(farm)
    assert after["without-python"] == before["without-python"], "an item ran without Python"
    assert after["no-tool-jobs"] == before["no-tool-jobs"], "an item ran on a node that refuses"
    assert after["with-python"] == before["with-python"] + len(NAMES)


def test_a_tool_no_node_has_fails_the_job_saying_so(farm: ProcessFarm) -> None:
    if shutil.which("prman") is not None:
        pytest.skip("this machine has RenderMan")
    before = done_by_node(farm)
    script = 'Job:Rib() { ToolResult:r = Grid.Delegate => Tool.Run("prman", ["-version"]); }'
    job = farm.wait_done(farm.submit(script, {}), 60)
    assert job["status"] == "failed"
    assert (
        "no node has prman to run Tool.Run: with-python has no prman; without-python has no "
        "prman (in: " in job["error"]
    )
    rib = f'Blob("sha256:{"ab" * 32}")'  # never fetched: no node takes the item
    renderman = f"Job:Rib() {{ ToolResult:r = Grid.Delegate => Tool.RenderMan({rib}); }}"
    job = farm.wait_done(farm.submit(renderman, {}), 60)
    assert job["status"] == "failed"
    assert (
        "no connected node can run Tool.RenderMan: with-python has no prman; without-python has "
        "no prman (in: " in job["error"]
    )
    assert done_by_node(farm) == before


def test_a_failing_program_fails_the_job_with_its_stderr(farm: ProcessFarm) -> None:
    program = json.dumps("import sys; print('loading', file=sys.stderr); sys.exit('no such scene')")
    script = (
        f'Job:Broken() {{ ToolResult:r = Grid.Delegate => Tool.Run("python", ["-c", {program}]); }}'
    )
    job = farm.wait_done(farm.submit(script, {}), 60)
    assert job["status"] == "failed"
    assert "Tool.Run: python 3." in job["error"]
    assert "exited with code 1:\nloading\nno such scene" in job["error"]


def test_arguments_with_shell_characters_reach_the_program_untouched(farm: ProcessFarm) -> None:
    words = ", ".join(json.dumps(word) for word in WORDS)
    script = (
        'Job:Words() { ToolResult:r = Grid.Delegate => Tool.Run("python>=3", '
        f'["-c", "import json, sys; print(json.dumps(sys.argv[1:]))", {words}]); '
        "String:said = r.Stdout; }"
    )
    job = farm.wait_done(farm.submit(script, {}), 60)
    assert job["status"] == "completed", job["error"]
    assert json.loads(job["variables"]["said"]) == WORDS


# A plugin only the hub has, declaring a tool: "pyfour" is this machine's python3 answering
# the version command the plugin gives it.
DECLARING = """\
from witengine.plugins.api import Int, Plugin, Requirements

plugin = Plugin("pyfour", version="0.1")
plugin.tool(
    "pyfour", version=("-c", "print('pyfour 4.2')"), pattern=r"^pyfour (\\S+)",
    executables=("python3",),
)


@plugin.activity("Pyfour.Answer", requires=Requirements(software="pyfour>=4"))
def answer() -> Int:
    return 42
"""


@pytest.mark.skipif(shutil.which("python3") is None, reason="no python3 on the PATH")
def test_a_tool_a_plugin_from_the_hub_declares_is_looked_for_and_routes_its_work(
    tmp_path: Path,
) -> None:
    site = tmp_path / "site"  # only the hub's Python can import it: nodes get its bundle
    site.mkdir()
    (site / "wit_pyfour.py").write_text(DECLARING)
    hub_env = {"PYTHONPATH": str(site), "WIT_PLUGINS": f"{TEST_PLUGINS},wit_pyfour:plugin"}
    farm = ProcessFarm(tmp_path, free_port(), hub_env=hub_env)
    try:
        farm.start_hub()
        farm.start_node("n")
        wait_until(lambda: farm.online() == ["n"], 60, "the node to connect")
        (node,) = farm.api("GET", "/nodes").json()
        assert node["capabilities"]["software"]["pyfour"] == "4.2"
        assert "Pyfour.Answer" not in node["unmet"]
        script = "Job:Answer() { Int:answer = Grid.Delegate => Pyfour.Answer(); }"
        job = farm.wait_done(farm.submit(script, {}), 60)
        assert job["status"] == "completed", job["error"]
        assert job["variables"]["answer"] == 42
    finally:
        farm.stop()
