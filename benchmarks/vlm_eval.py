"""Vision-language accuracy: zero-shot Pneumonia on Kermany, and retrieval on held-out pairs.

1. Zero-shot Pneumonia AUROC on the patient-level Kermany validation split (20% of patients,
   seed 0 — the split the supervised classifier radlens-cxr-lite0 held out), next to that
   classifier's AUROC on the same images, in one run, with 95% patient-bootstrap CIs and a
   paired bootstrap CI of the difference. The VLM never saw a Kermany image or label.
2. Retrieval on the VLM's own held-out validation pairs (patients it did not train on):
   Recall@1/5/10 image->text (hit: the image's own text is in the top k of the distinct texts)
   and text->image (hit: an image whose text is the query text is in the top k), and
   precision@k of finding agreement (share of the top-k retrieved images whose findings key
   equals the query's) for image->image and text->image, with chance levels and 95% CIs
   (bootstrap over queries).

Usage: python benchmarks/vlm_eval.py [--model NAME] [--data DIR] [--limit N] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

import numpy as np


def _ci(stat: Any, n: int) -> dict[str, float]:
    from radlens.metrics.stats import bootstrap_ci

    e = bootstrap_ci(stat, n, n_boot=1000, seed=0)
    return {"value": round(e.value, 4), "ci_low": round(e.low, 4), "ci_high": round(e.high, 4),
            "n": n}


def kermany_zeroshot(vlm: Any, data: str, limit: int) -> dict[str, Any]:
    """Zero-shot vs supervised AUROC for Pneumonia on the Kermany validation patients."""
    import torch

    from radlens.data.samples import decode_all, harmonise
    from radlens.data.spec import load as load_spec
    from radlens.data.splits import split_by_patient
    from radlens.metrics.classification import auroc
    from radlens.models import registry
    from radlens.vlm.zeroshot import prompt_pairs, zeroshot_scores

    ds = harmonise([load_spec(f"kermany:{data}/pneumonia-kermany/train")],
                   ("Pneumonia", "No Finding"))
    val = split_by_patient(ds, (0.8, 0.2), seed=0)[1]
    samples = val.samples[:limit] if limit else val.samples
    clf = registry.load("radlens-cxr-lite0")
    side = max(clf.size, 224)
    imgs, kept, _ = decode_all(samples, side, progress=True)
    y = np.array([samples[i].labels[0] for i in kept])
    patients = np.array([samples[i].patient_id for i in kept])
    pix = [im.astype(np.float32) / 255 for im in imgs]
    t0 = time.time()
    zs = zeroshot_scores(vlm, vlm.embed_pixels(pix), prompt_pairs(vlm, ["pneumonia"]))[:, 0]
    t_vlm = time.time() - t0
    from radlens.models.classifier import preprocess

    t0 = time.time()
    with torch.no_grad():
        logits = torch.cat([clf.network(torch.cat([preprocess(p, clf.size) for p in
                                                   pix[s:s + 64]]))
                            for s in range(0, len(pix), 64)]).numpy()[:, 0]
    t_clf = time.time() - t0
    sup = 1 / (1 + np.exp(-logits / clf.temperatures[0]))
    uniq = np.unique(patients)
    rows = [np.flatnonzero(patients == p) for p in uniq]

    def on(scores: np.ndarray) -> Any:
        return lambda ix: auroc(y[np.concatenate([rows[i] for i in ix])],
                                scores[np.concatenate([rows[i] for i in ix])])

    def diff(ix: np.ndarray) -> float:
        return float(on(sup)(ix) - on(zs)(ix))

    return {"split": "Kermany train folder, 20% of patients (seed 0) = radlens-cxr-lite0's "
                     "validation split", "n_images": len(y), "n_pos": int(y.sum()),
            "n_patients": len(uniq),
            "zeroshot_auroc": _ci(on(zs), len(uniq)),
            "supervised_auroc": _ci(on(sup), len(uniq)),
            "supervised_minus_zeroshot": _ci(diff, len(uniq)),
            "zeroshot_mean_prob": {"pneumonia": round(float(zs[y == 1].mean()), 4),
                                   "normal": round(float(zs[y == 0].mean()), 4)},
            "seconds": {"vlm": round(t_vlm, 1), "classifier": round(t_clf, 1)}}


def retrieval(vlm: Any, data: str) -> dict[str, Any]:
    """Retrieval figures on the VLM's held-out validation pairs."""
    from radlens.train.vlm import VLMConfig, prepare
    from radlens.vlm.export import export_paths

    cfg_dict = dict(vlm.card["training"]["config"])
    cfg_dict["pairs"] = tuple(export_paths(s, data, back=True) for s in cfg_dict["pairs"])
    cfg_dict["out"] = str(__import__("tempfile").mkdtemp(prefix="vlm-eval-"))
    cfg = VLMConfig(**cfg_dict)
    _, va, _ = prepare(cfg, progress=False)
    pix = [im.astype(np.float32) / 255 for im in va.images]
    img = vlm.embed_pixels(pix)
    own = [p.texts[0] for p in va.pairs]
    texts = sorted(set(own))
    txt = vlm.embed_texts(texts)
    tid = np.array([texts.index(t) for t in own])
    keys = np.array([p.key for p in va.pairs])
    n = len(own)
    rank_i2t = np.argsort(-(img @ txt.T), axis=1)
    pos_i2t = np.array([int(np.flatnonzero(rank_i2t[i] == tid[i])[0]) for i in range(n)])
    sim_t2i = txt[tid] @ img.T
    order_t2i = np.argsort(-sim_t2i, axis=1)
    pos_t2i = np.array([int(np.flatnonzero(tid[order_t2i[i]] == tid[i])[0])
                        for i in range(n)])
    sim_i2i = img @ img.T
    np.fill_diagonal(sim_i2i, -np.inf)
    order_i2i = np.argsort(-sim_i2i, axis=1)
    out: dict[str, Any] = {"n_pairs": n, "n_distinct_texts": len(texts),
                           "n_findings_keys": len(set(keys))}
    for k in (1, 5, 10):
        out[f"R@{k}_image_to_text"] = _ci(lambda ix, k=k: float(np.mean(pos_i2t[ix] < k)), n)
        out[f"R@{k}_text_to_image"] = _ci(lambda ix, k=k: float(np.mean(pos_t2i[ix] < k)), n)
    for k in (1, 5, 10):
        agree_ii = (keys[order_i2i[:, :k]] == keys[:, None]).mean(1)
        agree_ti = (keys[order_t2i[:, :k]] == keys[:, None]).mean(1)
        out[f"P@{k}_findings_image_to_image"] = _ci(lambda ix, a=agree_ii: float(a[ix].mean()),
                                                    n)
        out[f"P@{k}_findings_text_to_image"] = _ci(lambda ix, a=agree_ti: float(a[ix].mean()),
                                                   n)
    _, counts = np.unique(keys, return_counts=True)
    out["chance"] = {"findings_agreement": round(float(((counts / n) ** 2).sum()), 4),
                     "R@1_image_to_text": round(1 / len(texts), 4)}
    return out


