"""Fixtures for the serving tests: small synthetic chest-like images on disk."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage


def write_png(path: Path, pixels: np.ndarray) -> Path:
    """Write a [0, 1] float array as an 8-bit grey PNG."""
    path.parent.mkdir(parents=True, exist_ok=True)
    PILImage.fromarray((np.clip(pixels, 0, 1) * 255).astype(np.uint8)).save(path)
    return path


@pytest.fixture()
def image_folder(tmp_path: Path, chest_like: np.ndarray) -> Path:
    """A folder with 5 good PNGs (two in a subfolder), one garbage .png and a hidden file."""
    root = tmp_path / "images"
    for i in range(3):
        write_png(root / f"img{i}.png", np.roll(chest_like, i, axis=1))
    for i in range(2):
        write_png(root / "sub" / f"deep{i}.png", np.roll(chest_like, -i, axis=0))
    (root / "sub" / "broken.png").write_bytes(b"this is not a png")
    (root / ".hidden.png").write_bytes(b"x")
    (root / "notes.txt").write_text("not an image")
    return root
