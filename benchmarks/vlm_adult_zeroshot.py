"""Zero-shot AUROC per label of a vision-language model beside the supervised adult classifier,
on the same development validation films, in one run.

    .venv/bin/python benchmarks/vlm_adult_zeroshot.py [--vlm radlens-vlm-adult-lite0]
        [--classifier radlens-cxr-adult-lite0] [--limit N] [--json]

Films: the patient-level validation split of the adult classifier (all five training sets
harmonised to its labels, 20% of patients per source, seed 0), minus any patient the VLM
trained on (its card's training pairs split the same way: what remains is held out from both;
the count is printed). Each label is scored inside the collection that holds both of its
sides: NIH labels on NIH films, Tuberculosis on tb-cxr, Pneumonia also on Kermany. 95% CIs
by patient bootstrap. Zero-shot scores are relative (prompt contrast), so only AUROC is
compared, never calls.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import numpy as np

FOR_LABEL = {"Tuberculosis": ("tb-cxr",), "Pneumonia": ("nih-cxr14", "kermany")}
SETS = ("nih-cxr14", "tb-cxr", "covid-hannover", "covid-cxr", "pneumonia-kermany/train")


def _ci(y: np.ndarray, s: np.ndarray, pid: np.ndarray) -> dict[str, float]:
    from radlens.metrics.classification import auroc
    from radlens.metrics.stats import bootstrap_ci

    groups = {p: np.flatnonzero(pid == p) for p in np.unique(pid)}
    keys = list(groups)

    def stat(ix: np.ndarray) -> float:
        rows = np.concatenate([groups[keys[i]] for i in ix])
        return auroc(y[rows], s[rows])

    e = bootstrap_ci(stat, len(keys), n_boot=500, seed=0)
    return {"value": round(e.value, 4), "ci_low": round(e.low, 4), "ci_high": round(e.high, 4),
            "n": len(y), "n_pos": int(y.sum())}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vlm", default="radlens-vlm-adult-lite0")
    ap.add_argument("--classifier", default="radlens-cxr-adult-lite0")
    ap.add_argument("--data", default=None,
                    help="data root (default RADLENS_DATA or ../shared/data)")
    ap.add_argument("--limit", type=int, default=0, help="validation films at most (0: all)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    import torch

    from radlens.data.samples import decode_all, harmonise
    from radlens.data.spec import load as load_spec
    from radlens.data.splits import split_by_patient
    from radlens.models import registry
    from radlens.models.classifier import preprocess
    from radlens.paths import data_root
    from radlens.vlm.model import load as load_vlm
    from radlens.vlm.zeroshot import prompt_pairs, zeroshot_scores

    root = args.data or str(data_root())
    clf = registry.load(args.classifier)
    names = list(clf.labels)
    ds = harmonise([load_spec(f"{root}/{s}") for s in SETS], tuple(names))
    val = split_by_patient(ds, (0.8, 0.2), seed=0)[1]
    vlm = load_vlm(args.vlm)
    seen: set[str] = set()
    card: dict[str, Any] = getattr(vlm, "card", {})
    cfg = card.get("training", {}).get("config", {})
    if cfg.get("pairs"):
        from radlens.vlm.pairs import as_dataset, load_pairs

        pairs = [p for spec in cfg["pairs"]
                 for p in load_pairs(str(spec).replace("<data>", root), 1, 0)]
        vtrain = split_by_patient(as_dataset(pairs), (1 - float(cfg.get("val_fraction", 0.15)),
                                                      float(cfg.get("val_fraction", 0.15))),
                                  int(cfg.get("seed", 0)))[0]
        seen = {s.patient_id for s in vtrain.samples}
    samples = [s for s in val.samples if s.patient_id not in seen]
    dropped = len(val.samples) - len(samples)
    if args.limit:
        samples = samples[:args.limit]
    imgs, kept, _ = decode_all(samples, 512, progress=True)
    pix = [im.astype(np.float32) / 255 for im in imgs]
    labels = np.stack([samples[i].labels for i in kept])
    mask = np.stack([samples[i].mask for i in kept]).astype(bool)
    src = np.asarray([samples[i].source.split("/")[0] for i in kept])
    pid = np.asarray([samples[i].patient_id for i in kept])
    zs = zeroshot_scores(vlm, vlm.embed_pixels(pix),
                         prompt_pairs(vlm, [n.lower() for n in names]))
    with torch.no_grad():
        logits = torch.cat([clf.network(torch.cat([preprocess(p, clf.size)
                                                   for p in pix[s:s + 64]]))
                            for s in range(0, len(pix), 64)]).numpy()
    sup = 1 / (1 + np.exp(-logits / clf.temperatures))
    out: dict[str, Any] = {"n_films": len(kept), "dropped_seen_by_vlm": dropped,
                           "vlm": card.get("name", args.vlm),
                           "classifier": clf.info.name, "labels": {}}
    for j, n in enumerate(names):
        for s in FOR_LABEL.get(n, ("nih-cxr14",)):
            k = (src == s) & mask[:, j]
            y = labels[k, j]
            if len(np.unique(y)) < 2 or y.sum() < 3:
                continue
            out["labels"][f"{n} ({s})"] = {"zeroshot": _ci(y, zs[k, j], pid[k]),
                                           "supervised": _ci(y, sup[k, j], pid[k])}
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    print(f"{out['n_films']} validation films ({dropped} dropped: patients the VLM trained on)")
    print(f"{'label (collection)':34s} {'zero-shot AUROC':>26s} {'supervised AUROC':>26s}")
    for key, r in out["labels"].items():
        z, s = r["zeroshot"], r["supervised"]
        print(f"{key:34s} {z['value']:.3f} [{z['ci_low']:.3f}, {z['ci_high']:.3f}] "
              f"n+={z['n_pos']:<4d} {s['value']:.3f} [{s['ci_low']:.3f}, {s['ci_high']:.3f}]")
    zm = np.mean([r["zeroshot"]["value"] for r in out["labels"].values()])
    sm = np.mean([r["supervised"]["value"] for r in out["labels"].values()])
    print(f"{'mean':34s} {zm:.3f} {'':19s} {sm:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
