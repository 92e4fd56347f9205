"""The README's snippets as a new user runs them: taken from README.md as written, the Python
one pasted into a file and run with `python FILE`, the commands of "Using it" one by one."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent  # where `wit` is, as `source .venv/bin/activate` puts it


def blocks(language: str) -> list[str]:
    """The README's fenced code blocks of `language` ("" for those without one), as written."""
    text = ROOT.joinpath("README.md").read_text("utf-8")
    return re.findall(rf"^```{language}\n(.*?)^```$", text, flags=re.MULTILINE | re.DOTALL)


def user_env(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "WIT_CACHE_DIR": str(tmp_path / "cache"),
    }


def test_the_python_snippet_runs_as_pasted_into_a_file(tmp_path: Path) -> None:
    (snippet,) = blocks("python")
    pasted = tmp_path / "snippet.py"
    pasted.write_text(snippet)  # at the top level: no `if __name__ == "__main__":` guard
    done = subprocess.run(
        [sys.executable, str(pasted)],
        cwd=ROOT,  # the README's commands run from the repository's root
        env=user_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "completed 303\n"
    assert "Traceback" not in done.stderr and "bootstrapping" not in done.stderr, done.stderr


def test_the_commands_of_using_it_run_as_written(tmp_path: Path) -> None:
    (commands,) = [b for b in blocks("") if b.startswith("source .venv/bin/activate")]
    shutil.copytree(ROOT / "examples", tmp_path / "examples")  # `wit fmt` may rewrite its file
    lines = [line.split("#")[0].strip() for line in commands.splitlines()[1:]]
    assert all(line.startswith("wit ") for line in lines), lines
    for line in lines:
        done = subprocess.run(
            ["bash", "-c", line],
            cwd=tmp_path,
            env=user_env(tmp_path),
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert done.returncode == 0, f"{line}: {done.stderr}"
        if "--json" in line:
            assert json.loads(done.stdout)["variables"]["count"] == 303
    assert (tmp_path / "wit-out" / "CountPrimes" / "results.json").is_file()


def test_the_untrusted_simulation_s_figures_are_what_its_command_prints() -> None:
    # Virtual time and one seed: every figure the README quotes is exact (the run takes about
    # 8 s of CPU).
    from typer.testing import CliRunner

    from witengine.cli.app import app

    text = " ".join(ROOT.joinpath("README.md").read_text("utf-8").split())
    start = text.index("`wit simulate --untrusted --cheaters 0.02` runs")
    sentence = text[start : text.index("The run took", start)]
    quoted = re.findall(r"`(\w+)`\)? ([\d.]+)(?: of (\d+))?", sentence)
    assert {name for name, _, _ in quoted} >= {
        "wrong_committed",
        "cheaters_caught",
        "replicated_share",
        "replicated_share_last_half",
        "efficiency",
    }
    done = CliRunner().invoke(app, ["simulate", "--untrusted", "--cheaters", "0.02", "--json"])
    assert done.exit_code == 0, done.output
    printed = json.loads(done.stdout)
    for name, figure, out_of in quoted:
        decimals = len(figure.partition(".")[2])
        assert round(printed[name], decimals) == float(figure), (name, printed[name])
        if out_of:
            assert printed["cheaters"] == int(out_of)
