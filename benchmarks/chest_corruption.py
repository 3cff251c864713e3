"""The bundled chest classifier and lung segmenter under MedMNIST-C's chest X-ray corruptions.

Films: the bundled classifier's own validation patients (recomputed from its card's training
config, never trained on) in the adult collections whose films are stored at their full
resolution here (``nih-cxr14`` and ``tb-cxr``, 512 px), up to `--n` of them (seeded draw);
for the segmenter, the held-out patients of its card (covid-cxr, expert masks "full", native
sizes). Every film is corrupted at its own resolution (`radlens.data.corruptions.apply`,
modality ``chest-xray``: every family at severities 1-5, seed = film index), then read as
`radlens` reads it (whole-image resize to the model's side, calibrated probabilities).

Prints, per family and severity, the classifier's AUROC per label (labels with at least
`--min-pos` positives and negatives among the known films), their mean, and the segmenter's
mean Dice over both lungs, each with a 95% bootstrap CI (films resampled), beside the clean
figures; writes ``OUT/chest_corruption.json`` and PNG plots (mean AUROC and Dice against
severity, one line per family).

    .venv/bin/python benchmarks/chest_corruption.py [--n 150] [--seg-n 40] [--out DIR] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).parent))

from classifier_shortcuts import training_data

from radlens.data import corruptions
from radlens.grounding.data import side_masks
from radlens.grounding.metrics import dice
from radlens.io import image_from_array, load_image
from radlens.metrics import classification as cm
from radlens.metrics.stats import bootstrap_ci
from radlens.models import registry
from radlens.models.classifier import micro_batches, preprocess
from radlens.paths import data_root
from radlens.render.plots import line_plot

FULL_RES = ("nih-cxr14", "tb-cxr")


def validation_films(loaded: Any, root: Path, n: int, seed: int) -> list[Any]:
    """Samples of the model's validation patients from the full-resolution adult sets."""
    ds, assign = training_data(loaded, str(root))
    val = [s for s in ds.samples if assign[s.patient_id] == 1
           and any(k in str(s.source) for k in FULL_RES)]
    rng = np.random.default_rng(seed)
    pick = sorted(rng.choice(len(val), size=min(n, len(val)), replace=False))
    return [val[i] for i in pick]


def _probs(loaded: Any, images: list[np.ndarray]) -> np.ndarray:
    x = torch.cat([preprocess(im, loaded.size) for im in images])
    with torch.no_grad():
        logits = torch.cat([loaded.network(p) for p in micro_batches(x)]).numpy()
    return 1 / (1 + np.exp(-logits / loaded.temperatures))


def auroc_block(probs: np.ndarray, labels: np.ndarray, mask: np.ndarray, names: list[str],
                keep: list[int], n_boot: int, seed: int) -> dict[str, Any]:
    """AUROC per kept label and their mean, with bootstrap CIs over films."""
    out: dict[str, Any] = {}
    for j in keep:
        k = mask[:, j] > 0
        y, p = labels[k, j], probs[k, j]
        def one(idx: np.ndarray, y: np.ndarray = y, p: np.ndarray = p) -> float:
            return cm.auroc(y[idx], p[idx])

        est = bootstrap_ci(one, len(y), n_boot=n_boot, seed=seed)
        out[names[j]] = {"auroc": est.value, "ci": [est.low, est.high]}

    def mean_auroc(idx: np.ndarray) -> float:
        vals = []
        for j in keep:
            k = mask[idx, j] > 0
            y = labels[idx][k, j]
            if 0 < y.sum() < len(y):
                vals.append(cm.auroc(y, probs[idx][k, j]))
        return float(np.mean(vals))

    est = bootstrap_ci(mean_auroc, len(probs), n_boot=n_boot, seed=seed)
    out["mean"] = {"auroc": est.value, "ci": [est.low, est.high]}
    return out


def _dice_rows(seg_samples: list[Any], images: list[np.ndarray], refs: list[Any]) -> np.ndarray:
    from radlens.tasks.segment import segment_lungs

    out = []
    for s, im, ref in zip(seg_samples, images, refs, strict=True):
        res = segment_lungs(image_from_array(im, source=Path(s.image).name), None, "full")
        out.append(np.mean([dice(res.right.mask, ref[0]), dice(res.left.mask, ref[1])]))
    return np.asarray(out)


