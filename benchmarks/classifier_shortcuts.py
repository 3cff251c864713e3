"""Source shortcuts of a classifier, measured on the validation patients of its own run.

    .venv/bin/python benchmarks/classifier_shortcuts.py [--model radlens-cxr-adult-lite0]

Two of the three checks of issue 13 (the third, leave-one-source-out, is
``classifier_cv.py --holdout``):

* **Mask of truth** (after Maguolo & Nanni 2021): the bundled lung segmenter finds the lungs,
  they are blacked out (set to 0, slightly dilated), and the classifier reads what is left.
  A model that reads the lungs should fall towards AUROC 0.5; what it keeps above 0.5 it reads
  from outside the lungs (labels, borders, collimation, the collection's look).
* **Source probe**: a logistic-regression probe on the model's pooled 1280-d features,
  5-fold cross-validated by patient, predicts which collection a film came from; balanced
  accuracy against the chance level 1 / number of collections.

Validation patients are recomputed from the card's training config (same harmonised data,
fractions and seed), so no film the model was trained on is used.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from radlens.data import spec as data_spec
from radlens.data.samples import harmonise
from radlens.data.splits import assign_patients
from radlens.metrics import classification as cm
from radlens.models import registry
from radlens.models.segmenter import load_segmenter
from radlens.paths import data_root
from radlens.train.loop import Split

CHECK = ("Pneumonia", "Tuberculosis", "No Finding")


def _resolve(spec: str, root: Path) -> str:
    return spec.replace("<data>", str(root))


def training_data(loaded: Any, data: str | None) -> tuple[Any, dict[str, int]]:
    """The harmonised dataset of a model's training run and its patient assignment (patient
    id -> 0 train, 1 validation), recomputed from the card's training config (data specs,
    fractions, seed); `data`: the data root (default `radlens.paths.data_root`)."""
    cfg = loaded.card["training"]["config"]
    root = Path(data) if data else data_root()
    ds = harmonise([data_spec.load(_resolve(s, root)) for s in cfg["data"]], cfg["labels"])
    return ds, assign_patients(ds, (1 - cfg["val_fraction"], cfg["val_fraction"]), cfg["seed"])


def validation_split(loaded: Any, data: str | None, cache_dir: str) -> tuple[Split, np.ndarray]:
    """The decoded data of a model's training run and the indices of its validation patients
    (`training_data`); `cache_dir`: where decoded images are cached."""
    cfg = loaded.card["training"]["config"]
    ds, assign = training_data(loaded, data)
    cache = Path(cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    split = Split(ds, cfg["size"], cache / f"cache-all-{cfg['size']}-{len(ds)}.npz", True)
    return split, np.flatnonzero([assign[p] == 1 for p in split.patients])


def lung_masks(images: np.ndarray, batch: int = 32, dilate: int = 2) -> np.ndarray:
    """Boolean lung masks (N, S, S) for uint8 images (N, S, S) from the bundled segmenter."""
    seg = load_segmenter()
    out = []
    with torch.no_grad():
        for s in range(0, len(images), batch):
            x = torch.from_numpy(images[s:s + batch]).float().div_(255)[:, None]
            xs = F.interpolate(x, size=(seg.size, seg.size), mode="bilinear",
                               antialias=True, align_corners=False)
            p = torch.sigmoid(seg.network(xs)[:, :2]).amax(1, keepdim=True)
            p = F.interpolate(p, size=x.shape[-2:], mode="bilinear", align_corners=False)
            m = p > 0.5
            if dilate:
                m = F.max_pool2d(m.float(), 2 * dilate + 1, 1, dilate) > 0
            out.append(m[:, 0].numpy())
    return np.concatenate(out)


def logits_of(model: Any, images: np.ndarray, batch: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """(logits (N, L), pooled features (N, 1280)) of float images (N, S, S) in [0, 1]."""
    lo, fe = [], []
    with torch.no_grad():
        for s in range(0, len(images), batch):
            x = torch.from_numpy(images[s:s + batch]).float()[:, None]
            fmap = model.feature_map(x)
            fe.append(fmap.mean(dim=(2, 3)).numpy())
            lo.append(model.head(fmap).numpy())
    return np.concatenate(lo), np.concatenate(fe)


def _fit_softmax(x: torch.Tensor, y: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> None:
    """L2-regularised multinomial logistic regression, fitted in place by L-BFGS."""
    opt = torch.optim.LBFGS([w, b], max_iter=200, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = F.cross_entropy(x @ w + b, y) + 1e-2 * (w ** 2).sum()
        loss.backward()
        return loss

    opt.step(closure)


def probe(features: np.ndarray, target: np.ndarray, groups: np.ndarray, folds: int = 5,
          seed: int = 0) -> float:
    """Balanced accuracy of an L2 logistic-regression probe, cross-validated by group."""
    classes = np.unique(target)
    y = np.searchsorted(classes, target)
    ids = np.unique(groups)
    rng = np.random.default_rng(seed)
    fold_of = dict(zip(rng.permutation(ids), np.arange(len(ids)) % folds, strict=True))
    f = np.asarray([fold_of[g] for g in groups])
    pred = np.zeros(len(y), int)
    mu, sd = features.mean(0), features.std(0) + 1e-6
    x_all = torch.tensor((features - mu) / sd, dtype=torch.float32)
    for k in range(folds):
        tr, te = f != k, f == k
        w = torch.zeros(x_all.shape[1], len(classes), requires_grad=True)
        b = torch.zeros(len(classes), requires_grad=True)
        _fit_softmax(x_all[tr], torch.tensor(y[tr]), w, b)
        with torch.no_grad():
            pred[te] = (x_all[te] @ w + b).argmax(1).numpy()
    recalls = [float((pred[y == c] == c).mean()) for c in range(len(classes))]
    return float(np.mean(recalls))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="classifier (default: the bundled default)")
    ap.add_argument("--data", default=None,
                    help="data root (default RADLENS_DATA or ../shared/data)")
    ap.add_argument("--cache-dir", default="/tmp/radlens-cache")
    ap.add_argument("--n-boot", type=int, default=500)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    name = args.model or registry.default_model("classify")
    loaded = registry.load(str(name))
    split, idx = validation_split(loaded, args.data, args.cache_dir)
    val = np.zeros(len(split), bool)
    val[idx] = True
    cfg = loaded.card["training"]["config"]
    images = split.images[val]
    labels, mask = split.labels[val], split.mask[val]
    sources = np.asarray(split.sources, dtype=object)[val]
    patients = np.asarray(split.patients, dtype=object)[val]
    lungs = lung_masks(images)
    x = images.astype(np.float32) / 255
    plain, feats = logits_of(loaded.network, x)
    masked, feats_masked = logits_of(loaded.network, np.where(lungs, 0.0, x))
    names = list(cfg["labels"])
    result: dict[str, Any] = {"model": loaded.info.name, "n_images": int(val.sum()),
                              "lung_fraction_blacked": float(lungs.mean()), "mask_of_truth": {}}
    for label in CHECK:
        if label not in names:
            continue
        j = names.index(label)
        k = mask[:, j] > 0
        row = {}
        for key, z in (("original", plain), ("lungs_blacked_out", masked)):
            row[key] = cm.patient_bootstrap(cm.auroc, labels[k, j], z[k, j], list(patients[k]),
                                            n_boot=args.n_boot).as_dict()
        result["mask_of_truth"][label] = row
    coll = np.asarray(sources, dtype=object)
    n_src = len(np.unique(coll))
    result["source_probe"] = {
        "collections": sorted(set(coll.tolist())), "chance": 1 / n_src,
        "balanced_accuracy": probe(feats, coll, patients),
        "balanced_accuracy_lungs_blacked_out": probe(feats_masked, coll, patients)}
    adult = ~np.isin(coll, ["kermany"])
    if len(np.unique(coll[adult])) > 1:
        result["source_probe"]["adult_only_balanced_accuracy"] = probe(
            feats[adult], coll[adult], patients[adult])
        result["source_probe"]["adult_only_chance"] = 1 / len(np.unique(coll[adult]))
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"{result['model']}: {result['n_images']} validation films; lungs blacked out cover "
          f"{result['lung_fraction_blacked']:.1%} of the image")
    for label, row in result["mask_of_truth"].items():
        o, m = row["original"], row["lungs_blacked_out"]
        print(f"  {label:14s} AUROC {o['value']:.3f} [{o['ci_low']:.3f}, {o['ci_high']:.3f}]"
              f" -> lungs blacked out {m['value']:.3f} [{m['ci_low']:.3f}, {m['ci_high']:.3f}]")
    sp = result["source_probe"]
    print(f"  source probe ({len(sp['collections'])} collections, chance {sp['chance']:.3f}): "
          f"balanced accuracy {sp['balanced_accuracy']:.3f}; lungs blacked out "
          f"{sp['balanced_accuracy_lungs_blacked_out']:.3f}")
    if "adult_only_balanced_accuracy" in sp:
        print(f"  adult collections only (chance {sp['adult_only_chance']:.3f}): "
              f"{sp['adult_only_balanced_accuracy']:.3f}")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
