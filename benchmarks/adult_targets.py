"""The figures issue 13 targets, computed from per-image predictions and calls.

Shared by ``classifier_cv.py`` (cross-validation and leave-one-source-out) and
``classifier_eval.py``. Every figure carries a 95% patient-bootstrap CI.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from radlens.metrics import classification as cm

F1_LABELS = ("Atelectasis", "Cardiomegaly", "Consolidation", "Edema", "Pleural Effusion")
NIH = "nih-cxr14"


def _est(metric: Any, y: np.ndarray, p: np.ndarray, pids: np.ndarray,
         n_boot: int) -> dict[str, float]:
    if len(y) == 0:
        return {"value": float("nan"), "ci_low": float("nan"), "ci_high": float("nan"), "n": 0}
    e = cm.patient_bootstrap(metric, y, p, list(pids), n_boot=n_boot).as_dict()
    return {k: e[k] for k in ("value", "ci_low", "ci_high", "n")}


def _auc(y: np.ndarray, p: np.ndarray) -> float:
    return cm.auroc(y, p) if len(np.unique(y)) == 2 else float("nan")


def _f1(y: np.ndarray, c: np.ndarray) -> float:
    tp = float((y * c).sum())
    denom = float(y.sum() + c.sum())
    return 2 * tp / denom if denom else float("nan")


def _rate(_: np.ndarray, c: np.ndarray) -> float:
    return float(np.mean(c)) if len(c) else float("nan")


def targets(probs: np.ndarray, calls: np.ndarray, labels: np.ndarray, mask: np.ndarray,
            names: Sequence[str], sources: Sequence[str], patients: Sequence[str],
            n_boot: int = 500) -> dict[str, Any]:
    """Issue-13 figures from (N, L) probabilities, 0/1 calls, targets and known-mask.

    `sources[i]`: source name (``nih-cxr14``, ``tb-cxr/<collection>``, ``covid``,
    ``hannover``, ``kermany``); `patients[i]`: patient id for the bootstrap.
    """
    names = list(names)
    src = np.asarray([s.split("/")[0] for s in sources], dtype=object)
    pid = np.asarray(patients, dtype=object)
    col = {n: j for j, n in enumerate(names)}
    known = mask.astype(bool)
    out: dict[str, Any] = {}
    if "No Finding" in col:
        nf = col["No Finding"]
        findings = [j for j, n in enumerate(names) if n != "No Finding"]
        normal = np.isin(src, [NIH, "tb-cxr"]) & known[:, nf] & (labels[:, nf] == 1)
        any_call = calls[:, findings].max(axis=1) if findings else np.zeros(len(src))
        out["adult_normals_without_call"] = _est(
            _rate, normal[normal].astype(float), 1 - any_call[normal], pid[normal], n_boot)
        kerm = (src == "kermany") & known[:, nf] & (labels[:, nf] == 1)
        out["paediatric_normals_without_call"] = _est(
            _rate, kerm[kerm].astype(float), 1 - any_call[kerm], pid[kerm], n_boot)
    if "Pneumonia" in col:
        j = col["Pneumonia"]
        rows = np.isin(src, ["covid", "hannover"]) & known[:, j] & (labels[:, j] == 1)
        out["adult_pneumonia_sensitivity"] = _est(_rate, labels[rows, j], calls[rows, j],
                                                  pid[rows], n_boot)
        for s, key in ((NIH, "nih_pneumonia_auroc"), ("kermany", "kermany_pneumonia_auroc")):
            k = (src == s) & known[:, j]
            out[key] = _est(_auc, labels[k, j], probs[k, j], pid[k], n_boot)
        k = (src == "kermany") & known[:, j]
        out["kermany_pneumonia_ece"] = _est(cm.expected_calibration_error, labels[k, j],
                                            probs[k, j], pid[k], n_boot)
    if "Tuberculosis" in col:
        j = col["Tuberculosis"]
        k = (src == "tb-cxr") & known[:, j]
        out["tb_auroc"] = _est(_auc, labels[k, j], probs[k, j], pid[k], n_boot)
        out["tb_auroc_by_collection"] = {
            s.split("/")[1]: _est(_auc, labels[m, j], probs[m, j], pid[m], n_boot)
            for s in sorted(set(sources)) if s.startswith("tb-cxr/")
            for m in [np.asarray([x == s for x in sources]) & known[:, j]]}
    nih_auc: dict[str, Any] = {}
    f1: dict[str, Any] = {}
    for n, j in col.items():
        k = (src == NIH) & known[:, j]
        if n in ("No Finding", "Tuberculosis") or len(np.unique(labels[k, j])) < 2:
            continue
        nih_auc[n] = _est(_auc, labels[k, j], probs[k, j], pid[k], n_boot)
        nih_auc[n]["n_pos"] = int(labels[k, j].sum())
        if n in F1_LABELS:
            f1[n] = _est(_f1, labels[k, j], calls[k, j], pid[k], n_boot)
    out["nih_auroc"] = nih_auc
    vals = [v["value"] for v in nih_auc.values() if np.isfinite(v["value"])]
    out["nih_auroc_mean"] = float(np.mean(vals)) if vals else float("nan")
    out["nih_f1"] = f1
    fv = [v["value"] for v in f1.values() if np.isfinite(v["value"])]
    out["nih_f1_mean"] = float(np.mean(fv)) if fv else float("nan")
    if "No Finding" in col:
        j = col["No Finding"]
        k = (src == NIH) & known[:, j]
        out["nih_no_finding_auroc"] = _est(_auc, labels[k, j], probs[k, j], pid[k], n_boot)
    return out


def lines(result: dict[str, Any]) -> list[str]:
    """Human-readable lines of a `targets` result."""
    def fmt(e: dict[str, float]) -> str:
        return f"{e['value']:.3f} [{e['ci_low']:.3f}, {e['ci_high']:.3f}] (n={e['n']})"

    out = []
    for key, val in result.items():
        if isinstance(val, dict) and "value" in val:
            out.append(f"{key:36s} {fmt(val)}")
        elif isinstance(val, dict):
            out.append(f"{key}:")
            out.extend(f"    {k:32s} {fmt(v)}" for k, v in val.items())
        else:
            out.append(f"{key:36s} {val:.3f}")
    return out