def _ci(values: np.ndarray, n_boot: int, seed: int) -> dict[str, Any]:
    est = bootstrap_ci(lambda idx: float(values[idx].mean()), len(values), n_boot=n_boot,
                       seed=seed)
    return {"mean": est.value, "ci": [est.low, est.high]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=150, help="classifier films (default 150)")
    ap.add_argument("--seg-n", type=int, default=40, help="segmenter films (default 40)")
    ap.add_argument("--min-pos", type=int, default=8,
                    help="least positives and negatives for a label's AUROC (default 8)")
    ap.add_argument("--n-boot", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="/tmp/chest-corruption", help="folder for JSON and PNGs")
    ap.add_argument("--families", default=None, metavar="A,B",
                    help="only these corruption families (default: all of chest-xray)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    root = data_root()
    loaded = registry.load(str(registry.default_model("classify")))
    names = list(loaded.labels)
    films = validation_films(loaded, root, args.n, args.seed)
    images = [load_image(s.path).pixels for s in films]
    labels = np.stack([s.labels for s in films])
    mask = np.stack([s.mask for s in films]).astype(np.float32)
    keep = [j for j in range(len(names))
            if min(((labels[:, j] == 1) & (mask[:, j] > 0)).sum(),
                   ((labels[:, j] == 0) & (mask[:, j] > 0)).sum()) >= args.min_pos]
    from radlens.cli.segment_eval import held_out_samples

    seg_samples = [s for s in held_out_samples(str(root / "covid-cxr"), None, False)
                   if "full" in s.masks][:args.seg_n]
    seg_images = [load_image(s.image).pixels for s in seg_samples]
    refs = [side_masks(s.masks["full"]) for s in seg_samples]
    t0 = time.time()
    result: dict[str, Any] = {
        "model": loaded.info.name, "model_version": loaded.info.version,
        "films": len(films), "sources": sorted({str(s.source) for s in films}),
        "segmenter_films": len(seg_samples), "labels": [names[j] for j in keep],
        "clean": {"classifier": auroc_block(_probs(loaded, images), labels, mask, names, keep,
                                            args.n_boot, args.seed),
                  "dice": _ci(_dice_rows(seg_samples, seg_images, refs), args.n_boot,
                              args.seed)},
        "corrupted": {}}
    fams = corruptions.families("chest-xray")
    if args.families:
        fams = tuple(f for f in fams if f in args.families.split(","))
    bar = tqdm(total=len(fams) * len(corruptions.SEVERITIES), desc="corruptions", unit="cond")
    for fam in fams:
        rows = {}
        for sev in corruptions.SEVERITIES:
            bad = [corruptions.apply(im, fam, sev, "chest-xray", seed=i)
                   for i, im in enumerate(images)]
            seg_bad = [corruptions.apply(im, fam, sev, "chest-xray", seed=i)
                       for i, im in enumerate(seg_images)]
            rows[str(sev)] = {
                "classifier": auroc_block(_probs(loaded, bad), labels, mask, names, keep,
                                          args.n_boot, args.seed),
                "dice": _ci(_dice_rows(seg_samples, seg_bad, refs), args.n_boot, args.seed)}
            bar.update()
            mean = rows[str(sev)]["classifier"]["mean"]["auroc"]
            bar.set_postfix(family=fam, auroc=f"{mean:.3f}")
        result["corrupted"][fam] = rows
    bar.close()
    result["seconds"] = round(time.time() - t0, 1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "chest_corruption.json").write_text(json.dumps(result, indent=1, default=float))
    _plots(result, out)
    if args.json:
        print(json.dumps(result, indent=1, default=float))
    else:
        print("\n".join(_lines(result)))
    return 0


def _plots(result: dict[str, Any], out: Path) -> None:
    """Mean AUROC and Dice against severity (x = severity / 5; 0 = clean), families in groups
    of seven so that every line has its own colour."""
    fams = list(result["corrupted"])
    for metric, get in (("auroc", lambda r: r["classifier"]["mean"]["auroc"]),
                        ("dice", lambda r: r["dice"]["mean"])):
        clean = get(result["clean"])
        for g in range(0, len(fams), 7):
            series = []
            for fam in fams[g:g + 7]:
                rows = result["corrupted"][fam]
                xs = [0.0] + [int(s) / 5 for s in rows]
                series.append((fam, xs, [clean] + [get(rows[s]) for s in rows]))
            line_plot(series, f"{result['model']}: {metric} under corruption",
                      "severity / 5 (0 = clean)", metric,
                      out / f"chest_corruption_{metric}_{g // 7 + 1}.png", markers=True)


def _lines(result: dict[str, Any]) -> list[str]:
    c = result["clean"]
    cm_ = c["classifier"]["mean"]
    out = [f"{result['model']} v{result['model_version']}: {result['films']} validation films "
           f"({', '.join(result['sources'])}), labels {', '.join(result['labels'])}; segmenter "
           f"on {result['segmenter_films']} held-out films; {result['seconds']} s",
           f"clean: mean AUROC {_fmt(cm_['auroc'], cm_['ci'])}"
           f", Dice {_fmt(c['dice']['mean'], c['dice']['ci'])}",
           "| family | mean AUROC, severity 1 / 2 / 3 / 4 / 5 | Dice, severity 1 / 2 / 3 / 4 / 5 |",
           "|---|---|---|"]
    for fam, rows in result["corrupted"].items():
        au = " / ".join(f"{r['classifier']['mean']['auroc']:.3f}" for r in rows.values())
        di = " / ".join(f"{r['dice']['mean']:.3f}" for r in rows.values())
        out.append(f"| {fam} | {au} | {di} |")
    worst = min(((f, s, r["classifier"]["mean"]) for f, rows in result["corrupted"].items()
                 for s, r in rows.items()), key=lambda t: t[2]["auroc"])
    out.append(f"worst mean AUROC: {worst[0]} severity {worst[1]}: "
               f"{_fmt(worst[2]['auroc'], worst[2]['ci'])}")
    return out


def _fmt(v: float, ci: list[float]) -> str:
    return f"{v:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]"


if __name__ == "__main__":
    raise SystemExit(main())
