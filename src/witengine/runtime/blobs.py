"""Content-addressed blobs: files are values named by their sha256, never by a path.

`Blob` is the value a script holds; `BlobStore` is where the bytes live. `LocalBlobStore` keeps
them in a directory, written atomically, verified on the way in. Every file enters through
`LocalBlobStore.incoming()`: a temporary file that becomes a blob only once it is complete and
its digest is known, and is removed whatever goes wrong, so a full disk keeps no half-written
file and says so (`BlobStoreFull`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import hashlib
import io
import os
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


class BlobStoreFull(BlobError):
    """The disk under a blob store has no room left for a file."""


_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


def _storage_error(error: OSError, root: Path) -> BlobError:
    """What an operating system error while storing a file means, in words."""
    if error.errno in _FULL:
        return BlobStoreFull(
            f"the blob store in {root} is full ({error.strerror}): free space on its disk"
        )
    return BlobError(f"cannot store a file in {root}: {error.strerror or error}")


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
        with self.incoming() as incoming:
            while chunk := source.read(_CHUNK):
                incoming.write(chunk)
            if expected is not None and incoming.sha256 != expected:
                raise BlobError(f"blob content hashes to {incoming.sha256}, not {expected}")
            blob = incoming.keep()
        return Blob(blob.sha256, blob.size, safe_name(name) if name else "")

    @contextlib.contextmanager
    def incoming(self) -> Iterator[Incoming]:
        """A file on its way in: `write` its bytes, then `keep` it; unless kept, it is removed
        when the block ends, whatever ended it. BlobStoreFull when the disk has no room."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            descriptor, name = tempfile.mkstemp(dir=self.root, prefix=".incoming-")
        except OSError as error:
            raise _storage_error(error, self.root) from None
        incoming = Incoming(self, Path(name), os.fdopen(descriptor, "wb"))
        try:
            yield incoming
        finally:
            incoming.discard()

    def _place(self, file: Path, sha256: str) -> None:
        """Rename a complete file into place under its digest."""
        target = self._file(sha256)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            file.replace(target)
        except OSError as error:
            raise _storage_error(error, self.root) from None

    def path(self, blob: Blob) -> Path:
        target = self._file(blob.sha256)
        if not target.exists():
            # Named, not located: the message may reach a job's submitter.
            name = blob.name or "blob"
            raise BlobError(f"{name} (sha256:{blob.sha256}) is missing from the blob store")
        return target


class Incoming:
    """A file being written into a `LocalBlobStore`: hashed as it is written, a blob once kept."""

    def __init__(self, store: LocalBlobStore, path: Path, handle: BinaryIO) -> None:
        self.store = store
        self.path = path
        self.handle = handle
        self.size = 0
        self._digest = hashlib.sha256()
        self._kept = False

    @property
    def sha256(self) -> str:
        return self._digest.hexdigest()

    def write(self, chunk: bytes) -> None:
        try:
            self.handle.write(chunk)
        except OSError as error:
            raise _storage_error(error, self.store.root) from None
        self._digest.update(chunk)
        self.size += len(chunk)

    def keep(self) -> Blob:
        """The bytes written so far, stored under their digest."""
        try:
            self.handle.close()  # flushes: a full disk may first show here
        except OSError as error:
            raise _storage_error(error, self.store.root) from None
        self.store._place(self.path, self.sha256)
        self._kept = True
        return Blob(self.sha256, self.size)

    def discard(self) -> None:
        """Remove the file unless it was kept (its buffered bytes are dropped, not written)."""
        with contextlib.suppress(OSError):
            self.handle.close()
        if not self._kept:
            self.path.unlink(missing_ok=True)
