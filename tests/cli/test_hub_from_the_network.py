"""The hub a command asks when given none: --hub, else WIT_HUB, else the one hub that answers
over mDNS, said on stderr; none or several answering exit 2, the several listed. What answers is
given here: a real browse on this machine also hears the hubs of whatever else runs on it
(tests/e2e/test_node_finds_hub.py browses for real)."""

from __future__ import annotations

import pytest
import typer

from witengine.cli import farm
from witengine.discovery import Advert

SALLY = Advert("http://192.168.1.20:7310", "witengine hub on sally")
MARVIN = Advert("https://192.168.1.30:7310", "witengine hub on marvin", "sha256:" + "ab" * 32)


def answering(monkeypatch: pytest.MonkeyPatch, *adverts: Advert) -> None:
    monkeypatch.delenv("WIT_HUB", raising=False)
    monkeypatch.setattr(farm, "_hubs_on_the_network", lambda: list(adverts))


def test_the_one_hub_that_answers_is_taken_and_named(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    answering(monkeypatch, SALLY)
    assert farm.hub_url(None) == SALLY.url
    assert capsys.readouterr().err == (
        "wit: using the hub witengine hub on sally at http://192.168.1.20:7310 (found over mDNS)\n"
    )


def test_several_hubs_are_listed_and_the_command_asks_for_one(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    answering(monkeypatch, SALLY, MARVIN)
    with pytest.raises(typer.Exit) as stopped:
        farm.hub_url(None)
    assert stopped.value.exit_code == 2
    assert capsys.readouterr().err == (
        "2 hubs answered on the local network; pass --hub URL (or set WIT_HUB) to choose one:\n"
        "  http://192.168.1.20:7310  witengine hub on sally\n"
        "  https://192.168.1.30:7310  witengine hub on marvin\n"
    )


def test_no_hub_answering_exits_2_saying_what_to_pass(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    answering(monkeypatch)
    with pytest.raises(typer.Exit) as stopped:
        farm.hub_url(None)
    assert stopped.value.exit_code == 2
    assert "none answered on the local network: pass --hub URL or set WIT_HUB" in (
        capsys.readouterr().err
    )


def test_a_hub_given_is_asked_without_looking(monkeypatch: pytest.MonkeyPatch) -> None:
    answering(monkeypatch, SALLY, MARVIN)
    assert farm.hub_url("http://10.0.0.5:7310") == "http://10.0.0.5:7310"
    monkeypatch.setenv("WIT_HUB", "http://10.0.0.6:7310")
    assert farm.hub_url(None) == "http://10.0.0.6:7310"
