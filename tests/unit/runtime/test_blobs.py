"""Blobs: files as values named by their sha256, stored once, checked on the way in, and never
reachable by a path that a name or a digest could steer."""

from __future__ import annotations

import errno
import hashlib
import io
import os
from pathlib import Path

import pytest

from witengine.filenames import safe_name
from witengine.runtime.blobs import Blob, BlobError, BlobStoreFull, LocalBlobStore, blobs_in


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def stored_files(store: LocalBlobStore) -> list[Path]:
    """Every file in the store's directory, temporary ones included."""
    return sorted(p for p in store.root.rglob("*") if p.is_file())


@pytest.fixture
def store(tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "blobs")


# -------------------------------------------------------------- content addressed


def test_a_blob_is_named_by_the_sha256_of_its_bytes(store: LocalBlobStore) -> None:
    data = b"frame 0001\n"
    blob = store.put_bytes(data, "frame.txt")
    assert blob == Blob(sha(data), len(data), "frame.txt")
    assert store.has(sha(data))
    assert store.path(blob).read_bytes() == data


def test_the_stored_file_is_named_by_its_digest_not_by_the_blob_s_name(
    store: LocalBlobStore,
) -> None:
    blob = store.put_bytes(b"pixels", "render.png")
    assert store.path(blob) == store.root / blob.sha256[:2] / blob.sha256
    assert [p.name for p in stored_files(store)] == [blob.sha256]


def test_the_same_content_is_stored_once_whatever_its_name_or_source(
    store: LocalBlobStore, tmp_path: Path
) -> None:
    data = b"same bytes" * 1000
    source = tmp_path / "copy.bin"
    source.write_bytes(data)
    blobs = [
        store.put_bytes(data, "a.bin"),
        store.put_bytes(data, "b.bin"),
        store.put_file(source),
        store.put_stream(io.BytesIO(data), "c.bin", expected=sha(data)),
    ]
    assert {b.sha256 for b in blobs} == {sha(data)}
    assert [b.name for b in blobs] == ["a.bin", "b.bin", "copy.bin", "c.bin"]
    assert stored_files(store) == [store.path(blobs[0])]


def test_different_content_makes_different_blobs(store: LocalBlobStore) -> None:
    first, second = store.put_bytes(b"one"), store.put_bytes(b"two")
    assert first.sha256 != second.sha256
    assert len(stored_files(store)) == 2


def test_the_empty_file_is_a_blob_too(store: LocalBlobStore) -> None:
    blob = store.put_bytes(b"")
    assert blob.sha256 == sha(b"")
    assert blob.size == 0
    assert store.path(blob).read_bytes() == b""


def test_content_larger_than_one_read_is_hashed_whole(
    store: LocalBlobStore, tmp_path: Path
) -> None:
    data = os.urandom(3 * (1 << 20) + 17)
    source = tmp_path / "big.bin"
    source.write_bytes(data)
    blob = store.put_file(source)
    assert blob.sha256 == sha(data)
    assert blob.size == len(data)
    assert store.path(blob).read_bytes() == data


def test_equal_blobs_are_equal_values_and_hash_alike() -> None:
    digest = sha(b"x")
    assert Blob(digest, 1, "a") == Blob(digest, 1, "a")
    assert len({Blob(digest, 1, "a"), Blob(digest, 1, "a")}) == 1


# ------------------------------------------------------------------- corruption


def test_bytes_that_do_not_hash_to_the_expected_digest_are_refused(
    store: LocalBlobStore,
) -> None:
    claimed = sha(b"the real frame")
    with pytest.raises(BlobError) as caught:
        store.put_stream(io.BytesIO(b"the real frame, corrupted"), "frame", expected=claimed)
    assert str(caught.value) == (
        f"blob content hashes to {sha(b'the real frame, corrupted')}, not {claimed}"
    )
    assert not store.has(claimed)
    assert not store.has(sha(b"the real frame, corrupted"))
    assert stored_files(store) == [], "no partial or temporary file is left behind"


def test_a_truncated_transfer_is_refused(store: LocalBlobStore) -> None:
    data = os.urandom(100_000)
    with pytest.raises(BlobError, match="hashes to"):
        store.put_stream(io.BytesIO(data[:-1]), expected=sha(data))
    assert stored_files(store) == []


def test_a_corrupt_upload_does_not_replace_a_good_copy(store: LocalBlobStore) -> None:
    data = b"good copy"
    blob = store.put_bytes(data)
    with pytest.raises(BlobError):
        store.put_stream(io.BytesIO(b"evil copy"), expected=blob.sha256)
    assert store.path(blob).read_bytes() == data
    assert stored_files(store) == [store.path(blob)]


def test_a_stream_that_fails_midway_leaves_nothing_behind(store: LocalBlobStore) -> None:
    class Failing(io.RawIOBase):
        def __init__(self) -> None:
            self.reads = 0

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
            self.reads += 1
            if self.reads > 1:
                raise OSError("connection reset")
            buffer[:4] = b"part"
            return 4

    with pytest.raises(OSError, match="connection reset"):
        store.put_stream(io.BufferedReader(Failing()))
    assert stored_files(store) == []


