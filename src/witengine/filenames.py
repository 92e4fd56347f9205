"""File names and relative paths that come from elsewhere: a client, a script, a plugin bundle.

The one place that decides whether a name may touch the disk. `check_file_name` refuses a name
that is not a plain file name (for the API's door), `safe_name` reduces any text to one (for
names the project writes files under), `relative_path` refuses an archive member that could leave
its folder, and `inside` joins a checked relative path to a folder and makes sure that, symlinks
followed, it is still inside. Nothing here creates or reads files.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePath, PurePosixPath

from witengine.errors import WitError

MAX_NAME_CHARS = 255  # what common file systems (ext4, NTFS, APFS) allow in one name
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_DRIVE = re.compile(r"[A-Za-z]:")


class UnsafePath(WitError):
    """A file name or path would leave its folder, or is not a name a file can have."""


def check_file_name(name: str, max_chars: int = MAX_NAME_CHARS) -> str:
    """`name` unchanged if it is one plain file name; UnsafePath saying why it is not."""
    shown = repr(name[:80])
    if not name:
        raise UnsafePath("a file name cannot be empty")
    if len(name) > max_chars:
        raise UnsafePath(f"the file name {shown}… has {len(name)} characters, over {max_chars}")
    if "/" in name or "\\" in name:
        raise UnsafePath(f"the file name {shown} contains a path separator")
    if _CONTROL.search(name):
        raise UnsafePath(f"the file name {shown} contains a NUL or control character")
    if name in (".", ".."):
        raise UnsafePath(f"{shown} is not a file name")
    return name


def safe_name(name: str) -> str:
    """A file name that cannot leave its directory: the last path part, without odd characters."""
    base = re.split(r"[\\/]", name)[-1]
    cleaned = re.sub(r"[^A-Za-z0-9._ -]", "_", base).strip(" .")
    return cleaned[:200] or "blob"


def relative_path(path: str) -> PurePosixPath:
    """An archive member's path (`/`-separated), refused unless it stays below its folder."""
    if not isinstance(path, str) or not path:
        raise UnsafePath(f"{path!r} is an empty path")
    if "\\" in path or _CONTROL.search(path):
        raise UnsafePath(f"{path!r} has a backslash, NUL or control character in it")
    if path.startswith("/") or _DRIVE.match(path):
        raise UnsafePath(f"{path!r} is an absolute path")
    if any(part in ("..", ".", "") for part in path.split("/")):
        raise UnsafePath(f"{path!r} climbs out of its folder or has an empty part")
    return PurePosixPath(path)


def inside(root: Path, path: str | PurePath) -> Path:
    """`root` joined with the relative `path`, refused if it would end up outside `root`, through
    `..`, an absolute path or a symlink on the way."""
    relative = relative_path(path) if isinstance(path, str) else relative_path(path.as_posix())
    target = root.joinpath(*relative.parts)
    if not target.resolve().is_relative_to(root.resolve()):
        raise UnsafePath(f"{str(path)!r} leads outside {root} through a symlink")
    return target