def main(argv: list[str] | None = None) -> int:
    from radlens.models.classifier import set_threads
    from radlens.paths import data_root
    from radlens.vlm.model import load

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="vision-language model (default: bundled)")
    ap.add_argument("--data", default=None, help="data root (default: RADLENS_DATA)")
    ap.add_argument("--limit", type=int, default=0, help="Kermany images at most (0: all)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    set_threads(2)
    data = str(args.data or data_root())
    vlm = load(args.model)
    result = {"model": vlm.card["name"], "kermany_zeroshot": kermany_zeroshot(vlm, data,
                                                                              args.limit),
              "retrieval": retrieval(vlm, data)}
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    z = result["kermany_zeroshot"]
    print(f"model {result['model']}; Kermany validation: {z['n_images']} images "
          f"({z['n_pos']} pneumonia), {z['n_patients']} patients")
    for key in ("zeroshot_auroc", "supervised_auroc", "supervised_minus_zeroshot"):
        e = z[key]
        print(f"  {key:<28} {e['value']:.4f}  [{e['ci_low']:.4f}, {e['ci_high']:.4f}]")
    r = result["retrieval"]
    print(f"retrieval on {r['n_pairs']} held-out pairs ({r['n_distinct_texts']} distinct texts, "
          f"{r['n_findings_keys']} finding sets); chance: {r['chance']}")
    for key, e in r.items():
        if isinstance(e, dict) and "value" in e:
            print(f"  {key:<32} {e['value']:.4f}  [{e['ci_low']:.4f}, {e['ci_high']:.4f}]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
