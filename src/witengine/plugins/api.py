"""The plugin SDK: the only module plugin authors import.

A plugin is a `Plugin` object that a package exposes under the `witengine.plugins` entry point.
Activities are plain Python functions whose annotations give their Wit signature; types are
classes that can be made from a value and encoded as JSON. Files are `Blob` values, never paths.

    plugin = Plugin("compute", version="1.0")

    @plugin.activity("Compute.IsPrime")
    def is_prime(n: Long) -> bool: ...

Each activity may also say how much work one item is, so the scheduler can share items out by
each node's speed, and what a node needs to run it; a benchmark measures that speed:

    @plugin.activity(
        "Render.Frame",
        unit="pixel-samples@1",  # versioned: change the version when the unit's meaning changes
        estimate=lambda scene, frame, samples: 1920 * 1080 * samples,
        requires=Requirements(software="blender>=3.0", min_ram_gib=4),
        placement=Placement.NODE,
    )
    def frame(context: ActivityContext, scene: Blob, frame: Int, samples: Int) -> Blob: ...

    @plugin.benchmark("Render.Frame")
    def frame_benchmark(context: ActivityContext) -> float:
        ...  # render a small scene shipped in the plugin; return the pixel-samples done

Without an estimate, each item is one unit of `items@1`. `compare=` says how two nodes' results
for one item are compared, so that nodes nobody vouches for may run it (their results are checked
against another node's): `EXACT` for a deterministic activity, `ImagesWithin(level=2,
share=0.001)` for rendered images, `TrustedCrop(by=…, share=0.05)` for expensive frames (a trusted
node re-renders a random crop of each result to check), or a function of two results; without
it, only trusted nodes run the activity. Nodes run benchmarks in idle time, at
low priority, repeating the routine until a minimum duration; a node that lacks a requirement
does not offer the activity.
"""

from __future__ import annotations

import datetime as dt
import inspect
import re
import types
import typing
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Annotated, Any, Protocol, Self, TypeVar

from witengine.errors import PluginError
from witengine.lang.types import (
    ActivitySpec,
    ParamSpec,
    Placement,
    TypeSpec,
    WitType,
    collection_of,
)
from witengine.plugins.detection import Tool
from witengine.plugins.requirements import Requirements
from witengine.runtime.blobs import Blob
from witengine.runtime.comparisons import (
    EXACT,
    Comparison,
    ImagesWithin,
    TrustedCrop,
    comparison_of,
    comparison_problem,
)
from witengine.runtime.context import ActivityContext
from witengine.runtime.library import (
    DEFAULT_UNIT,
    ActivityDef,
    BatchResults,
    Files,
    Json,
    Reader,
    TypeDef,
)
from witengine.runtime.values import Color, ConversionError, ProcessingOptions

__all__ = [
    "EXACT",
    "ActivityContext",
    "BatchResults",
    "Blob",
    "Color",
    "ConversionError",
    "Double",
    "Files",
    "Float",
    "ImagesWithin",
    "Int",
    "JobFile",
    "Long",
    "Placement",
    "Plugin",
    "ProcessingOptions",
    "Requirements",
    "Tool",
    "TrustedCrop",
    "WitName",
    "WitValue",
]


@dataclass(frozen=True)
class WitName:
    """Marks an annotation with the Wit type it stands for: `Annotated[int, WitName("Long")]`."""

    name: str


Int = Annotated[int, WitName("Int")]
Long = Annotated[int, WitName("Long")]
Float = Annotated[float, WitName("Float")]
Double = Annotated[float, WitName("Double")]


class WitValue(Protocol):
    """What a plugin type's class provides."""

    @classmethod
    def from_value(cls, value: Any) -> Self:
        """Make a value from one value of a type the Wit type accepts (a literal, most often)."""
        ...

    def to_json(self) -> Json: ...

    @classmethod
    def from_json(cls, data: Json) -> Self: ...


_NATIVE: dict[Any, str] = {
    bool: "Bool",
    int: "Int",
    float: "Double",
    str: "String",
    dt.datetime: "DateTime",
    dt.timedelta: "TimeSpan",
    uuid.UUID: "Guid",
    Color: "Color",
    Blob: "Blob",
    ProcessingOptions: "ProcessingOptions",
    tuple: "Tuple",
    object: "Object",
    Any: "Object",
}

