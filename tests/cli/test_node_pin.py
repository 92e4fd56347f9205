"""Which certificate `wit node` is pinned to while it looks for its hub over mDNS."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer

from witengine.cli.farm import _node_pin
from witengine.node.enrol import CREDENTIAL_FILE, Credential, save_credential
from witengine.security.tokens import Role, make_token

GIVEN = "sha256:" + "ab" * 32
CARRIED = "sha256:" + "cd" * 32
KEPT = "sha256:" + "ef" * 32


def keep(folder: Path, fingerprint: str | None) -> None:
    credential = Credential("https://hub:7310", "node_1", "tok_1", "wit-node.tok_1.x", fingerprint)
    save_credential(folder / CREDENTIAL_FILE, credential)


def test_the_given_fingerprint_comes_first_in_any_spelling(tmp_path: Path) -> None:
    keep(tmp_path, KEPT)
    join = make_token(Role.JOIN, fingerprint=CARRIED).text

    assert _node_pin(":".join(["AB"] * 32), join, tmp_path) == GIVEN


def test_then_the_join_tokens_then_the_credentials(tmp_path: Path) -> None:
    keep(tmp_path, KEPT)
    join = make_token(Role.JOIN, fingerprint=CARRIED).text

    assert _node_pin(None, join, tmp_path) == CARRIED
    assert _node_pin(None, make_token(Role.JOIN).text, tmp_path) == KEPT
    assert _node_pin(None, None, tmp_path) == KEPT


def test_an_unpinned_node_takes_any_hub(tmp_path: Path) -> None:
    assert _node_pin(None, None, tmp_path) is None
    keep(tmp_path, None)
    assert _node_pin(None, "not a token", tmp_path) is None


def test_a_malformed_fingerprint_stops_the_node(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(typer.Exit) as stopped:
        _node_pin("sha256:123", None, tmp_path)

    assert stopped.value.exit_code == 2
    assert "is not a certificate fingerprint" in capsys.readouterr().err
