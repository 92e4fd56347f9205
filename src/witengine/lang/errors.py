"""Script errors: located diagnostics rendered with the source line, a caret and a suggestion.

Every problem in a script, from a stray character to a misspelled activity, ends up here as a
`Diagnostic`; `ScriptError` carries them with the source so that they render the same way in the
CLI, over HTTP and in the dashboard. A script error is never a Python traceback.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from witengine.errors import WitError
from witengine.lang.syntax import Span


@dataclass(frozen=True)
class Diagnostic:
    """One problem at one place in a script."""

    message: str
    span: Span
    hint: str | None = None


# Diagnostics a report shows: a script of a million characters can hold a quarter of a million
# mistakes, and a report of them all would be larger than the script many times over.
SHOWN = 100


class ScriptError(WitError):
    """A script failed to parse or check; holds every diagnostic found, in source order."""

    def __init__(self, diagnostics: Sequence[Diagnostic], source: str, filename: str) -> None:
        self.diagnostics = sorted(diagnostics, key=lambda d: (d.span.line, d.span.column))
        self.source = source
        self.filename = filename
        super().__init__(self.render())

    @property
    def shown(self) -> list[Diagnostic]:
        """The diagnostics a report shows: the first SHOWN of them."""
        return self.diagnostics[:SHOWN]

    def render(self) -> str:
        """The report: each diagnostic shown with its line and caret, then how many are not."""
        # Lines as the parser counts them: only '\n' ends one (not a form feed, nor U+2028).
        lines = [line.removesuffix("\r") for line in self.source.split("\n")]
        report = [render_diagnostic(d, lines, self.filename) for d in self.shown]
        hidden = len(self.diagnostics) - len(self.shown)
        if hidden:
            report.append(f"{self.filename}: and {hidden:,} more error{'s' if hidden > 1 else ''}")
        return "\n".join(report)

    def to_json(self) -> list[dict[str, object]]:
        """The diagnostics shown, as plain data for the API and the dashboard."""
        return [
            {
                "file": self.filename,
                "line": d.span.line,
                "column": d.span.column,
                "end_line": d.span.end_line,
                "end_column": d.span.end_column,
                "message": d.message,
                "hint": d.hint,
            }
            for d in self.shown
        ]


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
# Characters of a long line shown around the spot: enough to see it, however long the line.
LINE_SHOWN = 160


def render_diagnostic(diagnostic: Diagnostic, lines: Sequence[str], filename: str) -> str:
    """`file:line:col: message`, then the source line, a caret under the spot, and the hint.

    A line longer than LINE_SHOWN characters is shown from a little before the spot, cut with
    '…' where it goes on.
    """
    span = diagnostic.span
    out = [f"{filename}:{span.line}:{span.column}: {diagnostic.message}"]
    if 1 <= span.line <= len(lines):
        line = lines[span.line - 1]
        first = max(0, min(span.column - 1 - LINE_SHOWN // 4, len(line) - LINE_SHOWN))
        before = "…" if first else ""
        after = "…" if first + LINE_SHOWN < len(line) else ""
        # Other control characters would move the terminal's cursor and misplace the caret.
        raw = before + _CONTROL.sub(" ", line[first : first + LINE_SHOWN]) + after
        column = span.column - first + len(before)
        text = raw.expandtabs(4)
        start = len(raw[: column - 1].expandtabs(4))
        if span.end_line == span.line and span.end_column > span.column:
            end_column = min(span.end_column - first + len(before), len(raw) - len(after) + 1)
            end = len(raw[: end_column - 1].expandtabs(4))
        else:
            end = max(start + 1, len(text.rstrip()))
        width = max(1, end - start)
        out.append("    " + text.rstrip())
        out.append("    " + " " * start + "^" + "~" * (width - 1))
    if diagnostic.hint:
        out.append("    " + diagnostic.hint)
    return "\n".join(out)


def did_you_mean(name: str, known: Iterable[str]) -> str | None:
    """A 'did you mean' hint naming the closest known name, or None when nothing is close."""
    candidates = sorted(set(known))
    folded = {c.lower(): c for c in candidates}
    if name.lower() in folded:
        return f"did you mean '{folded[name.lower()]}'?"
    matches = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    if not matches:
        tail = name.rsplit(".", 1)[-1]
        by_tail = {c.rsplit(".", 1)[-1]: c for c in candidates if "." in c}
        close = difflib.get_close_matches(tail, list(by_tail), n=1, cutoff=0.75)
        matches = [by_tail[close[0]]] if close else []
    return f"did you mean '{matches[0]}'?" if matches else None
