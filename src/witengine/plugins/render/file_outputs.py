"""Where a scene's compositor File Output nodes write, read without Blender from a parsed .blend
(blendfile.py): every such node the file holds, in a scene's compositing tree or in a node
group, used or not, with the paths it writes to as the scene writes them. Pure but for the
bytes given; nothing here follows a path, and whether a path is allowed is references.py's.

Two layouts. Before Blender 5.0 a node has a base path and a slot per input: a slot's path is
joined to the base path (one image file per slot), or, for a multilayer EXR, names a layer of
the one file at the base path. Since 5.0 a node has a directory, a file name and items whose
names end the files' names (or name the layers). A node's base path (or directory) is listed
alone only when no slot or item adds to it: it begins every path listed, and whether a path
leads out is judged on every step of it, so a base path that climbs out is seen in each.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from witengine.plugins.render.blendfile import BlendFile, Block

FILE_OUTPUT = "CompositorNodeOutputFile"  # the node's idname
_CMP_NODE_OUTPUT_FILE = 253  # its type number, for files older than node idnames


@dataclass(frozen=True)
class FileOutput:
    """One File Output node: its name, what holds it, and every path it may write to."""

    node: str
    owner: str  # "scene 'Scene'" or "node group 'passes'"; "" when no tree lists it
    paths: tuple[str, ...]


def file_outputs(blend: BlendFile) -> list[FileOutput]:
    """Every File Output node of the file, in the order the file keeps them."""
    if "bNode" not in blend.structs:
        return []
    owners = _owners(blend)
    size = blend.struct_sizes["bNode"]
    found = []
    for block in blend.blocks:
        if block.code != b"DATA" or not _holds(blend, block.sdna, "bNode"):
            continue
        for index in range(max(block.items, 0)):
            start = block.start + index * size
            if start + size > block.start + block.length:
                break
            if _is_file_output(blend, start):
                found.append(
                    FileOutput(
                        blend.text("bNode", "name", start, "replace"),
                        owners.get(block.address + index * size, ""),
                        tuple(dict.fromkeys(_paths(blend, start))),
                    )
                )
    return found


def _holds(blend: BlendFile, sdna: int, struct_name: str) -> bool:
    return 0 <= sdna < len(blend.struct_names) and blend.struct_names[sdna] == struct_name


def _block(blend: BlendFile, address: int, struct_name: str) -> Block | None:
    """The block at an address a pointer holds, if it holds the struct expected: a pointer
    Blender saved without its block may name another block's address."""
    block = blend.block_at.get(address) if address else None
    if block is None or not _holds(blend, block.sdna, struct_name):
        return None
    return block if block.length >= blend.struct_sizes[struct_name] else None


def _is_file_output(blend: BlendFile, start: int) -> bool:
    if blend.has("bNode", "idname"):
        return blend.text("bNode", "idname", start, "replace") == FILE_OUTPUT
    return blend.integer("bNode", "type", start) == _CMP_NODE_OUTPUT_FILE


def _owners(blend: BlendFile) -> dict[int, str]:
    """What holds each node, by the node's address: a scene's compositing tree (kept inside the
    scene) or a node group (a data-block of its own)."""
    trees: list[tuple[int, str]] = []  # where a tree starts, and what holds it
    for block in blend.blocks:
        if block.code == b"SC\0\0" and blend.has("Scene", "nodetree"):
            tree = _block(blend, blend.pointer_at("Scene", "nodetree", block.start), "bNodeTree")
            if tree is not None:
                name = blend.text("Scene", "id.name", block.start, "replace")[2:]
                trees.append((tree.start, f"scene '{name}'"))
        elif block.code == b"NT\0\0":
            name = blend.text("bNodeTree", "id.name", block.start, "replace")[2:]
            trees.append((block.start, f"node group '{name}'"))
    owners: dict[int, str] = {}
    for start, owner in trees:
        address = blend.pointer_at("bNodeTree", "nodes.first", start)
        node = _block(blend, address, "bNode")
        while node is not None and address not in owners:
            owners[address] = owner
            address = blend.pointer_at("bNode", "next", node.start)
            node = _block(blend, address, "bNode")
    return owners


def _paths(blend: BlendFile, node: int) -> Iterator[str]:
    address = blend.pointer_at("bNode", "storage", node)
    if (storage := _block(blend, address, "NodeImageMultiFile")) is not None:
        base = blend.text("NodeImageMultiFile", "base_path", storage.start, "replace")
        slots = [
            blend.text("NodeImageMultiFileSocket", "path", slot.start, "replace")
            for slot in _slots(blend, node)
        ]
        yield from (_join(base, path) for path in slots) if slots else (base,)
    elif (storage := _block(blend, address, "NodeCompositorFileOutput")) is not None:
        yield from _items_paths(blend, storage.start)


def _items_paths(blend: BlendFile, start: int) -> Iterator[str]:
    """Blender 5.0's layout: a directory, a file name, and items."""
    directory = blend.text("NodeCompositorFileOutput", "directory", start, "replace")
    base = _join(directory, _string(blend, "NodeCompositorFileOutput", "file_name", start))
    address = blend.pointer_at("NodeCompositorFileOutput", "items", start)
    items = _block(blend, address, "NodeCompositorFileOutputItem")
    size = blend.struct_sizes.get("NodeCompositorFileOutputItem", 0)
    count = blend.integer("NodeCompositorFileOutput", "items_count", start)
    if items is None or size <= 0 or count <= 0:
        yield base
        return
    for index in range(min(count, items.length // size)):
        name = _string(blend, "NodeCompositorFileOutputItem", "name", items.start + index * size)
        # The file name and an item's name make one name, or two steps: judged both ways.
        yield base + name
        yield _join(base, name)


def _slots(blend: BlendFile, node: int) -> Iterator[Block]:
    """The storage of each of the node's inputs (its slot: a path, or a layer's name)."""
    address, seen = blend.pointer_at("bNode", "inputs.first", node), set()
    while (socket := _block(blend, address, "bNodeSocket")) is not None and address not in seen:
        seen.add(address)
        storage = blend.pointer_at("bNodeSocket", "storage", socket.start)
        slot = _block(blend, storage, "NodeImageMultiFileSocket")
        if slot is not None:
            yield slot
        address = blend.pointer_at("bNodeSocket", "next", socket.start)


def _string(blend: BlendFile, struct_name: str, field: str, start: int) -> str:
    """The text a `char *` field points to (a block of its own), or "" for none."""
    block = blend.block_at.get(blend.pointer_at(struct_name, field, start))
    if block is None:
        return ""
    raw = bytes(blend.data[block.start : block.start + block.length])
    return raw.split(b"\0")[0].decode("utf-8", "replace")


def _join(base: str, tail: str) -> str:
    """A path under a base path, as Blender joins them (a separator between, never dropped)."""
    if not base or not tail:
        return base or tail
    return base + ("" if base.endswith(("/", "\\")) else "/") + tail
