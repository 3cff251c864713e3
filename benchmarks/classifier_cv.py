"""Patient-level cross-validation (and leave-one-source-out) of the adult classifier recipe.

    .venv/bin/python benchmarks/classifier_cv.py --size 224 --freeze 11 --out RUN [--folds 5]
    .venv/bin/python benchmarks/classifier_cv.py --size 224 --freeze 11 --out RUN \
        --holdout covid,hannover          # leave those sources out of training entirely

Patients are assigned to ten parts (`radlens.data.splits.assign_patients`, per source,
stratified); fold f tests on parts 2f and 2f+1, early-stops and calibrates on part 2f+2 and
trains on the other seven. Temperatures and operating thresholds are fitted on the adult
validation films of the fold only (`radlens.train.operating`), so the calls on the test parts
are honest out-of-fold calls. With ``--holdout``, the held-out sources are the test set and
one tenth of the remaining patients is the validation part. Prints the issue-13 figures
(`adult_targets.targets`) and writes ``RUN/oof.npz`` and ``RUN/summary.json``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from adult_targets import lines, targets

from radlens.data.adult import adult_labels
from radlens.metrics.subgroups import json_safe
from radlens.paths import data_root
from radlens.train.calibrate import fit_temperature, sigmoid
from radlens.train.config import TrainConfig
from radlens.train.export import default_anchors
from radlens.train.frozen import Features, fit, predict_features
from radlens.train.operating import operating_thresholds

SETS = ("nih-cxr14", "tb-cxr", "covid-hannover", "covid-cxr", "pneumonia-kermany/train")


def calibrate_fold(val_logits: np.ndarray, labels: np.ndarray, mask: np.ndarray,
                   adult: np.ndarray, sources: list[str], names: list[str],
                   rate: float) -> tuple[np.ndarray, dict[str, float]]:
    """Temperatures (fitted on adult rows where they hold both classes, else all rows) and
    operating thresholds on the validation part."""
    temps = np.ones(len(names))
    for j in range(len(names)):
        for rows in (adult, np.ones_like(adult)):
            k = rows & mask[:, j].astype(bool)
            if len(np.unique(labels[k, j])) == 2:
                temps[j] = fit_temperature(val_logits[k, j], labels[k, j])
                break
    probs = sigmoid(val_logits / temps)
    thr = operating_thresholds(probs, labels, mask, names, adult,
                               anchors=default_anchors(sources, adult),
                               max_normal_call_rate=rate)
    return temps, thr


def _age(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def save_oof(path: Path, **arrays: Any) -> None:
    """Write the out-of-fold arrays (atomically: a crash never leaves half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".tmp.npz")
    np.savez(tmp, **arrays)
    tmp.replace(path)


