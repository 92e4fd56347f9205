"""Which files outside itself a .blend refers to, read without Blender (blendfile.py), and the
rule a scene must pass before it goes anywhere near Blender: a job is sent one file, the scene,
so Blender may read nothing but what the scene carries (packed) and what it writes for itself
in the folder it renders in.

A path a scene writes is judged as written, never looked up on a disk: an absolute path (`/…`,
`C:…`, `\\\\server\\…`) or a relative one that climbs out of the scene's folder (`//../x.png`) is
**outside**, refused on the hub, on the submitting machine and on the node alike, without
saying whether anything is there. A relative path that stays in the folder names a file the
job did not send (**absent**), except a cache folder (point, fluid, ocean caches), which Blender
writes there itself. The hub and a client refuse both; a node refuses what is outside before it
starts Blender (a linked library is read the moment Blender opens the scene), and
blender_setup.py checks again inside Blender, with Blender's own paths, before any frame.

A scene also names where its compositor's File Output nodes write (file_outputs.py): those
paths are judged the same way, as writes, and one outside is refused everywhere, so that a job
writes nothing outside the folder it renders in.

Pure but for reading the scene's bytes; nothing here follows a path the scene names.
"""

from __future__ import annotations

import functools
import re
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from witengine.plugins.render.blendfile import (
    BlendFile,
    Buffer,
    SceneFacts,
    UnreadableBlend,
    blend_bytes,
    blend_facts,
)
from witengine.plugins.render.errors import RenderError, RenderFailure
from witengine.plugins.render.file_outputs import file_outputs

_FILE_SOURCES = {1, 2, 3, 6}  # Image.source: FILE, SEQUENCE, MOVIE, TILED (UDIM)
_PTCACHE_EXTERNAL = 1 << 9  # PointCache.flag: read from `path`, not from //blendcache_NAME/
_EXTERNAL_MODE = 1  # NodeShaderScript.mode and NodeShaderTexIES.mode: a file, not a text
_DRIVE = re.compile(r"^[A-Za-z]:")
LISTED = 20  # references named in one message; the rest are counted


@dataclass(frozen=True)
class Reference:
    """A path a scene writes for a file (or a folder) Blender would read, or would write."""

    kind: str  # image, library, font, sound, volume, movie clip, cache file, point cache, ...
    name: str  # the data-block (or modifier, node, strip) that refers to it
    path: str  # as the scene writes it
    cache: bool = False  # a cache folder Blender writes itself: it may be absent
    writes: bool = False  # where Blender writes files as it renders (a File Output node)
    owner: str = ""  # what holds it, when its name alone is ambiguous: "scene 'Scene'"

    def __str__(self) -> str:
        owner = f" in {self.owner}" if self.owner else ""
        return f"{self.path} ({self.kind} '{self.name}'{owner})"


_Look = Callable[[BlendFile, int], Reference | None]  # a struct's path, from where it starts


def leaves_folder(path: str) -> bool:
    """Whether a path as a scene writes it may lead out of the scene's folder: an absolute
    path (a Windows one too), or a relative one (`//…`, or plain, from the folder Blender runs
    in) that climbs out of it. Decided on the text alone, stricter than any one system."""
    if path.startswith("//"):
        rest = path[2:]
    elif path.startswith(("/", "\\")) or _DRIVE.match(path):
        return True
    else:
        rest = path
    if rest.startswith(("/", "\\")):
        return True
    depth = 0
    for part in re.split(r"[/\\]", rest):
        if ":" in part:  # a drive or a stream name: never a plain name in the folder
            return True
        if part in ("", "."):
            continue
        depth += -1 if part == ".." else 1
        if depth < 0:
            return True
    return False


def writes_outside(path: str) -> bool:
    """Whether a path Blender writes to may lead out of the scene's folder: as leaves_folder,
    and also when it holds a template variable (`{scene}`, Blender 4.5 and later), whose value
    (a name the scene chooses) could climb out."""
    return leaves_folder(path) or "{" in path


def scene_references(data: Buffer) -> list[Reference]:
    """Every path the scene's own data-blocks write for a file Blender would read, packed files
    left out, and every path its File Output nodes write to. UnreadableBlend when the bytes are
    not a .blend this can read."""
    try:
        blend = BlendFile(data)
        return [*_Lister(blend).references(), *_written(blend)]
    except (struct.error, KeyError, IndexError, StopIteration) as error:
        raise UnreadableBlend(f"it is damaged ({type(error).__name__})") from None


@dataclass(frozen=True)
class Reading:
    """What one read of a scene's file found: its references, or why it cannot be read, and
    its render size (None when that cannot be read)."""

    references: tuple[Reference, ...]
    unreadable: str | None
    facts: SceneFacts | None


def read_scene(path: Path) -> Reading:
    """The scene's references and facts, from one read of its file (a compressed one is
    unpacked once); kept for the last few files read, by their path, size and change time, so
    that a hub reading a job's parameters twice (to check them, then to run it) reads once."""
    stat = path.stat()
    return _read(str(path.resolve()), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=64)
