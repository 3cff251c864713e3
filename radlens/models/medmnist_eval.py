"""Evaluate MedMNIST classifiers: clean figures and robustness under MedMNIST-C corruptions.

`evaluate` runs a model on one split of a MedMNIST file and returns the MedMNIST
evaluator's AUC / ACC (and QWK for graded tasks) with 95% bootstrap CIs.
`robustness` runs a model (and optionally a baseline model, e.g. the ResNet-18 trained the
same way) on the clean split and on every corruption family of the file's modality at the 5
severities, and returns balanced errors and the MedMNIST-C normalised / relative errors with
bootstrap CIs (images resampled jointly across all corrupted copies and both models).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from radlens.data import corruptions
from radlens.data import medmnist as md
from radlens.data import spec as data_spec
from radlens.errors import DataError
from radlens.metrics import medmnist as mm
from radlens.models.medmnist import LoadedMedMNIST, load

log = logging.getLogger(__name__)


def _file_and_split(spec: str, split: str | None) -> tuple[md.MedMNISTFile, str]:
    kind, path, opts = data_spec.parse(spec)
    if kind != "medmnist":
        raise DataError("expected a medmnist:FILE.npz spec", spec)
    return md.open_npz(path), split or opts.get("split", "val")


def _arrays(model: LoadedMedMNIST, spec: str, split: str | None
            ) -> tuple[md.MedMNISTFile, str, np.ndarray, np.ndarray]:
    f, s = _file_and_split(spec, split)
    md.check_input(f.info, model.input, f.path)
    if f.info.n_classes != len(model.labels):
        raise DataError(f"has {f.info.n_classes} classes but model {model.name} has "
                        f"{len(model.labels)} ({', '.join(model.labels)})", f.path)
    images, labels = f.split(s)
    return f, s, images, labels


def evaluate(model: str, spec: str, split: str | None = None, n_boot: int = 1000
             ) -> dict[str, Any]:
    """Figures of `model` on `split` (default: the spec's ``split=`` or ``val``) of a
    MedMNIST file: {model, data, split, dataset, task, n_images, metrics}."""
    m = load(model)
    f, s, images, labels = _arrays(m, spec, split)
    probs = m.predict(md.to_float(images, f.info.dims))
    return {"model": m.name, "data": [spec], "split": s, "dataset": f.info.name,
            "task": m.task_type, "n_images": len(labels),
            "metrics": mm.evaluate_scores(labels, probs, m.task_type, n_boot=n_boot),
            "definitions": "MedMNIST evaluator AUC/ACC; 95% bootstrap CIs over images"}


def _predict_all(m: LoadedMedMNIST, clean: np.ndarray, corrupted: dict[str, list[np.ndarray]],
                 dims: int) -> tuple[np.ndarray, dict[str, list[np.ndarray]]]:
    clean_pred = mm.predictions(m.predict(md.to_float(clean, dims)), m.task_type)
    out = {c: [mm.predictions(m.predict(md.to_float(x, dims)), m.task_type) for x in xs]
           for c, xs in corrupted.items()}
    return clean_pred, out


def _be(y: np.ndarray, pred: np.ndarray, n_classes: int) -> float:
    present = [c for c in range(n_classes) if np.any(y == c)]
    return float(1.0 - np.mean([np.mean(pred[y == c] == c) for c in present]))


def _scores(y: np.ndarray, k: int, clean: np.ndarray, corr: dict[str, list[np.ndarray]],
            base: tuple[np.ndarray, dict[str, list[np.ndarray]]] | None) -> dict[str, Any]:
    be_clean = _be(y, clean, k)
    be = {c: [_be(y, p, k) for p in ps] for c, ps in corr.items()}
    if base is None:
        return mm.robustness_scores(be_clean, be)
    b_clean = _be(y, base[0], k)
    b = {c: [_be(y, p, k) for p in ps] for c, ps in base[1].items()}
    return mm.robustness_scores(be_clean, be, b_clean, b)


def robustness(model: str, spec: str, baseline: str | None = None, split: str | None = None,
               families: Sequence[str] | None = None, n_boot: int = 200, seed: int = 0,
               progress: bool = False) -> dict[str, Any]:
    """Balanced error of `model` on the clean split and under each corruption family of the
    file's modality at severities 1-5, with the MedMNIST-C normalised and relative errors
    against `baseline` (a model trained the same way; None: no normalisation).

    Returns {model, baseline, data, split, modality, n_images, clean, mean, per_corruption,
    normalised_mean, relative_mean, baseline_scores, ci}: ``ci`` holds 95% bootstrap CIs of
    the clean BE, the mean BE over corruptions and (with a baseline) the relative and
    normalised means. Corrupted images are made once (seeded; image i of a set uses seed
    ``seed * 1_000_003 + i``) and fed to both models.
    """
    from tqdm import tqdm

    m = load(model)
    f, s, images, labels = _arrays(m, spec, split)
    fams = list(families or corruptions.families(f.info.modality))
    if not fams:
        raise DataError(f"no corruption families for modality {f.info.modality!r} "
                        "(MedMNIST-C defines 2-D corruptions only)", f.path)
    unknown = set(fams) - set(corruptions.families(f.info.modality))
    if unknown:
        raise DataError(f"corruption(s) {', '.join(sorted(unknown))} not defined for "
                        f"{f.info.modality}", spec)
    corrupted: dict[str, list[np.ndarray]] = {}
    bar = tqdm(total=len(fams) * 5, desc="corrupting", unit="set", file=sys.stderr,
               disable=not progress)
    for c in fams:
        corrupted[c] = []
        for sev in corruptions.SEVERITIES:
            corrupted[c].append(corruptions.apply_batch(images, c, sev, f.info.modality,
                                                        seed=seed * 100 + sev))
            bar.update(1)
    bar.close()
    k = len(m.labels)
    mine = _predict_all(m, images, corrupted, f.info.dims)
    base = None
    bname = None
    if baseline:
        b = load(baseline)
        _arrays(b, spec, split)
        base = _predict_all(b, images, corrupted, f.info.dims)
        bname = b.name
    result = _scores(labels, k, mine[0], mine[1], base)
    rng = np.random.default_rng(seed)
    boots: dict[str, list[float]] = {"clean": [], "mean": [], "relative_mean": [],
                                     "normalised_mean": []}
    for _ in range(n_boot):
        i = rng.integers(0, len(labels), len(labels))
        sub = _scores(labels[i], k, mine[0][i],
                      {c: [p[i] for p in ps] for c, ps in mine[1].items()},
                      None if base is None else
                      (base[0][i], {c: [p[i] for p in ps] for c, ps in base[1].items()}))
        for key in boots:
            v = sub.get(key)
            if v is not None and not np.isnan(v):
                boots[key].append(float(v))
    ci = {key: {"ci_low": float(np.quantile(v, 0.025)), "ci_high": float(np.quantile(v, 0.975)),
                "n_boot": len(v)} for key, v in boots.items() if v}
    out: dict[str, Any] = {"model": m.name, "baseline": bname, "data": spec, "split": s,
                           "dataset": f.info.name, "modality": f.info.modality,
                           "n_images": len(labels), **result, "ci": ci,
                           "definitions": ("balanced error = 1 - balanced accuracy; per "
                                           "corruption the mean over severities 1-5; "
                                           "normalised = BE / baseline BE; relative = (BE - "
                                           "clean BE) / (baseline BE - baseline clean BE), "
                                           "MedMNIST-C's rBE with the baseline in place of "
                                           "AlexNet")}
    if base is not None:
        out["baseline_scores"] = _scores(labels, k, base[0], base[1], None)
    return out
