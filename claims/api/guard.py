"""The API's door (issue 21 point 8): the token is checked before a byte of the body is read, bodies
have a size limit and a read deadline, and only so many requests are worked on at once.

A pure ASGI middleware, outside FastAPI: a route never sees a request whose token did not verify,
and a stranger's body is never read at all. The verified `Identity` is put in the request's scope
(`IDENTITY`), where claims.api.deps hands it to the routes; nothing else in a request names who acts.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

import anyio

from claims.api.problems import headers_for, problem_bytes
from claims.domain.errors import BodyTimeout, BodyTooLarge, Busy, ClaimsError, NotAuthenticated
from claims.services.identity import verify_token
from claims.services.runtime import Runtime

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

IDENTITY = "claims.identity"
PUBLIC = frozenset({"/health", "/openapi.json"})


@dataclass(frozen=True)
class Limits:
    max_body: int = 64 * 1024 * 1024
    body_timeout: float = 30.0
    concurrency: int = 16
    queue_seconds: float = 10.0


async def send_problem(send: Send, exc: ClaimsError, *, close: bool = False) -> None:
    body = problem_bytes(exc)
    headers = [(b"content-type", b"application/problem+json"), (b"content-length", str(len(body)).encode())]
    headers += [(k.lower().encode(), v.encode()) for k, v in headers_for(exc).items()]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": exc.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def bearer(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return token.strip() or None if scheme.lower() == "bearer" else None
    return None


def content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class Guard:
    """Authenticate, bound the body, bound the work: in that order, before the app reads anything."""

    def __init__(self, app: ASGIApp, runtime: Callable[[], Runtime], limits: Limits) -> None:
        self.app = app
        self.runtime = runtime
        self.limits = limits
        self._slots: asyncio.Semaphore | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in PUBLIC:
            await self.app(scope, receive, send)
            return
        token = bearer(scope)
        if token is None:
            await send_problem(send, NotAuthenticated("token: missing; send Authorization: Bearer <your token>"))
            return
        length = content_length(scope)
        if length is not None and length > self.limits.max_body:
            await send_problem(send, self._too_large(length), close=True)
            return
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.limits.concurrency)
        try:
            await asyncio.wait_for(self._slots.acquire(), self.limits.queue_seconds)
        except TimeoutError:
            await send_problem(
                send, Busy(f"server: every one of {self.limits.concurrency} slots stayed busy; try again")
            )
            return
        try:
            try:
                who = await anyio.to_thread.run_sync(verify_token, self.runtime(), token)
            except ClaimsError as exc:
                await send_problem(send, exc)
                return
            scope[IDENTITY] = who
            await self._bounded(scope, receive, send)
        finally:
            self._slots.release()

    def _too_large(self, length: int) -> BodyTooLarge:
        return BodyTooLarge(
            f"body: {length} bytes is over the limit of {self.limits.max_body} bytes (CLAIMS_API_MAX_BODY_MIB)"
        )

    async def _bounded(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the app with a receive that stops at the size limit or the deadline; the refusal is ours to send."""
        deadline = time.monotonic() + self.limits.body_timeout
        received = 0
        refused: ClaimsError | None = None
        started = False
        gone = False  # the client went away mid-body: nobody to answer, nothing to log

        async def limited() -> Message:
            nonlocal received, refused, deadline, gone
            if refused is not None:
                return {"type": "http.disconnect"}
            try:
                left = None if deadline == float("inf") else max(0.0, deadline - time.monotonic())
                message = await asyncio.wait_for(receive(), left)
            except TimeoutError:
                refused = BodyTimeout(
                    f"body: not received within {self.limits.body_timeout:g} s (CLAIMS_API_BODY_TIMEOUT)"
                )
                return {"type": "http.disconnect"}
            gone = gone or message["type"] == "http.disconnect"
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limits.max_body:
                    refused = self._too_large(received)
                    return {"type": "http.disconnect"}
                if not message.get("more_body", False):
                    deadline = float("inf")  # the body is in: the deadline was for the body, not for the work
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused is not None:
                return  # the app's answer to a body it never got whole: ours goes out instead
            started = True
            await send(message)

        try:
            await self.app(scope, limited, guarded_send)
        except Exception:
            if refused is None and not gone:
                raise
        if refused is not None and not started:
            await send_problem(send, refused, close=True)
