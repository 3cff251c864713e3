"""A tiny synthetic Kermany-layout dataset: 'pneumonia' images are brighter in the lungs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image


def make_toy_kermany(root: Path, per_class: int = 16, side: int = 40, seed: int = 0) -> Path:
    """Write NORMAL/ and PNEUMONIA/ PNGs (2 images per patient) under `root`."""
    rng = np.random.default_rng(seed)
    for folder in ("NORMAL", "PNEUMONIA"):
        (root / folder).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            img = rng.random((side, side)) * 0.25 + 0.1
            if folder == "PNEUMONIA":
                img[side // 4: 3 * side // 4, side // 8: side // 2] += 0.6
            name = (f"person{i // 2}_virus_{i}.png" if folder == "PNEUMONIA"
                    else f"IM-{i // 2:04d}-{i:04d}.png")
            Image.fromarray((np.clip(img, 0, 1) * 255).astype(np.uint8)).save(root / folder / name)
    return root


@pytest.fixture(scope="session")
def toy_kermany(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_toy_kermany(tmp_path_factory.mktemp("toy") / "kermany")
