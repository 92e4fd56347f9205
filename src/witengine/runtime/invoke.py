"""Calling one activity: arguments in, value out, any failure as a readable ActivityError.

Shared by the interpreter (values in memory), the local process pool and node agents (values as
JSON), so an activity behaves the same wherever it runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from witengine.errors import ActivityError, WitError
from witengine.lang.types import ParamSpec
from witengine.runtime.blobs import Blob, BlobStore
from witengine.runtime.library import ActivityDef, Json, Library
from witengine.runtime.values import ConversionError


@dataclass
class ActivityContext:
    """What an activity may use besides its arguments: blobs and a scratch directory.

    `speed` is a node's synthetic speed factor (`wit node --speed`), for tests and benchmarks of
    the scheduler: only `Compute.Work` honours it, doing 1/speed times the work per unit.
    """

    blobs: BlobStore
    work_dir: Path
    speed: float = 1.0

    def file(self, blob: Blob) -> Path:
        """A local file with the blob's bytes."""
        return self.blobs.path(blob)

    def save_file(self, path: Path, name: str | None = None) -> Blob:
        """Store a file the activity made and return it as a Blob value."""
        return self.blobs.put_file(path, name)

    def save_bytes(self, data: bytes, name: str) -> Blob:
        return self.blobs.put_bytes(data, name)


def _params(definition: ActivityDef, count: int) -> list[ParamSpec]:
    spec = definition.spec
    params = list(spec.params[:count])
    if count > len(params) and spec.variadic is not None:
        params += [ParamSpec(f"argument {i + 1}", spec.variadic) for i in range(len(params), count)]
    return params


def run_activity(
    library: Library, definition: ActivityDef, args: Sequence[Any], context: ActivityContext | None
) -> Any:
    """Call an activity with arguments already of the right types; check what it returns."""
    name = definition.name
    call_args = list(args)
    if definition.takes_context:
        if context is None:
            raise ActivityError(f"{name}: needs an activity context, and none was given")
        call_args.insert(0, context)
    try:
        value = definition.function(*call_args)
    except WitError as error:
        raise ActivityError(f"{name}: {error}") from error
    except Exception as error:  # a plugin's bug or failure, reported, never raised through
        raise ActivityError(f"{name}: {type(error).__name__}: {error}") from error
    returns = definition.spec.returns
    if returns is None or definition.spec.result is not None:
        return value
    try:
        return library.coerce(value, returns)
    except ConversionError as error:
        raise ActivityError(f"{name}: returned a value that is not a {returns}: {error}") from None


def coerce_args(library: Library, definition: ActivityDef, args: Sequence[Any]) -> list[Any]:
    """Arguments converted to the activity's parameter types (implicit constructors)."""
    try:
        return [
            library.coerce(a, p.type)
            for a, p in zip(args, _params(definition, len(args)), strict=True)
        ]
    except ConversionError as error:
        raise ActivityError(f"{definition.name}: {error}") from None


def invoke_json(
    library: Library, activity: str, args: Sequence[Json], context: ActivityContext | None
) -> Json:
    """Call an activity with JSON arguments; return its JSON result. Raises ActivityError."""
    definition = library.activities.get(activity)
    if definition is None:
        raise ActivityError(f"{activity}: no such activity in this process's plugins")
    low, high = definition.spec.min_args, definition.spec.max_args
    if len(args) < low or (high is not None and len(args) > high):
        wanted = f"{low} to {high}" if high is not None and high != low else f"{low}"
        raise ActivityError(
            f"{activity}: bad arguments: takes {wanted}{'' if high is not None else ' or more'}, "
            f"got {len(args)}"
        )
    params = _params(definition, len(args))
    try:
        values = [library.decode(a, p.type) for a, p in zip(args, params, strict=True)]
    except (ConversionError, KeyError, TypeError, ValueError) as error:
        raise ActivityError(f"{activity}: bad arguments: {error}") from None
    result = run_activity(library, definition, values, context)
    returns = definition.spec.returns
    if returns is None:
        return None if result is None else library.encode_dynamic(result)
    return library.encode(result, returns)
