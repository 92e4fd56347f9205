"""The library: every type and activity a job can use, with their specs and implementations.

The checker reads it as a `Catalog`; the interpreter and executors call activities through it and
use it to convert values between their Python form, the declared Wit types and JSON.
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, cast

from witengine.errors import ActivityError, PluginError
from witengine.lang.types import ActivitySpec, TypeSpec, WitType, collection_of
from witengine.runtime.blobs import Blob
from witengine.runtime.comparisons import Comparison
from witengine.runtime.values import Color, ConversionError, ProcessingOptions

if TYPE_CHECKING:  # annotations only: the runtime does not load the plugin machinery
    from witengine.plugins.requirements import Requirements
    from witengine.runtime.context import ActivityContext

Json = Any  # a value made of dict, list, str, int, float, bool and None
# A file a reader names and a scratch folder that lasts until the file is sent -> the file to
# send in its place (a scene with its textures packed in, say); raises a WitError naming what is
# wrong (a missing texture) before anything is uploaded.
Prepare = Callable[[Path, Path], Path]


class Files(Protocol):
    """What a reader's `files` is: a path written in a parameter's text -> that file as a Blob,
    after `prepare` (if given) has made the file that is sent in its place."""

    def __call__(self, path: str, prepare: Prepare | None = None) -> Blob: ...

    def local(self, blob: Blob) -> Path | None:
        """A local file with the bytes of a blob this returned, for a reader that looks inside
        it (read it, never change it); None where there is none."""
        ...


Reader = Callable[[str, Files], Any]  # a parameter's text that names files -> its value
# (item position, result or the Exception that failed it), as each item of a batch finishes
BatchResults = Iterable[tuple[int, Any]]


@dataclass(frozen=True)
class TypeDef:
    """A type: its spec for the checker and how its values are made, tested and encoded."""

    spec: TypeSpec
    python: type | tuple[type, ...]
    construct: Callable[[Any], Any]  # one value of an accepted type -> a value of this type
    encode: Callable[[Any], Json]
    decode: Callable[[Json], Any]
    read: Reader | None = None  # a parameter of this type, from text that names files
    read_many: Reader | None = None  # the same for a collection of this type

    @property
    def name(self) -> str:
        return self.spec.name


DEFAULT_UNIT = "items@1"  # one unit of work per item: what an activity without an estimate does


@dataclass(frozen=True)
class ActivityDef:
    """An activity: its spec, the Python callable that does the work, and what its plugin
    declares about that work: the unit it is measured in, an estimate per item, a benchmark and
    what a machine needs to run it and how two of its results are compared."""

    spec: ActivitySpec
    function: Callable[..., Any]
    plugin: str
    takes_context: bool = False
    unit: str = DEFAULT_UNIT
    estimate: Callable[..., float] | None = None  # the item's arguments -> its work in `unit`
    benchmark: Callable[[ActivityContext], float] | None = None  # -> work done in `unit`
    requirements: Requirements | None = None  # what every node that offers it must have
    # An item's arguments -> what the node that runs that item must have (the hub asks it of
    # every item of a map before it chooses nodes): for needs that depend on the arguments.
    item_requirements: Callable[..., Requirements] | None = None
    # (context, every item's arguments) -> results as items finish; see Plugin.batch
    batch: Callable[[ActivityContext, Sequence[Sequence[Any]]], BatchResults] | None = None
    # How two nodes' results for one item are compared (witengine.runtime.comparisons); None:
    # they cannot be, so it never runs on a node whose results must be verified.
    compare: Comparison | None = None

    @property
    def name(self) -> str:
        return self.spec.name

    def work(self, args: Sequence[Any]) -> float:
        """The estimated work of one item with these arguments, in `unit`; ActivityError when
        the plugin's estimate fails or gives no finite, non-negative number."""
        if self.estimate is None:
            return 1.0
        try:
            value = float(self.estimate(*args))
        except Exception as error:  # a plugin's bug, reported with the activity's name
            raise ActivityError(
                f"{self.name}: its work estimate failed: {type(error).__name__}: {error}"
            ) from error
        if not math.isfinite(value) or value < 0:
            raise ActivityError(
                f"{self.name}: its work estimate must be a finite number >= 0, got {value}"
            )
        return value


