"""docs/plugins.md as a plugin author follows it: the test file it shows passes with pytest from
the repository's root with PYTHONPATH=docs/examples/plugin, as the page says (its tests build the
example plugin, call its activities as a node does and run the example job)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(180)

ROOT = Path(__file__).resolve().parents[1]


def test_the_test_file_the_page_shows_passes_as_it_says(tmp_path: Path) -> None:
    page = ROOT.joinpath("docs", "plugins.md").read_text("utf-8")
    blocks = re.findall(r"^```python\n(.*?)^```$", page, flags=re.MULTILINE | re.DOTALL)
    (shown,) = [block for block in blocks if "def test_" in block]
    tests = tmp_path / "test_tiles.py"
    tests.write_text(shown)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "docs" / "examples" / "plugin")}
    env.pop("WIT_PLUGINS", None)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", str(tests), "-q", "-p", "no:cacheprovider"],
        cwd=ROOT,  # "from the repository root"
        env=env,
        capture_output=True,
        text=True,
        timeout=150,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    count = shown.count("\ndef test_")
    assert f"{count} passed" in done.stdout, done.stdout
