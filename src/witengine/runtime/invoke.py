"""Calling one activity: arguments in, value out, any failure as a readable ActivityError.

Shared by the interpreter (values in memory), the local process pool and node agents (values as
JSON), so an activity behaves the same wherever it runs.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from witengine.errors import ActivityError, WitError
from witengine.lang.types import WitType
from witengine.runtime.context import ActivityContext
from witengine.runtime.library import ActivityDef, Json, Library
from witengine.runtime.values import ConversionError


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
    except Exception as error:  # a plugin's bug or failure, reported, never raised through
        raise _failure(name, error, context) from error
    return _checked_result(library, definition, value)


def _failure(name: str, error: Exception, context: ActivityContext | None) -> ActivityError:
    said = str(error) if isinstance(error, WitError) else f"{type(error).__name__}: {error}"
    return ActivityError(f"{name}: {context.without_paths(said) if context else said}")


def _checked_result(library: Library, definition: ActivityDef, value: Any) -> Any:
    returns = definition.spec.returns
    if returns is None or definition.spec.result is not None:
        return value
    try:
        return library.coerce(value, returns)
    except ConversionError as error:
        raise ActivityError(
            f"{definition.name}: returned a value that is not a {returns}: {error}"
        ) from None


def coerce_args(
    library: Library,
    definition: ActivityDef,
    args: Sequence[Any],
    types: Sequence[WitType] | None = None,
) -> list[Any]:
    """Arguments converted to the activity's parameter types (implicit constructors); `types`
    are their types, when the caller has them already (a map's every item)."""
    if types is None:
        types = definition.spec.argument_types(len(args))
    try:
        return [library.coerce(a, t) for a, t in zip(args, types, strict=True)]
    except ConversionError as error:
        raise ActivityError(f"{definition.name}: {error}") from None


def invoke_json(
    library: Library, activity: str, args: Sequence[Json], context: ActivityContext | None
) -> Json:
    """Call an activity with JSON arguments; return its JSON result. Raises ActivityError."""
    definition = library.activities.get(activity)
    if definition is None:
        raise ActivityError(f"{activity}: no such activity in this process's plugins")
    values = _decode_args(library, definition, args)
    return _encoded(library, definition, run_activity(library, definition, values, context))


def _decode_args(library: Library, definition: ActivityDef, args: Sequence[Json]) -> list[Any]:
    activity = definition.name
    low, high = definition.spec.min_args, definition.spec.max_args
    if len(args) < low or (high is not None and len(args) > high):
        wanted = f"{low} to {high}" if high is not None and high != low else f"{low}"
        raise ActivityError(
            f"{activity}: bad arguments: takes {wanted}{'' if high is not None else ' or more'}, "
            f"got {len(args)}"
        )
    types = definition.spec.argument_types(len(args))
    try:
        return [library.decode(a, t) for a, t in zip(args, types, strict=True)]
    except (ConversionError, KeyError, TypeError, ValueError) as error:
        raise ActivityError(f"{activity}: bad arguments: {error}") from None


def _encoded(library: Library, definition: ActivityDef, result: Any) -> Json:
    returns = definition.spec.returns
    if returns is None:
        return None if result is None else library.encode_dynamic(result)
    return library.encode(result, returns)


Outcome = tuple[int, bool, Json]  # item position, whether it succeeded, JSON result or error


def invoke_batch_json(
    library: Library,
    activity: str,
    items: Sequence[Sequence[Json]],
    context: ActivityContext | None,
) -> Iterator[Outcome]:
    """Call an activity for every item (each a list of JSON arguments); yield each item's
    outcome as it finishes, in any order, every item exactly once.

    Two or more items go to the activity's batch form when it has one (see `Plugin.batch`);
    the items it leaves out run one at a time.
    """
    definition = library.activities.get(activity)
    if definition is None or definition.batch is None or context is None or len(items) < 2:
        for position, args in enumerate(items):
            try:
                yield position, True, invoke_json(library, activity, args, context)
            except ActivityError as error:
                yield position, False, str(error)
        return
    left: dict[int, list[Any]] = {}  # items not yet reported, by position
    for position, args in enumerate(items):
        try:
            left[position] = _decode_args(library, definition, args)
        except ActivityError as error:
            yield position, False, str(error)
    order = list(left)  # the batch form's positions -> the items'
    try:
        for index, result in definition.batch(context, [left[p] for p in order]):
            position = order[index]
            if left.pop(position, None) is not None:  # an item reported twice: the first counts
                yield _batch_outcome(library, definition, position, result, context)
    except Exception as error:
        message = str(_failure(definition.name, error, context))
        for position in list(left):
            yield position, False, message
        return
    for position, values in left.items():
        try:
            value = run_activity(library, definition, values, context)
            yield position, True, _encoded(library, definition, value)
        except ActivityError as error:
            yield position, False, str(error)


def _batch_outcome(
    library: Library,
    definition: ActivityDef,
    position: int,
    result: Any,
    context: ActivityContext | None,
) -> Outcome:
    if isinstance(result, Exception):
        return position, False, str(_failure(definition.name, result, context))
    try:
        return (
            position,
            True,
            _encoded(library, definition, _checked_result(library, definition, result)),
        )
    except ActivityError as error:
        return position, False, str(error)


def work_json(library: Library, activity: str, items: Sequence[Sequence[Json]]) -> list[float]:
    """Each item's estimated work in its activity's unit, from its JSON arguments (1 per item
    when the activity declares no estimate). Raises ActivityError."""
    definition = library.activities.get(activity)
    if definition is None:
        raise ActivityError(f"{activity}: no such activity in this process's plugins")
    if definition.estimate is None:
        return [1.0] * len(items)
    return [definition.work(_decode_args(library, definition, args)) for args in items]


def requirements_json(library: Library, activity: str, args: Sequence[Json]) -> Any:
    """What the node that runs one item must have, from its JSON arguments: the activity's
    `item_requirements` answer (a `Requirements`), or None when it declares none. Raises
    ActivityError naming the activity when the arguments or the answer are wrong."""
    definition = library.activities.get(activity)
    if definition is None or definition.item_requirements is None:
        return None
    values = _decode_args(library, definition, args)
    try:
        return definition.item_requirements(*values)
    except WitError as error:
        raise ActivityError(f"{activity}: {error}") from None
    except Exception as error:  # a plugin's bug, reported with the activity's name
        raise ActivityError(
            f"{activity}: its requirements failed: {type(error).__name__}: {error}"
        ) from error
