"""Blackboard routes: read, write with compare-and-set, delete, list, history, and follow.

`PUT` and `DELETE` take `If-Match: <version>` (taken only at that version, else 412) and `PUT`
takes `If-None-Match: *` (taken only when the key has no value, else 412): compare-and-set in one
store transaction, so of many writers racing for one key exactly one wins. A key's version is
its answer's `ETag`. Writes pass the rules of `rules` (403 naming why); changes stream as
server-sent events numbered farm-wide, resumable with `since` or `Last-Event-ID`.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Header, HTTPException, Path, Query, Request, Response, status
from sse_starlette import EventSourceResponse

from witengine.errors import BoardConflict
from witengine.hub.auth.gate import AuthGate, principal_of
from witengine.hub.board.board import BadKey, BadValue, Board, BoardRefused
from witengine.hub.board.rules import KEY_PATTERN, Writer, token_writer
from witengine.hub.event_ids import resume_after
from witengine.hub.store.base import ANY_VERSION, BoardEntry
from witengine.protocol import MAX_INT64, ErrorBody
from witengine.protocol.board import BoardPut, BoardValue

T = TypeVar("T")
MAX_KEY = 1000  # characters a key's path may have at all; limits.board_key_chars is tighter
Key = Annotated[str, Path(min_length=1, max_length=MAX_KEY, pattern=KEY_PATTERN)]
Prefix = Annotated[str, Query(max_length=MAX_KEY, pattern=r"^[A-Za-z0-9._/-]*$")]


def value_of(entry: BoardEntry) -> BoardValue:
    return BoardValue(
        key=entry.key,
        version=entry.version,
        value=entry.value,
        deleted=entry.deleted,
        writer=entry.writer,
        at=entry.at,
        seq=entry.seq,
    )


def _etag(version: int) -> dict[str, str]:
    return {"ETag": f'"{version}"'}


def _version(header: str, text: str | None) -> int | None:
    """The version an `If-Match` names (`3`, `"3"`, `W/"3"`); ANY_VERSION for `*` (the key
    must have a value); None without the header."""
    if text is None:
        return None
    if text.strip() == "*":
        return ANY_VERSION
    bare = text.strip().removeprefix("W/").strip('"')
    if not (bare.isascii() and bare.isdigit()) or len(bare) > 18 or int(bare) < 1:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST,
            f"the {header} header must be a key's version (a whole number from 1), "
            f"not {text[:40]!r}",
        )
    return int(bare)


def board_router(board: Board, gate: AuthGate) -> APIRouter:
    router = APIRouter(tags=["board"])

    @router.get("/board", response_model=list[BoardValue])
    async def list_board(
        prefix: Prefix = "", limit: Annotated[int, Query(ge=1, le=10_000)] = 1000
    ) -> list[BoardValue]:
        """Keys with a value, by name, under `prefix`: each with its current version."""
        return [value_of(e) for e in board.keys(prefix, limit)]

    @router.get(
        "/board/{key:path}/history",
        response_model=list[BoardValue],
        responses={404: {"model": ErrorBody}},
    )
    async def key_history(
        key: Key, limit: Annotated[int, Query(ge=1, le=10_000)] = 100
    ) -> list[BoardValue]:
        """The key's kept versions, newest first, deletions among them."""
        found = _checked(lambda: board.history(key, limit))
        if not found:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no key {key!r} on the blackboard")
        return [value_of(e) for e in found]

    @router.get(
        "/board/{key:path}", response_model=BoardValue, responses={404: {"model": ErrorBody}}
    )
    async def get_key(key: Key, response: Response) -> BoardValue:
        """The key's value and version (also its ETag)."""
        entry = _checked(lambda: board.get(key))
        if entry is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no key {key!r} on the blackboard")
        if entry.deleted:
            raise HTTPException(
                status.HTTP_404_NOT_FOUND,
                f"key {key!r} was deleted (version {entry.version}, by {entry.writer})",
                headers=_etag(entry.version),
            )
        response.headers.update(_etag(entry.version))
        return value_of(entry)

    _write_routes(router, board, gate)
    _stream_route(router, board, gate)
    return router


