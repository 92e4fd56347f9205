"""How a refused or failed request is answered: every error body is an `ErrorBody` with a reason.

A request the models refuse is a 422 naming each field and what is wrong with it; a
`LimitExceeded` from deeper in is a 413 with its message (the limit, the value, what is allowed).
Anything else that escapes a route is a defect: it is logged with its traceback under an error
id, and the client gets a 500 with that id only, never the traceback.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

from witengine.errors import LimitExceeded
from witengine.protocol import ErrorBody

log = logging.getLogger(__name__)

# Declared on every API route, so the OpenAPI document describes what these answers look like.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    413: {"model": ErrorBody, "description": "over one of the hub's size limits"},
    422: {"model": ErrorBody, "description": "the request does not match its schema"},
    500: {"model": ErrorBody, "description": "a defect in the hub, logged under the error id"},
}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()
        )
        return _answer(422, f"invalid request: {problems}")

    @app.exception_handler(HTTPException)
    async def refused(request: Request, error: HTTPException) -> Response:
        if error.status_code in (204, 304):  # answers that carry no body
            return Response(status_code=error.status_code, headers=error.headers)
        return _answer(error.status_code, str(error.detail), error.headers)

    @app.exception_handler(LimitExceeded)
    async def too_large(request: Request, error: LimitExceeded) -> JSONResponse:
        return _answer(413, str(error))

    @app.exception_handler(Exception)
    async def defect(request: Request, error: Exception) -> JSONResponse:
        error_id = f"err_{uuid.uuid4().hex[:12]}"
        log.error(
            "internal error %s in %s %s",
            error_id,
            request.method,
            request.url.path,
            exc_info=(type(error), error, error.__traceback__),
        )
        return _answer(500, f"internal error {error_id}; the hub's log has the details")


def _answer(status: int, detail: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    body = ErrorBody(detail=detail).model_dump(exclude_defaults=True)
    return JSONResponse(body, status_code=status, headers=headers)
