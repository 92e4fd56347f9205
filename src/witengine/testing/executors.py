"""`InlineExecutor`: the `Executor` seam's in-process twin, for fast and deterministic tests.

It runs the items of a map one after another in the calling process, through the same
`invoke_json` that process pools and node agents use, so arguments and results still travel as
JSON. Between items it yields to the event loop, so a cancelled job stops inside a map.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from witengine.errors import ActivityError
from witengine.runtime.context import ActivityContext
from witengine.runtime.executor import Executor, ItemFailed, MapRequest, Progress
from witengine.runtime.invoke import invoke_json
from witengine.runtime.library import Json, Library


class InlineExecutor:
    """Runs map items in order, in this process; remembers every request it was given."""

    def __init__(self, library: Library, context: ActivityContext | None = None) -> None:
        self.library = library
        self.context = context
        self.requests: list[MapRequest] = []
        self.calls: list[tuple[str, list[Json]]] = []  # (activity, JSON arguments) as they ran

    async def map(self, request: MapRequest, progress: Progress) -> list[Json]:
        self.requests.append(request)
        total = len(request.items)
        results: list[Json] = []
        for position, args in enumerate(request.items):
            await asyncio.sleep(0)  # a cancellation lands between items, as on a real pool
            self.calls.append((request.activity, list(args)))
            try:
                results.append(invoke_json(self.library, request.activity, args, self.context))
            except ActivityError as error:
                raise ItemFailed(position, str(error)) from None
            progress(position + 1, total)
        return results


if TYPE_CHECKING:
    _twin: type[Executor] = InlineExecutor  # mypy checks here that it is an Executor
