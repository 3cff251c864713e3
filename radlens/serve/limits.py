"""ASGI middleware that guards the upload endpoint before any work is done.

For ``POST`` requests to the guarded path it (1) refuses bodies larger than `max_bytes` with
413, from the ``Content-Length`` header when there is one and by counting the streamed bytes
otherwise, and (2) admits at most `capacity` such requests at a time (those being worked on plus
those waiting in the queue); the rest get 429 with ``Retry-After`` at once, before their body is
read, so excess load can never exhaust memory or disk.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


async def send_error(send: Send, status: int, error_type: str, message: str,
                     headers: tuple[tuple[bytes, bytes], ...] = ()) -> None:
    """Send a complete JSON error response ``{"error": {"type", "message"}}``."""
    body = json.dumps({"error": {"type": error_type, "message": message}}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close"), *headers]})
    await send({"type": "http.response.body", "body": body})


class UploadGuard:
    """The middleware. `path`: the guarded route; `max_bytes`: largest accepted body (bytes);
    `capacity`: most guarded requests admitted at once. `admitted` is the current count."""

    def __init__(self, app: ASGIApp, path: str, max_bytes: int, capacity: int) -> None:
        self.app = app
        self.path = path
        self.max_bytes = max_bytes
        self.capacity = capacity
        self.admitted = 0

    def _too_large_message(self) -> str:
        return f"upload larger than the limit of {self.max_bytes / 1e6:.1f} MB"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != self.path:
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            await send_error(send, 413, "UploadTooLarge", self._too_large_message())
            return
        if self.admitted >= self.capacity:
            await send_error(send, 429, "Busy", "the server is at capacity; retry shortly",
                             ((b"retry-after", b"1"),))
            return
        self.admitted += 1
        try:
            await self._guarded(scope, receive, send)
        finally:
            self.admitted -= 1

    async def _guarded(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = {"seen": 0, "rejected": False}

        async def counting_receive() -> Message:
            if state["rejected"]:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                state["seen"] += len(message.get("body", b""))
                if state["seen"] > self.max_bytes:
                    state["rejected"] = True
                    await send_error(send, 413, "UploadTooLarge", self._too_large_message())
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            if not state["rejected"]:  # the 413 has been sent: drop the app's own answer
                await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if not state["rejected"]:
                raise
