"""A cap on request body size, enforced before anything parses the body.

A pure ASGI middleware, so it sees the body as the server delivers it: a ``Content-Length`` above the cap is
answered 413 at once (nothing is read), and a body that arrives without one (chunked) is counted chunk by chunk
and cut off as soon as it passes the cap. The JSON parser then never sees more than ``max_body_bytes``, on the
event loop that the realtime server's tick loop shares (a 10 MB login body used to be parsed there in full).
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mpgenie.api.problems import PROBLEM_JSON, problem


class BodyTooLargeError(HTTPException):
    """Raised from ``receive`` when a streamed body passes the cap. An ``HTTPException`` so that FastAPI, which
    turns other errors while reading a body into a 400, lets it through to the problem handler as a 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, _detail(limit))


def _problem(limit: int, path: str) -> bytes:
    return problem(413, _detail(limit), "too_large", path).model_dump_json(exclude_none=True).encode()


def _detail(limit: int) -> str:
    return f"request body larger than {limit} bytes"


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = [v for k, v in scope.get("headers") or [] if k.lower() == b"content-length"]
        try:
            too_big = any(int(v) > self.max_bytes for v in declared)
        except ValueError:  # a Content-Length that is not a number: the server would refuse it; so do we
            too_big = True
        if too_big:
            await self._refuse(scope, send)
            return
        seen = 0
        started = False

        async def counted_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise BodyTooLargeError(self.max_bytes)
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, watched_send)
        except BodyTooLargeError:  # read outside FastAPI's body handling (nothing turned it into a response)
            if started:
                raise
            await self._refuse(scope, send)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        body = _problem(self.max_bytes, scope.get("path", ""))
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", PROBLEM_JSON.encode()),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