F = TypeVar("F", bound=Callable[..., Any])
C = TypeVar("C", bound=type)
B = TypeVar("B", bound=Callable[..., float])
R = TypeVar("R", bound=Reader)
G = TypeVar("G", bound=Callable[[ActivityContext, Sequence[Sequence[Any]]], BatchResults])
UNIT_PATTERN = re.compile(r"^[a-z][a-z0-9-]*@[1-9][0-9]*$")


@dataclass(frozen=True)
class JobFile:
    """How a file of one extension dropped into a watched folder runs (`Plugin.job_file`)."""

    extension: str  # ".py", lowercase, with its dot
    script: str  # the Wit job it runs
    parameters: Callable[[str], Mapping[str, str]]  # the file's path -> the job's text parameters
    texts: Mapping[str, str] = field(default_factory=dict)  # file written -> String variable


@dataclass(frozen=True)
class _Declared:
    """An activity as its plugin declared it."""

    name: str
    function: Callable[..., Any]
    summary: str
    placement: Placement
    unit: str
    estimate: Callable[..., float] | None
    requires: Requirements | Callable[..., Requirements] | None
    compare: Comparison | None


@dataclass
class Plugin:
    """A named set of activities and types, versioned as one unit."""

    name: str
    version: str
    summary: str = ""
    ref: str = ""  # "module:attribute" where processes that load plugins by name find it
    _activities: list[_Declared] = field(default_factory=list, repr=False)
    _types: list[tuple[str, type, frozenset[str], Mapping[str, str], str]] = field(
        default_factory=list, repr=False
    )
    _benchmarks: dict[str, Callable[..., float]] = field(default_factory=dict, repr=False)
    _batches: dict[str, Callable[..., BatchResults]] = field(default_factory=dict, repr=False)
    _readers: dict[str, Reader] = field(default_factory=dict, repr=False)
    _tools: list[Tool] = field(default_factory=list, repr=False)
    _job_files: list[JobFile] = field(default_factory=list, repr=False)

    def activity(
        self,
        name: str,
        *,
        summary: str | None = None,
        placement: Placement = Placement.ANYWHERE,
        unit: str = DEFAULT_UNIT,
        estimate: Callable[..., float] | None = None,
        requires: Requirements | Callable[..., Requirements] | None = None,
        compare: Comparison | Callable[[Any, Any], bool] | None = None,
    ) -> Callable[[F], F]:
        """Register a function as the activity `name` (`Module.Activity`).

        `unit` names what its work is measured in, with a version (`compute-units@1`);
        `estimate` takes an item's arguments (as the activity does, without the context) and
        returns its work in that unit; `requires` says what a node must have to run it: a
        `Requirements`, or a function of an item's arguments that gives them (`Tool.Run`'s tool
        is an argument), which the hub asks of every item of a map before it chooses nodes;
        `compare` says how two nodes' results for one item are compared (`EXACT`,
        `ImagesWithin(…)`, `TrustedCrop(…)` or a function of two results that says whether
        they agree): only an
        activity that declares it runs on nodes whose results must be verified.
        """
        where = f"plugin '{self.name}': activity '{name}'"
        if "." not in name:
            raise PluginError(
                f"plugin '{self.name}': activity name '{name}' must be Module.Activity"
            )
        if not UNIT_PATTERN.match(unit):
            raise PluginError(
                f"{where}: unit '{unit}' must be a lowercase name and a version, "
                "like 'pixel-samples@1'"
            )
        if estimate is not None and unit == DEFAULT_UNIT:
            raise PluginError(f"{where}: an estimate needs the unit it counts in (unit='…@1')")
        if requires is not None and not (isinstance(requires, Requirements) or callable(requires)):
            raise PluginError(
                f"{where}: requires must be a Requirements(…) or a function of the arguments "
                "that gives one"
            )
        comparison = None
        if compare is not None:
            problem = comparison_problem(compare)
            if problem is not None:
                raise PluginError(f"{where}: {problem}")
            comparison = comparison_of(compare)

        def register(function: F) -> F:
            if any(known.name == name for known in self._activities):
                raise PluginError(f"plugin '{self.name}': activity '{name}' is registered twice")
            text = (
                summary if summary is not None else (inspect.getdoc(function) or "").split("\n")[0]
            )
            self._activities.append(
                _Declared(name, function, text, placement, unit, estimate, requires, comparison)
            )
            return function

        return register

    def benchmark(self, activity: str) -> Callable[[B], B]:
        """Register the benchmark of one of this plugin's activities.

        The routine does a fixed amount of representative work (with test data shipped in the
        plugin) and returns how much, in the activity's unit. It may take an `ActivityContext`
        as its only parameter. It runs once to warm up, then again and again until a minimum
        duration has passed; the node reports the work done per second as its rate.
        """

        def register(routine: B) -> B:
            if activity in self._benchmarks:
                raise PluginError(f"plugin '{self.name}': activity '{activity}' has two benchmarks")
            self._benchmarks[activity] = routine
            return routine

        return register

    def batch(self, activity: str) -> Callable[[G], G]:
        """Register the batch form of one of this plugin's activities, for work that is cheaper
        done together (frames of one scene rendered by one Blender process).

        It is called as `function(context, items)`, where `items[i]` is the arguments of item i,
        and yields `(i, result)` as each item finishes, in any order; a result that is an
        Exception fails that item alone. Items it does not yield are then run one by one by the
        activity itself; if it raises, every item it has not yielded fails with that error.
        Nodes and the local pool use it for two or more items at once.
        """

        def register(function: G) -> G:
            where = f"plugin '{self.name}': the batch form of '{activity}'"
            if activity in self._batches:
                raise PluginError(f"{where} is registered twice")
            try:
                inspect.signature(function).bind(None, ())
            except TypeError:
                raise PluginError(f"{where} must take (context, items)") from None
            self._batches[activity] = function
            return function

        return register

    def reader(self, type_name: str) -> Callable[[R], R]:
        """Register how a job parameter of one of this plugin's types, or of a collection of
        one, is read from text that names files: `frames=shot.blend@1-48`.

        It is called as `function(text, files)`, where `files(path)` makes a path written in
        the text into a Blob, and returns the value. For the same text it must ask for the same
        paths in the same order: a hub reads the text again with the files the client uploaded.
        """

        def register(function: R) -> R:
            if type_name in self._readers:
                raise PluginError(f"plugin '{self.name}': type '{type_name}' has two readers")
            self._readers[type_name] = function
            return function

        return register

    def type(
        self,
        name: str,
        *,
        accepts: Sequence[str] = ("String",),
        members: Mapping[str, str] | None = None,
        summary: str = "",
    ) -> Callable[[C], C]:
        """Register a class as the Wit type `name`; `accepts` lists what its constructor takes."""

        def register(cls: C) -> C:
            where = f"plugin '{self.name}': type '{name}'"
            if any(known == name for known, *_ in self._types):
                raise PluginError(f"{where} is registered twice")
            for method in ("from_value", "to_json", "from_json"):
                if not callable(getattr(cls, method, None)):
                    raise PluginError(f"{where} ({cls.__name__}) lacks {method}()")
            cls.__wit_type__ = name  # type: ignore[attr-defined]
            self._types.append((name, cls, frozenset(accepts), dict(members or {}), summary))
            return cls

        return register

    def tool(
        self,
        name: str,
        *,
        version: Sequence[str],
        pattern: str,
        executables: Sequence[str] = (),
        timeout: float = 10.0,
    ) -> Tool:
        """Declare a program this plugin's activities use, so that nodes look for it: `name` as
        requirements write it, the arguments that make it print its version (`("--version",)`),
        a regular expression whose first group is that version, and the files to look for on the
        PATH (by default the name). Nodes report its version in their software."""
        if isinstance(version, str) or isinstance(executables, str):
            raise PluginError(
                f"plugin '{self.name}': tool '{name}': version and executables are sequences "
                "of strings, like ('--version',)"
            )
        try:
            declared = Tool(name, tuple(version), pattern, tuple(executables), timeout)
        except PluginError as error:
            raise PluginError(f"plugin '{self.name}': {error}") from None
        if any(known.name == declared.name for known in self._tools):
            raise PluginError(f"plugin '{self.name}': tool '{name}' is declared twice")
        self._tools.append(declared)
        return declared

    def job_file(
        self,
        extension: str,
        *,
        script: str,
        parameters: Callable[[str], Mapping[str, str]],
        texts: Mapping[str, str] | None = None,
    ) -> JobFile:
        """Declare how a file `NAME.EXT` dropped into a watched folder runs: the Wit job
        `script`, with the text parameters `parameters(path)` gives for the file's path (as
        `wit run` takes them: `{"script": path}`); `texts` names String variables of the job
        written beside its results as text files (`{"stdout.txt": "stdout"}`)."""
        where = f"plugin '{self.name}': job file '{extension}'"
        if not re.fullmatch(r"\.[a-z0-9]+", extension) or extension in (".wit", ".params"):
            raise PluginError(
                f"{where}: an extension is a dot and lowercase letters or digits ('.rib'), "
                "other than .wit and .params"
            )
        if not callable(parameters):
            raise PluginError(f"{where}: parameters must be a function of the file's path")
        if any(known.extension == extension for known in self._job_files):
            raise PluginError(f"{where} is declared twice")
        declared = JobFile(extension, script, parameters, dict(texts or {}))
        self._job_files.append(declared)
        return declared

    @property
    def job_files(self) -> tuple[JobFile, ...]:
        """The job files this plugin declared with `job_file`."""
        return tuple(self._job_files)

    @property
    def tools(self) -> tuple[Tool, ...]:
        """The programs this plugin declared with `tool`."""
        return tuple(self._tools)

    # ------------------------------------------------------- library parts

    def type_defs(self) -> list[TypeDef]:
        names = {name for name, *_ in self._types}
        for read in self._readers:
            if read not in names and read.removesuffix("Collection") not in names:
                raise PluginError(
                    f"plugin '{self.name}': a reader for '{read}', which is not one of its types "
                    "or their collections"
                )
        defs = []
        for name, cls, accepts, members, summary in self._types:
            spec = TypeSpec(
                name,
                accepts,
                {m: _named(t) for m, t in members.items()},
                summary=summary or (inspect.getdoc(cls) or "").split("\n")[0],
            )
            decode = cls.from_json  # type: ignore[attr-defined]  # checked in type()
            defs.append(
                TypeDef(
                    spec,
                    cls,
                    _constructor(cls, name),
                    _to_json,
                    decode,
                    read=self._readers.get(name),
                    read_many=self._readers.get(f"{name}Collection"),
                )
            )
        return defs

    def activity_defs(self) -> list[ActivityDef]:
        known = {declared.name for declared in self._activities}
        for name in self._benchmarks:
            if name not in known:
                raise PluginError(
                    f"plugin '{self.name}': a benchmark for '{name}', which it does not offer"
                )
        for name in self._batches:
            if name not in known:
                raise PluginError(
                    f"plugin '{self.name}': a batch form of '{name}', which it does not offer"
                )
        return [
            replace(
                _activity_def(self.name, declared, self._benchmarks.get(declared.name)),
                batch=self._batches.get(declared.name),
            )
            for declared in self._activities
        ]


