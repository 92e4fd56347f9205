"""`wit simulate`: one JSON object with --json, a table without, exit 2 for a wrong strategy."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from witengine.cli.app import app


def test_json_prints_one_object_with_the_figures() -> None:
    args = ["simulate", "--nodes", "8", "--items", "300", "--strategy", "queued", "--json"]
    result = CliRunner().invoke(app, [*args, "--deaths", "1", "--seed", "4"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["strategy"] == "Queued" and data["items"] == 300
    assert 0 < data["efficiency"] <= 1
    for key in ("makespan", "bound", "duplicates", "lost", "decision_ms_median"):
        assert key in data


def test_without_json_it_prints_a_table() -> None:
    args = ["simulate", "--nodes", "4", "--items", "100", "--benchmark-error", "0.3"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "efficiency" in result.stdout and "Adaptive" in result.stdout


def test_an_unknown_strategy_is_named() -> None:
    result = CliRunner().invoke(app, ["simulate", "--strategy", "fastest"])
    assert result.exit_code == 2
    assert "unknown strategy 'fastest'" in result.output


def test_the_office_prints_e_against_the_availability_bound_and_nothing_lost() -> None:
    args = ["simulate", "--office", "--nodes", "30", "--items", "600", "--seed", "2", "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["machines"] == 30 and data["items"] == 600 and data["items_lost"] == 0
    assert 0 < data["efficiency"] <= 1
    for key in ("bound", "available_hours", "thrown_seconds", "vacates", "finished_at"):
        assert key in data
    table = CliRunner().invoke(app, args[:-1])
    assert table.exit_code == 0, table.output
    for row in ("efficiency E", "of the availability bound", "items lost", "work thrown away"):
        assert row in table.stdout


def test_untrusted_prints_what_verifying_cost_and_wrong_results_committed() -> None:
    args = ["simulate", "--untrusted", "--cheaters", "0.1", "--nodes", "20", "--items", "400"]
    result = CliRunner().invoke(app, [*args, "--seed", "3", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["nodes"] == 20 and data["untrusted"] == 20 and data["cheaters"] == 2
    for key in ("wrong_committed", "replicated_share", "cheaters_caught", "bound_job"):
        assert key in data
    table = CliRunner().invoke(app, args)
    assert table.exit_code == 0, table.output
    for row in ("wrong committed", "cheaters caught", "replicated", "the work that had to be"):
        assert row in table.stdout


def test_cheaters_need_untrusted_nodes_and_untrusted_is_not_an_office() -> None:
    alone = CliRunner().invoke(app, ["simulate", "--cheaters", "0.02"])
    assert alone.exit_code == 2 and "--cheaters needs --untrusted" in alone.output
    both = CliRunner().invoke(app, ["simulate", "--untrusted", "--office"])
    assert both.exit_code == 2 and "pick one" in both.output


def test_sites_print_the_federated_farm_beside_the_flat_one() -> None:
    args = ["simulate", "--sites", "3", "--nodes", "30", "--items", "1500", "--seed", "2"]
    result = CliRunner().invoke(app, [*args, "--deaths", "1", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["sites"] == 3 and data["nodes"] == 30 and sum(data["site_items"]) == 1500
    assert 0 < data["efficiency"] <= data["flat_efficiency"] <= 1
    for key in ("bound", "makespan", "flat_makespan", "parent_batches", "site_latency"):
        assert key in data
    table = CliRunner().invoke(app, args)
    assert table.exit_code == 0, table.output
    for words in ("3 sites", "flat", "efficiency", "batches to sites"):
        assert words in table.stdout


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--sites", "2", "--office"], "not with --office or --untrusted"),
        (["--sites", "5", "--nodes", "4"], "--sites 5 with 4 nodes: each site needs a node"),
        (["--site-latency", "0.1"], "--site-latency needs --sites"),
    ],
)
def test_sites_refuse_what_they_cannot_simulate(args: list[str], says: str) -> None:
    result = CliRunner().invoke(app, ["simulate", *args])
    assert result.exit_code == 2
    assert says in result.output
