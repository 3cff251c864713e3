"""Fixtures for the grounding tests: a tiny synthetic lung-mask set and models trained on it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage

from radlens.cli.main import main


def make_fake_set(root: Path, n: int = 8) -> Path:
    """A covid-cxr-like folder: synthetic chests with v7labs and lungVAE masks, n patients."""
    (root / "images").mkdir(parents=True)
    for sub in ("lung-masks-v7labs", "lung-masks-lungVAE"):
        (root / sub).mkdir()
    rows = ["patientid,view,filename,license"]
    rng = np.random.default_rng(0)
    for i in range(n):
        h, w = 96 + 8 * i, 112
        img = np.full((h, w), 200, np.uint8)
        mask = np.zeros((h, w), np.uint8)
        mask[10:h - 15, 12:50] = 255
        mask[12:h - 18, 62:100] = 255
        img[mask > 0] = 60 + rng.integers(0, 20)
        PILImage.fromarray(img).save(root / "images" / f"im{i}.png")
        PILImage.fromarray(mask).save(root / "lung-masks-v7labs" / f"im{i}.png")
        if i % 2:
            PILImage.fromarray(mask).save(root / "lung-masks-lungVAE" / f"im{i}.png")
        rows.append(f"p{i},PA,im{i}.png,CC BY 4.0")
    rows.append("p99,L,im0.png,CC BY 4.0")  # a lateral row: left out
    (root / "metadata.csv").write_text("\n".join(rows) + "\n")
    return root


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = make_fake_set(tmp_path_factory.mktemp("data"))
    out = tmp_path_factory.mktemp("run")
    status = main(["train", "segmenter", "--data", str(root), "--out", str(out), "--size", "64",
                   "--epochs", "1", "--batch-size", "4", "--folds", "4", "--threads", "1"])
    assert status == 0
    return out


@pytest.fixture(scope="session")
def tiny_classifier(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random-weight 2-label classifier (Pneumonia, No Finding) with a valid model card."""
    import torch
    from safetensors.torch import save_file

    from radlens.models.classifier import FindingClassifier

    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("clf")
    net = FindingClassifier("efficientnet-lite0", 2, pretrained=False)
    save_file({k: v.contiguous() for k, v in net.net.state_dict().items()},
              str(out / "model.safetensors"))
    labels = ["Pneumonia", "No Finding"]
    card = {"name": "tiny-clf", "version": "1", "task": "classify",
            "backbone": "efficientnet-lite0", "labels": labels,
            "weights": {"file": "model.safetensors", "sha256": ""},
            "input": {"size": 64},
            "calibration": {n: {"temperature": 1.0} for n in labels},
            "thresholds": {n: {"youden": 0.5, "default": "youden"} for n in labels}}
    (out / "model.json").write_text(json.dumps(card))
    return out
