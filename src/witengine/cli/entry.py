"""The `wit` command's entry point: a fast path for `wit check` on scripts with syntax errors.

A syntax error needs only the parser, not the CLI framework or the plugins that the checker's
activity registry loads, so `wit check FILE…` parses first and, when every file fails to parse,
reports them and exits without importing the rest (a fraction of the start-up time). Anything
else (options, a file that parses, an unreadable file) goes to the full command, which reports
exactly the same way.
"""

from __future__ import annotations

import sys
from pathlib import Path


def _syntax_errors_only(files: list[str]) -> bool:
    """Report every file's syntax error and return True, if each of `files` has one."""
    from witengine.lang.errors import ScriptError
    from witengine.lang.parser import parse

    errors: list[tuple[str, ScriptError]] = []
    for name in files:
        try:
            source = Path(name).read_text("utf-8")
        except (OSError, UnicodeDecodeError):
            return False  # the full command words these
        try:
            parse(source, name)
        except ScriptError as error:
            errors.append((name, error))
        else:
            return False  # it needs checking against the registry
    for name, found in errors:
        count = len(found.diagnostics)
        print(found.render())
        print(f"{name}: {count} error{'s' if count != 1 else ''}", file=sys.stderr)
    return True


def main() -> None:
    arguments = sys.argv[1:]
    files = arguments[1:]
    plain = files and not any(a.startswith("-") for a in files)
    if arguments[:1] == ["check"] and plain and _syntax_errors_only(files):
        sys.exit(2)
    from witengine.cli.app import main as full

    full()
