"""The hub's `Executor`: maps go to the dispatcher and out to nodes (or, with `EngineExecutor`,
to another engine that the hub was started with).

One `HubExecutor` per job run numbers the maps in the order the interpreter reaches them, so
that a job run again after a hub restart finds the maps (and committed results) of its last run.
A map whose ProcessingOptions name no pools may use the job's (`wit run --pools`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from witengine.hub.dispatch import Dispatcher, Json
from witengine.hub.limits import exceeded
from witengine.runtime.executor import Executor, MapRequest, Progress
from witengine.runtime.values import ProcessingOptions


class HubExecutor:
    def __init__(
        self,
        dispatcher: Dispatcher,
        job_id: str,
        max_items: int | None = None,
        pools: Sequence[str] | None = None,
    ) -> None:
        self.dispatcher = dispatcher
        self.job_id = job_id
        self.max_items = max_items  # items of one map: each is stored and tracked on the hub
        self.pools = tuple(pools) if pools is not None else None  # the job's; None: trusted
        self.seq = 0

    async def map(self, request: MapRequest, progress: Progress) -> list[Json]:
        self.seq += 1
        if self.max_items is not None and len(request.items) > self.max_items:
            raise exceeded("map_items", "the number of items", len(request.items), self.max_items)
        options = request.options or ProcessingOptions()
        if options.pools is None and self.pools is not None:
            request = replace(request, options=replace(options, pools=self.pools))
        return await self.dispatcher.run_map(self.job_id, self.seq, request, progress)


class EngineExecutor:
    """A job's maps sent to another engine (a Dask cluster: `wit hub --executor dask://…`)
    instead of the hub's nodes, within the hub's limit on the items of one map."""

    def __init__(self, engine: Executor, max_items: int | None = None) -> None:
        self.engine = engine
        self.max_items = max_items

    async def map(self, request: MapRequest, progress: Progress) -> list[Json]:
        if self.max_items is not None and len(request.items) > self.max_items:
            raise exceeded("map_items", "the number of items", len(request.items), self.max_items)
        return await self.engine.map(request, progress)