def _writer(connection: Request) -> Writer:
    principal = principal_of(connection)
    return token_writer(principal.role, principal.token_id, principal.node_id)


def _write_routes(router: APIRouter, board: Board, gate: AuthGate) -> None:
    refusals: dict[int | str, dict[str, Any]] = {
        400: {"model": ErrorBody},
        403: {"model": ErrorBody},
        404: {"model": ErrorBody},
        412: {"model": ErrorBody},
    }

    @router.put("/board/{key:path}", response_model=BoardValue, responses=refusals)
    async def put_key(
        key: Key,
        body: BoardPut,
        connection: Request,
        response: Response,
        if_match: Annotated[str | None, Header()] = None,
        if_none_match: Annotated[str | None, Header()] = None,
    ) -> BoardValue:
        """Write the key's next version. `If-Match: <version>` writes only at that version,
        `If-None-Match: *` only when the key has no value: otherwise 412, nothing written."""
        if if_none_match is not None and if_none_match.strip() != "*":
            raise HTTPException(
                status.HTTP_400_BAD_REQUEST,
                f"If-None-Match must be '*' (write only a key with no value), "
                f"not {if_none_match[:40]!r}",
            )
        expect = 0 if if_none_match is not None else _version("If-Match", if_match)
        entry = _write(board, gate, connection, key, body.value, expect, deleted=False)
        response.headers.update(_etag(entry.version))
        return value_of(entry)

    @router.delete("/board/{key:path}", response_model=BoardValue, responses=refusals)
    async def delete_key(
        key: Key,
        connection: Request,
        if_match: Annotated[str | None, Header()] = None,
    ) -> BoardValue:
        """Delete the key: a version too (its history keeps it). `If-Match: <version>`
        deletes only at that version, else 412."""
        expect = _version("If-Match", if_match)
        entry = _write(board, gate, connection, key, None, expect, deleted=True)
        return value_of(entry)


def _stream_route(router: APIRouter, board: Board, gate: AuthGate) -> None:
    @router.get("/board-changes", responses={400: {"model": ErrorBody}})
    async def board_changes(
        request: Request,
        since: Annotated[int, Query(ge=0, le=MAX_INT64)] = 0,
        prefix: Prefix = "",
        follow: bool = True,
        last_event_id: Annotated[str | None, Header()] = None,
    ) -> EventSourceResponse:
        """Every change after `since` (or `Last-Event-ID`) as server-sent events, then each
        new one as it is written (`follow=false`: the stream ends with the changes so far):
        event `change`, id the change's number, data a BoardValue."""
        start = resume_after(last_event_id, since)

        async def stream() -> AsyncIterator[dict[str, Any]]:
            async for entry in board.follow(start, prefix, wait=follow):
                data = json.dumps(value_of(entry).model_dump())
                yield {"id": str(entry.seq), "event": "change", "data": data}

        return EventSourceResponse(gate.while_valid(request, stream()), ping=15)


def _checked(action: Callable[[], T]) -> T:
    """What `action` gives; a key or value the blackboard does not take is a 422 saying why."""
    try:
        return action()
    except (BadKey, BadValue) as error:
        raise HTTPException(422, str(error)) from None


def _write(
    board: Board,
    gate: AuthGate,
    connection: Request,
    key: str,
    value: Any,
    expect: int | None,
    *,
    deleted: bool,
) -> BoardEntry:
    writer = _writer(connection)
    try:
        return _checked(lambda: board.write(key, value, writer, expect=expect, deleted=deleted))
    except BoardRefused as refused:
        gate.audit(connection, "board.delete" if deleted else "board.write", "refused", key)
        raise HTTPException(status.HTTP_403_FORBIDDEN, str(refused)) from None
    except BoardConflict as conflict:
        headers = _etag(conflict.current) if conflict.current is not None else None
        code = status.HTTP_412_PRECONDITION_FAILED
        if deleted and expect is None:  # nothing to delete, and no version was named
            code = status.HTTP_404_NOT_FOUND
        raise HTTPException(code, str(conflict), headers=headers) from None
