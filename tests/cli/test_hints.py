"""Every `wit COMMAND --option` that a message, a help text or a page of the docs names exists:
a hint that sends a user to `wit --token` (no such option) is worse than none."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer

from witengine.cli.app import app

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [
    *sorted(ROOT.joinpath("src", "witengine").rglob("*.py")),
    *sorted(ROOT.joinpath("src", "witengine").rglob("*.html")),
    *sorted(ROOT.joinpath("docs").glob("*.md")),
    ROOT / "README.md",
]
# `wit`, then what follows it up to the end of its quotation, code span or sentence.
MENTION = re.compile(r"(?<![\w./-])wit((?: +[^\s`'\")\]|;]+)+)")


def options_of(command: Any) -> set[str]:
    names: set[str] = {"--help"}
    for param in command.params:
        names.update(n for n in (*param.opts, *param.secondary_opts) if n.startswith("--"))
    return names


ROOT_COMMAND: Any = typer.main.get_command(app)


def mentions() -> Iterator[tuple[str, str, list[str]]]:
    """(where, command path, options) for each `wit …` mention that names an option."""
    root = ROOT_COMMAND
    for path in SOURCES:
        for number, line in enumerate(path.read_text("utf-8").splitlines(), start=1):
            for match in MENTION.finditer(line):
                # A message's own command ends in a colon ("wit board set: give --create …").
                words = [w.removesuffix(":") for w in match.group(1).split()]
                command = root
                names = ["wit"]
                while words and words[0] in getattr(command, "commands", {}):
                    names.append(words[0])
                    command = command.commands[words.pop(0)]
                if len(names) == 1 and not (words and words[0].startswith("--")):
                    continue  # prose ("wit run's farm") rather than a command line
                # A group's options come before its subcommand (`wit node --hub URL
                # install-service --print`): each part is checked against its own command.
                parts: list[tuple[list[str], list[str]]] = [(names, [])]
                for word in words:
                    if word in getattr(command, "commands", {}):
                        command = command.commands[word]
                        parts.append(([*parts[-1][0], word], []))
                    parts[-1][1].extend(
                        re.split(r"[=,.:)]", part)[0]
                        for part in word.split("/")  # --drain/--resume, --bench/--no-bench
                        if part.startswith("--")
                    )
                for part_names, options in parts:
                    if options:
                        where = f"{path.relative_to(ROOT)}:{number}"
                        yield where, " ".join(part_names), options


def test_the_sources_name_commands_with_options() -> None:
    assert sum(1 for _ in mentions()) > 50


@pytest.mark.parametrize("where,command,options", list(mentions()), ids=lambda v: str(v))
def test_every_option_a_hint_names_exists(where: str, command: str, options: list[str]) -> None:
    found = ROOT_COMMAND
    for name in command.split()[1:]:
        found = found.commands[name]
    unknown = [option for option in options if option not in options_of(found)]
    assert not unknown, f"{where}: `{command}` has no {', '.join(unknown)}"
