"""Shared fixtures. Tests that need ../shared/data take `shared_data` and skip when it is absent."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from radlens.paths import data_root


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The development data folder (RADLENS_DATA or ../shared/data); skips the test if absent."""
    root = data_root()
    if not (root / "README.md").is_file():
        pytest.skip(f"shared development data not found at {root} (set RADLENS_DATA)")
    return root


@pytest.fixture()
def chest_like() -> np.ndarray:
    """A 256x256 synthetic frontal 'chest': bright mediastinum and rim, two dark lung fields."""
    y, x = np.mgrid[0:256, 0:256] / 255.0
    img = 0.75 - 0.45 * (np.exp(-(((x - 0.28) / 0.12) ** 2 + ((y - 0.5) / 0.25) ** 2))
                         + np.exp(-(((x - 0.72) / 0.12) ** 2 + ((y - 0.5) / 0.25) ** 2)))
    return np.clip(img, 0, 1)
