"""Fixtures for the image-input tests."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture()
def chest_like() -> np.ndarray:
    """A 256x256 synthetic frontal 'chest': bright mediastinum and rim, two dark lung fields."""
    y, x = np.mgrid[0:256, 0:256] / 255.0
    img = 0.75 - 0.45 * (np.exp(-(((x - 0.28) / 0.12) ** 2 + ((y - 0.5) / 0.25) ** 2))
                         + np.exp(-(((x - 0.72) / 0.12) ** 2 + ((y - 0.5) / 0.25) ** 2)))
    return np.clip(img, 0, 1)
