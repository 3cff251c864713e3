"""Shared fixtures. Tests that need ../shared/data take `shared_data` and skip when it is absent."""

from __future__ import annotations

from pathlib import Path

import pytest

from radlens.paths import data_root


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The development data folder (RADLENS_DATA or ../shared/data); skips the test if absent."""
    root = data_root()
    if not (root / "README.md").is_file():
        pytest.skip(f"shared development data not found at {root} (set RADLENS_DATA)")
    return root