def _constructor(cls: type, name: str) -> Callable[[Any], Any]:
    def construct(value: Any) -> Any:
        if isinstance(value, cls):
            return value
        try:
            return cls.from_value(value)  # type: ignore[attr-defined]
        except ConversionError:
            raise
        except (ValueError, TypeError, KeyError) as error:
            raise ConversionError(f"cannot make a {name} from {value!r}: {error}") from None

    return construct


def _to_json(value: Any) -> Json:
    return value.to_json()


def _named(name: str) -> WitType:
    if name.endswith("Collection") and len(name) > len("Collection"):
        return collection_of(_named(name[: -len("Collection")]))
    return WitType(name)


def wit_type_of(annotation: Any, where: str) -> WitType:
    """The Wit type a Python annotation stands for."""
    if typing.get_origin(annotation) is Annotated:
        for extra in annotation.__metadata__:
            if isinstance(extra, WitName):
                return _named(extra.name)
        annotation = typing.get_args(annotation)[0]
    origin = typing.get_origin(annotation)
    if origin in (list, Sequence, typing.Sequence):
        (element,) = typing.get_args(annotation) or (Any,)
        return collection_of(wit_type_of(element, where))
    if origin is tuple:
        return WitType("Tuple")
    if origin in (typing.Union, types.UnionType):
        rest = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(rest) == 1:
            return wit_type_of(rest[0], where)
    if annotation in _NATIVE:
        return WitType(_NATIVE[annotation])
    wit_name = getattr(annotation, "__wit_type__", None)
    if isinstance(wit_name, str):
        return WitType(wit_name)
    raise PluginError(f"{where}: no Wit type for the annotation {annotation!r}")


