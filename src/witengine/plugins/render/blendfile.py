"""What a .blend says about how big a render of it is, read without Blender: the resolution,
its percentage, the engine and its samples, from the file's own description of its structs (its
SDNA block). Pure: bytes in, facts out; None when the file is compressed with zstd (Blender 3.0
and later, when saved compressed), of a layout this does not know, or not a .blend at all.

The facts size the scheduler's work estimate for a frame, so a wrong or missing one costs only
an estimate: the scheduler corrects its rates from measured results.
"""

from __future__ import annotations

import gzip
import mmap
import struct
from dataclasses import dataclass
from pathlib import Path

Buffer = bytes | mmap.mmap

_IDP_INT, _IDP_GROUP = 1, 6


@dataclass(frozen=True)
class SceneFacts:
    width: int  # pixels at 100 %
    height: int
    percent: int
    engine: str
    samples: int  # 0 when the file does not say (Cycles' default, never changed)


class _Unreadable(ValueError):
    pass


def scene_facts(path: Path) -> SceneFacts | None:
    """The first scene's render size and samples, or None when they cannot be read. The file
    is mapped, not read: only its block headers and the blocks needed are touched."""
    try:
        with path.open("rb") as handle:
            if handle.read(2) == b"\x1f\x8b":  # gzip: Blender before 3.0, saved compressed
                handle.seek(0)
                return blend_facts(gzip.decompress(handle.read()))
            with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
                return blend_facts(mapped)
    except (OSError, EOFError, ValueError):
        return None


def blend_facts(data: Buffer) -> SceneFacts | None:
    """scene_facts() of a .blend's bytes."""
    try:
        return _Blend(data).facts()
    except (_Unreadable, struct.error, KeyError, IndexError, UnicodeDecodeError, StopIteration):
        return None


@dataclass(frozen=True)
class _Field:
    offset: int
    type: str
    size: int


class _Blend:
    def __init__(self, data: Buffer) -> None:
        if data[:7] != b"BLENDER" or len(data) < 12 or data[7:8] not in (b"_", b"-"):
            raise _Unreadable("not an uncompressed .blend of the classic layout")
        self.data = data
        self.pointer = 8 if data[7:8] == b"-" else 4
        self.endian = "<" if data[8:9] == b"v" else ">"
        self.blocks: list[tuple[bytes, int, int, int]] = []  # code, start, length, old address
        position = 12
        head = struct.Struct(self.endian + "4si" + ("Q" if self.pointer == 8 else "I") + "ii")
        while position + head.size <= len(data):
            code, length, address, _, _ = head.unpack_from(data, position)
            start = position + head.size
            self.blocks.append((code, start, length, address))
            if code == b"ENDB":
                break
            position = start + length
        self.by_address = {address: start for _, start, _, address in self.blocks}
        self.structs = self._sdna()

    def _sdna(self) -> dict[str, dict[str, _Field]]:
        dna = next(start for code, start, _, _ in self.blocks if code == b"DNA1")
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
                    raise _Unreadable("a name in the SDNA block does not end")
                found.append(data[position:end].decode("ascii"))
                position = end + 1
            return found

        def align() -> None:
            nonlocal position
            position = (position + 3) & ~3

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
        structs: dict[str, dict[str, _Field]] = {}
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
                members[bare] = _Field(offset, types[field_type], size)
                offset += size
            structs[types[kind]] = members
        return structs

    def _size(self, name: str, type_length: int) -> int:
        size = self.pointer if name.startswith(("*", "(")) else type_length
        for part in name.split("[")[1:]:
            size *= int(part.split("]")[0])
        return size

    def _at(self, struct_name: str, path: str, base: int) -> tuple[int, _Field]:
        """The absolute offset of a dotted field path in a struct at `base`."""
        kind, offset, found = struct_name, base, None
        for name in path.split("."):
            found = self.structs[kind][name]
            offset += found.offset
            kind = found.type
        assert found is not None
        return offset, found

    def _int(self, struct_name: str, path: str, base: int) -> int:
        offset, field = self._at(struct_name, path, base)
        code = {1: "b", 2: "h", 4: "i", 8: "q"}[field.size]
        if field.type in ("char", "uchar") and field.size == 1:
            code = "B"
        return int(struct.unpack_from(self.endian + code, self.data, offset)[0])

    def _pointer(self, struct_name: str, path: str, base: int) -> int:
        offset, _ = self._at(struct_name, path, base)
        code = "Q" if self.pointer == 8 else "I"
        return int(struct.unpack_from(self.endian + code, self.data, offset)[0])

    def _text(self, struct_name: str, path: str, base: int) -> str:
        offset, field = self._at(struct_name, path, base)
        raw = self.data[offset : offset + field.size]
        return raw.split(b"\0")[0].decode("utf-8")

    def facts(self) -> SceneFacts:
        scene = next((start for code, start, _, _ in self.blocks if code == b"SC\0\0"), None)
        if scene is None:
            raise _Unreadable("no scene")
        engine = self._text("Scene", "r.engine", scene)
        samples = 0
        if engine == "CYCLES":
            samples = self._cycles_samples(scene)
        elif engine == "BLENDER_EEVEE":
            samples = self._int("Scene", "eevee.taa_render_samples", scene)
        return SceneFacts(
            width=self._int("Scene", "r.xsch", scene),
            height=self._int("Scene", "r.ysch", scene),
            percent=self._int("Scene", "r.size", scene),
            engine=engine,
            samples=samples,
        )

    def _cycles_samples(self, scene: int) -> int:
        """scene.cycles.samples: an add-on property, kept in the scene's ID properties."""
        properties = self.by_address.get(self._pointer("Scene", "id.properties", scene))
        group = None if properties is None else self._child(properties, "cycles", _IDP_GROUP)
        if group is None:
            return 0
        samples = self._child(group, "samples", _IDP_INT)
        return 0 if samples is None else self._int("IDProperty", "data.val", samples)

    def _child(self, group: int, name: str, kind: int) -> int | None:
        """The start of the child property `name` of the group property that starts at `group`."""
        child = self._pointer("IDProperty", "data.group.first", group)
        seen: set[int] = set()
        while child and child in self.by_address and child not in seen:
            seen.add(child)
            start = self.by_address[child]
            if (
                self._text("IDProperty", "name", start) == name
                and self._int("IDProperty", "type", start) == kind
            ):
                return start
            child = self._pointer("IDProperty", "next", start)
        return None
