"""`wit run` refuses what it would otherwise ignore or find out late: contradictory choices of
where to run, and a parameter its type cannot read, before anything starts."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from witengine.cli.app import app

ROOT = Path(__file__).resolve().parents[2]
PRIMES = str(ROOT / "examples" / "primes.wit")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            ["--hub", "http://127.0.0.1:9", "--local"],
            "wit run: --local runs the job here without a hub; it cannot go with --hub",
        ),
        (
            ["--local", "--nodes", "2"],
            "wit run: --local runs the job in a process pool, without nodes; it cannot go with "
            "--nodes",
        ),
        (
            ["--workers", "2"],
            "wit run: --workers sizes the process pool of --local; add --local (or, for the farm "
            "started here, use --nodes)",
        ),
        (
            ["--hub", "http://127.0.0.1:9", "--nodes", "2"],
            "wit run: --nodes sizes the farm started here; it cannot go with --hub",
        ),
        (
            ["--dask", "tcp://127.0.0.1:9", "--local"],
            "wit run: --dask runs the job on a Dask cluster; it cannot go with --local",
        ),
        (
            ["--dask", "tcp://127.0.0.1:9", "--hub", "http://127.0.0.1:9", "--pools", "a"],
            "wit run: --dask runs the job on a Dask cluster; it cannot go with --hub, --pools",
        ),
        (
            ["--dask-files", "/tmp"],
            "wit run: --dask-files goes with --dask; add --dask ADDRESS",
        ),
    ],
)
def test_run_refuses_contradictory_options_naming_them(
    options: list[str], message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WIT_HUB", raising=False)
    result = CliRunner().invoke(app, ["run", PRIMES, "n=10", *options])
    assert result.exit_code == 2
    assert result.stderr == message + "\n"


def test_run_refuses_nodes_when_wit_hub_names_a_hub(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WIT_HUB", "http://127.0.0.1:9")
    result = CliRunner().invoke(app, ["run", PRIMES, "--nodes", "2"])
    assert result.exit_code == 2
    assert result.stderr == (
        "wit run: --nodes sizes the farm started here, but WIT_HUB (http://127.0.0.1:9) sends "
        "the job to a hub; unset WIT_HUB to start a farm here\n"
    )


@pytest.mark.parametrize("option", ["--nodes", "--workers"])
def test_run_refuses_zero_nodes_or_workers(option: str) -> None:
    extra = ["--local"] if option == "--workers" else []
    result = CliRunner().invoke(app, ["run", PRIMES, option, "0", *extra])
    assert result.exit_code == 2
    assert f"Invalid value for '{option}'" in result.stderr


def test_a_bad_parameter_is_refused_before_any_farm_starts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("WIT_HUB", raising=False)
    result = CliRunner().invoke(app, ["run", PRIMES, "n=abc"])
    assert result.exit_code == 2
    # Nothing else: no "starting a hub…", no dashboard link.
    assert result.stderr == "parameter 'n' (Long): 'abc' is not a whole number\n"


@pytest.mark.parametrize(
    ("executor", "message"),
    [
        (
            "ray://127.0.0.1:6379",
            "wit hub: --executor: 'ray://127.0.0.1:6379' is not an executor this hub knows: "
            "write dask://HOST:PORT for a Dask cluster's scheduler",
        ),
        (
            "dask://scheduler",
            "wit hub: --executor: 'dask://scheduler' is not a Dask scheduler's address: write it "
            "as tcp://HOST:PORT (such as tcp://scheduler:8786)",
        ),
    ],
)
def test_hub_refuses_an_executor_it_does_not_know(
    executor: str, message: str, tmp_path: Path
) -> None:
    result = CliRunner().invoke(
        app, ["hub", "--executor", executor, "--data-dir", str(tmp_path), "--port", "0"]
    )
    assert result.exit_code == 2
    assert result.stderr == message + "\n"
