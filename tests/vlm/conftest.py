"""Fixtures for the vision-language tests: a fake model (no weights needed) and tiny images."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image


class FakeVLM:
    """A deterministic stand-in for a vision-language model (8-d embedding space).

    Images embed by their mean brightness (bright -> axis 0, dark -> axis 1); texts mentioning
    "no " embed on axis 1, other texts on axis 0.
    """

    def __init__(self) -> None:
        self.card: dict[str, Any] = {"name": "fake"}
        self.digest = "0" * 64

    def embed_pixels(self, images: Sequence[np.ndarray]) -> np.ndarray:
        out = np.zeros((len(images), 8), np.float32)
        for i, im in enumerate(images):
            b = float(np.mean(im))
            out[i, 0], out[i, 1], out[i, 2] = b, 1 - b, 0.1
        return out / np.linalg.norm(out, axis=1, keepdims=True)

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), 8), np.float32)
        for i, t in enumerate(texts):
            out[i, 1 if t.lower().startswith("no ") else 0] = 1.0
            out[i, 3] = 0.01 * (len(t) % 7)
        return out / np.linalg.norm(out, axis=1, keepdims=True)

    def logit_scale(self) -> float:
        return 10.0


@pytest.fixture()
def fake_vlm() -> FakeVLM:
    return FakeVLM()


@pytest.fixture()
def image_dir(tmp_path: Path) -> Path:
    """Four small grey PNGs (two bright, two dark), one report, one corrupt file."""
    root = tmp_path / "imgs"
    (root / "sub").mkdir(parents=True)
    for name, value in (("bright1", 220), ("bright2", 200), ("dark1", 30), ("sub/dark2", 50)):
        Image.fromarray(np.full((40, 40), value, np.uint8)).save(root / f"{name}.png")
    (root / "bright1.txt").write_text("INDICATION: cough.\nFINDINGS: Right lower lobe "
                                      "consolidation. No effusion.\nIMPRESSION: Pneumonia.")
    (root / "broken.png").write_bytes(b"not a png")
    return root


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Sixteen synthetic 48-px images (even: a bright patch, "consolidation") + pairs.csv."""
    root = tmp_path_factory.mktemp("vlm")
    rng = np.random.default_rng(0)
    rows = []
    for i in range(16):
        sick = i % 2 == 0
        img = rng.uniform(0.1, 0.3, (48, 48))
        if sick:
            img[10:30, 8:20] += 0.6
        Image.fromarray((np.clip(img, 0, 1) * 255).astype(np.uint8)).save(root / f"im{i}.png")
        text = ("FINDINGS: Left lower lobe consolidation." if sick else
                "IMPRESSION: No acute cardiopulmonary process.")
        rows.append({"image": f"im{i}.png", "text": text})
    with (root / "pairs.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["image", "text"])
        w.writeheader()
        w.writerows(rows)
    return root
