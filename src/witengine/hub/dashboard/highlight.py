"""Wit source split into lines of classed tokens, for the job page's script view.

A lexer of a few regular expressions, not the parser: it must show any text, even a script that
no longer checks, and it only colours. Comments may span lines; each line gets its own pieces.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

KEYWORDS = frozenset(
    {"Job", "Else", "If", "ForEach", "While", "in", "true", "True", "false", "False", "null"}
    | {"NULL", "Break", "Continue", "Return"}
)

_TOKEN = re.compile(
    r"""
    (?P<comment>~[^~]*~?)
  | (?P<string>"(?:[^"\\\n]|\\.)*"?)
  | (?P<number>[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)
  | (?P<type>[A-Za-z_][A-Za-z0-9_]*(?=\s*:(?!:)))
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
  | (?P<arrow>=>)
  | (?P<other>[^~"A-Za-z_0-9=]+|=)
    """,
    re.VERBOSE,
)


_CLASSES = {"comment": "cm", "string": "st", "number": "nu", "type": "ty", "arrow": "kw"}


@dataclass(frozen=True)
class Piece:
    css: str  # "" for plain text
    text: str


def highlight(source: str) -> list[list[Piece]]:
    """One list of pieces per line of `source` (lines as the parser counts them: by '\\n')."""
    lines: list[list[Piece]] = [[]]
    for match in _TOKEN.finditer(source):
        kind = match.lastgroup or "other"
        text = match.group()
        if text in KEYWORDS:
            css = "kw"
        elif kind == "name":
            css = "call" if "." in text else ""
        else:
            css = _CLASSES.get(kind, "")
        for n, part in enumerate(text.split("\n")):
            if n:
                lines.append([])
            if part:
                lines[-1].append(Piece(css, part.removesuffix("\r")))
    if len(lines) > 1 and not lines[-1]:
        lines.pop()  # the newline that ends the last line starts no new one
    return lines
