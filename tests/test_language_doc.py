"""docs/language.md says "every sample runs as shown": its samples, taken from the page as
written. Every `wit` block passes the checker (the one shown failing gives exactly the errors the
page prints), every value a sample notes in a comment (`Int:x = 7 / 2; ~ 3 ~`) is the value the
variable gets, and the page's `wit run --json` and `wit fmt` sessions print what it shows."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from witengine import api
from witengine.lang.errors import ScriptError
from witengine.settings import Settings

pytestmark = pytest.mark.timeout(120)

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "language.md"
# A declaration or assignment that ends with a comment; a value (JSON) when it notes one.
COMMENTED = re.compile(r"^\s*(?:[A-Za-z]+:)?(?P<name>\w+)\s*=.*;\s*~ (?P<value>.*) ~$")


def noted(line: str) -> tuple[str, str] | None:
    """The variable a line gives a value to and that value as the page writes it, when it
    notes one (`Int:x = 7 / 2; ~ 3 ~`)."""
    found = COMMENTED.match(line)
    if found is None:
        return None
    try:
        json.loads(found["value"])
    except ValueError:
        return None  # a remark, not a value
    return found["name"], found["value"]


def fenced(language: str) -> list[str]:
    text = PAGE.read_text("utf-8")
    return re.findall(rf"^```{language}\n(.*?)^```$", text, flags=re.MULTILINE | re.DOTALL)


def job_name(block: str) -> str:
    found = re.search(r"Job:(\w+)", block)
    assert found, f"a wit block without a job: {block[:80]}"
    return found.group(1)


def sessions() -> list[tuple[str, str]]:
    """Every `$ command` of the page's console blocks, with the output shown under it."""
    found = []
    for block in fenced("console"):
        for chunk in re.split(r"^\$ ", block, flags=re.MULTILINE)[1:]:
            command, _, output = chunk.partition("\n")
            found.append((command, output))
    return found


SAMPLES = {job_name(block): block for block in fenced("wit")}
BROKEN = "Labels"  # the sample the page shows failing `wit check broken.wit`


def test_the_page_has_its_samples() -> None:
    assert len(SAMPLES) == len(fenced("wit")) >= 10, "two samples share a job name"
    assert BROKEN in SAMPLES
    assert sum(bool(noted(line)) for b in SAMPLES.values() for line in b.splitlines()) >= 40


@pytest.mark.parametrize("name", sorted(set(SAMPLES) - {BROKEN}))
def test_every_sample_passes_the_checker(name: str, tmp_path: Path) -> None:
    script = tmp_path / f"{name}.wit"
    script.write_text(SAMPLES[name])
    api.check_file(script)  # ScriptError shows every problem with a caret


def test_the_broken_sample_gives_the_errors_the_page_shows(tmp_path: Path) -> None:
    ((command, shown),) = [s for s in sessions() if s[0] == "wit check broken.wit"]
    (tmp_path / "broken.wit").write_text(SAMPLES[BROKEN])
    with pytest.raises(ScriptError):
        api.check_file(tmp_path / "broken.wit")
    assert wit(command, tmp_path) == (2, shown)


NOTED_SAMPLES = sorted(n for n, b in SAMPLES.items() if any(map(noted, b.splitlines())))


@pytest.mark.parametrize("name", NOTED_SAMPLES)
async def test_every_value_a_sample_notes_is_what_it_gives(name: str, tmp_path: Path) -> None:
    script = tmp_path / f"{name}.wit"
    script.write_text(SAMPLES[name])
    result = await api.run_file(
        script, {}, settings=Settings(cache_dir=tmp_path / "cache"), workers=2
    )
    assert result.status.value == "completed", result.error
    for line in SAMPLES[name].splitlines():
        value = noted(line)
        if value is not None:
            given = json.dumps(result.variables[value[0]], ensure_ascii=False)
            assert given == value[1], f"{line.strip()} gives {given}"


def test_the_parameters_sample_prints_what_the_page_shows(tmp_path: Path) -> None:
    ((command, shown),) = [s for s in sessions() if s[0].startswith("wit run shot.wit")]
    (tmp_path / "shot.wit").write_text(SAMPLES["Shot"])
    assert wit(f"{command} --local", tmp_path) == (0, shown)


def test_the_formatting_sample_prints_what_the_page_shows(tmp_path: Path) -> None:
    (messy,) = [output for command, output in sessions() if command == "cat messy.wit"]
    ((command, shown),) = [s for s in sessions() if s[0] == "wit fmt --stdout messy.wit"]
    (tmp_path / "messy.wit").write_text(messy)
    assert wit(command, tmp_path) == (0, shown)


def wit(command: str, folder: Path) -> tuple[int, str]:
    """Run a `wit …` command line of the page in `folder`: its exit code and what it printed."""
    arguments = shlex.split(command)
    assert arguments[0] == "wit", command
    done = subprocess.run(
        [sys.executable, "-m", "witengine", *arguments[1:]],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return done.returncode, done.stdout + done.stderr
