"""Stitching rendered tiles back into one frame: which part of each tile image is the tile
itself, where it goes, and the FFmpeg command that crops and stacks them (losslessly, in the
tiles' own pixel format). Pure: tiles in, a checked plan and a command out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from witengine.plugins.render.errors import RenderError, RenderFailure
from witengine.plugins.render.types import TileImage


@dataclass(frozen=True)
class Piece:
    """The part of one tile image that is the tile: its crop within the image."""

    tile: TileImage
    crop_x: int
    crop_y: int
    width: int
    height: int


def stitch_plan(tiles: Sequence[TileImage]) -> list[list[Piece]]:
    """The pieces row by row from the top, each row from the left; RenderError when the tiles
    are not exactly one frame's (a tile missing or twice, different frames or sizes)."""
    if not tiles:
        raise _wrong("there are no tiles to stitch")
    first = tiles[0]
    size = (first.full_width, first.full_height)
    for tile in tiles:
        if tile.frame != first.frame or (tile.full_width, tile.full_height) != size:
            raise _wrong(
                f"tile {tile.column},{tile.row} is of frame {tile.frame} at "
                f"{tile.full_width}x{tile.full_height}, and tile {first.column},{first.row} of "
                f"frame {first.frame} at {size[0]}x{size[1]}: stitch one frame's tiles"
            )
        x, y, width, height = tile.inner
        if not (
            tile.x <= x
            and tile.y <= y
            and x + width <= tile.x + tile.width
            and y + height <= tile.y + tile.height
        ):
            raise _wrong(f"tile {tile.column},{tile.row}'s image does not hold the tile")
    rows: dict[int, list[TileImage]] = {}
    for tile in tiles:
        rows.setdefault(tile.inner[1], []).append(tile)
    plan: list[list[Piece]] = []
    top = 0
    for y in sorted(rows):
        row = sorted(rows[y], key=lambda tile: tile.inner[0])
        height = row[0].inner[3]
        left = 0
        for tile in row:
            x, _, width, tile_height = tile.inner
            if x != left or tile_height != height or y != top:
                raise _wrong(_gap_or_overlap(tile, left, top))
            left += width
        if left != size[0]:
            raise _wrong(f"the row of tiles at y={y} ends at x={left}, not the frame's {size[0]}")
        plan.append(
            [
                Piece(tile, tile.inner[0] - tile.x, tile.inner[1] - tile.y, *tile.inner[2:])
                for tile in row
            ]
        )
        top += height
    if top != size[1]:
        raise _wrong(f"the tiles end at y={top}, not at the frame's height {size[1]}")
    return plan


def _gap_or_overlap(tile: TileImage, left: int, top: int) -> str:
    return (
        f"tile {tile.column},{tile.row} starts at {tile.inner[0]},{tile.inner[1]}, where the "
        f"tiles before it end at {left},{top}: a tile is missing, given twice, or of another grid"
    )


def _wrong(message: str) -> RenderError:
    return RenderError(RenderFailure.FAILED, f"cannot stitch: {message}")


def stitch_command(
    ffmpeg: str, plan: list[list[Piece]], files: dict[str, Path], output: Path
) -> list[str]:
    """FFmpeg cropping each piece from its tile image (`files`: by sha256) and stacking them."""
    command = [ffmpeg, "-v", "error", "-nostdin", "-y"]
    graph: list[str] = []
    rows: list[str] = []
    index = 0
    for number, row in enumerate(plan):
        names = []
        for piece in row:
            command += ["-i", str(files[piece.tile.sha256])]
            names.append(f"[p{index}]")
            graph.append(
                f"[{index}:v]crop={piece.width}:{piece.height}:{piece.crop_x}:{piece.crop_y}"
                f"{names[-1]}"
            )
            index += 1
        rows.append(f"[r{number}]")
        stack = f"hstack=inputs={len(names)}" if len(names) > 1 else "null"
        graph.append(f"{''.join(names)}{stack}{rows[-1]}")
    stack = f"vstack=inputs={len(rows)}" if len(rows) > 1 else "null"
    graph.append(f"{''.join(rows)}{stack}[out]")
    return [
        *command,
        "-filter_complex",
        ";".join(graph),
        "-map",
        "[out]",
        "-frames:v",
        "1",
        "-update",
        "1",
        str(output),
    ]
