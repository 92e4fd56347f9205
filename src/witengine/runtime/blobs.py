"""Content-addressed blobs: files are values named by their sha256, never by a path.

`Blob` is the value a script holds; `BlobStore` is where the bytes live. `LocalBlobStore` keeps
them in a directory, written atomically, verified on the way in.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from witengine.errors import WitError
from witengine.filenames import safe_name

_SHA256 = re.compile(r"[0-9a-f]{64}")
_CHUNK = 1 << 20


class BlobError(WitError):
    """A blob is missing, corrupt or cannot be stored."""


@dataclass(frozen=True)
class Blob:
    """A file as a value: its sha256, size in bytes, and the name it was made under."""

    sha256: str
    size: int
    name: str = ""

    def __post_init__(self) -> None:
        if not _SHA256.fullmatch(self.sha256):
            raise BlobError(f"'{self.sha256}' is not a sha256 digest")

    def __str__(self) -> str:
        return f"{self.name or 'blob'} (sha256:{self.sha256[:12]}…, {self.size} bytes)"


def blobs_in(value: Any) -> Iterator[Blob]:
    """Every Blob inside a value: in lists and tuples, and in the fields of a plugin's value
    that is a dataclass (a Frame's Scene)."""
    if isinstance(value, Blob):
        yield value
    elif isinstance(value, list | tuple):
        for item in value:
            yield from blobs_in(item)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for part in dataclasses.fields(value):
            yield from blobs_in(getattr(value, part.name))


class BlobStore(Protocol):
    """Where blob bytes live."""

    def put_bytes(self, data: bytes, name: str = "") -> Blob: ...

    def put_file(self, path: Path, name: str | None = None) -> Blob: ...

    def path(self, blob: Blob) -> Path:
        """A local file holding the blob's bytes; BlobError when absent."""
        ...

    def has(self, sha256: str) -> bool: ...


class LocalBlobStore:
    """Blobs in a directory, one file per digest, fanned out by the first two hex digits."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def _file(self, sha256: str) -> Path:
        if not _SHA256.fullmatch(sha256):
            raise BlobError(f"'{sha256}' is not a sha256 digest")
        return self.root / sha256[:2] / sha256

    def has(self, sha256: str) -> bool:
        return self._file(sha256).exists()

    def put_bytes(self, data: bytes, name: str = "") -> Blob:
        return self.put_stream(io.BytesIO(data), name)

    def put_file(self, path: Path, name: str | None = None) -> Blob:
        try:
            with path.open("rb") as source:
                return self.put_stream(source, name if name is not None else path.name)
        except OSError as error:
            raise BlobError(f"cannot read '{path}': {error.strerror or error}") from None

    def put_stream(self, source: BinaryIO, name: str = "", expected: str | None = None) -> Blob:
        """Store bytes read from `source`; with `expected`, refuse them unless the digest matches.

        The bytes go to a temporary file first and are renamed into place only once their digest
        is known and right, so a reader never sees a partial blob.
        """
        digest = hashlib.sha256()
        size = 0
        self.root.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(
            dir=self.root, prefix=".incoming-", delete=False
        ) as handle:
            temp = Path(handle.name)
            try:
                while chunk := source.read(_CHUNK):
                    digest.update(chunk)
                    size += len(chunk)
                    handle.write(chunk)
            except BaseException:
                temp.unlink(missing_ok=True)
                raise
        try:
            sha256 = digest.hexdigest()
            if expected is not None and sha256 != expected:
                raise BlobError(f"blob content hashes to {sha256}, not {expected}")
            target = self._file(sha256)
            target.parent.mkdir(parents=True, exist_ok=True)
            temp.replace(target)
        finally:
            temp.unlink(missing_ok=True)
        return Blob(sha256, size, safe_name(name) if name else "")

    def adopt(self, file: Path, sha256: str, size: int) -> Blob:
        """Move a file whose digest the caller has just computed into the store."""
        target = self._file(sha256)
        target.parent.mkdir(parents=True, exist_ok=True)
        file.replace(target)
        return Blob(sha256, size)

    def path(self, blob: Blob) -> Path:
        target = self._file(blob.sha256)
        if not target.exists():
            raise BlobError(f"blob {blob.sha256} is not in {self.root}")
        return target
