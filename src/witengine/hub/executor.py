"""The hub's `Executor`: maps go to the dispatcher and out to nodes.

One `HubExecutor` per job run numbers the maps in the order the interpreter reaches them, so
that a job run again after a hub restart finds the maps (and committed results) of its last run.
"""

from __future__ import annotations

from witengine.hub.dispatcher import Dispatcher, Json
from witengine.runtime.executor import MapRequest, Progress


class HubExecutor:
    def __init__(self, dispatcher: Dispatcher, job_id: str) -> None:
        self.dispatcher = dispatcher
        self.job_id = job_id
        self.seq = 0

    async def map(self, request: MapRequest, progress: Progress) -> list[Json]:
        self.seq += 1
        return await self.dispatcher.run_map(self.job_id, self.seq, request, progress)
