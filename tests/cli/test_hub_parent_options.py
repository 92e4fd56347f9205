"""`wit hub --parent URL --token JOIN-TOKEN [--parent-share SHARE]`: refused before the hub
listens when the options do not go together or the share is none."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from witengine.cli.app import app
from witengine.site.share import parent_share

PARENT = "http://127.0.0.1:7310"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--parent", PARENT], "wit hub: --parent and --token go together"),
        (["--token", "wit-join.x"], "wit hub: --parent and --token go together"),
        (
            ["--parent", PARENT, "--token", "wit-join.x", "--parent-share", "half"],
            "wit hub: --parent-share: 'half' is not a share of the site's nodes: give a fraction "
            "such as 0.5, a percentage such as 50%, or either followed by nights (the office's "
            "nights and weekends only): nights, 50% nights",
        ),
        (
            ["--parent", PARENT, "--token", "wit-join.x", "--parent-share", "150%"],
            "wit hub: --parent-share: '150%': the parent's share must be above 0 and at most 1 "
            "(100%)",
        ),
    ],
)
def test_hub_refuses_parent_options_that_do_not_go_together(
    options: list[str], message: str, tmp_path: Path
) -> None:
    result = CliRunner().invoke(app, ["hub", *options, "--data-dir", str(tmp_path), "--port", "0"])
    assert result.exit_code == 2
    assert result.stderr == message + "\n"


@pytest.mark.parametrize(
    ("text", "share", "nights"),
    [
        ("0.5", 0.5, False),
        ("50%", 0.5, False),
        ("1", 1.0, False),
        ("nights", 1.0, True),
        ("25% nights", 0.25, True),
        ("0.5 Nights", 0.5, True),
    ],
)
def test_a_parent_share_is_a_fraction_or_a_percentage_maybe_at_night(
    text: str, share: float, nights: bool
) -> None:
    read = parent_share(text)
    assert read.share == pytest.approx(share)
    assert (read.hours is not None) == nights


@pytest.mark.parametrize("text", ["0", "-1", "1.01", "days", "", "50% days", "nights 50%"])
def test_a_parent_share_outside_zero_to_one_or_not_a_number_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parent_share(text)
