"""How deeply a script nests, measured on its text before anything parses it.

Owns `MAX_NESTING` and `too_deep(source)`: one pass over the text with a regular expression that
refuses a script nested past the limit at the first place it goes too deep, whatever the form:
brackets, calls, blocks, and chains of operators, members (`y.a.a`) or indexes (`a[0][0]`). It
runs before the parser, so that a deep script costs the hub a look at its text and no more, and
it never counts fewer levels than the parse tree will have (`tests/unit/lang/test_nesting.py`
checks that): a script it lets through is one the checker, printer and interpreter can walk
without running out of stack.

It must not parse: it knows no grammar beyond which characters open, close, separate and
operate, and a script it lets through may still be wrong in any other way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from witengine.lang.errors import Diagnostic
from witengine.lang.syntax import Span

# How deeply expressions and blocks may nest: 150 levels is about 70 blocks inside one another
# (a block counts two: its statement and its braces), or an expression of 145 operators in a row;
# far past any real script, and inside Python's recursion limit for the checker, printer and
# interpreter that walk the tree, with the frames of a hub's server under them (a chain of 165
# '&&' was the most the interpreter could run so: 200 levels, the limit before, was too many).
MAX_NESTING = 150

# Levels every path has: the script, its innermost statement and the value at the end.
_BASE = 3

# The characters that matter; the lookahead lets the search skip names and blanks quickly. A
# number's '.' or '-' counts as an operator: one level too many, never one too few.
_TOKEN = re.compile(
    r"""(?=["~i(\[{)\]},;&|=!<>\-+*/%.])(?:
      (?P<string>"[^"\\\n]*(?:\\.[^"\\\n]*)*(?P<closed>")?)
    | (?P<comment>~[^~]*(?P<ended>~)?)
    | (?P<operator>&&|\|\||[=!<>]=|=>|[-+*/%!<>.]|i(?<![A-Za-z0-9_.]i)n(?![A-Za-z0-9_]))
    | (?P<separator>[,;])
    | (?P<open>[(\[{])
    | (?P<close>[)\]}])
    )""",
    re.VERBOSE,
)
_BLANKS = " \t\r\n\f"
# Levels a bracket adds while it is open: a call and its arguments, a block and its statement,
# a parenthesised expression or an array. An index adds one where it follows its value.
_CALL, _BLOCK, _GROUP = 2, 2, 1


@dataclass(slots=True)
class _Level:
    """One open bracket: the levels outside it and its own, and its current part (the text since
    the last ',' or ';' inside it): the operators seen and the deepest bracket closed in it."""

    reach: int  # the levels outside it, its own and its current part's, as far as seen
    weight: int
    operators: int = 0
    deepest_inside: int = 0
    deepest_part: int = 0

    def end_part(self) -> None:
        self.deepest_part = max(self.deepest_part, self.operators + self.deepest_inside)
        self.reach -= self.operators + self.deepest_inside
        self.operators = self.deepest_inside = 0

    def close_inside(self, depth: int) -> None:
        """A bracket `depth` levels deep closed in the current part."""
        if depth > self.deepest_inside:
            self.reach += depth - self.deepest_inside
            self.deepest_inside = depth

    def depth(self) -> int:
        """The levels this bracket adds to the one around it."""
        return self.weight + max(self.deepest_part, self.operators + self.deepest_inside)


def too_deep(source: str, limit: int = MAX_NESTING) -> Diagnostic | None:
    """The place where `source` first nests past `limit` levels, or None."""
    scan = _Scan(source)
    for match in _TOKEN.finditer(source):
        kind = match.lastgroup
        if kind == "operator":
            reach = scan.operator()
        elif kind == "separator":
            reach = scan.separator()
        elif kind == "open":
            reach = scan.open(match)
        elif kind == "close":
            reach = scan.close(match)
        elif match.group("closed") is None and match.group("ended") is None:
            return None  # an unterminated string or comment: the parser stops there
        else:
            reach = scan.skip(match)
        if reach > limit:
            return _diagnostic(source, match.start(), limit)
        scan.seen = match.end()
    return None


class _Scan:
    """The brackets open at a place in the text, and what came just before it."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.outer: list[_Level] = []
        self.level = _Level(_BASE, _BASE)
        self.after_value = False  # the last match is a value: a '[' after it indexes it
        self.seen = 0  # where the last match ended: between are names, numbers, ':', '=', blanks

    def operator(self) -> int:
        """An operator, a member's '.' or a binding's `in`: a level in its part."""
        self.level.operators += 1
        self.level.reach += 1
        self.after_value = False
        return self.level.reach

    def separator(self) -> int:
        self.level.end_part()
        self.after_value = False
        return 0

    def open(self, match: re.Match[str]) -> int:
        before = self._before(match.start())
        after_name = before.isalnum() or before == "_"
        bracket, level = match.group(), self.level
        if bracket == "{":
            weight = _BLOCK
        elif bracket == "(":
            weight = _CALL if after_name else _GROUP
        elif after_name or (self.after_value and not before):
            level.operators += 1  # an index: a level in a chain of them, `a[0][0]`
            level.reach += 1
            weight = 0
        else:
            weight = _GROUP
        self.outer.append(level)
        self.level = _Level(level.reach - level.deepest_inside + weight, weight)
        self.after_value = False
        return self.level.reach

    def close(self, match: re.Match[str]) -> int:
        self.after_value = match.group() != "}"
        if not self.outer:
            return 0  # a bracket closed that never opened: the parser says so
        depth = self.level.depth()
        self.level = self.outer.pop()
        self.level.close_inside(depth)
        if not self.after_value:  # after a block comes another statement, or Else
            self.level.end_part()
        return self.level.reach

    def skip(self, match: re.Match[str]) -> int:
        """A string (a value) or a comment (nothing, but a name may come before it)."""
        before = self._before(match.start())
        if match.lastgroup == "string":
            self.after_value = True
        elif before:
            self.after_value = before.isalnum() or before == "_"
        return 0

    def _before(self, start: int) -> str:
        """The last character before `start` since the last match, blanks aside: the end of a
        name or a number, a ':' or '=', or '' when there is none."""
        return self.source[self.seen : start].rstrip(_BLANKS)[-1:]


def _diagnostic(source: str, offset: int, limit: int) -> Diagnostic:
    line = source.count("\n", 0, offset) + 1
    column = offset - (source.rfind("\n", 0, offset) + 1) + 1
    return nested_too_deeply(Span(line, column, line, column + 1), limit)


def nested_too_deeply(span: Span, limit: int = MAX_NESTING) -> Diagnostic:
    """The diagnostic for a script that nests past `limit` levels at `span`."""
    return Diagnostic(
        f"the script nests too deeply here: more than {limit} levels of blocks and expressions",
        span,
        "split the expression or the blocks, e.g. with variables for the parts",
    )
