"""Retry with exponential back-off for PACS calls, then one clear `PacsError`.

`with_retry` calls a function until it succeeds, the error is not transient, or the attempts
run out. What counts as transient is the caller's (`transient`): for HTTP a refused or
dropped connection, a timeout, 429 and 5xx answers (`http_transient`); for DIMSE an
association that could not be made or a peer that ran out of resources. Messages name the peer
and the kind of failure only (`describe`), never a URL path, which would carry study UIDs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from radlens.errors import PacsError

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class Backoff:
    """How to retry: `attempts` calls in all, the first wait `delay_s`, each next wait
    `factor` times longer, at most `max_delay_s`."""

    attempts: int = 5
    delay_s: float = 0.5
    factor: float = 2.0
    max_delay_s: float = 30.0

    def wait(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number `attempt` (0-based)."""
        return min(self.max_delay_s, self.delay_s * self.factor ** attempt)


def _status(exc: BaseException) -> int | None:
    response = getattr(exc, "response", None)
    code = getattr(response, "status_code", None)
    return int(code) if isinstance(code, int) else None


def http_transient(exc: BaseException) -> bool:
    """True for an HTTP failure worth retrying: no connection, a timeout, 429 or 5xx."""
    import requests

    if isinstance(exc, (requests.ConnectionError, requests.Timeout)):
        return True
    code = _status(exc)
    return code is not None and (code == 429 or code >= 500)


def describe(exc: BaseException) -> str:
    """A short description of a PACS failure without URLs or identifiers."""
    code = _status(exc)
    if code is not None:
        hints = {401: " (the PACS refused the credentials)", 403: " (not permitted)",
                 404: " (not found)"}
        return f"HTTP {code}{hints.get(code, '')}"
    try:
        import requests

        if isinstance(exc, requests.Timeout):
            return "timed out"
        if isinstance(exc, requests.exceptions.SSLError):
            return "TLS error (certificate not trusted? see --ca-file)"
        if isinstance(exc, requests.ConnectionError):
            return "no connection (down or unreachable)"
    except ImportError:  # pragma: no cover - requests comes with dicomweb-client
        pass
    if isinstance(exc, PacsError):
        return exc.reason
    return type(exc).__name__


def with_retry(fn: Callable[[], T], what: str, *, backoff: Backoff,
               transient: Callable[[BaseException], bool],
               sleep: Callable[[float], None] = time.sleep) -> T:
    """`fn()`, retried with back-off while it fails transiently.

    `what`: the call, for messages (e.g. "STOW-RS to http://pacs:8042"). Raises `PacsError`
    saying what failed, how, and after how many attempts, when the attempts run out or the
    failure is not transient (a `PacsError` raised by `fn` is passed on as is when not
    transient).
    """
    attempts = max(1, backoff.attempts)
    waited = 0.0
    for attempt in range(attempts):
        try:
            return fn()
        except Exception as exc:
            if not transient(exc):
                if isinstance(exc, PacsError):
                    raise
                raise PacsError(f"{what} failed: {describe(exc)}") from exc
            if attempt == attempts - 1:
                raise PacsError(f"{what} failed: {describe(exc)}, after {attempts} attempts "
                                f"over {waited:.1f} s") from exc
            pause = backoff.wait(attempt)
            log.warning("%s failed (%s); retry %d of %d in %.1f s", what, describe(exc),
                        attempt + 1, attempts - 1, pause)
            sleep(pause)
            waited += pause
    raise AssertionError("unreachable")  # pragma: no cover
