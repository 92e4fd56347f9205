"""Files that hold secrets (tokens, credentials): written whole, readable by their owner only."""

from __future__ import annotations

import contextlib
import logging
import os
import stat
from pathlib import Path

log = logging.getLogger(__name__)


def keep_private(path: Path) -> None:
    """Set a secret file others can read back to mode 600, saying so."""
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        log.warning("%s was readable by others (mode %o); setting it to 600", path, mode)
        with contextlib.suppress(OSError):
            path.chmod(0o600)


def write_private(path: Path, text: str) -> None:
    """Write `text` to a file of mode 600, replacing any before it in one step."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".part")
    with contextlib.suppress(FileNotFoundError):
        partial.unlink()
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)
    partial.replace(path)


def read_private(path: Path) -> str | None:
    """The stripped text of a secret file, or None when it is missing or unreadable."""
    try:
        return path.read_text().strip() or None
    except OSError:
        return None
