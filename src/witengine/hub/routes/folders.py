"""Job folder routes: `GET /resources` (the nodes, their tools and the waiting job files each
could run) and `POST /folders/take` (run a waiting file now, on a named node, or fail it).

The files' records are on the blackboard, written by the watchers (witengine.folders); these
routes read them and write a take request there, which the file's watcher acts on.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request, status

from witengine.errors import WitError
from witengine.folders.records import PREFIX, FileRecord, FileState, take_key
from witengine.folders.resources import WaitingFile, by_node, file_records, find, waiting
from witengine.hub.auth.gate import principal_of
from witengine.hub.board.board import Board, BoardRefused
from witengine.hub.board.rules import token_writer
from witengine.hub.dispatch import Dispatcher
from witengine.hub.routes.node_list import NodeListing
from witengine.hub.store.base import Store
from witengine.protocol import ErrorBody
from witengine.protocol.folders import (
    FileTaken,
    JobFileInfo,
    NodeResources,
    Resources,
    TakeFile,
)

MAX_RECORDS = 10_000  # job file records read at once


def folder_router(dispatcher: Dispatcher, store: Store, board: Board) -> APIRouter:
    router = APIRouter(tags=["folders"])

    def records() -> list[FileRecord]:
        return file_records((e.key, e.value) for e in board.keys(PREFIX, MAX_RECORDS))

    @router.get("/resources", response_model=Resources)
    async def resources() -> Resources:
        nodes = NodeListing().summaries(dispatcher, store)
        files = waiting(records(), nodes)
        could = by_node(files, nodes)
        return Resources(
            nodes=[
                NodeResources(
                    id=n.id,
                    name=n.name,
                    state=n.state,
                    capabilities=n.capabilities,
                    could_run=could.get(n.name, []),
                )
                for n in nodes
            ],
            waiting=[_info(f) for f in files],
        )

    refusals: dict[int | str, dict[str, Any]] = {
        404: {"model": ErrorBody},
        409: {"model": ErrorBody},
    }

    @router.post("/folders/take", response_model=FileTaken, responses=refusals)
    async def take(body: TakeFile, request: Request) -> FileTaken:
        if body.node is not None and body.fail:
            raise HTTPException(422, "a node runs the file, fail fails it: give one")
        found = [r for r in find(records(), body.file) if r.state is FileState.WAITING]
        if not found:
            raise HTTPException(
                status.HTTP_404_NOT_FOUND,
                f"no waiting job file {body.file!r} (see wit resources --jobs)",
            )
        if len(found) > 1:
            places = ", ".join(f"{r.folder}/{r.file}" for r in found)
            raise HTTPException(
                status.HTTP_409_CONFLICT,
                f"{body.file!r} waits in several folders ({places}): name it FOLDER/NAME.EXT",
            )
        if body.node is not None and body.node not in {r.name for r in store.list_nodes()}:
            raise HTTPException(
                status.HTTP_404_NOT_FOUND, f"no node named {body.node!r} (see wit nodes)"
            )
        record = found[0]
        principal = principal_of(request)
        writer = token_writer(principal.role, principal.token_id, principal.node_id)
        value = {"node": body.node, "fail": body.fail}
        try:
            board.write(take_key(record.folder, record.file), value, writer)
        except BoardRefused as refused:
            raise HTTPException(status.HTTP_403_FORBIDDEN, str(refused)) from None
        except WitError as error:  # the blackboard is full, say
            raise HTTPException(status.HTTP_409_CONFLICT, str(error)) from None
        return FileTaken(folder=record.folder, file=record.file, node=body.node, fail=body.fail)

    return router


def _info(found: WaitingFile) -> JobFileInfo:
    record = found.record
    return JobFileInfo(
        folder=record.folder,
        file=record.file,
        state=record.state.value,
        needs=list(record.needs),
        reason=record.reason,
        job=record.job,
        nodes=list(found.nodes),
    )