class Library:
    """Types and activities by name; implements the checker's `Catalog`."""

    def __init__(
        self,
        types: Iterable[TypeDef],
        activities: Iterable[ActivityDef],
        plugins: Sequence[tuple[str, str]] = (),
    ) -> None:
        self.types: dict[str, TypeDef] = {}
        self.activities: dict[str, ActivityDef] = {}
        self.plugins = list(plugins)  # (name, version)
        for typedef in types:
            if typedef.name in self.types:
                raise PluginError(f"type '{typedef.name}' is defined twice")
            self.types[typedef.name] = typedef
        for activity in activities:
            if activity.name in self.activities:
                other = self.activities[activity.name].plugin
                raise PluginError(
                    f"activity '{activity.name}' is defined by both {other} and {activity.plugin}"
                )
            self.activities[activity.name] = activity
        self._by_class = {t.python: t for t in self.types.values() if isinstance(t.python, type)}

    # ------------------------------------------------------------- Catalog

    def activity(self, name: str) -> ActivitySpec | None:
        found = self.activities.get(name)
        return found.spec if found is not None else None

    def activity_names(self) -> Iterable[str]:
        return self.activities.keys()

    def type_spec(self, name: str) -> TypeSpec | None:
        found = self.types.get(name)
        return found.spec if found is not None else None

    def type_names(self) -> Iterable[str]:
        return self.types.keys()

    # ------------------------------------------------------------ values

    def resolve(self, name: str) -> WitType:
        """The type a declaration names; the checker has already made sure it exists."""
        if name in self.types:
            return WitType(name)
        if name.endswith("Collection"):
            return collection_of(self.resolve(name[: -len("Collection")]))
        raise ConversionError(f"unknown type '{name}'")

    def coerce(self, value: Any, target: WitType) -> Any:
        """`value` as a value of `target`: as it is, widened, or through target's constructor."""
        exact = _EXACT.get(target.name)
        if exact is not None and type(value) is exact[0]:
            low, high = exact[1], exact[2]
            if low is None or high is None or low <= cast(int, value) <= high:
                return value
        if value is None or target.name in ("Object", "?"):
            if value is None and target.name in _NOT_NULL:
                raise ConversionError(f"null cannot be a {target}")
            return value
        if target.element is not None:
            if not isinstance(value, list):
                raise ConversionError(f"{describe(value)} is not a {target}")
            return [self.coerce(item, target.element) for item in value]
        if target.name == "Tuple":
            if not isinstance(value, tuple):
                raise ConversionError(f"{describe(value)} is not a Tuple")
            return value
        typedef = self.types.get(target.name)
        if typedef is None:
            raise ConversionError(f"unknown type '{target}'")
        if _is_instance(value, typedef):
            return typedef.construct(value) if target.name in _RANGE_CHECKED else value
        return typedef.construct(value)

    def encode(self, value: Any, type_: WitType) -> Json:
        """JSON for a value of `type_`; dynamic values carry a tag where JSON lacks the type."""
        if value is None:
            return None
        if type_.element is not None:
            return [self.encode(item, type_.element) for item in value]
        typedef = self.types.get(type_.name)
        if typedef is None or type_.name in ("Object", "Tuple"):
            return self.encode_dynamic(value)
        return typedef.encode(value)

    def holds_blobs(self, type_: WitType) -> bool:
        """Whether a value of the type may hold a blob: any but numbers, text and truth values
        and collections of them (a node then looks no further for files to fetch or upload)."""
        if type_.element is not None:
            return self.holds_blobs(type_.element)
        return type_.name not in _EXACT

    def decode(self, data: Json, type_: WitType) -> Any:
        """A value of `type_` from JSON that may come from another process; ConversionError when
        the JSON is not a value of that type (numbers are never truncated or wrapped)."""
        if data is None:
            return None
        if type_.element is not None:
            if not isinstance(data, list):
                raise ConversionError(f"{describe(data)} is not a {type_}")
            return [self.decode(item, type_.element) for item in data]
        exact = _EXACT.get(type_.name)
        if exact is not None:
            return _decode_exact(data, type_, exact)
        typedef = self.types.get(type_.name)
        if typedef is None or type_.name in ("Object", "Tuple"):
            return self.decode_dynamic(data)
        return typedef.decode(data)

    def type_of_value(self, value: Any) -> WitType:
        """The most specific type of a runtime value, for dynamic encoding and messages."""
        if value is None:
            return WitType("Object")
        for python, name in _NATIVE:
            if isinstance(value, python):
                return WitType(name)
        if isinstance(value, list):
            return collection_of(WitType("Object"))
        typedef = self._by_class.get(type(value))
        if typedef is not None:
            return WitType(typedef.name)
        raise ConversionError(f"{describe(value)} is not a Wit value")

    def encode_dynamic(self, value: Any) -> Json:
        if value is None or isinstance(value, bool | int | float | str):
            return value
        if isinstance(value, list):
            return [self.encode_dynamic(v) for v in value]
        if isinstance(value, tuple):
            return {"$type": "Tuple", "items": [self.encode_dynamic(v) for v in value]}
        type_ = self.type_of_value(value)
        return {"$type": type_.name, "value": self.encode(value, type_)}

    def decode_dynamic(self, data: Json) -> Any:
        if isinstance(data, list):
            return [self.decode_dynamic(v) for v in data]
        if isinstance(data, dict) and "$type" in data:
            if data["$type"] == "Tuple":
                return tuple(self.decode_dynamic(v) for v in data["items"])
            return self.decode(data["value"], self.resolve(str(data["$type"])))
        return data

    def parse_text(self, text: str, type_: WitType) -> Any:
        """A value from command-line text: scalars by their constructor, collections from a JSON
        array or a comma list."""
        if type_.element is not None:
            import json

            stripped = text.strip()
            if stripped.startswith("["):
                try:
                    items = json.loads(stripped)
                except json.JSONDecodeError as error:
                    raise ConversionError(f"'{text}' is not a JSON array: {error.msg}") from None
            else:
                items = [part.strip() for part in stripped.split(",")] if stripped else []
            return [
                self.parse_text(i, type_.element)
                if isinstance(i, str)
                else self.coerce(i, type_.element)
                for i in items
            ]
        typedef = self.types.get(type_.name)
        if typedef is None or type_.name == "Object":
            return text
        return self.coerce(text, type_)


