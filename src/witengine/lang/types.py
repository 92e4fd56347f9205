"""Static types and the catalog interface the checker reads.

A `WitType` is what the checker knows of a value: its name, the element type of a collection and,
for tuples built by `Zip` or `Tuple(…)`, the item types. The `Catalog` protocol is how the checker
learns which types and activities exist; the runtime's library implements it. Nothing here runs
anything.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from typing import Protocol

COLLECTION = "Collection"


@dataclass(frozen=True)
class WitType:
    """A static type. Collections carry their element type; tuples may carry their item types."""

    name: str
    element: WitType | None = None
    items: tuple[WitType, ...] | None = field(default=None, compare=False)

    def __str__(self) -> str:
        return self.name

    @property
    def is_collection(self) -> bool:
        return self.element is not None


def collection_of(element: WitType) -> WitType:
    """The `XCollection` type of element type X."""
    return WitType(element.name + COLLECTION, element=element)


def tuple_of(items: Sequence[WitType]) -> WitType:
    """A `Tuple` whose item types are known."""
    return WitType("Tuple", items=tuple(items))


OBJECT = WitType("Object")
INT = WitType("Int")
LONG = WitType("Long")
FLOAT = WitType("Float")
DOUBLE = WitType("Double")
BOOL = WitType("Bool")
STRING = WitType("String")
TUPLE = WitType("Tuple")
PROCESSING_OPTIONS = WitType("ProcessingOptions")
# Internal types that scripts cannot name.
NULL = WitType("null")
NOTHING = WitType("Nothing")  # element type of the empty array `[]`
ERROR = WitType("?")  # the type of an expression already reported as wrong; silences cascades
EMPTY_COLLECTION = WitType("[]", element=NOTHING)

NUMERIC_ORDER = ("Int", "Long", "Float", "Double")
# Types whose values are never null, like the value types of the .NET platform Wit comes from.
VALUE_TYPES = frozenset({"Int", "Long", "Float", "Double", "Bool", "DateTime", "TimeSpan", "Guid"})
ORDERED_TYPES = frozenset({*NUMERIC_ORDER, "String", "DateTime", "TimeSpan"})


def is_numeric(t: WitType) -> bool:
    return t.name in NUMERIC_ORDER


def wider_numeric(a: WitType, b: WitType) -> WitType:
    """The result type of arithmetic on two numeric types."""
    return a if NUMERIC_ORDER.index(a.name) >= NUMERIC_ORDER.index(b.name) else b


def is_dynamic(t: WitType) -> bool:
    """Object and already-reported errors: checked at run time (or not at all)."""
    return t.name in ("Object", "?")


class Placement(StrEnum):
    """Where an activity may run."""

    HUB = "hub"
    NODE = "node"
    ANYWHERE = "anywhere"


@dataclass(frozen=True)
class ParamSpec:
    name: str
    type: WitType
    optional: bool = False


ResultRule = Callable[[Sequence[WitType]], "WitType | str"]


@dataclass(frozen=True)
class ActivitySpec:
    """What the checker knows of one activity: its signature and where it may run.

    `returns` is None for activities that return no value. `variadic` is the type of any further
    arguments after `params`. `result` computes the result type of a generic built-in (such as
    `Zip` or `Concat`) from the argument types, or returns an error message.
    """

    name: str
    params: tuple[ParamSpec, ...]
    returns: WitType | None
    variadic: WitType | None = None
    placement: Placement = Placement.ANYWHERE
    summary: str = ""
    result: ResultRule | None = field(default=None, compare=False)

    def signature(self) -> str:
        parts = [f"{p.type}{'?' if p.optional else ''} {p.name}" for p in self.params]
        if self.variadic is not None:
            parts.append(f"{self.variadic}…")
        tail = f" -> {self.returns}" if self.returns is not None else ""
        return f"{self.name}({', '.join(parts)}){tail}"

    def argument_types(self, count: int) -> tuple[WitType, ...]:
        """The types of the first `count` arguments: the parameters', then the variadic type
        for the rest. Worked out once per count: asked for every call, a node's every item."""
        known = self._argument_types.get(count)
        if known is None:
            types = [param.type for param in self.params[:count]]
            if count > len(types) and self.variadic is not None:
                types += [self.variadic] * (count - len(types))
            known = self._argument_types[count] = tuple(types)
        return known

    @cached_property
    def _argument_types(self) -> dict[int, tuple[WitType, ...]]:
        return {}

    @cached_property  # asked for every call of the activity, on nodes for every item
    def min_args(self) -> int:
        return sum(1 for p in self.params if not p.optional)

    @cached_property
    def max_args(self) -> int | None:
        return None if self.variadic is not None else len(self.params)


@dataclass(frozen=True)
class TypeSpec:
    """What the checker knows of one type: what its constructor accepts, and its members.

    `accepts` lists the type names a one-argument constructor call converts from; a value of one
    of those types may be assigned to a variable of this type (an implicit constructor call).
    """

    name: str
    accepts: frozenset[str] = frozenset()
    members: Mapping[str, WitType] = field(default_factory=dict)
    nullable: bool = True
    summary: str = ""


class Catalog(Protocol):
    """The types and activities a script may use."""

    def activity(self, name: str) -> ActivitySpec | None: ...

    def activity_names(self) -> Iterable[str]: ...

    def type_spec(self, name: str) -> TypeSpec | None: ...

    def type_names(self) -> Iterable[str]: ...


def resolve_type(name: str, catalog: Catalog) -> WitType | None:
    """The type a script names, `XCollection` included, or None when it is unknown."""
    if catalog.type_spec(name) is not None:
        return WitType(name)
    if name.endswith(COLLECTION) and len(name) > len(COLLECTION):
        element = resolve_type(name[: -len(COLLECTION)], catalog)
        return collection_of(element) if element is not None else None
    return None


def assignable(source: WitType, target: WitType, catalog: Catalog) -> bool:
    """Whether a value of `source` may be used where `target` is expected.

    Same type, dynamic types (Object), numeric widening, element-wise for collections, null for
    types that admit it, and anything the target's constructor accepts (an implicit constructor).
    """
    if source.name == target.name or is_dynamic(source) or is_dynamic(target):
        return True
    if source == NULL:
        return target.name not in VALUE_TYPES
    if source.name == NOTHING.name:
        return True
    if source.element is not None and target.element is not None:
        return assignable(source.element, target.element, catalog)
    if (
        is_numeric(source)
        and is_numeric(target)
        and NUMERIC_ORDER.index(source.name) <= NUMERIC_ORDER.index(target.name)
    ):
        return True
    # A narrowing (Double to Float, Long to Int) is still an implicit constructor call when the
    # target's constructor accepts the source; the value is range-checked when the job runs.
    spec = catalog.type_spec(target.name)
    return spec is not None and source.name in spec.accepts
