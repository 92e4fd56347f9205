"""A small witengine plugin: split an image into tiles and add up numbers.

Try it without installing anything:

    PYTHONPATH=docs/examples/plugin WIT_PLUGINS=wit_tiles:plugin \
        wit check docs/examples/plugin/tiles.wit
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from witengine.plugins.api import ActivityContext, Blob, ConversionError, Double, Int, Plugin

plugin = Plugin("tiles", version="0.1", summary="tiles of a frame, as a worked example")


@plugin.type("Tile", accepts=("String",), members={"X": "Int", "Y": "Int"})
@dataclass(frozen=True)
class Tile:
    """One tile of a frame: its column and row, written "x,y"."""

    x: int
    y: int

    @classmethod
    def from_value(cls, value: Any) -> Tile:
        if isinstance(value, str):
            parts = value.split(",")
            if len(parts) == 2 and all(p.strip().isdigit() for p in parts):
                return cls(int(parts[0]), int(parts[1]))
        raise ConversionError(f"{value!r} is not a tile; write \"x,y\" such as \"2,3\"")

    def to_json(self) -> Any:
        return f"{self.x},{self.y}"

    @classmethod
    def from_json(cls, data: Any) -> Tile:
        return cls.from_value(data)


@plugin.activity("Tiles.Grid")
def grid(columns: Int, rows: Int) -> list[Tile]:
    """Every tile of a frame of columns x rows tiles, row by row."""
    return [Tile(x, y) for y in range(rows) for x in range(columns)]


@plugin.activity("Tiles.Area")
def area(tile: Tile, size: Double = 1.0) -> Double:
    """The area of one tile of the given edge size (a stand-in for real work)."""
    return size * size


@plugin.activity("Tiles.Label")
def label(context: ActivityContext, tile: Tile) -> Blob:
    """A small text file naming the tile."""
    return context.save_bytes(f"tile {tile.x},{tile.y}\n".encode(), f"tile-{tile.x}-{tile.y}.txt")