class FullDisk(io.RawIOBase):
    """A file on a disk with `room` bytes left: writes past it fail with ENOSPC, as a full
    filesystem's do (a buffered writer may only see it when it flushes, at close)."""

    def __init__(self, descriptor: int, room: int) -> None:
        self.descriptor = descriptor
        self.room = room

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        if len(data) > self.room:
            raise OSError(errno.ENOSPC, "No space left on device")
        self.room -= len(data)
        return os.write(self.descriptor, data)

    def close(self) -> None:
        if not self.closed:
            os.close(self.descriptor)
        super().close()


@pytest.mark.parametrize("room", [0, 100_000, 3_000_000])
def test_a_full_disk_keeps_no_partial_file_and_says_the_store_is_full(
    store: LocalBlobStore, monkeypatch: pytest.MonkeyPatch, room: int
) -> None:
    monkeypatch.setattr(
        os, "fdopen", lambda descriptor, mode: io.BufferedWriter(FullDisk(descriptor, room))
    )
    with pytest.raises(BlobStoreFull, match=r"the blob store in .* is full \(No space left"):
        store.put_bytes(os.urandom(4_000_000), "big.bin")
    assert stored_files(store) == []


def test_a_file_that_fits_is_stored_when_the_disk_is_nearly_full(
    store: LocalBlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        os, "fdopen", lambda descriptor, mode: io.BufferedWriter(FullDisk(descriptor, 10_000))
    )
    blob = store.put_bytes(b"small", "small.txt")
    assert store.path(blob).read_bytes() == b"small"
    assert stored_files(store) == [store.path(blob)]


# ------------------------------------------------------------------ never a path


@pytest.mark.parametrize(
    "digest",
    [
        "../../etc/passwd",
        "/etc/passwd",
        "0" * 63,
        "0" * 65,
        "A" * 64,  # upper case: one spelling per digest
        "g" * 64,
        "",
    ],
)
def test_a_blob_value_holds_a_sha256_digest_and_nothing_else(digest: str) -> None:
    with pytest.raises(BlobError, match="is not a sha256 digest"):
        Blob(digest, 1)


@pytest.mark.parametrize("digest", ["../" + "0" * 61, "..", "0" * 62 + "/."])
def test_the_store_refuses_to_look_up_anything_but_a_digest(
    store: LocalBlobStore, digest: str
) -> None:
    with pytest.raises(BlobError, match="is not a sha256 digest"):
        store.has(digest)


@pytest.mark.parametrize(
    ("name", "safe"),
    [
        ("frame.png", "frame.png"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\me\\scene.blend", "scene.blend"),
        ("/abs/path/out.mp4", "out.mp4"),
        ("weird:name?.txt", "weird_name_.txt"),
        ("..", "blob"),
        ("", "blob"),
        ("x" * 300, "x" * 200),
    ],
)
def test_names_are_reduced_to_a_safe_file_name(name: str, safe: str) -> None:
    assert safe_name(name) == safe


def test_a_name_given_with_directories_keeps_only_its_file_name(store: LocalBlobStore) -> None:
    blob = store.put_bytes(b"secret", "../../outside/escape.txt")
    assert blob.name == "escape.txt"
    assert store.path(blob).is_relative_to(store.root)


def test_a_file_keeps_its_own_name_not_its_directory(store: LocalBlobStore, tmp_path: Path) -> None:
    source = tmp_path / "project" / "renders" / "frame-0001.png"
    source.parent.mkdir(parents=True)
    source.write_bytes(b"png")
    blob = store.put_file(source)
    assert blob.name == "frame-0001.png"
    assert str(tmp_path) not in repr(blob)


def test_a_missing_blob_is_an_error_naming_its_digest(store: LocalBlobStore) -> None:
    missing = Blob(sha(b"never stored"), 12)
    with pytest.raises(BlobError, match=rf"blob \(sha256:{missing.sha256}\) is missing"):
        store.path(missing)


def test_a_file_that_cannot_be_read_is_a_blob_error_naming_it(
    store: LocalBlobStore, tmp_path: Path
) -> None:
    with pytest.raises(BlobError, match=r"cannot read '.*nowhere\.bin'"):
        store.put_file(tmp_path / "nowhere.bin")


def test_blobs_in_finds_every_blob_inside_collections_and_tuples() -> None:
    a, b, c = (Blob(sha(x), 1) for x in (b"a", b"b", b"c"))
    value = [a, (1, b), [[c, "text"], None], 42]
    assert list(blobs_in(value)) == [a, b, c]
    assert list(blobs_in("not a blob")) == []


def test_a_blob_reads_as_its_name_and_short_digest() -> None:
    blob = Blob(sha(b"x"), 1, "x.txt")
    assert str(blob) == f"x.txt (sha256:{sha(b'x')[:12]}…, 1 bytes)"