def record_in_card(card_path: Path, summary: dict[str, Any], holdout: list[str]) -> None:
    """Write the run's figures into a model card (weights untouched, so its SHA-256 holds)."""
    card = json.loads(card_path.read_text("utf-8"))
    cfg = summary["config"]
    entry = {"command": "benchmarks/classifier_cv.py " + " ".join(
                 f"--{k.replace('_', '-')} {v}" for k, v in cfg.items()
                 if k in ("size", "freeze", "folds", "epochs", "lr", "max_per_source",
                          "holdout", "max_normal_call_rate") and v not in ("", None)),
             "minutes": summary["minutes"], "figures": json_safe(summary["figures"])}
    if holdout:
        card.setdefault("leave_one_source_out", {})[",".join(holdout)] = entry
    else:
        card["cross_validation"] = entry
    card_path.write_text(json.dumps(json_safe(card), indent=2, allow_nan=False) + "\n")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--freeze", type=int, default=11)
    ap.add_argument("--backbone", default="efficientnet-lite0")
    ap.add_argument("--folds", type=int, default=5, help="folds to run (1..5)")
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--patience", type=int, default=2)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--max-per-source", type=int, default=1500)
    ap.add_argument("--threads", type=int, default=2, help="torch threads")
    ap.add_argument("--holdout", default="", help="comma-separated sources to hold out")
    ap.add_argument("--data", default=None,
                    help="data root (default RADLENS_DATA or ../shared/data)")
    ap.add_argument("--cache-dir", default="/tmp/radlens-cache")
    ap.add_argument("--out", required=True)
    ap.add_argument("--n-boot", type=int, default=500)
    ap.add_argument("--card", default=None,
                    help="model card (JSON) to record these figures in, under "
                         "cross_validation (or leave_one_source_out with --holdout)")
    ap.add_argument("--max-normal-call-rate", type=float, default=0.08,
                    help="operating thresholds: share of validation normals allowed a call")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    root = Path(args.data) if args.data else data_root()
    names = list(adult_labels())
    cfg = TrainConfig(data=tuple(str(root / s) for s in SETS), labels=tuple(names),
                      out=args.out, backbone=args.backbone, size=args.size,
                      epochs=args.epochs, patience=args.patience, lr=args.lr,
                      batch_size=args.batch_size, freeze_blocks=args.freeze,
                      max_per_source=args.max_per_source, cache_dir=args.cache_dir,
                      threads=args.threads)
    t0 = time.time()
    feats = Features(cfg)
    sp = feats.split
    parts = feats.fold_of([0.1] * 10, cfg.seed)
    src = np.asarray([s.split("/")[0] for s in sp.sources], dtype=object)
    adult = np.asarray([m.get("population") == "adult" for m in sp.meta])
    n, L = sp.labels.shape
    probs = np.full((n, L), np.nan, np.float32)
    calls = np.zeros((n, L), np.float32)
    val_probs = np.full((n, L), np.nan, np.float32)
    test_fold = np.full(n, -1, np.int16)
    val_fold = np.full(n, -1, np.int16)
    tested = np.zeros(n, bool)
    fold_info = []
    out = Path(args.out)
    holdout = [s for s in args.holdout.split(",") if s]
    plans = []
    if holdout:
        test = np.isin(src, holdout) | np.isin(np.asarray(sp.sources, dtype=object), holdout)
        plans.append((np.flatnonzero(test), np.flatnonzero(~test & (parts == 0)),
                      np.flatnonzero(~test & (parts != 0))))
    else:
        for f in range(args.folds):
            test = np.isin(parts, [2 * f, 2 * f + 1])
            val = parts == (2 * f + 2) % 10
            plans.append((np.flatnonzero(test), np.flatnonzero(val),
                          np.flatnonzero(~test & ~val)))
    for f, (te, va, tr) in enumerate(plans):
        logging.info("fold %d: train %d, val %d, test %d images", f, len(tr), len(va), len(te))
        model, state = fit(cfg, feats, tr, va, None, progress=False)
        vl = predict_features(model, feats.features, va, cfg.freeze_blocks)
        temps, thr = calibrate_fold(vl, sp.labels[va], sp.mask[va], adult[va],
                                    [sp.sources[i] for i in va], names,
                                    args.max_normal_call_rate)
        tl = predict_features(model, feats.features, te, cfg.freeze_blocks)
        p = sigmoid(tl / temps)
        probs[te] = p
        val_probs[va] = sigmoid(vl / temps)
        test_fold[te] = f
        val_fold[va] = f
        calls[te] = (p >= np.array([thr[x] for x in names])).astype(np.float32)
        tested[te] = True
        fold_info.append({"fold": f, "best_epoch": state["best_epoch"],
                          "val_within_source_auroc": state["best"],
                          "thresholds": thr, "temperatures": temps.tolist()})
        save_oof(out / "oof.npz", probs=probs, calls=calls, labels=sp.labels, mask=sp.mask,
                 tested=tested, sources=np.asarray(sp.sources),
                 patients=np.asarray(sp.patients), names=np.asarray(names),
                 val_probs=val_probs, val_fold=val_fold, test_fold=test_fold, adult=adult,
                 meta_age=np.asarray([_age(m.get("age")) for m in sp.meta], np.float32),
                 meta_sex=np.asarray([str(m.get("sex") or "") for m in sp.meta]))
    k = tested
    res = targets(probs[k], calls[k], sp.labels[k], sp.mask[k], names,
                  [sp.sources[i] for i in np.flatnonzero(k)],
                  [sp.patients[i] for i in np.flatnonzero(k)], n_boot=args.n_boot)
    summary = {"config": {**vars(args)}, "minutes": round((time.time() - t0) / 60, 1),
               "folds": fold_info, "figures": res}
    (out / "summary.json").write_text(json.dumps(json_safe(summary), indent=2))
    if args.card:
        record_in_card(Path(args.card), summary, holdout)
    what = f"holdout {args.holdout}" if holdout else f"{args.folds}-fold patient CV"
    print(f"size {args.size}, freeze {args.freeze}, {what}, "
          f"{summary['minutes']} min")
    print("\n".join(lines(res)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