def _activity_def(
    plugin: str, declared: _Declared, benchmark: Callable[..., float] | None
) -> ActivityDef:
    name, function = declared.name, declared.function
    where = f"plugin '{plugin}': activity '{name}'"
    try:
        hints = typing.get_type_hints(function, include_extras=True)
    except Exception as error:
        raise PluginError(f"{where}: cannot read its annotations: {error}") from None
    signature = inspect.signature(function)
    params = []
    defaults: list[Any] = []
    takes_context = False
    for position, parameter in enumerate(signature.parameters.values()):
        annotation = hints.get(parameter.name, inspect.Parameter.empty)
        if annotation is ActivityContext:
            if position != 0:
                raise PluginError(f"{where}: the ActivityContext must be the first parameter")
            takes_context = True
            continue
        if annotation is inspect.Parameter.empty:
            raise PluginError(f"{where}: parameter '{parameter.name}' has no annotation")
        if parameter.kind not in (parameter.POSITIONAL_ONLY, parameter.POSITIONAL_OR_KEYWORD):
            raise PluginError(f"{where}: parameter '{parameter.name}' must be positional")
        optional = parameter.default is not inspect.Parameter.empty
        params.append(ParamSpec(parameter.name, wit_type_of(annotation, where), optional))
        defaults.append(parameter.default)
    if "return" not in hints:
        # An unannotated result would travel untyped; say "-> None" for an activity without one.
        raise PluginError(
            f"{where}: has no return annotation (write '-> None' if it returns nothing)"
        )
    returns_hint = hints["return"]
    returns = None if returns_hint in (None, type(None)) else wit_type_of(returns_hint, where)
    if isinstance(declared.compare, ImagesWithin | TrustedCrop) and returns is None:
        kind = type(declared.compare).__name__
        raise PluginError(
            f"{where}: compare={kind}(…) compares the images it returns, but it returns nothing"
        )
    spec = ActivitySpec(
        name, tuple(params), returns, placement=declared.placement, summary=declared.summary
    )
    estimate = None
    names = [p.name for p in params]
    if declared.estimate is not None:
        estimate = _estimate(declared.estimate, names, defaults, where)
    requires = declared.requires
    return ActivityDef(
        spec,
        function,
        plugin,
        takes_context,
        unit=declared.unit,
        estimate=estimate,
        benchmark=None if benchmark is None else _benchmark(benchmark, where),
        requirements=requires if isinstance(requires, Requirements) else None,
        item_requirements=(
            None
            if requires is None or isinstance(requires, Requirements)
            else _item_requirements(requires, names, defaults, where)
        ),
        compare=declared.compare,
    )


