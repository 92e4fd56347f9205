"""The hub's limit on request bodies (`limits.request_bytes`), as ASGI middleware.

A body whose declared length is over the limit is refused before a byte of it is read; one sent
without a length (chunked) is counted as it arrives and refused when it passes the limit. Either
way the answer is a 413 `ErrorBody` naming the limit. Uploads that stream to disk (blobs) are
left to their own limit, `max_blob_bytes`, which their routes check as the bytes arrive.

Starlette's own body limit answers a bare "Content Too Large" in plain text, replacing whatever
the app answered; this one says which limit and how large the body was.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from witengine.protocol import ErrorBody

Streams = Callable[[str, str], bool]  # (method, path): a route with a body limit of its own


class BodyLimit:
    def __init__(self, app: ASGIApp, *, max_bytes: int, setting: str, streams: Streams) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.setting = setting
        self.streams = streams

    def reason(self, size: int | None, at_least: bool = False) -> str:
        shown = "" if size is None else f" ({'at least ' if at_least else ''}{size:,} bytes)"
        return (
            f"the request body{shown} is over the hub's limit "
            f"{self.setting} = {self.max_bytes:,} bytes"
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.streams(scope["method"], scope["path"]):
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await _refuse(send, self.reason(declared))
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # An HTTPException: the framework lets it through from the body's reading
                    # to the app's error handler, which answers with this reason.
                    raise HTTPException(413, self.reason(received, at_least=True))
            return message

        await self.app(scope, counted, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isascii() and text.isdigit() else None
    return None


async def _refuse(send: Send, reason: str) -> None:
    body = json.dumps(ErrorBody(detail=reason).model_dump(exclude_defaults=True)).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),  # the unread body is not worth reading
    ]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})
