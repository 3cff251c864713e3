"""``radlens classify``: run one bundled classifier on image files of its modality.

MedMNIST models (task ``classify-medmnist``: breast ultrasound, paediatric chest film, fundus
photograph, adrenal CT volume) take any image of their modality, resized whole to the
model's side; a colour image for a grey model, a grey image for a colour model or a 2-D
image for a 3-D model is refused with one clear error. A chest-film classifier (task
``classify``) runs after the fatal input-quality checks only; ``radlens read`` is the full
reading path (warnings, out-of-distribution gate, report).
"""

from __future__ import annotations

import argparse
import json
from typing import Any


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``classify`` to the CLI."""
    p = subparsers.add_parser(
        "classify", help="run one bundled classifier on image files (any modality it knows)",
        description="Class probabilities of one bundled classifier (e.g. radlens-breastmnist, "
                    "radlens-retinamnist, radlens-adrenalmnist3d) for each image. 3-D models "
                    "take .npy volumes (D, H, W).")
    p.add_argument("--model", required=True, help="bundled model name, card path or run folder")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files (or .npy volumes)")
    p.add_argument("--json", action="store_true", help="print JSON lines, one per image")
    p.set_defaults(func=run)


def classify_chest(model: str, path: str) -> dict[str, Any]:
    """A chest-film classifier (task ``classify``) on one file: the fatal input-quality checks
    (`radlens.io.qc`) first (`QualityError` when one fails), then the calibrated probability
    per label and the labels at or above their default thresholds."""
    import numpy as np
    import torch

    from radlens.errors import QualityError
    from radlens.io import load_image, qc
    from radlens.models import registry
    from radlens.models.classifier import preprocess
    from radlens.train.calibrate import sigmoid

    loaded = registry.load(model)
    image = load_image(path)
    report = qc.check(image)
    if not report.passed:
        raise QualityError("; ".join(i.message for i in report.fatal), path, report.fatal)
    x = preprocess(image.pixels, loaded.size)
    with torch.no_grad():
        logits = loaded.network(x).numpy()[0]
    probs = sigmoid(logits / loaded.temperatures)
    return {"model": loaded.info.name, "file": path, "task": "multi-label",
            "probabilities": {lab: float(p) for lab, p in zip(loaded.labels, probs, strict=True)},
            "positive": [lab for lab, p in zip(loaded.labels, probs, strict=True)
                         if p >= loaded.threshold(lab)],
            "qc": "passed (fatal checks only; radlens read runs the full pipeline)",
            "n_labels": int(np.size(probs))}


def run(args: argparse.Namespace) -> int:
    """Classify each image and print a line (or JSON) per image."""
    from radlens.errors import ModelError
    from radlens.models import medmnist, registry

    try:
        medmnist.find_card(args.model)
        chest = False
    except ModelError:
        registry.find_card(args.model)  # raises naming the bundled models when unknown
        chest = True
    for path in args.images:
        r = classify_chest(args.model, path) if chest else medmnist.classify_file(args.model,
                                                                                  path)
        if args.json:
            print(json.dumps(r))
            continue
        probs = ", ".join(f"{k} {v:.3f}" for k, v in r["probabilities"].items())
        verdict = r.get("prediction") or ", ".join(r.get("positive", [])) or "none"
        print(f"{path}: {verdict}  ({probs})")
    return 0
