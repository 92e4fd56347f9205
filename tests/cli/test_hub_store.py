"""`wit hub --store URL` (or WIT_STORE): the hub keeps its state in that PostgreSQL database
rather than SQLite in its data folder, says where, and stops with a reason it can act on when the
URL is not one it can use."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.slow


def hub_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WIT_")}
    return {**env, "HOME": str(tmp_path / "home"), **extra}


def hub(tmp_path: Path, *args: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "witengine",
        "hub",
        "--port",
        "0",
        "--no-advertise",
        "--data-dir",
        str(tmp_path / "hub"),
        *args,
    ]


@pytest.mark.parametrize(
    ("store", "said"),
    [
        ("mysql://db/farm", "wit hub: --store 'mysql://db/farm': not a store this hub knows"),
        (
            "postgresql://wit:s3cret@/farm?host={tmp}&port=1",
            "wit hub: cannot open the PostgreSQL store at postgresql://wit:***@/farm",
        ),
    ],
)
def test_a_store_the_hub_cannot_use_stops_it_saying_why(
    tmp_path: Path, store: str, said: str
) -> None:
    done = subprocess.run(
        hub(tmp_path, "--store", store.format(tmp=tmp_path)),
        capture_output=True,
        text=True,
        timeout=120,
        env=hub_env(tmp_path),
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert said in done.stderr
    assert "s3cret" not in done.stderr + done.stdout


def test_a_hub_on_postgresql_says_so_and_keeps_no_sqlite_file(
    tmp_path: Path, postgres_url: str
) -> None:
    process = subprocess.Popen(
        hub(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=hub_env(tmp_path, WIT_STORE=postgres_url),
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(3)]
        said = {line.split(" ")[0]: line for line in lines}
        assert said["store:"].startswith("store: postgresql:///wit_"), lines
        address = said["witengine"].split("listening on ")[1].split()[0]
        token = said["admin"].rsplit(": ", 1)[1].strip()
        jobs = httpx.get(f"{address}/api/v1/jobs", headers={"Authorization": f"Bearer {token}"})
        assert jobs.status_code == 200 and jobs.json() == []
        assert not (tmp_path / "hub" / "hub.sqlite3").exists()
        assert (tmp_path / "hub" / "admin.token").exists()
    finally:
        process.terminate()
        process.wait(30)
        if process.stdout is not None:
            process.stdout.close()
