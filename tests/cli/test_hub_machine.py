"""On the hub's machine, commands find the hub's admin token wherever its data folder is: the
folder is given once, to `wit hub --data-dir` (the hub notes it while it listens) or in
WIT_DATA_DIR (read by `wit hub` and every command alike)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from witengine.testing.processes import ProcessFarm, free_port

pytestmark = pytest.mark.slow


def wit(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "witengine", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def user(tmp_path: Path, **extra: str) -> dict[str, str]:
    """A user of this machine with no token in hand and nothing in the default data folder."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WIT_")}
    return {**env, "HOME": str(tmp_path / "home"), **extra}


@pytest.fixture
def farm(tmp_path: Path) -> Iterator[ProcessFarm]:
    farm = ProcessFarm(tmp_path, free_port())  # its data folder: tmp_path/hub, not the default
    try:
        farm.start_hub()
        yield farm
    finally:
        farm.stop()


def test_commands_find_the_admin_token_of_a_hub_started_with_a_data_dir(
    farm: ProcessFarm, tmp_path: Path
) -> None:
    env = user(tmp_path, WIT_CONFIG_DIR=farm.env["WIT_CONFIG_DIR"], WIT_HUB=farm.url)
    for command in (["jobs"], ["nodes"], ["token", "create", "--role", "node"]):
        done = wit(*command, env=env)
        assert done.returncode == 0, (command, done.stderr)
    assert done.stdout.splitlines()[-1].startswith("wit-join.")


def test_wit_data_dir_names_the_hub_s_folder_for_every_command(
    farm: ProcessFarm, tmp_path: Path
) -> None:
    folder = str(farm.root / "hub")
    elsewhere = str(tmp_path / "other-config")  # no note of the running hub there
    env = user(tmp_path, WIT_CONFIG_DIR=elsewhere, WIT_DATA_DIR=folder)
    done = wit("token", "create", "--role", "node", env=env)  # on the data folder itself
    assert done.returncode == 0, done.stderr
    done = wit("jobs", "--hub", farm.url, env=env)  # through the API, with its admin token
    assert done.returncode == 0, done.stderr


def test_without_the_folder_the_refusal_names_options_that_exist(
    farm: ProcessFarm, tmp_path: Path
) -> None:
    env = user(tmp_path, WIT_CONFIG_DIR=str(tmp_path / "other-config"))
    done = wit("jobs", "--hub", farm.url, env=env)
    assert done.returncode == 1
    assert "--token or WIT_TOKEN" in done.stderr and "wit --token" not in done.stderr
    done = wit("token", "create", "--role", "node", env=env)
    assert done.returncode == 2
    assert "pass the hub's --data-dir (or set WIT_DATA_DIR to it)" in done.stderr


def test_a_note_left_by_a_hub_killed_outright_is_not_read(
    farm: ProcessFarm, tmp_path: Path
) -> None:
    """A hub killed with SIGKILL cannot remove its note: commands must not send the admin token
    of the folder it names to whatever listens on that port next."""
    config = Path(farm.env["WIT_CONFIG_DIR"])
    (note,) = (config / "hubs").iterdir()
    folder = note.read_text().splitlines()[0]
    assert folder == str((farm.root / "hub").resolve())
    env = user(tmp_path, WIT_CONFIG_DIR=str(config), WIT_HUB=farm.url)
    assert wit("jobs", env=env).returncode == 0
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    note.write_text(f"{folder}\n{dead}\n")  # as a hub of that pid, gone, left it
    done = wit("jobs", env=env)
    assert done.returncode == 1 and "--token or WIT_TOKEN" in done.stderr, done.stderr
