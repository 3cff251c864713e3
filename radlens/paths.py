"""Where radlens finds the development data (never inside the repository)."""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "RADLENS_DATA"


def data_root(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The folder holding the shared development data.

    Order: `explicit` (a ``--data-root`` flag), then the ``RADLENS_DATA`` environment variable,
    then ``../shared/data`` relative to the working directory, then ``../shared/data`` relative to
    the radlens source checkout. The returned path may not exist; callers check.
    """
    if explicit:
        return Path(explicit).expanduser()
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]).expanduser()
    cwd_guess = Path.cwd().parent / "shared" / "data"
    if cwd_guess.is_dir():
        return cwd_guess
    return Path(__file__).resolve().parent.parent.parent / "shared" / "data"
