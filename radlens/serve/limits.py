"""ASGI middleware that guards the API at the door, before any body is read or work is done.

`Gate`, for every HTTP request under the guarded prefix (``/v1/``), in this order:

1. **Authentication** (when keys are configured): the ``Authorization: Bearer`` or ``X-API-Key``
   header is checked in constant time; anything else gets 401 before the body is touched.
2. For uploads (``POST`` to the upload path):
   - a ``Content-Length`` above `max_bytes` gets 413 at once;
   - a client (its API key, else its address) sending faster than `rate_per_minute` (token
     bucket with `burst`) gets 429, and one already holding `per_client` uploads gets 429;
   - when `capacity` uploads are admitted server-wide (being read, queued or worked on), 503;
   - once admitted, the body must arrive within `body_timeout_s` seconds (else 408) and may
     not grow past `max_bytes` (else 413) -- a slow or endless body cannot hold a slot.

Refusals are complete JSON responses ``{"error": {"type", "message"}}`` with ``Retry-After``
on 429/503. A refused request's body is first drained (at most `drain_bytes`, for at most
`drain_s` seconds) so that the client reads the answer instead of a connection reset.

`CatchAll` turns any exception that escapes the app into a 500 envelope and logs only the
exception's type, never its message or traceback (which may carry header values).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import math
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

import anyio

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

log = logging.getLogger("radlens.serve")


async def send_error(send: Send, status: int, error_type: str, message: str,
                     headers: tuple[tuple[bytes, bytes], ...] = ()) -> None:
    """Send a complete JSON error response ``{"error": {"type", "message"}}``."""
    body = json.dumps({"error": {"type": error_type, "message": message}}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close"), *headers]})
    await send({"type": "http.response.body", "body": body})


def offered_key(headers: dict[bytes, bytes]) -> str | None:
    """The API key a request offers: ``Authorization: Bearer <key>``, else ``X-API-Key``."""
    auth = headers.get(b"authorization", b"").decode("latin-1")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    key = headers.get(b"x-api-key")
    return key.decode("latin-1") if key is not None else None


def key_matches(keys: tuple[str, ...], offered: str | None) -> bool:
    """Whether `offered` is one of `keys`, compared with every key in constant time."""
    if offered is None:
        return False
    ok = False
    for key in keys:
        ok |= hmac.compare_digest(key.encode(), offered.encode())
    return ok


@dataclass(frozen=True)
class GateConfig:
    """What `Gate` enforces. Sizes in bytes, times in seconds, rates in uploads per minute.

    `prefix`: paths that need a key; `upload_path`: the guarded upload route; `api_keys`: empty
    for no authentication; `capacity`: uploads admitted server-wide; `per_client`: uploads one
    client may have admitted at once; `rate_per_minute` and `burst`: each client's token bucket
    (0: no rate limit); `body_timeout_s`: time an admitted upload has to arrive; `drain_bytes`
    and `drain_s`: how much of a refused request's body is read before answering."""

    upload_path: str = "/v1/interpret"
    prefix: str = "/v1/"
    api_keys: tuple[str, ...] = ()
    max_bytes: int = 50_000_000
    capacity: int = 10
    per_client: int = 4
    rate_per_minute: float = 600.0
    burst: int = 30
    body_timeout_s: float = 60.0
    drain_bytes: int = 50_000_000
    drain_s: float = 5.0


