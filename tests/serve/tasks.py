"""Stand-in batch tasks for tests (importable by spawned worker processes)."""

from __future__ import annotations

import os


def crash_on_marked(key: str, path: str, model: str | None, explain: bool
                    ) -> tuple[str, str, str, str, str, float]:
    """Kill the worker process for keys containing 'crash'; succeed instantly otherwise."""
    if "crash" in key:
        os._exit(3)
    return key, path, "done", '{"findings": []}', "", 0.0