def _estimate(
    estimate: Callable[..., float], names: list[str], defaults: list[Any], where: str
) -> Callable[..., float]:
    """The estimate, called with every argument: those a script left out take their defaults."""
    try:
        inspect.signature(estimate).bind(*names)
    except TypeError:
        raise PluginError(
            f"{where}: its estimate must take the activity's arguments ({', '.join(names)})"
        ) from None
    except ValueError:  # no signature to read (some built-ins): trust it
        pass

    def with_defaults(*args: Any) -> float:
        return estimate(*args, *defaults[len(args) :])

    return with_defaults


def _item_requirements(
    requires: Callable[..., Requirements], names: list[str], defaults: list[Any], where: str
) -> Callable[..., Requirements]:
    """The function of an item's arguments, called with every argument (left-out ones take
    their defaults), whose answer must be a Requirements."""
    try:
        inspect.signature(requires).bind(*names)
    except TypeError:
        raise PluginError(
            f"{where}: its requires function must take the activity's arguments "
            f"({', '.join(names)})"
        ) from None
    except ValueError:  # no signature to read (some built-ins): trust it
        pass

    def with_defaults(*args: Any) -> Requirements:
        found = requires(*args, *defaults[len(args) :])
        if not isinstance(found, Requirements):
            raise PluginError(f"{where}: its requires function gave {found!r}, not Requirements")
        return found

    return with_defaults


def _benchmark(routine: Callable[..., float], where: str) -> Callable[[ActivityContext], float]:
    """The routine, called with the context whether or not it takes one."""
    try:
        hints = typing.get_type_hints(routine)
        parameters = list(inspect.signature(routine).parameters.values())
    except Exception as error:
        raise PluginError(f"{where}: cannot read its benchmark's signature: {error}") from None
    if not parameters:
        return lambda context: routine()
    if len(parameters) == 1 and hints.get(parameters[0].name) is ActivityContext:
        return routine
    raise PluginError(
        f"{where}: its benchmark may take only an ActivityContext, "
        f"not ({', '.join(p.name for p in parameters)})"
    )