def _read(path: str, _size: int, _changed: int) -> Reading:
    try:
        with blend_bytes(Path(path)) as data:
            return Reading(tuple(scene_references(data)), None, blend_facts(data))
    except UnreadableBlend as error:
        return Reading((), str(error), None)


def check_scene(path: Path, name: str, *, absent: bool) -> Reading:
    """The scene at `path` (called `name` in messages) read, or RenderError unless it may
    render with nothing else to read: no reference outside its folder and, with `absent`, none
    to a file that is not sent with it (the hub's and a client's check; a node checks the
    files in its own folder with Blender)."""
    reading = read_scene(path)
    if reading.unreadable is not None:
        raise RenderError(
            RenderFailure.BAD_SCENE, f"the scene {name} cannot be read: {reading.unreadable}"
        )
    refused = refusal(name, list(reading.references), absent=absent)
    if refused is not None:
        raise refused
    return reading


PACK_ADVICE = (
    "pack them into the .blend in Blender (File > External Data > Pack Resources; bake caches "
    "into it) or submit it with wit run, which packs what it can"
)
WRITE_ADVICE = (
    "give each File Output node a relative path inside the scene's folder (such as //passes/, "
    "without template variables) or remove it: a node sends back only the rendered frames"
)


def refusal(name: str, found: list[Reference], *, absent: bool) -> RenderError | None:
    """Why a scene with these references may not render, or None when it may."""
    read = [r for r in found if not r.writes]
    outside = [r for r in read if leaves_folder(r.path)]
    missing = [r for r in read if absent and not r.cache and not leaves_folder(r.path)]
    written = [r for r in found if r.writes and writes_outside(r.path)]
    if not outside and not missing and not written:
        return None
    parts, advice = [], []
    if missing:
        parts.append(f"uses files it does not carry: {_listed(missing)}")
    if outside:
        parts.append(
            f"refers to files outside itself, which a node never reads: {_listed(outside)}"
        )
    if missing or outside:
        advice.append(PACK_ADVICE)
    if written:
        parts.append(f"writes files outside itself, which a node never allows: {_listed(written)}")
        advice.append(WRITE_ADVICE)
    return RenderError(
        RenderFailure.OUTSIDE_FILES if outside or written else RenderFailure.MISSING_FILES,
        f"the scene {name} {'; and '.join(parts)}; {'; and '.join(advice)}",
    )


def _written(blend: BlendFile) -> Iterator[Reference]:
    for output in file_outputs(blend):
        for path in output.paths:
            yield Reference("file output", output.node, path, writes=True, owner=output.owner)


def _listed(found: list[Reference]) -> str:
    named = ", ".join(str(reference) for reference in found[:LISTED])
    more = len(found) - LISTED
    return named if more <= 0 else f"{named} and {more} more"


