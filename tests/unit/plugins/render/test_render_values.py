"""The render plugin's values: options as text and JSON, frames named on the command line, and
JSON that makes the same values again in another process."""

from __future__ import annotations

import pytest

from witengine.plugins.render import frames as render_frames
from witengine.plugins.render.errors import RenderError
from witengine.plugins.render.frames import FrameSpecError
from witengine.plugins.render.stitch import stitch_plan
from witengine.plugins.render.types import (
    Frame,
    Image,
    RenderOptions,
    Scene,
    Tile,
    TileImage,
    parse_frames_text,
    split_tiles,
)
from witengine.runtime.blobs import Blob, blobs_in
from witengine.runtime.values import ConversionError

SCENE = Scene("ab" * 32, 1234, "shot.blend")


@pytest.mark.parametrize(
    ("text", "options"),
    [
        ("", RenderOptions()),
        ("samples=16", RenderOptions(samples=16)),
        (
            "engine=eevee, samples=4 percent=50 format=jpeg device=auto",
            RenderOptions("BLENDER_EEVEE", 4, 50, "JPEG", "AUTO"),
        ),
        ("ENGINE=workbench", RenderOptions(engine="BLENDER_WORKBENCH")),
        ("device=optix", RenderOptions(device="OPTIX")),
    ],
)
def test_options_are_read_from_key_value_words(text: str, options: RenderOptions) -> None:
    assert RenderOptions.parse(text) == options
    assert RenderOptions.parse(str(options)) == options
    assert RenderOptions.from_json(options.to_json()) == options


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("quality=9", "'quality=9' is not a render option; write key=value with the keys "),
        ("samples", "'samples' is not a render option"),
        ("samples=many", "'many' is not a whole number"),
        ("samples=0", "samples must be from 1 to 16777216, not 0"),
        ("percent=5000", "percent must be from 1 to 1000, not 5000"),
        ("engine=luxcore", "unknown engine 'luxcore'; use CYCLES, EEVEE, BLENDER_EEVEE"),
        ("format=tiff", "unknown format 'TIFF'; use PNG, JPEG"),
        ("device=tpu", "unknown device 'TPU'; use CPU, GPU, AUTO, OPTIX, CUDA, HIP"),
        ("samples=1 samples=2", "the render option 'samples' is given twice"),
    ],
)
def test_wrong_options_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ConversionError) as caught:
        RenderOptions.parse(text)

    assert str(caught.value).startswith(message)


def test_options_print_only_what_differs_from_the_scene() -> None:
    assert str(RenderOptions()) == ""
    assert str(RenderOptions(samples=8, device="GPU")) == "samples=8 device=GPU"


@pytest.mark.parametrize(
    ("text", "path", "frames", "options"),
    [
        ("shot.blend@1-3", "shot.blend", [1, 2, 3], RenderOptions()),
        ("shot.blend@5", "shot.blend", [5], RenderOptions()),
        (
            "  my shots/a@b.blend@1-10x5 samples=2  ",
            "my shots/a@b.blend",
            [1, 6],
            RenderOptions(samples=2),
        ),
    ],
)
def test_frames_on_the_command_line_name_a_file_frames_and_options(
    text: str, path: str, frames: list[int], options: RenderOptions
) -> None:
    found = parse_frames_text(text)

    assert (found.path, found.frames, found.options) == (path, frames, options)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("shot.blend", "'shot.blend' does not name frames; write scene.blend@1-48"),
        ("@1-3", "'@1-3' does not name frames"),
        ("shot.blend@", "'shot.blend@' does not name frames"),
        ("shot.blend@3-1", "the range '3-1' runs backwards; write 1-3"),
        ("shot.blend@1-3 fast", "'fast' is not a render option"),
    ],
)
def test_wrong_frames_on_the_command_line_say_how_to_write_them(text: str, message: str) -> None:
    with pytest.raises(ConversionError) as caught:
        parse_frames_text(text)

    assert str(caught.value).startswith(message)


def test_frames_images_and_scenes_make_the_same_values_from_their_json() -> None:
    frame = Frame(SCENE, 12, RenderOptions(samples=4))
    image = Image("cd" * 32, 99, "frame_00012.png", frame=12, width=64, height=36, fps=24.0)

    assert Frame.from_json(frame.to_json()) == frame
    assert Image.from_json(image.to_json()) == image
    assert Scene.from_json(SCENE.to_json()) == SCENE
    assert str(frame) == "shot.blend@12 samples=4"


def test_scenes_and_images_are_blobs_and_a_frame_holds_its_scenes_blob() -> None:
    image = Image("cd" * 32, 99, "frame_00012.png", frame=12)

    assert list(blobs_in(Frame(SCENE, 1))) == [SCENE]
    assert list(blobs_in(image)) == [image]
    assert Scene.from_value(Blob("ab" * 32, 1234, "x.blend")) == Scene("ab" * 32, 1234, "x.blend")
    with pytest.raises(ConversionError, match=r"a Scene is a \.blend file"):
        Scene.from_value("shot.blend")
    with pytest.raises(ConversionError, match=r"a Frame comes from Render\.Frames"):
        Frame.from_value("shot.blend@1")


