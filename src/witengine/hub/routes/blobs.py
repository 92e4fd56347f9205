"""Blob routes: files by content. `HEAD`/`GET`/`PUT /blobs/{sha256}`.

A node may read, or ask about, only the inputs of batches it holds. Uploads stream to disk,
counted against `max_blob_bytes` as they come, and count only if their bytes hash to their name
(an upload of a blob the hub has is read and checked the same way, and kept nowhere); one over
the limit is answered 413 with `Connection: close` once at most 4 MiB more were read, so that
the server does not read the rest.
When the disk is full the upload is refused with 507 and nothing of it is kept. Downloads
support `Range` (Starlette's FileResponse does the range arithmetic) so a cut transfer can
resume.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import AsyncIterator, Callable

from fastapi import APIRouter, HTTPException, Request, Response, status
from fastapi.responses import FileResponse

from witengine.hub.auth.gate import principal_of
from witengine.protocol import BlobStored, ErrorBody
from witengine.runtime.blobs import Blob, BlobStoreFull, LocalBlobStore
from witengine.security.tokens import Role

log = logging.getLogger(__name__)

_SHA256 = re.compile(r"[0-9a-f]{64}")
# The number, not starlette's name for it: the name changed (REQUEST_ENTITY -> CONTENT) and the
# old one warns, which turned a refused upload into a 500 wherever warnings are errors.
_TOO_LARGE = 413
_INSUFFICIENT_STORAGE = 507
# Refusing an upload before its end: without it, the server would read (and drop) the rest of
# the body, however long, to keep the connection for another request.
_CLOSE = {"Connection": "close"}
_LINGER_BYTES = 4 * 1024 * 1024  # read past the limit before answering it (see _counted)


NodeMayRead = Callable[[str, str], bool]  # (node id, sha256): a blob of a batch the node holds


def _nobody(node_id: str, sha256: str) -> bool:
    return False


def blob_router(
    store: LocalBlobStore, max_bytes: int, node_may_read: NodeMayRead = _nobody
) -> APIRouter:
    router = APIRouter(tags=["blobs"])

    def digest(sha256: str) -> str:
        if not _SHA256.fullmatch(sha256):
            raise HTTPException(
                status.HTTP_400_BAD_REQUEST, f"'{sha256[:80]}' is not a sha256 digest (64 hex)"
            )
        return sha256

    def may_read(request: Request, sha256: str) -> None:
        """A node reads (and learns of) only the inputs of batches it holds."""
        principal = principal_of(request)
        if principal.role is Role.NODE and not node_may_read(principal.node_id or "", sha256):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, f"blob {sha256[:80]} is not an input of a batch you hold"
            )

    @router.head(
        "/blobs/{sha256}", responses={403: {"model": ErrorBody}, 404: {"model": ErrorBody}}
    )
    async def has_blob(sha256: str, request: Request) -> Response:
        """Whether the hub has a blob (200 with its size) or not (404). A node learns it only
        of the inputs of batches it holds, as it reads only those."""
        may_read(request, sha256)
        if not store.has(digest(sha256)):
            return Response(status_code=status.HTTP_404_NOT_FOUND)
        size = store.path(Blob(sha256, 0)).stat().st_size
        return Response(headers={"Content-Length": str(size), "ETag": f'"{sha256}"'})

    @router.get("/blobs/{sha256}", responses={403: {"model": ErrorBody}, 404: {"model": ErrorBody}})
    async def get_blob(sha256: str, request: Request) -> FileResponse:
        """A blob's bytes; `Range: bytes=a-b` gives part of them. A node reads only the inputs
        of batches it holds."""
        may_read(request, sha256)
        if not store.has(digest(sha256)):
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no blob {sha256}")
        return FileResponse(
            store.path(Blob(sha256, 0)),
            media_type="application/octet-stream",
            headers={"ETag": f'"{sha256}"', "Cache-Control": "public, max-age=31536000, immutable"},
        )

    @router.put(
        "/blobs/{sha256}",
        status_code=status.HTTP_201_CREATED,
        response_model_exclude_none=True,
        responses={
            200: {"model": BlobStored, "description": "the hub had these bytes already"},
            400: {"model": ErrorBody},
            413: {"model": ErrorBody},
            507: {"model": ErrorBody, "description": "the hub's disk is full"},
        },
    )
    async def put_blob(sha256: str, request: Request, response: Response) -> BlobStored:
        """Upload a blob; refused unless its bytes hash to `sha256`."""
        digest(sha256)
        declared = request.headers.get("content-length")
        if declared and declared.isascii() and declared.isdigit() and int(declared) > max_bytes:
            raise HTTPException(_TOO_LARGE, _too_large(int(declared), max_bytes))
        if store.has(sha256):
            # Read like any upload (a client sending without Content-Length is counted as its
            # bytes come) and checked: the answer says "had it" only to whoever holds the bytes.
            await _check_only(request, sha256, max_bytes)
            response.status_code = status.HTTP_200_OK
            return BlobStored(sha256=sha256, stored=False)
        try:
            blob = await _receive(request, store, sha256, max_bytes)
        except BlobStoreFull as error:
            log.warning("refused blob %s: %s", sha256, error)
            raise HTTPException(
                _INSUFFICIENT_STORAGE,
                "the hub's blob store is full: no room on its disk for this file, which was not "
                "kept; its operator must free space",
            ) from None
        return BlobStored(sha256=blob.sha256, size=blob.size, stored=True)

    return router


async def _receive(request: Request, store: LocalBlobStore, sha256: str, max_bytes: int) -> Blob:
    """Stream the request body into the store, refusing it unless it hashes to sha256; nothing of
    a refused or failed upload is kept (BlobStoreFull when the disk fills up)."""
    with store.incoming() as incoming:
        async for chunk in _counted(request, max_bytes):
            incoming.write(chunk)
        if incoming.sha256 != sha256:
            raise HTTPException(
                status.HTTP_400_BAD_REQUEST,
                f"the uploaded bytes hash to {incoming.sha256}, not {sha256}",
            )
        return incoming.keep()


async def _check_only(request: Request, sha256: str, max_bytes: int) -> None:
    """Read an upload of a blob the hub has, keeping nothing: refused past `max_bytes` or
    unless it hashes to sha256, as a new one is."""
    check = hashlib.sha256()
    async for chunk in _counted(request, max_bytes):
        check.update(chunk)
    if check.hexdigest() != sha256:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST,
            f"the uploaded bytes hash to {check.hexdigest()}, not {sha256}",
        )


async def _counted(request: Request, max_bytes: int) -> AsyncIterator[bytes]:
    """An upload's chunks; 413, closing the connection, once they pass `max_bytes`. Before that
    answer up to `_LINGER_BYTES` more are read and dropped, as a web server lingers on closing:
    a client writes its whole body before it reads an answer, and one that is nearly done then
    hears why rather than meeting a reset connection."""
    stream = request.stream()
    size = 0
    async for chunk in stream:
        size += len(chunk)
        if size > max_bytes:
            dropped = 0
            async for rest in stream:
                dropped += len(rest)
                if dropped > _LINGER_BYTES:
                    break
            raise HTTPException(_TOO_LARGE, _too_large(size, max_bytes, "at least "), _CLOSE)
        yield chunk


def _too_large(size: int, max_bytes: int, at_least: str = "") -> str:
    limit = f"the hub's limit max_blob_bytes = {max_bytes:,}"
    return f"the blob is {at_least}{size:,} bytes, over {limit}"
