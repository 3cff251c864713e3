"""Fixtures of the synthesis tests: a tiny generator run folder and a tiny MedMNIST-like file."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(scope="session")
def tiny_npz(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 28-px two-class npz (train 24, val 12): class 1 images are brighter."""
    rng = np.random.default_rng(0)
    folder = tmp_path_factory.mktemp("npz")
    arrays = {}
    for split, n in (("train", 24), ("val", 12)):
        y = np.arange(n) % 2
        x = rng.integers(0, 80, (n, 28, 28)) + 120 * y[:, None, None]
        arrays[f"{split}_images"] = x.astype(np.uint8)
        arrays[f"{split}_labels"] = y[:, None].astype(np.int64)
    path = folder / "toymnist.npz"
    np.savez(path, **arrays)
    return path


def make_run(folder: Path, conditioning: str, size: int, labels: list[str]) -> Path:
    """Write a randomly initialised generator (model.json + model.safetensors) into `folder`."""
    from safetensors.torch import save_file

    from radlens.synth.model import SCHEDULER, build_unet, unet_config

    arch = unet_config(size, conditioning, len(labels), widths=(8, 16))
    net = build_unet(arch)
    folder.mkdir(parents=True, exist_ok=True)
    weights = folder / "model.safetensors"
    save_file({k: v.half().contiguous() for k, v in net.state_dict().items()}, str(weights))
    card = {"name": f"tiny-{conditioning}", "version": "1", "task": "generate",
            "conditioning": conditioning, "labels": labels,
            "architecture": {"library": "diffusers", "class": "UNet2DModel", "config": arch},
            "scheduler": dict(SCHEDULER),
            "sampler": {"kind": "DDIM", "default_steps": 2, "guidance_scale": 2.0},
            "output": {"size": size, "channels": 1, "range": [0.0, 1.0]},
            "weights": {"file": weights.name,
                        "sha256": hashlib.sha256(weights.read_bytes()).hexdigest()}}
    (folder / "model.json").write_text(json.dumps(card))
    return folder


@pytest.fixture(scope="session")
def class_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny untrained class generator (labels 'normal', 'pneumonia') at 8 px."""
    pytest.importorskip("diffusers")
    return make_run(tmp_path_factory.mktemp("gen") / "class", "class", 8, ["normal", "pneumonia"])


@pytest.fixture(scope="session")
def mask_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny untrained mask generator at 8 px."""
    pytest.importorskip("diffusers")
    return make_run(tmp_path_factory.mktemp("gen") / "mask", "mask", 8, [])
