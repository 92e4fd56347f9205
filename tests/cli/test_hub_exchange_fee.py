"""`wit hub --exchange-fee RATE`: a rate that is none is refused before the hub listens."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from witengine.cli.app import app


@pytest.mark.parametrize(
    ("rate", "message"),
    [
        ("lots", "'lots' is not a rate: give a percentage (2%) or a fraction (0.02)"),
        ("75%", "'75%' is outside 0% to 50%"),
    ],
)
def test_hub_refuses_an_exchange_fee_that_is_no_rate(
    rate: str, message: str, tmp_path: Path
) -> None:
    result = CliRunner().invoke(
        app, ["hub", "--exchange-fee", rate, "--data-dir", str(tmp_path), "--port", "0"]
    )
    assert result.exit_code == 2
    assert result.stderr == f"wit hub: --exchange-fee: {message}\n"
