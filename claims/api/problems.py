"""The API's one mapping of errors: each `ClaimsError` is an RFC 9457 problem (application/problem+json).

Type, title and status come from the error's class (claims.domain.errors), the detail is its
one-line message. Anything else is a bug: its traceback goes to the server's log and the client
gets a 500 problem that says nothing about the inside.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from claims.domain.errors import ClaimsError, InvalidInput, NotAuthenticated

MEDIA = "application/problem+json"
log = logging.getLogger("claims.api")


def problem(exc: ClaimsError) -> dict[str, Any]:
    return {"type": exc.problem_type(), "title": exc.title, "status": exc.status, "detail": str(exc)}


def headers_for(exc: ClaimsError) -> dict[str, str]:
    return {"WWW-Authenticate": 'Bearer realm="claims"'} if isinstance(exc, NotAuthenticated) else {}


def problem_bytes(exc: ClaimsError) -> bytes:
    return json.dumps(problem(exc), ensure_ascii=False).encode()


def problem_response(exc: ClaimsError) -> JSONResponse:
    return JSONResponse(problem(exc), status_code=exc.status, media_type=MEDIA, headers=headers_for(exc))


def _validation_line(exc: RequestValidationError) -> str:
    """FastAPI's validation errors as the CLI's line: the field, the value, what is wrong with it."""
    first = exc.errors()[0] if exc.errors() else {}
    where = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path", "header")]
    field = ".".join(where) or "body"
    value = first.get("input")
    shown = repr(value) if not isinstance(value, dict | list) or len(repr(value)) < 80 else "the value given"
    return f"{field}: {shown} {first.get('msg', 'is not valid').lower()}"


def install(app: FastAPI) -> None:
    """The handlers: claims errors, request validation, HTTP errors of the framework (404 route, 405), bugs."""

    @app.exception_handler(ClaimsError)
    async def claims_error(request: Request, exc: ClaimsError) -> JSONResponse:
        return problem_response(exc)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        return problem_response(InvalidInput(_validation_line(exc)))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        body = {"type": "about:blank", "title": str(exc.detail), "status": exc.status_code, "detail": str(exc.detail)}
        return JSONResponse(body, status_code=exc.status_code, media_type=MEDIA, headers=exc.headers)

    @app.exception_handler(Exception)
    async def bug(request: Request, exc: Exception) -> JSONResponse:
        from sqlalchemy import exc as sa

        if isinstance(exc, sa.DataError):  # a value the database refused (as the CLI's last resort says it)
            first = (str(getattr(exc, "orig", None) or exc).strip().splitlines() or ["refused"])[0]
            return problem_response(InvalidInput(f"value: the database refused a value ({first})"))
        log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
        body = {
            "type": "about:blank",
            "title": "Internal error",
            "status": 500,
            "detail": "internal error; see the server log",
        }
        return JSONResponse(body, status_code=500, media_type=MEDIA)