class _Bucket:
    """A token bucket: `rate` tokens per second up to `burst`."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, float(burst)
        self.tokens, self.when = float(burst), time.monotonic()

    def take(self) -> float:
        """Take a token: 0.0 when granted, else seconds until one is available."""
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.when) * self.rate)
        self.when = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate


class Gate:
    """The middleware (see the module docstring). `admitted`: uploads admitted now;
    `refused`: counts of refusals by status, for ``/healthz`` and the benchmarks."""

    def __init__(self, app: ASGIApp, config: GateConfig) -> None:
        self.app = app
        self.cfg = config
        self.admitted = 0
        self.per_client: dict[str, int] = {}
        self.buckets: dict[str, _Bucket] = {}
        self.refused: dict[int, int] = {}

    def _client(self, scope: Scope, key: str | None) -> str:
        if self.cfg.api_keys and key is not None:  # keyed clients are told apart by key
            return "key:" + hashlib.sha256(key.encode()).hexdigest()[:16]
        client = scope.get("client")
        return "addr:" + (str(client[0]) if client else "unknown")

    async def _refuse(self, receive: Receive, send: Send, status: int, error_type: str,
                      message: str, retry_after: float | None = None, drain: bool = True,
                      extra: tuple[tuple[bytes, bytes], ...] = ()) -> None:
        self.refused[status] = self.refused.get(status, 0) + 1
        if drain:
            await self._drain(receive)
        headers = extra
        if retry_after is not None:
            headers += ((b"retry-after", str(max(1, math.ceil(retry_after))).encode()),)
        await send_error(send, status, error_type, message, headers)

    async def _drain(self, receive: Receive) -> None:
        """Read and drop the request body (bounded in bytes and time)."""
        seen = 0
        with anyio.move_on_after(self.cfg.drain_s):
            while seen <= self.cfg.drain_bytes:
                message = await receive()
                if message["type"] != "http.request":
                    return
                seen += len(message.get("body", b""))
                if not message.get("more_body", False):
                    return

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope["path"]).startswith(self.cfg.prefix):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        key = offered_key(headers)
        if self.cfg.api_keys and not key_matches(self.cfg.api_keys, key):
            await self._refuse(receive, send, 401, "Unauthorized", "a valid API key is "
                               "required (Authorization: Bearer <key> or X-API-Key)",
                               extra=((b"www-authenticate", b"Bearer"),))
            return
        if scope["method"] != "POST" or scope["path"] != self.cfg.upload_path:
            await self.app(scope, receive, send)
            return
        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.cfg.max_bytes):
            await self._refuse(receive, send, 413, "UploadTooLarge", self._too_large(),
                               drain=False)
            return
        client = self._client(scope, key)
        if self.cfg.rate_per_minute > 0:
            bucket = self.buckets.get(client)
            if bucket is None:
                if len(self.buckets) > 10_000:  # forget idle clients; memory stays bounded
                    self.buckets.clear()
                bucket = self.buckets[client] = _Bucket(self.cfg.rate_per_minute / 60.0,
                                                        self.cfg.burst)
            wait = bucket.take()
            if wait > 0:
                await self._refuse(receive, send, 429, "RateLimited", "too many uploads from "
                                   f"this client (limit {self.cfg.rate_per_minute:g} per "
                                   "minute); retry later", retry_after=wait)
                return
        if self.per_client.get(client, 0) >= self.cfg.per_client:
            await self._refuse(receive, send, 429, "TooManyRequests", "this client already "
                               f"has {self.cfg.per_client} uploads in progress; retry shortly",
                               retry_after=1)
            return
        if self.admitted >= self.cfg.capacity:
            await self._refuse(receive, send, 503, "ServerBusy", "the server is at capacity; "
                               "retry shortly", retry_after=1)
            return
        self.admitted += 1
        self.per_client[client] = self.per_client.get(client, 0) + 1
        try:
            await self._guarded(scope, receive, send)
        finally:
            self.admitted -= 1
            left = self.per_client.get(client, 1) - 1
            if left > 0:
                self.per_client[client] = left
            else:
                self.per_client.pop(client, None)

    def _too_large(self) -> str:
        return f"upload larger than the limit of {self.cfg.max_bytes / 1e6:.1f} MB"

    async def _guarded(self, scope: Scope, receive: Receive, send: Send) -> None:
        state: dict[str, Any] = {"seen": 0, "rejected": False, "done": False}
        deadline = time.monotonic() + self.cfg.body_timeout_s

        async def guarded_receive() -> Message:
            if state["rejected"]:
                return {"type": "http.disconnect"}
            if state["done"]:
                return await receive()
            message: Message | None = None
            with anyio.move_on_after(max(0.0, deadline - time.monotonic())):
                message = await receive()
            if message is None:
                state["rejected"] = True
                self.refused[408] = self.refused.get(408, 0) + 1
                await send_error(send, 408, "RequestTimeout", "the upload did not arrive "
                                 f"within {self.cfg.body_timeout_s:g} s")
                return {"type": "http.disconnect"}
            if message["type"] == "http.request":
                state["seen"] += len(message.get("body", b""))
                if state["seen"] > self.cfg.max_bytes:
                    state["rejected"] = True
                    self.refused[413] = self.refused.get(413, 0) + 1
                    await send_error(send, 413, "UploadTooLarge", self._too_large())
                    return {"type": "http.disconnect"}
                if not message.get("more_body", False):
                    state["done"] = True
            return message

        async def guarded_send(message: Message) -> None:
            if not state["rejected"]:  # the 408/413 has been sent: drop the app's own answer
                await send(message)

        try:
            await self.app(scope, guarded_receive, guarded_send)
        except Exception:
            if not state["rejected"]:
                raise


class CatchAll:
    """Outer middleware: an exception escaping the app becomes a 500 JSON envelope (when no
    response has started) and one log line naming only its type."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            log.error("internal error on %s %s: %s", scope.get("method"), scope.get("path"),
                      type(exc).__name__)
            if not started:
                await send_error(send, 500, "InternalError",
                                 "internal server error; the request was not completed")
