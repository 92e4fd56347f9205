"""Pausing is said one way everywhere: `wit pause --help`, docs/cli.md, docs/farm.md and
docs/language.md all say what the hub does when a job is paused (which
tests/unit/hub/test_dispatcher.py checks it does: a paused job's map gets no new batches)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from witengine.cli import manage

ROOT = Path(__file__).resolve().parents[2]
WHAT_PAUSE_DOES = (
    "a Grid.ForEach under way gets no new batches (those already on nodes finish, and their "
    "results are kept) and the script stops before its next statement, until the job is resumed"
)


def said(text: str) -> str:
    """Text as a reader takes it in: code marks gone, lines and spaces joined."""
    return re.sub(r"\s+", " ", text.replace("`", ""))


def test_wit_pause_help_says_what_pausing_does() -> None:
    assert WHAT_PAUSE_DOES in said(manage.pause.__doc__ or "")


@pytest.mark.parametrize("page", ["cli.md", "farm.md", "language.md"])
def test_every_page_says_what_pausing_does_and_nothing_else(page: str) -> None:
    text = said(ROOT.joinpath("docs", page).read_text("utf-8"))
    assert WHAT_PAUSE_DOES in text
    for claim in ("runs to its end", "finishes first", "pause takes effect"):
        assert claim not in text, f"docs/{page} says a paused map {claim}"