class _Lister:
    """The references of one parsed .blend, by the structs that hold paths."""

    def __init__(self, blend: BlendFile) -> None:
        self.blend = blend

    def references(self) -> Iterator[Reference]:
        yield from self._ids()
        yield from self._data()

    def _ids(self) -> Iterator[Reference]:
        """Data-blocks that are files: images, libraries, fonts, sounds, volumes, clips and
        cache files (the kinds blender_pack.py lists, by the block codes Blender saves them
        under). Each one the file holds counts, used or not: Blender does not save its count
        of users, and a data-block Blender would not render is as easily packed or removed."""
        kinds = {
            b"IM\0\0": ("image", "Image"),
            b"LI\0\0": ("library", "Library"),
            b"VF\0\0": ("font", "VFont"),
            b"SO\0\0": ("sound", "bSound"),
            b"VO\0\0": ("volume", "Volume"),
            b"MC\0\0": ("movie clip", "MovieClip"),
            b"CF\0\0": ("cache file", "CacheFile"),
        }
        blend = self.blend
        for block in blend.blocks:
            if block.code not in kinds:
                continue
            kind, struct_name = kinds[block.code]
            start = block.start
            if kind == "image" and blend.integer("Image", "source", start) not in _FILE_SOURCES:
                continue
            if self._packed(struct_name, start):
                continue
            name = blend.text(struct_name, "id.name", start, "replace")[2:]
            path = self._path(struct_name, start)
            if path and not (kind == "font" and path == "<builtin>"):
                yield Reference(kind, name, path)
            if kind == "movie clip" and blend.has("MovieClip", "proxy.dir"):
                proxies = blend.text("MovieClip", "proxy.dir", start, "replace")
                if proxies:
                    yield Reference("movie clip proxy", name, proxies, cache=True)

    def _packed(self, struct_name: str, start: int) -> bool:
        blend = self.blend
        if blend.has(struct_name, "packedfile") and blend.pointer_at(
            struct_name, "packedfile", start
        ):
            return True
        return blend.has(struct_name, "packedfiles.first") and bool(
            blend.pointer_at(struct_name, "packedfiles.first", start)
        )

    def _path(self, struct_name: str, start: int) -> str:
        """The path field: `filepath` in newer layouts, `name` (1 KiB of it) in older ones."""
        field = "filepath" if self.blend.has(struct_name, "filepath") else "name"
        return self.blend.text(struct_name, field, start, "replace")

    def _data(self) -> Iterator[Reference]:
        """Paths kept in data blocks: caches, modifiers' files, shader nodes' files, and the
        sequencer's strips."""
        blend = self.blend
        strips = self._strip_owners()
        for block in blend.blocks:
            if block.code != b"DATA" or not 0 <= block.sdna < len(blend.struct_names):
                continue
            struct_name = blend.struct_names[block.sdna]
            looks = _DATA_PATHS.get(struct_name)
            if looks is None and struct_name != "Strip":
                continue
            size = blend.struct_sizes[struct_name]
            for index in range(max(block.items, 0)):
                start = block.start + index * size
                if start + size > block.start + block.length:
                    break
                if struct_name == "Strip":
                    yield from self._strip(start, strips.get(block.address, "strip"))
                elif looks is not None:
                    found = looks(blend, start)
                    if found is not None and found.path:
                        yield found

    def _strip_owners(self) -> dict[int, str]:
        """The name of the sequencer strip that owns each Strip, by its address."""
        blend = self.blend
        owners: dict[int, str] = {}
        if "Sequence" not in blend.structs:
            return owners
        for block in blend.blocks:
            if block.code == b"DATA" and blend.struct_names[block.sdna] == "Sequence":
                strip = blend.pointer_at("Sequence", "strip", block.start)
                owners[strip] = blend.text("Sequence", "name", block.start, "replace")[2:]
        return owners

    def _strip(self, start: int, owner: str) -> Iterator[Reference]:
        """A strip's files: its folder joined with each of its elements' names (images of a
        sequence, a movie's file), and its proxies' folder."""
        blend = self.blend
        folder = blend.text("Strip", "dir", start, "replace")
        elements = blend.block_at.get(blend.pointer_at("Strip", "stripdata", start))
        if folder:
            names = []
            if elements is not None and "StripElem" in blend.structs:
                size = blend.struct_sizes["StripElem"]
                for index in range(max(elements.items, 0)):
                    at = elements.start + index * size
                    if at + size <= elements.start + elements.length:
                        names.append(blend.text("StripElem", "name", at, "replace"))
            separator = "" if folder.endswith(("/", "\\")) else "/"
            for file in names or [""]:
                yield Reference("sequencer strip", owner, f"{folder}{separator}{file}")
        proxy = blend.block_at.get(blend.pointer_at("Strip", "proxy", start))
        if proxy is not None and "StripProxy" in blend.structs:
            proxies = blend.text("StripProxy", "dir", proxy.start, "replace")
            if proxies:
                yield Reference("strip proxy", owner, proxies, cache=True)


def _point_cache(blend: BlendFile, start: int) -> Reference | None:
    if not blend.integer("PointCache", "flag", start) & _PTCACHE_EXTERNAL:
        return None  # //blendcache_NAME/, beside the scene
    name = blend.text("PointCache", "name", start, "replace") or "point cache"
    return Reference("point cache", name, blend.text("PointCache", "path", start, "replace"), True)


def _fluid_cache(blend: BlendFile, start: int) -> Reference:
    path = blend.text("FluidDomainSettings", "cache_directory", start, "replace")
    return Reference("fluid cache", "fluid domain", path, cache=True)


def _ocean_cache(blend: BlendFile, start: int) -> Reference:
    name = blend.text("OceanModifierData", "modifier.name", start, "replace")
    path = blend.text("OceanModifierData", "cachepath", start, "replace")
    return Reference("ocean cache", name, path, cache=True)


def _mesh_cache(blend: BlendFile, start: int) -> Reference:
    name = blend.text("MeshCacheModifierData", "modifier.name", start, "replace")
    path = blend.text("MeshCacheModifierData", "filepath", start, "replace")
    return Reference("mesh cache", name, path)


def _node_file(struct_name: str, kind: str) -> _Look:
    def look(blend: BlendFile, start: int) -> Reference | None:
        if blend.integer(struct_name, "mode", start) != _EXTERNAL_MODE:
            return None  # kept in the scene (an internal text or IES data)
        return Reference(kind, kind, blend.text(struct_name, "filepath", start, "replace"))

    return look


_DATA_PATHS = {
    "PointCache": _point_cache,
    "FluidDomainSettings": _fluid_cache,
    "OceanModifierData": _ocean_cache,
    "MeshCacheModifierData": _mesh_cache,
    "NodeShaderScript": _node_file("NodeShaderScript", "OSL script"),
    "NodeShaderTexIES": _node_file("NodeShaderTexIES", "IES texture"),
}
