"""Reading a .blend without Blender: its blocks and the file's own description of its structs
(its SDNA block), uncompressed or compressed (gzip before Blender 3.0, zstd since), in both
block-header layouts (before Blender 5.0 and since). Pure but for opening the file: nothing here
runs Blender or follows a path the file names.

What a scene says about how big a render of it is (the resolution, its percentage, the engine
and its samples) sizes the scheduler's work estimate for a frame, so a wrong or missing fact
costs only an estimate: the scheduler corrects its rates from measured results; None when the
file cannot be read. Which files a scene refers to is references.py's, on the same reader.
"""

from __future__ import annotations

import contextlib
import gzip
import mmap
import struct
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, NamedTuple, Protocol

Buffer = bytes | mmap.mmap

_IDP_INT, _IDP_GROUP = 1, 6
_GZIP, _ZSTD = b"\x1f\x8b", b"\x28\xb5\x2f\xfd"
# A compressed scene is unpacked to a temporary file before it is read: at most this much, so
# that a small file that unpacks to terabytes costs nothing.
MAX_UNPACKED_BYTES = 64 << 30
_CHUNK = 1 << 20


@dataclass(frozen=True)
class SceneFacts:
    width: int  # pixels at 100 %
    height: int
    percent: int
    engine: str
    samples: int  # 0 when the file does not say (Cycles' default, never changed)
    frame_start: int = 1  # the scene's frame range, as its Output properties say
    frame_end: int = 250
    frame_step: int = 1


class UnreadableBlend(ValueError):
    """The file is not a .blend this reader knows (the message says why)."""


class Block(NamedTuple):
    """One block of a .blend: its code, where its bytes are, the address it had in memory when
    saved (pointers name it), and its bytes' struct (an index into the SDNA) and how many."""

    code: bytes
    start: int
    length: int
    address: int
    sdna: int
    items: int


def scene_facts(path: Path) -> SceneFacts | None:
    """The first scene's render size and samples, or None when they cannot be read. An
    uncompressed file is mapped, not read: only its block headers and the blocks needed are
    touched."""
    try:
        with blend_bytes(path) as data:
            return blend_facts(data)
    except (OSError, EOFError, ValueError):
        return None


@contextlib.contextmanager
def blend_bytes(path: Path) -> Iterator[Buffer]:
    """The bytes of a .blend, uncompressed: the file itself mapped, or a gzip or zstd file
    unpacked into a temporary file, mapped. UnreadableBlend when it unpacks to more than
    MAX_UNPACKED_BYTES or is zstd and the zstandard module is missing; OSError as reading
    does."""
    with path.open("rb") as handle:
        magic = handle.read(4)
        handle.seek(0)
        if magic[:2] == _GZIP or magic == _ZSTD:
            with tempfile.TemporaryFile(prefix="wit-blend-") as unpacked:
                _unpack(handle, unpacked, zstd=magic == _ZSTD)
                with _mapped(unpacked) as data:
                    yield data
        else:
            with _mapped(handle) as data:
                yield data


@contextlib.contextmanager
def _mapped(handle: IO[bytes]) -> Iterator[Buffer]:
    handle.seek(0, 2)
    if handle.tell() == 0:
        yield b""  # mmap cannot map an empty file
        return
    with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
        yield data


class _Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


def _unpack(source: IO[bytes], target: IO[bytes], *, zstd: bool) -> None:
    if zstd:
        try:
            import zstandard  # a dependency; imported here, where a compressed scene needs it
        except ImportError:  # an install that predates it
            raise UnreadableBlend(
                "it is compressed with zstd, and zstandard is not installed here"
            ) from None
        # Blender writes several frames and a seek table (a frame zstd skips): read them all.
        reader: _Readable = zstandard.ZstdDecompressor().stream_reader(
            source, read_across_frames=True
        )
    else:
        reader = gzip.GzipFile(fileobj=source)
    total = 0
    try:
        while chunk := reader.read(_CHUNK):
            total += len(chunk)
            if total > MAX_UNPACKED_BYTES:
                raise UnreadableBlend(
                    f"it unpacks to more than {MAX_UNPACKED_BYTES >> 30} GiB, which is not read"
                )
            target.write(chunk)
    except (OSError, EOFError, ValueError) as error:
        if isinstance(error, UnreadableBlend):
            raise
        raise UnreadableBlend(f"its compressed data is damaged ({error})") from None
    target.flush()


