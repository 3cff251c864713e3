"""The frozen-prefix recipe: cached features, trained suffix, exported like any classifier."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from radlens.cli.main import main
from radlens.models import registry
from radlens.models.classifier import FindingClassifier
from radlens.train import frozen
from radlens.train.operating import operating_thresholds, sens_threshold, spec_threshold


def test_prefix_then_suffix_is_the_whole_network() -> None:
    torch.manual_seed(0)
    model = FindingClassifier("efficientnet-lite0", 3, pretrained=False).eval()
    x = torch.rand(2, 1, 64, 64)
    with torch.no_grad():
        whole = model(x)
        for k in (1, 8, 11, 16):
            assert torch.allclose(frozen.suffix(model, frozen.prefix(model, x, k), k), whole,
                                  atol=1e-5)


def test_trainable_freezes_only_the_prefix() -> None:
    model = FindingClassifier("efficientnet-lite0", 2, pretrained=False)
    params = frozen.trainable(model, 11)
    assert not any(p.requires_grad for p in model.net._blocks[10].parameters())
    assert all(p.requires_grad for p in model.net._blocks[11].parameters())
    assert len(params) == sum(1 for p in model.parameters() if p.requires_grad)


def test_epoch_indices_caps_each_source() -> None:
    sources = ["a"] * 50 + ["b"] * 5
    idx = frozen.epoch_indices(sources, 10, np.random.default_rng(0))
    picked = [sources[i] for i in idx]
    assert picked.count("a") == 10 and picked.count("b") == 5 and len(set(idx)) == 15


def test_within_source_auroc_ignores_between_source_separation() -> None:
    # source A all positive, source B all negative: pooled AUROC would be 1, within-source NaN
    scores = np.array([[0.9], [0.8], [0.1], [0.2]])
    labels = np.array([[1.0], [1.0], [0.0], [0.0]])
    mask = np.ones_like(labels)
    assert np.isnan(frozen.within_source_auroc(scores, labels, mask, ["A", "A", "B", "B"])[0])
    both = frozen.within_source_auroc(scores, labels, mask, ["A", "B", "A", "B"])[0]
    assert both == 1.0


def test_threshold_helpers() -> None:
    neg = np.linspace(0, 1, 101)
    t = spec_threshold(neg, 0.9)
    assert np.mean(neg < t) >= 0.9 and np.mean(neg < t) < 0.92
    pos = np.linspace(0, 1, 101)
    t = sens_threshold(pos, 0.95)
    assert np.mean(pos >= t) >= 0.95


def test_operating_thresholds_bound_the_normal_call_rate() -> None:
    rng = np.random.default_rng(0)
    n = 400
    names = ["No Finding", "Pneumonia", "Edema", "Nodule"]
    normal = rng.random(n) < 0.5
    labels = np.zeros((n, 4))
    labels[:, 0] = normal
    labels[~normal, 1 + rng.integers(0, 3, (~normal).sum())] = 1
    probs = np.clip(labels * 0.4 + rng.random((n, 4)) * 0.6, 0, 1)
    thr = operating_thresholds(probs, labels, np.ones_like(labels), names,
                               np.ones(n, bool), max_normal_call_rate=0.1)
    calls = probs[:, 1:] >= np.array([thr[x] for x in names[1:]])
    anchor_only = calls[normal, 0].mean()
    assert calls[normal].any(axis=1).mean() <= max(0.1, anchor_only) + 1e-9
    strict = operating_thresholds(probs, labels, np.ones_like(labels), names,
                                  np.ones(n, bool), max_normal_call_rate=0.3)
    loose = np.array([strict[x] for x in names[2:]])
    assert (loose <= np.array([thr[x] for x in names[2:]])).all()  # a looser bound, lower bars
    pneu = labels[:, 1] == 1
    assert (probs[pneu, 1] >= thr["Pneumonia"]).mean() >= 0.95  # the anchor keeps sensitivity


def test_frozen_recipe_trains_resumes_and_exports(toy_kermany: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = ["train", "classifier", "--data", f"kermany:{toy_kermany}", "--labels",
            "Pneumonia,No Finding", "--size", "64", "--batch-size", "8", "--lr", "3e-3",
            "--val-fraction", "0.25", "--threads", "1", "--freeze-blocks", "11",
            "--out", str(out), "--patience", "9"]
    assert main([*args, "--epochs", "2"]) == 0
    assert any(out.glob("features-*-f11.npy"))
    assert main([*args, "--epochs", "4"]) == 0  # resumes after epoch 2
    epochs = [json.loads(x)["epoch"] for x in (out / "log.jsonl").read_text().splitlines()]
    assert epochs == [1, 2, 3, 4]
    card = registry.read_card(out / "model.json")
    assert card["training"]["config"]["freeze_blocks"] == 11
    assert card["training"]["config"]["out"] == "<run folder>"
    for label in card["labels"]:
        assert {"youden", "sens95", "spec95", "operating"} <= set(card["thresholds"][label])
        assert card["thresholds"][label]["default"] == "operating"
    assert card["validation"]["metrics"]["Pneumonia"]["auroc"]["value"] >= 0.9
    dest = tmp_path / "weights"
    assert main(["train", "bundle", str(out), "--dest", str(dest)]) == 0
    bundled = registry.read_card(dest / "radlens-cxr-classifier.json")
    assert bundled["weights"]["file"] == "radlens-cxr-classifier.safetensors"
    registry.verified_weights(bundled)  # the copied weights still match the card