def test_render_frames_gives_the_frames_of_a_spec_with_the_options() -> None:
    found = render_frames(SCENE, "3,1-2", RenderOptions(percent=50))

    assert [f.number for f in found] == [3, 1, 2]
    assert {f.options for f in found} == {RenderOptions(percent=50)}
    assert {f.scene for f in found} == {SCENE}
    with pytest.raises(FrameSpecError, match="frame 1 is given twice"):
        render_frames(SCENE, "1,1")


FACTS = Scene("ab" * 32, 1234, "shot.blend", 320, 180, 50, "CYCLES", 16)


@pytest.mark.parametrize(
    ("frame", "work"),
    [
        (Frame(FACTS, 1), 160 * 90 * 16),  # the scene's own size, percentage and samples
        (Frame(FACTS, 1, RenderOptions(samples=4, percent=100)), 320 * 180 * 4),
        (Frame(FACTS, 1, RenderOptions(engine="BLENDER_EEVEE")), 160 * 90 * 16),
        (Frame(SCENE, 1), 1920 * 1080 * 4096),  # a scene that did not say: Cycles' defaults
        (Frame(SCENE, 1, RenderOptions(engine="BLENDER_EEVEE", percent=10)), 192 * 108 * 64),
        (Frame(Scene("ab" * 32, 1, "", 100, 100, 1, "CYCLES", 8), 1), 1 * 1 * 8),
    ],
)
def test_a_frames_work_is_its_pixels_times_its_samples(frame: Frame, work: float) -> None:
    assert frame.pixel_samples() == work


def test_a_scenes_render_size_travels_in_its_json_and_an_unknown_one_is_left_out() -> None:
    assert Scene.from_json(FACTS.to_json()) == FACTS
    assert Frame.from_json(Frame(FACTS, 3).to_json()).scene.samples == 16
    assert set(SCENE.to_json()) == {"sha256", "size", "name"}


@pytest.mark.parametrize(
    ("count", "grid"), [(1, (1, 1)), (4, (2, 2)), (6, (3, 2)), (7, (1, 7)), (12, (4, 3))]
)
def test_a_frame_splits_into_a_grid_as_near_square_as_the_count_allows(
    count: int, grid: tuple[int, int]
) -> None:
    tiles = split_tiles(Frame(FACTS, 2), count)

    assert {(tile.columns, tile.rows) for tile in tiles} == {grid}
    assert [(tile.column, tile.row) for tile in tiles] == [
        (c, r) for r in range(grid[1]) for c in range(grid[0])
    ]
    assert Tile.from_json(tiles[-1].to_json()) == tiles[-1]
    assert sum(tile.pixel_samples() for tile in tiles) == pytest.approx(160 * 90 * 16)


@pytest.mark.parametrize(("count", "padding"), [(0, 8), (2000, 8), (4, -1)])
def test_a_wrong_tile_count_or_padding_is_refused(count: int, padding: int) -> None:
    with pytest.raises(ConversionError):
        split_tiles(Frame(FACTS, 2), count, padding)


def tile_image(
    column: int, row: int, inner: tuple[int, int, int, int], frame: int = 1
) -> TileImage:
    x, y, width, height = inner
    return TileImage(
        "cd" * 32, 10, "t.png", frame=frame, width=width + 2, height=height,
        column=column, row=row, x=max(0, x - 2), y=y, inner=inner, full_width=10, full_height=6,
    )  # fmt: skip


def test_tiles_are_stitched_row_by_row_with_their_padding_cropped() -> None:
    tiles = [
        tile_image(1, 1, (5, 3, 5, 3)),
        tile_image(0, 0, (0, 0, 5, 3)),
        tile_image(1, 0, (5, 0, 5, 3)),
        tile_image(0, 1, (0, 3, 5, 3)),
    ]

    plan = stitch_plan(tiles)

    assert [[(p.tile.column, p.tile.row, p.crop_x, p.crop_y) for p in row] for row in plan] == [
        [(0, 0, 0, 0), (1, 0, 2, 0)],
        [(0, 1, 0, 0), (1, 1, 2, 0)],
    ]


@pytest.mark.parametrize(
    ("tiles", "message"),
    [
        ([], "there are no tiles to stitch"),
        (
            [tile_image(0, 0, (0, 0, 5, 6)), tile_image(0, 0, (0, 0, 5, 6))],
            "tile 0,0 starts at 0,0, where the tiles before it end at 5,0: a tile is missing, "
            "given twice, or of another grid",
        ),
        ([tile_image(0, 0, (0, 0, 10, 3))], "the tiles end at y=3, not at the frame's height 6"),
        (
            [tile_image(0, 0, (0, 0, 10, 3)), tile_image(0, 1, (0, 3, 10, 3), frame=2)],
            "tile 0,1 is of frame 2 at 10x6, and tile 0,0 of frame 1 at 10x6: stitch one "
            "frame's tiles",
        ),
    ],
)
def test_tiles_that_do_not_make_one_frame_are_not_stitched(
    tiles: list[TileImage], message: str
) -> None:
    with pytest.raises(RenderError) as caught:
        stitch_plan(tiles)

    assert caught.value.message == f"cannot stitch: {message}"
