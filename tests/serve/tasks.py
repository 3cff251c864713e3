"""Stand-in batch tasks for tests (importable by spawned worker processes)."""

from __future__ import annotations

import os
import time


def crash_on_marked(key: str, path: str, model: str | None, explain: bool
                    ) -> tuple[str, str, str, str, str, float]:
    """Kill the worker process for keys containing 'crash'; succeed instantly otherwise."""
    if "crash" in key:
        os._exit(3)
    return key, path, "done", '{"findings": []}', "", 0.0


def hang_on_marked(key: str, path: str, model: str | None, explain: bool
                   ) -> tuple[str, str, str, str, str, float]:
    """Hang (sleep an hour) for keys containing 'hang'; succeed after 50 ms otherwise."""
    time.sleep(3600 if "hang" in key else 0.05)
    return key, path, "done", '{"findings": []}', "", 0.05
