"""Blob routes: files by content. `HEAD`/`GET`/`PUT /blobs/{sha256}`.

Uploads stream to disk and count only if their bytes hash to their name; downloads support
`Range` (Starlette's FileResponse does the range arithmetic) so a cut transfer can resume.
"""

from __future__ import annotations

import hashlib
import re
import tempfile
from collections.abc import Callable
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request, Response, status
from fastapi.responses import FileResponse

from witengine.hub.auth.gate import principal_of
from witengine.protocol import ErrorBody
from witengine.runtime.blobs import Blob, BlobError, LocalBlobStore
from witengine.security.tokens import Role

_SHA256 = re.compile(r"[0-9a-f]{64}")
# The number, not starlette's name for it: the name changed (REQUEST_ENTITY -> CONTENT) and the
# old one warns, which turned a refused upload into a 500 wherever warnings are errors.
_TOO_LARGE = 413


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

    @router.head("/blobs/{sha256}", responses={404: {"model": ErrorBody}})
    async def has_blob(sha256: str) -> Response:
        """Whether the hub has a blob (200 with its size) or not (404)."""
        if not store.has(digest(sha256)):
            return Response(status_code=status.HTTP_404_NOT_FOUND)
        size = store.path(Blob(sha256, 0)).stat().st_size
        return Response(headers={"Content-Length": str(size), "ETag": f'"{sha256}"'})

    @router.get("/blobs/{sha256}", responses={403: {"model": ErrorBody}, 404: {"model": ErrorBody}})
    async def get_blob(sha256: str, request: Request) -> FileResponse:
        """A blob's bytes; `Range: bytes=a-b` gives part of them. A node reads only the inputs
        of batches it holds."""
        principal = principal_of(request)
        if principal.role is Role.NODE and not node_may_read(principal.node_id or "", sha256):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, f"blob {sha256[:80]} is not an input of a batch you hold"
            )
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
        responses={
            200: {"description": "already there"},
            400: {"model": ErrorBody},
            413: {"model": ErrorBody},
        },
    )
    async def put_blob(sha256: str, request: Request, response: Response) -> dict[str, object]:
        """Upload a blob; refused unless its bytes hash to `sha256`."""
        digest(sha256)
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > max_bytes:
            raise HTTPException(_TOO_LARGE, "the blob is too large")
        if store.has(sha256):
            async for _ in request.stream():
                pass
            response.status_code = status.HTTP_200_OK
            return {"sha256": sha256, "stored": False}
        partial, size = await _receive(request, store.root, sha256, max_bytes)
        try:
            blob = store.adopt(partial, sha256, size)
        except BlobError as error:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, str(error)) from None
        return {"sha256": blob.sha256, "size": blob.size, "stored": True}

    return router


async def _receive(request: Request, folder: Path, sha256: str, max_bytes: int) -> tuple[Path, int]:
    """Stream the request body into a file in `folder`, refusing it unless it hashes to sha256."""
    digest_so_far = hashlib.sha256()
    size = 0
    with tempfile.NamedTemporaryFile(dir=folder, prefix=".upload-", delete=False) as out:
        partial = Path(out.name)
        try:
            async for chunk in request.stream():
                size += len(chunk)
                if size > max_bytes:
                    raise HTTPException(_TOO_LARGE, "the blob is too large")
                digest_so_far.update(chunk)
                out.write(chunk)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
    if digest_so_far.hexdigest() != sha256:
        partial.unlink(missing_ok=True)
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST,
            f"the uploaded bytes hash to {digest_so_far.hexdigest()}, not {sha256}",
        )
    return partial, size
