"""The render plugin's values: Scene, RenderOptions, Frame and Image, and the text that names
frames on the command line (`scene.blend@1-48 samples=16`).

Pure: values, their JSON and their text. A Scene and an Image are Blobs (files by content) with
a meaning, so everything that moves, caches or exports blobs handles them as it handles a Blob.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Self

from witengine.plugins.render.frames import FrameSpecError, parse_frame_spec
from witengine.runtime.blobs import Blob
from witengine.runtime.values import ConversionError

Json = Any

ENGINES = {
    "CYCLES": "CYCLES",
    "EEVEE": "BLENDER_EEVEE",
    "BLENDER_EEVEE": "BLENDER_EEVEE",
    "WORKBENCH": "BLENDER_WORKBENCH",
    "BLENDER_WORKBENCH": "BLENDER_WORKBENCH",
}
FORMATS = {"PNG": "png", "JPEG": "jpg"}  # Blender's format name -> the file extension it writes
# CPU: never a GPU. GPU: any GPU backend the node has, else fail. AUTO: a GPU when there is one.
# A backend by name: that one, else fail. Cycles only; other engines ignore the device.
GPU_BACKENDS = ("OPTIX", "CUDA", "HIP", "METAL", "ONEAPI")
DEVICES = ("CPU", "GPU", "AUTO", *GPU_BACKENDS)
MAX_PERCENT = 1000
MAX_SAMPLES = 1 << 24


def _blob_json(blob: Blob) -> dict[str, Json]:
    return {"sha256": blob.sha256, "size": blob.size, "name": blob.name}


def _blob_fields(data: Json) -> tuple[str, int, str]:
    return str(data["sha256"]), int(data["size"]), str(data.get("name", ""))


# Samples per pixel when a scene does not say: each engine's default in Blender 3.x.
DEFAULT_SAMPLES = {"CYCLES": 4096, "BLENDER_EEVEE": 64, "BLENDER_WORKBENCH": 1}


@dataclass(frozen=True)
class Scene(Blob):
    """A Blender scene: a self-contained .blend file, by content, with what it says about the
    size of its renders (read from the file; 0 or "" where it could not be read)."""

    width: int = 0  # pixels at 100 %
    height: int = 0
    percent: int = 0
    engine: str = ""
    samples: int = 0

    @classmethod
    def from_value(cls, value: Any) -> Self:
        if isinstance(value, Blob):
            return cls(value.sha256, value.size, value.name)
        raise ConversionError(
            f"a Scene is a .blend file: give it as a file parameter (scene=shot.blend), "
            f"not {value!r}"
        )

    def to_json(self) -> Json:
        facts = {key: getattr(self, key) for key in _SCENE_FACTS if getattr(self, key)}
        return {**_blob_json(self), **facts}

    @classmethod
    def from_json(cls, data: Json) -> Self:
        facts = {key: type(getattr(cls, key))(data[key]) for key in _SCENE_FACTS if key in data}
        return cls(*_blob_fields(data), **facts)


_SCENE_FACTS = ("width", "height", "percent", "engine", "samples")


@dataclass(frozen=True)
class RenderOptions:
    """What a render may change from the scene's own settings; None keeps the scene's value.

    Written as text: `engine=CYCLES samples=16 percent=50 format=PNG device=CPU`, any subset.
    """

    engine: str | None = None
    samples: int | None = None
    percent: int | None = None
    format: str = "PNG"
    device: str = "CPU"

    def __post_init__(self) -> None:
        if self.engine is not None and self.engine not in ENGINES.values():
            raise ConversionError(f"unknown engine '{self.engine}'; use {', '.join(ENGINES)}")
        if self.samples is not None and not 1 <= self.samples <= MAX_SAMPLES:
            raise ConversionError(f"samples must be from 1 to {MAX_SAMPLES}, not {self.samples}")
        if self.percent is not None and not 1 <= self.percent <= MAX_PERCENT:
            raise ConversionError(f"percent must be from 1 to {MAX_PERCENT}, not {self.percent}")
        if self.format not in FORMATS:
            raise ConversionError(f"unknown format '{self.format}'; use {', '.join(FORMATS)}")
        if self.device not in DEVICES:
            raise ConversionError(f"unknown device '{self.device}'; use {', '.join(DEVICES)}")

    @property
    def extension(self) -> str:
        return FORMATS[self.format]

    @classmethod
    def parse(cls, text: str) -> Self:
        """Options from `key=value` words (spaces or commas between them)."""
        found: dict[str, str] = {}
        for word in text.replace(",", " ").split():
            key, equals, value = word.partition("=")
            key = key.strip().lower()
            if not equals or not value or key not in _READERS:
                raise ConversionError(
                    f"'{word}' is not a render option; write key=value with the keys "
                    f"{', '.join(_READERS)}"
                )
            if key in found:
                raise ConversionError(f"the render option '{key}' is given twice")
            found[key] = value
        return cls(**{key: _READERS[key](value) for key, value in found.items()})

    def __str__(self) -> str:
        default = RenderOptions()
        words = [
            f"{key}={getattr(self, key)}"
            for key in _READERS
            if getattr(self, key) != getattr(default, key)
        ]
        return " ".join(words)

    @classmethod
    def from_value(cls, value: Any) -> Self:
        if isinstance(value, str):
            return cls.parse(value)
        raise ConversionError(f"RenderOptions are written as text like 'samples=16', not {value!r}")

    def to_json(self) -> Json:
        return {key: getattr(self, key) for key in _READERS}

    @classmethod
    def from_json(cls, data: Json) -> Self:
        return cls(**{key: data[key] for key in _READERS if key in data})


def _whole(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ConversionError(f"'{value}' is not a whole number") from None


def _engine(value: str) -> str:
    engine = ENGINES.get(value.upper())
    if engine is None:
        raise ConversionError(f"unknown engine '{value}'; use {', '.join(ENGINES)}")
    return engine


_READERS: Mapping[str, Callable[[str], Any]] = {
    "engine": _engine,
    "samples": _whole,
    "percent": _whole,
    "format": lambda value: value.upper(),
    "device": lambda value: value.upper(),
}


@dataclass(frozen=True)
class Frame:
    """One frame of a scene to render, with the options to render it with."""

    scene: Scene
    number: int
    options: RenderOptions = field(default_factory=RenderOptions)

    @classmethod
    def from_value(cls, value: Any) -> Self:
        raise ConversionError(
            'a Frame comes from Render.Frames(scene, "1-48") or from a parameter written '
            "scene.blend@12"
        )

    def to_json(self) -> Json:
        return {
            "scene": self.scene.to_json(),
            "number": self.number,
            "options": self.options.to_json(),
        }

    @classmethod
    def from_json(cls, data: Json) -> Self:
        return cls(
            Scene.from_json(data["scene"]),
            int(data["number"]),
            RenderOptions.from_json(data.get("options", {})),
        )

    def pixel_samples(self) -> float:
        """The work of rendering this frame: pixels at its resolution percentage times samples
        per pixel. A scene that did not say counts as 1920x1080 at 100 % with its engine's
        default samples."""
        scene, options = self.scene, self.options
        percent = options.percent or scene.percent or 100
        engine = options.engine or scene.engine or "CYCLES"
        samples = options.samples or scene.samples or DEFAULT_SAMPLES.get(engine, 1)
        width = (scene.width or 1920) * percent // 100
        height = (scene.height or 1080) * percent // 100
        return float(max(width, 1) * max(height, 1) * samples)

    def __str__(self) -> str:
        options = str(self.options)
        return f"{self.scene.name or 'scene'}@{self.number}" + (f" {options}" if options else "")


@dataclass(frozen=True)
class Image(Blob):
    """A rendered frame: an image file by content, with its frame number and size in pixels.

    `fps` is the frame rate of the scene it came from (Video.Compose uses it by default).
    """

    frame: int = 0
    width: int = 0
    height: int = 0
    fps: float = 0.0

    @classmethod
    def from_value(cls, value: Any) -> Self:
        if isinstance(value, Blob):
            return cls(value.sha256, value.size, value.name)
        raise ConversionError(f"an Image is an image file, not {value!r}")

    def to_json(self) -> Json:
        return {
            **_blob_json(self),
            "frame": self.frame,
            "width": self.width,
            "height": self.height,
            "fps": self.fps,
        }

    @classmethod
    def from_json(cls, data: Json) -> Self:
        return cls(
            *_blob_fields(data),
            frame=int(data.get("frame", 0)),
            width=int(data.get("width", 0)),
            height=int(data.get("height", 0)),
            fps=float(data.get("fps", 0.0)),
        )


@dataclass(frozen=True)
class FramesText:
    """What `scene.blend@1-48 samples=16` says: a scene file, frames, and options."""

    path: str
    frames: list[int]
    options: RenderOptions


def parse_frames_text(text: str) -> FramesText:
    """Read `PATH@SPEC [key=value …]`; ConversionError says what is wrong and how to write it."""
    path, at, rest = text.strip().rpartition("@")
    words = rest.split()
    if not at or not path.strip() or not words:
        raise ConversionError(
            f"'{text}' does not name frames; write scene.blend@1-48 (a .blend file, '@', "
            "frames), optionally followed by options such as samples=16 percent=50"
        )
    try:
        frames = parse_frame_spec(words[0])
    except FrameSpecError as error:
        raise ConversionError(str(error)) from None
    return FramesText(path.strip(), frames, RenderOptions.parse(" ".join(words[1:])))


def frames_of(scene: Scene, numbers: list[int], options: RenderOptions) -> list[Frame]:
    return [Frame(scene, number, options) for number in numbers]


MAX_TILES = 1024
DEFAULT_PADDING = 8  # pixels each tile renders beyond its edges, cropped away when stitched


@dataclass(frozen=True)
class Tile:
    """One tile of a frame: cell (column, row) of a columns x rows grid over the image, rendered
    with `padding` pixels more on every side inside the image (cropped away when stitched)."""

    frame: Frame
    column: int
    row: int
    columns: int
    rows: int
    padding: int = DEFAULT_PADDING

    def __post_init__(self) -> None:
        if not (0 <= self.column < self.columns and 0 <= self.row < self.rows):
            raise ConversionError(
                f"tile ({self.column}, {self.row}) is outside a {self.columns}x{self.rows} grid"
            )
        if self.padding < 0:
            raise ConversionError(f"a tile's padding must not be negative, not {self.padding}")

    @classmethod
    def from_value(cls, value: Any) -> Self:
        raise ConversionError("a Tile comes from Render.SplitTiles(frame, count)")

    def to_json(self) -> Json:
        return {
            "frame": self.frame.to_json(),
            "column": self.column,
            "row": self.row,
            "columns": self.columns,
            "rows": self.rows,
            "padding": self.padding,
        }

    @classmethod
    def from_json(cls, data: Json) -> Self:
        return cls(
            Frame.from_json(data["frame"]),
            int(data["column"]),
            int(data["row"]),
            int(data["columns"]),
            int(data["rows"]),
            int(data.get("padding", DEFAULT_PADDING)),
        )

    def pixel_samples(self) -> float:
        return self.frame.pixel_samples() / (self.columns * self.rows)

    def __str__(self) -> str:
        return f"{self.frame} tile {self.column},{self.row} of {self.columns}x{self.rows}"


def split_tiles(frame: Frame, count: int, padding: int = DEFAULT_PADDING) -> list[Tile]:
    """`count` tiles of a frame in a grid as near square as count allows, row by row from the
    top: 4 -> 2x2, 6 -> 3 columns x 2 rows, a prime -> one column of strips."""
    if not 1 <= count <= MAX_TILES:
        raise ConversionError(f"a frame splits into 1 to {MAX_TILES} tiles, not {count}")
    rows = max(d for d in range(1, int(count**0.5) + 1) if count % d == 0)
    columns = count // rows
    if rows == 1:  # a prime: strips, which suit wide images better than one column
        rows, columns = count, 1
    return [Tile(frame, c, r, columns, rows, padding) for r in range(rows) for c in range(columns)]


@dataclass(frozen=True)
class TileImage(Image):
    """A rendered tile: an image of the tile with its padding, where it sits in the frame
    (`x`, `y`: its top-left corner, from the image's top-left), the part of it that is the tile
    itself (`inner`: x, y, width, height in the frame), and the frame's full size."""

    column: int = 0
    row: int = 0
    x: int = 0
    y: int = 0
    inner: tuple[int, int, int, int] = (0, 0, 0, 0)
    full_width: int = 0
    full_height: int = 0

    def to_json(self) -> Json:
        return {
            **super().to_json(),
            "column": self.column,
            "row": self.row,
            "x": self.x,
            "y": self.y,
            "inner": list(self.inner),
            "full_width": self.full_width,
            "full_height": self.full_height,
        }

    @classmethod
    def from_json(cls, data: Json) -> Self:
        image = Image.from_json(data)
        x, y, width, height = (int(v) for v in data["inner"])
        return cls(
            image.sha256,
            image.size,
            image.name,
            frame=image.frame,
            width=image.width,
            height=image.height,
            fps=image.fps,
            column=int(data["column"]),
            row=int(data["row"]),
            x=int(data["x"]),
            y=int(data["y"]),
            inner=(x, y, width, height),
            full_width=int(data["full_width"]),
            full_height=int(data["full_height"]),
        )
