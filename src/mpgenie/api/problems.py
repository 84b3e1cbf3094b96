"""Errors as RFC 9457 problem details (``application/problem+json``): one shape for every failure, no stack
traces, no 500 for a client mistake."""

from __future__ import annotations

import re
from http import HTTPStatus
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_JSON = "application/problem+json"
log = structlog.get_logger("mpgenie.api")


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    retry_after_s: float | None = None
    errors: list[dict[str, Any]] | None = None


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for problem responses (the schema fuzz test holds the API to them)."""
    return {s: {"model": Problem, "content": {PROBLEM_JSON: {}}} for s in statuses}


# Any /v1 endpoint: unparsable body, body too large, validation, rate limit, internal.
COMMON = responses(400, 413, 422, 429, 500)
MAX_ERRORS = 20  # validation errors listed in a problem (a body can hold thousands of mistakes)
MAX_MESSAGE_CHARS = 200  # per message and per location part


class ProblemError(Exception):
    """Raise anywhere in a request to answer with a problem."""

    def __init__(
        self,
        status: int,
        detail: str,
        kind: str | None = None,
        retry_after_s: float | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.kind = kind
        self.retry_after_s = retry_after_s
        self.headers = dict(headers or {})
        if retry_after_s is not None:
            self.headers["Retry-After"] = str(max(1, round(retry_after_s)))


def problem_response(
    request: Request,
    status: int,
    detail: str | None,
    kind: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body = problem(status, detail, kind, request.url.path, **extra)
    return JSONResponse(body.model_dump(exclude_none=True), status, headers=headers, media_type=PROBLEM_JSON)


def problem(status: int, detail: str | None, kind: str | None, instance: str, **extra: Any) -> Problem:
    """The one place a problem body is made: the handlers and the body-limit middleware (which answers before
    FastAPI sees the request) give the same ``type`` and ``title`` for the same status."""
    return Problem(
        type=f"https://mpgenie.dev/problems/{kind}" if kind else "about:blank",
        title=HTTPStatus(status).phrase,
        status=status,
        detail=detail,
        instance=instance,
        **extra,
    )


def _allowed_methods(app: FastAPI, path: str) -> list[str]:
    table: list[tuple[re.Pattern[str], set[str]]] | None = getattr(app.state, "_allow_table", None)
    if table is None:
        table = [
            (re.compile("^" + re.sub(r"\\{[^/]+?\\}", "[^/]+", re.escape(p)) + "$"), {m.upper() for m in ops})
            for p, ops in app.openapi()["paths"].items()
        ]
        app.state._allow_table = table
    methods: set[str] = set()
    for pattern, ops in table:
        if pattern.match(path):
            methods |= ops
    return sorted(methods)


def _clip(text: str) -> str:
    return text if len(text) <= MAX_MESSAGE_CHARS else text[: MAX_MESSAGE_CHARS - 3] + "..."


def install(app: FastAPI) -> None:
    @app.exception_handler(ProblemError)
    async def _problem(request: Request, exc: ProblemError) -> JSONResponse:
        return problem_response(
            request, exc.status, exc.detail, exc.kind, exc.headers or None, retry_after_s=exc.retry_after_s
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405:  # Starlette lists only the first matching route's methods; list them all
            headers["Allow"] = ", ".join(_allowed_methods(app, request.url.path)) or headers.get("Allow", "")
        kind = "too_large" if exc.status_code == 413 else None
        return problem_response(request, exc.status_code, str(exc.detail), kind, headers=headers or None)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        every = exc.errors()
        errors = [
            {
                "loc": [_clip(str(x)) for x in e.get("loc", ())][:8],
                "msg": _clip(str(e.get("msg", ""))),
                "type": _clip(str(e.get("type", ""))),
            }
            for e in every[:MAX_ERRORS]
        ]
        detail = "request failed validation"
        if len(every) > MAX_ERRORS:
            detail += f" ({len(every)} errors; the first {MAX_ERRORS} listed)"
        return problem_response(request, 422, detail, "validation", errors=errors)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        request_id = getattr(request.state, "request_id", None)
        log.exception("unhandled error", method=request.method, path=request.url.path, request_id=request_id)
        headers = {"x-request-id": request_id} if request_id else None
        return problem_response(request, 500, "internal error (logged with the request id)", "internal", headers)