# Values already of their target's Python type (and range) need no conversion: the common case.
_EXACT: dict[str, tuple[type, int | None, int | None]] = {
    "Int": (int, -(2**31), 2**31 - 1),
    "Long": (int, -(2**63), 2**63 - 1),
    "Double": (float, None, None),
    "Float": (float, None, None),
    "String": (str, None, None),
    "Bool": (bool, None, None),
}
_NOT_NULL = frozenset({"Int", "Long", "Float", "Double", "Bool", "DateTime", "TimeSpan", "Guid"})
_RANGE_CHECKED = frozenset({"Int", "Long"})
_NATIVE: tuple[tuple[type, str], ...] = (
    (bool, "Bool"),
    (int, "Long"),
    (float, "Double"),
    (str, "String"),
    (dt.datetime, "DateTime"),
    (dt.timedelta, "TimeSpan"),
    (uuid.UUID, "Guid"),
    (Color, "Color"),
    (Blob, "Blob"),
    (ProcessingOptions, "ProcessingOptions"),
    (tuple, "Tuple"),
)


def _decode_exact(data: Json, type_: WitType, exact: tuple[type, int | None, int | None]) -> Any:
    python, low, high = exact
    if python is float and type(data) is int:
        return float(data)
    if type(data) is not python:
        raise ConversionError(f"{describe(data)} is not a {type_}")
    if low is not None and high is not None and not low <= cast(int, data) <= high:
        raise ConversionError(f"{data} is out of the range of {type_}")
    return data


def _is_instance(value: Any, typedef: TypeDef) -> bool:
    if isinstance(value, bool) and typedef.python is not bool:
        return False
    return isinstance(value, typedef.python)


def describe(value: Any) -> str:
    """A value named for an error message: its kind and a short rendering."""
    from witengine.runtime.values import to_text

    text = to_text(value)
    if len(text) > 40:
        text = text[:37] + "…"
    kind = {bool: "Bool", int: "number", float: "number", str: "text", list: "collection"}.get(
        type(value), type(value).__name__
    )
    return f"{kind} {text!r}" if isinstance(value, str) else f"{kind} {text}"
