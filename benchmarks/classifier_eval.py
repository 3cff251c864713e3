"""Classifier accuracy: patient-level validation, cross-domain (paediatric <-> adult), probe floor.

In one run, on the shared development data (Kermany paediatric train split + adult COVID
collection, frontal views):

1. the bundled (or given) model on its own patient-level validation split (recreated from the
   seed in its card), overall and per source, with 95% patient-bootstrap CIs;
2. the ImageNet floor: a logistic-regression linear probe on frozen ImageNet EfficientNet-Lite0
   features, on the same validation split;
3. cross-domain figures: the linear probe trained on one source and tested on the other
   (paediatric -> adult, adult -> paediatric), and, with ``--finetune-epochs N``, the full
   fine-tuning recipe trained on one source for N epochs and tested on the other.

    python benchmarks/classifier_eval.py [--model NAME|DIR] [--n-boot 1000]
        [--finetune-epochs 0] [--json-out FILE]
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from radlens.data import spec as data_spec
from radlens.data.samples import Dataset, decode_all, harmonise
from radlens.data.splits import assign_patients
from radlens.metrics import classification as cm
from radlens.models import backbones, registry
from radlens.models.evaluation import predict
from radlens.paths import data_root

LABEL = "Pneumonia"


def figures(y: np.ndarray, p: np.ndarray, patients: list[str], n_boot: int,
            threshold: float | None = None) -> dict[str, Any]:
    """AUROC, AP, ECE (and sens/spec at `threshold`) with patient-bootstrap CIs."""
    out: dict[str, Any] = {"n": len(y), "n_pos": int(y.sum()), "n_patients": len(set(patients))}
    metrics = {"auroc": cm.auroc, "ap": cm.average_precision,
               "ece": cm.expected_calibration_error}
    for key, fn in metrics.items():
        out[key] = cm.patient_bootstrap(fn, y, p, patients, n_boot=n_boot).as_dict()
    if threshold is not None:
        out["threshold"] = threshold
        for k, name in ((0, "sensitivity"), (1, "specificity")):
            def stat(a: np.ndarray, b: np.ndarray, k: int = k) -> float:
                return cm.sensitivity_specificity(a, b, threshold)[k]
            out[name] = cm.patient_bootstrap(stat, y, p, patients, n_boot=n_boot).as_dict()
    return out


def imagenet_features(images: np.ndarray, batch: int = 64) -> np.ndarray:
    """Pooled 1280-d ImageNet EfficientNet-Lite0 features of uint8 grey images (N, S, S)."""
    net = backbones.build("efficientnet-lite0", 0, in_channels=1, pretrained=True).eval()
    spec = backbones.get("efficientnet-lite0")
    feats = []
    with torch.no_grad():
        for s in range(0, len(images), batch):
            x = torch.from_numpy(images[s:s + batch]).float().div_(255)[:, None]
            feats.append(net((x - spec.mean) / spec.std).numpy())
    return np.concatenate(feats)


def fit_probe(x: np.ndarray, y: np.ndarray, l2: float = 1e-3) -> tuple[np.ndarray, ...]:
    """L2-regularised, class-balanced logistic regression (LBFGS) on standardised features."""
    mu, sd = x.mean(0), x.std(0) + 1e-6
    xt = torch.tensor((x - mu) / sd, dtype=torch.float64)
    yt = torch.tensor(y, dtype=torch.float64)
    pos_w = (len(y) - y.sum()) / max(y.sum(), 1)
    w = torch.zeros(x.shape[1], dtype=torch.float64, requires_grad=True)
    b = torch.zeros((), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], max_iter=300, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(
            xt @ w + b, yt, pos_weight=torch.tensor(pos_w, dtype=torch.float64))
        loss = loss + l2 * (w * w).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return mu, sd, w.detach().numpy(), b.detach().numpy()


def probe_scores(params: tuple[np.ndarray, ...], x: np.ndarray) -> np.ndarray:
    """Probe probabilities (uncalibrated sigmoid) for features `x`."""
    mu, sd, w, b = params
    return np.asarray(1 / (1 + np.exp(-(((x - mu) / sd) @ w + b))))


def finetune_cross(train_spec: str, test: Dataset, epochs: int, size: int,
                   n_boot: int) -> dict[str, Any]:
    """Train the recipe on `train_spec` only for `epochs`, evaluate on `test`."""
    from radlens.train.config import TrainConfig
    from radlens.train.export import export_run
    from radlens.train.loop import train

    with tempfile.TemporaryDirectory() as tmp:
        cfg = TrainConfig(data=(train_spec,), labels=(LABEL, "No Finding"), out=tmp, size=size,
                          epochs=epochs, patience=epochs, lr=5e-4)
        t0 = time.time()
        train(cfg, progress=True)
        export_run(cfg)
        loaded = registry.load(tmp)
        pred = predict(loaded, test)
        j = pred.labels.index(LABEL)
        k = pred.mask[:, j].astype(bool)
        out = figures(pred.targets[k, j], pred.probs[k, j], list(np.array(pred.patients)[k]),
                      n_boot, loaded.threshold(LABEL))
        out["train_minutes"] = round((time.time() - t0) / 60, 1)
        return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None)
    ap.add_argument("--n-boot", type=int, default=1000)
    ap.add_argument("--finetune-epochs", type=int, default=0)
    ap.add_argument("--json-out", default=None)
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(2)
    root = data_root()
    k_spec = f"kermany:{root / 'pneumonia-kermany' / 'train'}"
    c_spec = f"covid:{root / 'covid-cxr'}"
    name = args.model or registry.default_model("classify")
    if name is None:
        raise SystemExit("no bundled model; pass --model")
    loaded = registry.load(name)
    cfg = loaded.card["training"]["config"]
    kermany, covid = data_spec.load(k_spec), data_spec.load(c_spec)
    both = harmonise([kermany, covid], [LABEL, "No Finding"])
    split = assign_patients(both, (1 - cfg["val_fraction"], cfg["val_fraction"]), cfg["seed"])
    result: dict[str, Any] = {"model": loaded.info.name, "label": LABEL, "data_root": str(root)}

    # 1. bundled model on its patient-level validation split
    val = Dataset("val", both.label_names,
                  tuple(s for s in both.samples if split[s.patient_id] == 1 and s.mask[0]))
    pred = predict(loaded, val)
    j = pred.labels.index(LABEL)
    src = np.array([s.split(":")[0] for s in pred.patients])
    thr = loaded.threshold(LABEL)
    result["bundled_validation"] = {"all": figures(pred.targets[:, j], pred.probs[:, j],
                                                   list(pred.patients), args.n_boot, thr)}
    for source in ("kermany", "covid"):
        m = src == source
        result["bundled_validation"][source] = figures(
            pred.targets[m, j], pred.probs[m, j], list(np.array(pred.patients)[m]),
            args.n_boot, thr)

    # 2./3. ImageNet linear probe: same validation split, and cross-domain
    known = [s for s in both.samples if s.mask[0]]
    images, kept, _ = decode_all(known, loaded.size)
    samples = [known[i] for i in kept]
    x = imagenet_features(images)
    y = np.array([s.labels[0] for s in samples])
    pid = np.array([s.patient_id for s in samples])
    is_val = np.array([split[s.patient_id] == 1 for s in samples])
    is_k = np.array([s.source == "kermany" for s in samples])
    probe = fit_probe(x[~is_val], y[~is_val])
    result["probe_validation"] = figures(y[is_val], probe_scores(probe, x[is_val]),
                                         list(pid[is_val]), args.n_boot)
    cross: dict[str, Any] = {}
    for name_, train_m, test_m in (("paediatric_to_adult", is_k, ~is_k),
                                   ("adult_to_paediatric", ~is_k, is_k)):
        params = fit_probe(x[train_m], y[train_m])
        cross[name_] = {"probe": figures(y[test_m], probe_scores(params, x[test_m]),
                                         list(pid[test_m]), args.n_boot)}
    if args.finetune_epochs:
        k_all = harmonise([kermany], [LABEL, "No Finding"])
        c_all = harmonise([covid], [LABEL, "No Finding"])
        cross["paediatric_to_adult"]["finetuned"] = finetune_cross(
            k_spec, c_all, args.finetune_epochs, loaded.size, args.n_boot)
        cross["adult_to_paediatric"]["finetuned"] = finetune_cross(
            c_spec, k_all, args.finetune_epochs, loaded.size, args.n_boot)
    result["cross_domain"] = cross
    text = json.dumps(result, indent=2)
    print(text)
    if args.json_out:
        Path(args.json_out).write_text(text)


if __name__ == "__main__":
    main()
