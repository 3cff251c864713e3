"""Export a finished run: calibrate on validation, write safetensors weights + JSON model card."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import save_file

from radlens.data.samples import Dataset
from radlens.errors import ModelError
from radlens.models import backbones
from radlens.models.classifier import FindingClassifier
from radlens.train.calibrate import calibrate, sigmoid, summarise
from radlens.train.config import TrainConfig
from radlens.train.loop import predict_logits, prepare

log = logging.getLogger(__name__)

INTENDED_USE = (
    "Research and education: a demonstration of an offline chest X-ray reading pipeline and a "
    "baseline to compare new models against. Outputs are draft, machine-generated opinions for "
    "review by a qualified reader."
)
NOT_FOR = [
    "Diagnosis, triage or any clinical decision without a qualified radiologist's review.",
    "Patients or settings unlike the training data (e.g. adult inpatients beyond a few hundred "
    "COVID-collection images, other hospitals, portable ICU films with lines and tubes).",
    "Findings other than the listed labels; a 'No Finding' output does not rule out disease "
    "the model was never trained on.",
    "Lateral views, CT, or images that failed radlens's input-quality checks.",
    "Distinguishing COVID-19 from other pneumonias.",
]


def _licences(data: Dataset) -> list[dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for s in data.samples:
        entry = out.setdefault(s.source, {"source": s.source, "images": 0, "licences": {}})
        entry["images"] += 1
        lic = s.meta.get("license", "").strip() or "unspecified"
        entry["licences"][lic] = entry["licences"].get(lic, 0) + 1
    return list(out.values())


def export_run(cfg: TrainConfig, card_extra: dict[str, Any] | None = None) -> Path:
    """Write ``model.safetensors`` and ``model.json`` into the run folder; returns the card path.

    Uses ``best.pt`` (the best validation epoch); fits per-label temperatures and thresholds on
    the validation split and stores validation figures with 95% patient-bootstrap CIs.
    """
    out = Path(cfg.out)
    best = out / "best.pt"
    if not best.is_file():
        raise ModelError("no best.pt: the run has not finished an epoch yet", out)
    data, _, val = prepare(cfg, progress=False)
    model = FindingClassifier(cfg.backbone, len(cfg.labels), pretrained=False)
    model.load_state_dict(torch.load(best, map_location="cpu", weights_only=True))
    logits = predict_logits(model, val)
    cal = calibrate(logits, val.labels, val.mask, cfg.labels)
    temps = np.array([cal[n]["temperature"] for n in cfg.labels])
    probs = sigmoid(logits / temps)
    figures = summarise(probs, val.labels, val.mask, val.patients, cfg.labels, cal)
    weights = out / "model.safetensors"
    save_file({k: v.contiguous() for k, v in model.net.state_dict().items()}, str(weights))
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()
    history = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    spec = backbones.get(cfg.backbone)
    card: dict[str, Any] = {
        "name": cfg.name, "version": "1", "task": "classify", "backbone": cfg.backbone,
        "labels": list(cfg.labels),
        "weights": {"file": weights.name, "sha256": digest, "format": "safetensors"},
        "input": {"size": cfg.size, "channels": 1, "range": [0.0, 1.0], "air": "dark",
                  "resize": "whole image to size x size, bilinear, antialiased",
                  "normalise": {"mean": spec.mean, "std": spec.std},
                  "loader": "radlens.io.load_image"},
        "calibration": {n: {"temperature": cal[n]["temperature"]} for n in cfg.labels},
        "thresholds": {n: {"sens95": cal[n]["threshold_sens95"],
                           "youden": cal[n]["threshold_youden"],
                           "default": "youden"} for n in cfg.labels},
        "training": {"config": cfg.as_dict(), "data": _licences(data),
                     "backbone_weights": spec.weights_licence, "epochs_run": len(history),
                     "best_epoch": max(history, key=lambda h: h["val_auroc_mean"])["epoch"],
                     "train_minutes": round(sum(h["epoch_seconds"] for h in history) / 60, 1),
                     "history": history},
        "validation": {"split": f"{cfg.val_fraction:.0%} of patients per source, seed "
                                f"{cfg.seed}", "n_images": len(val),
                       "n_patients": len(set(val.patients)), "metrics": figures},
        "intended_use": INTENDED_USE, "not_for": NOT_FOR,
    }
    card.update(card_extra or {})
    path = out / "model.json"
    path.write_text(json.dumps(card, indent=2))
    log.info("exported %s (%s)", path, weights)
    return path