def blend_facts(data: Buffer) -> SceneFacts | None:
    """scene_facts() of a .blend's bytes."""
    try:
        return BlendFile(data).facts()
    except (UnreadableBlend, struct.error, KeyError, IndexError, UnicodeDecodeError, StopIteration):
        return None


@dataclass(frozen=True)
class Field:
    offset: int
    type: str
    size: int


class BlendFile:
    """A .blend's blocks and structs, read from its uncompressed bytes; UnreadableBlend when
    they are not a .blend of a layout this knows."""

    def __init__(self, data: Buffer) -> None:
        self.data = data
        if data[:7] != b"BLENDER" or len(data) < 12:
            raise UnreadableBlend("it is not a .blend file (nor a compressed one)")
        if data[7:8] in (b"_", b"-"):  # before Blender 5.0: BLENDER-v304, BHead4 or BHead8
            self.pointer_size = 8 if data[7:8] == b"-" else 4
            self.endian = "<" if data[8:9] == b"v" else ">"
            size = "Q" if self.pointer_size == 8 else "I"
            head = struct.Struct(self.endian + "4si" + size + "ii")  # code len old sdna nr
            order, position = (0, 1, 2, 3, 4), 12
        elif data[7:12] == b"17-01" and data[12:13] == b"v":  # BLENDER17-01v0500: large heads
            self.pointer_size, self.endian = 8, "<"
            head = struct.Struct("<4siQqq")  # code sdna old len nr
            order, position = (0, 3, 2, 1, 4), 17
        else:
            raise UnreadableBlend("it is a .blend of a layout this version does not know")
        self.blocks: list[Block] = []
        while position + head.size <= len(data):
            fields = head.unpack_from(data, position)
            code, length, address, sdna, count = (fields[i] for i in order)
            start = position + head.size
            if length < 0 or start + length > len(data):
                raise UnreadableBlend("it is cut short, or damaged")
            self.blocks.append(Block(code, start, length, address, sdna, count))
            if code == b"ENDB":
                break
            position = start + length
        self.by_address = {block.address: block.start for block in self.blocks}
        self.block_at = {block.address: block for block in self.blocks}
        self.struct_names: list[str] = []
        self.struct_sizes: dict[str, int] = {}
        self.structs = self._sdna()

    def _sdna(self) -> dict[str, dict[str, Field]]:
        dna = next((b.start for b in self.blocks if b.code == b"DNA1"), None)
        if dna is None:
            raise UnreadableBlend("it has no description of its structs (no DNA1 block)")
        data, position = self.data, dna + 8  # past "SDNA" "NAME"

        def count() -> int:
            nonlocal position
            (value,) = struct.unpack_from(self.endian + "i", data, position)
            position += 4
            return int(value)

        def strings(total: int) -> list[str]:
            nonlocal position
            found = []
            for _ in range(total):
                end = data.find(b"\0", position)
                if end < 0:
                    raise UnreadableBlend("a name in its SDNA block does not end")
                found.append(data[position:end].decode("ascii"))
                position = end + 1
            return found

        def align() -> None:  # to 4 bytes from the block's start, which 4.5 need not align
            nonlocal position
            position = dna + ((position - dna + 3) & ~3)

        names = strings(count())
        align()
        position += 4  # "TYPE"
        types = strings(count())
        align()
        position += 4  # "TLEN"
        lengths = struct.unpack_from(self.endian + f"{len(types)}h", data, position)
        position += 2 * len(types)
        align()
        position += 4  # "STRC"
        structs: dict[str, dict[str, Field]] = {}
        for _ in range(count()):
            kind, fields = struct.unpack_from(self.endian + "hh", data, position)
            position += 4
            offset, members = 0, {}
            for _ in range(fields):
                field_type, field_name = struct.unpack_from(self.endian + "hh", data, position)
                position += 4
                name = names[field_name]
                size = self._size(name, lengths[field_type])
                bare = name.lstrip("*(").split("[")[0].split(")")[0]
                members[bare] = Field(offset, types[field_type], size)
                offset += size
            structs[types[kind]] = members
            self.struct_names.append(types[kind])
            self.struct_sizes[types[kind]] = lengths[kind]
        return structs

    def _size(self, name: str, type_length: int) -> int:
        size = self.pointer_size if name.startswith(("*", "(")) else type_length
        for part in name.split("[")[1:]:
            size *= int(part.split("]")[0])
        return size

    def _at(self, struct_name: str, path: str, base: int) -> tuple[int, Field]:
        """The absolute offset of a dotted field path in a struct at `base`."""
        kind, offset, found = struct_name, base, None
        for name in path.split("."):
            found = self.structs[kind][name]
            offset += found.offset
            kind = found.type
        assert found is not None
        return offset, found

    def has(self, struct_name: str, path: str) -> bool:
        """Whether the struct has that (dotted) field in this file's layout."""
        kind: str | None = struct_name
        for name in path.split("."):
            found = self.structs.get(kind or "", {}).get(name)
            if found is None:
                return False
            kind = found.type
        return True

    def integer(self, struct_name: str, path: str, base: int) -> int:
        """The integer field at a dotted path of the struct that starts at `base`."""
        offset, field = self._at(struct_name, path, base)
        code = {1: "b", 2: "h", 4: "i", 8: "q"}[field.size]
        if field.type in ("char", "uchar") and field.size == 1:
            code = "B"
        return int(struct.unpack_from(self.endian + code, self.data, offset)[0])

    def pointer_at(self, struct_name: str, path: str, base: int) -> int:
        """The address a pointer field holds (0 for none)."""
        offset, _ = self._at(struct_name, path, base)
        code = "Q" if self.pointer_size == 8 else "I"
        return int(struct.unpack_from(self.endian + code, self.data, offset)[0])

    def text(self, struct_name: str, path: str, base: int, errors: str = "strict") -> str:
        """A char array field's text, up to its first NUL."""
        offset, field = self._at(struct_name, path, base)
        raw = self.data[offset : offset + field.size]
        return raw.split(b"\0")[0].decode("utf-8", errors)

    def facts(self) -> SceneFacts:
        scene = next((b.start for b in self.blocks if b.code == b"SC\0\0"), None)
        if scene is None:
            raise UnreadableBlend("it has no scene")
        engine = self.text("Scene", "r.engine", scene)
        samples = 0
        if engine == "CYCLES":
            samples = self._cycles_samples(scene)
        elif engine == "BLENDER_EEVEE":
            samples = self.integer("Scene", "eevee.taa_render_samples", scene)
        return SceneFacts(
            width=self.integer("Scene", "r.xsch", scene),
            height=self.integer("Scene", "r.ysch", scene),
            percent=self.integer("Scene", "r.size", scene),
            engine=engine,
            samples=samples,
            frame_start=self.integer("Scene", "r.sfra", scene),
            frame_end=self.integer("Scene", "r.efra", scene),
            frame_step=max(1, self.integer("Scene", "r.frame_step", scene)),
        )

    def _cycles_samples(self, scene: int) -> int:
        """scene.cycles.samples: an add-on property, kept in the scene's ID properties."""
        properties = self.by_address.get(self.pointer_at("Scene", "id.properties", scene))
        group = None if properties is None else self._child(properties, "cycles", _IDP_GROUP)
        if group is None:
            return 0
        samples = self._child(group, "samples", _IDP_INT)
        return 0 if samples is None else self.integer("IDProperty", "data.val", samples)

    def _child(self, group: int, name: str, kind: int) -> int | None:
        """The start of the child property `name` of the group property that starts at `group`."""
        child = self.pointer_at("IDProperty", "data.group.first", group)
        seen: set[int] = set()
        while child and child in self.by_address and child not in seen:
            seen.add(child)
            start = self.by_address[child]
            if (
                self.text("IDProperty", "name", start) == name
                and self.integer("IDProperty", "type", start) == kind
            ):
                return start
            child = self.pointer_at("IDProperty", "next", start)
        return None
