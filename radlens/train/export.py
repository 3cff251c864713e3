"""Export a finished run: calibrate on validation, write safetensors weights + JSON model card."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import save_file

from radlens.data.samples import Dataset
from radlens.errors import ModelError
from radlens.metrics import classification as cm
from radlens.metrics.subgroups import json_safe
from radlens.models import backbones
from radlens.models.classifier import FindingClassifier
from radlens.train.calibrate import calibrate, sigmoid, summarise
from radlens.train.config import TrainConfig
from radlens.train.loop import Split, predict_logits, prepare
from radlens.train.operating import operating_thresholds, spec_threshold

log = logging.getLogger(__name__)

INTENDED_USE = (
    "Research and education: a demonstration of an offline chest X-ray reading pipeline and a "
    "baseline to compare new models against. Outputs are draft, machine-generated opinions for "
    "review by a qualified reader."
)
NOT_FOR = [
    "Diagnosis, triage or any clinical decision without a qualified radiologist's review.",
    "Patients or settings unlike the training data (e.g. adult inpatients beyond a few hundred "
    "COVID-collection images, other hospitals, portable ICU films with lines and tubes).",
    "Findings other than the listed labels; a 'No Finding' output does not rule out disease "
    "the model was never trained on.",
    "Lateral views, CT, or images that failed radlens's input-quality checks.",
    "Distinguishing COVID-19 from other pneumonias.",
]


def _licences(data: Dataset) -> list[dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for s in data.samples:
        entry = out.setdefault(s.source, {"source": s.source, "images": 0, "licences": {}})
        entry["images"] += 1
        lic = s.meta.get("license", "").strip() or "unspecified"
        entry["licences"][lic] = entry["licences"].get(lic, 0) + 1
    return list(out.values())


def portable_config(cfg: TrainConfig) -> dict[str, Any]:
    """The run config for the card, with the data root written ``<data>`` and the run and cache
    folders as placeholders, so the card carries no local paths."""
    from radlens.paths import data_root

    d = cfg.as_dict()
    roots = sorted({str(data_root()), str(data_root().resolve())}, key=len, reverse=True)

    def clean(spec: str) -> str:
        kind, sep, rest = spec.partition(":")
        body = rest if sep and not kind.startswith("/") and not kind.startswith(".") else spec
        path = str(Path(body.partition("?")[0]).expanduser().resolve())
        for r in roots:
            if path.startswith(r):
                return spec.replace(body.partition("?")[0], "<data>" + path[len(r):])
        return spec

    d["data"] = [clean(s) for s in d["data"]]
    d["out"] = "<run folder>"
    d["cache_dir"] = "<cache folder>" if d.get("cache_dir") else ""
    d["card_extra"] = Path(d["card_extra"]).name if d.get("card_extra") else ""
    return d


def _thresholds(entry: dict[str, float]) -> dict[str, Any]:
    out: dict[str, Any] = {"sens95": entry["threshold_sens95"],
                           "youden": entry["threshold_youden"]}
    for key in ("spec95", "operating"):
        if f"threshold_{key}" in entry:
            out[key] = entry[f"threshold_{key}"]
    out["default"] = "operating" if "operating" in out else "youden"
    return out


MIN_POPULATION_CLASS = 10  # positives and negatives needed to fit a population's own thresholds
ANCHORS = {"Pneumonia": (("covid", "hannover"), 0.95), "Tuberculosis": (("tb-cxr",), 0.85)}


def default_anchors(sources: list[str], adult: np.ndarray
                    ) -> dict[str, tuple[np.ndarray, float]]:
    """Sensitivity anchors of the operating thresholds: Pneumonia keeps 95% sensitivity on the
    adult COVID-collection / Hannover films, Tuberculosis 85% on the TB collections (adult
    films of the run when it has none of those sources)."""
    src = np.asarray([s.split("/")[0] for s in sources], dtype=object)
    out = {}
    for label, (names, sens) in ANCHORS.items():
        rows = adult & np.isin(src, list(names))
        out[label] = (rows if rows.any() else adult, sens)
    return out


def calibrate_by_population(logits: np.ndarray, val: Split, labels: tuple[str, ...]
                            ) -> tuple[dict[str, dict[str, float]],
                                       dict[str, dict[str, dict[str, float]]]]:
    """Temperatures and thresholds from the validation split, per population.

    Returns (adult calibration, population -> calibration). Temperatures and the adult
    thresholds (youden, sens95, spec95 and, when the labels include No Finding, the joint
    "operating" thresholds of `radlens.train.operating`) are fitted on adult films
    (``meta["population"] != "paediatric"``); a label without both classes among them falls
    back to every validation film. Paediatric temperatures and thresholds are fitted on the
    paediatric films for labels with at least 10 paediatric positives and negatives; the other
    labels keep the adult temperature and thresholds there. Calibration entries: temperature,
    threshold_<kind>.
    """
    pops = np.asarray([m.get("population", "adult") for m in val.meta], dtype=object)
    adult = pops != "paediatric"
    if not adult.any():
        adult = np.ones(len(pops), bool)
    fit_on = {}
    for j in range(len(labels)):
        k = adult & (val.mask[:, j] > 0)
        fit_on[j] = adult if len(np.unique(val.labels[k, j])) == 2 else np.ones_like(adult)
    cal: dict[str, dict[str, float]] = {}
    for j, n in enumerate(labels):
        rows = fit_on[j]
        one = calibrate(logits[rows][:, [j]], val.labels[rows][:, [j]], val.mask[rows][:, [j]],
                        [n])[n]
        k = rows & (val.mask[:, j] > 0)
        p = sigmoid(logits[k, j] / one["temperature"])
        one["threshold_spec95"] = spec_threshold(p[val.labels[k, j] == 0], 0.95)
        cal[n] = one
    temps = np.array([cal[n]["temperature"] for n in labels])
    probs = sigmoid(logits / temps)
    if "No Finding" in labels:
        op = operating_thresholds(probs, val.labels, val.mask, labels, adult,
                                  anchors=default_anchors(val.sources, adult))
        for n in labels:
            cal[n]["threshold_operating"] = op[n]
    by_pop: dict[str, dict[str, dict[str, float]]] = {"adult": cal}
    paed = pops == "paediatric"
    if paed.any() and adult.any() and not adult.all():
        entry = {}
        for j, n in enumerate(labels):
            k = paed & (val.mask[:, j] > 0)
            y, p = val.labels[k, j], probs[k, j]
            if min(int(y.sum()), int((1 - y).sum())) < MIN_POPULATION_CLASS:
                entry[n] = dict(cal[n])  # too few paediatric films of a class: adult thresholds
                continue
            # the population's own temperature: one adult temperature left the paediatric
            # probabilities under-confident (ECE 0.096 on the 288-px model's validation films)
            temp = calibrate(logits[k][:, [j]], val.labels[k][:, [j]], val.mask[k][:, [j]],
                             [n])[n]["temperature"]
            p = sigmoid(logits[k, j] / temp)
            entry[n] = {"temperature": temp,
                        "threshold_youden": cm.threshold_youden(y, p),
                        "threshold_sens95": cm.threshold_at_sensitivity(y, p, 0.95)}
        by_pop["paediatric"] = entry
    return cal, by_pop


def export_run(cfg: TrainConfig, card_extra: dict[str, Any] | None = None,
               refit_ood: bool = True) -> Path:
    """Write ``model.safetensors`` and ``model.json`` into the run folder; returns the card path.

    Uses ``best.pt`` (the best validation epoch); fits per-label temperatures and thresholds on
    the validation split and stores validation figures with 95% patient-bootstrap CIs.
    `refit_ood` False keeps the out-of-distribution statistics of an earlier export of the same
    run (``model.ood.safetensors`` and the ``ood`` block of its ``model.json``, checked by
    SHA-256), so a re-calibration does not repeat that pass over every training film; they are
    fitted when there are none.
    """
    out = Path(cfg.out)
    best = out / "best.pt"
    if not best.is_file():
        raise ModelError("no best.pt: the run has not finished an epoch yet", out)
    data, train_split, val = prepare(cfg, progress=False)
    model = FindingClassifier(cfg.backbone, len(cfg.labels), pretrained=False)
    model.load_state_dict(torch.load(best, map_location="cpu", weights_only=True))
    logits = predict_logits(model, val)
    cal, by_pop = calibrate_by_population(logits, val, cfg.labels)
    temps = np.array([cal[n]["temperature"] for n in cfg.labels])
    probs = sigmoid(logits / temps)
    adult = np.asarray([m.get("population", "adult") != "paediatric" for m in val.meta])
    if not adult.any():
        adult = np.ones(len(adult), bool)
    figures = summarise(probs[adult], val.labels[adult], val.mask[adult],
                        [p for p, a in zip(val.patients, adult, strict=True) if a], cfg.labels,
                        cal)
    populations = {}
    paed = np.asarray([m.get("population", "") == "paediatric" for m in val.meta])
    for pop, rows in (("adult", ~paed), ("paediatric", paed)):
        if rows.any():
            thr = cal if pop == "adult" else by_pop.get(pop, cal)
            pop_probs = sigmoid(logits / np.array([thr[n]["temperature"] for n in cfg.labels]))
            populations[pop] = {
                "n_images": int(rows.sum()),
                "metrics": summarise(pop_probs[rows], val.labels[rows], val.mask[rows],
                                     [p for p, r in zip(val.patients, rows, strict=True) if r],
                                     cfg.labels, thr)}
    weights = out / "model.safetensors"
    save_file({k: v.contiguous() for k, v in model.net.state_dict().items()}, str(weights))
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()
    history = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    spec = backbones.get(cfg.backbone)
    card: dict[str, Any] = {
        "name": cfg.name, "version": "1", "task": "classify", "backbone": cfg.backbone,
        "labels": list(cfg.labels),
        "weights": {"file": weights.name, "sha256": digest, "format": "safetensors"},
        "input": {"size": cfg.size, "channels": 1, "range": [0.0, 1.0], "air": "dark",
                  "resize": "whole image to size x size, bilinear, antialiased",
                  "normalise": {"mean": spec.mean, "std": spec.std},
                  "loader": "radlens.io.load_image"},
        "calibration": {n: {"temperature": cal[n]["temperature"]} for n in cfg.labels},
        "thresholds": {n: _thresholds(cal[n]) for n in cfg.labels},
        "population_thresholds": {pop: {n: _thresholds(t[n]) for n in cfg.labels}
                                  for pop, t in by_pop.items() if pop != "adult"},
        "population_calibration": {pop: {n: {"temperature": t[n]["temperature"]}
                                         for n in cfg.labels}
                                   for pop, t in by_pop.items() if pop != "adult"},
        "training": {"config": portable_config(cfg), "data": _licences(data),
                     "backbone_weights": spec.weights_licence, "epochs_run": len(history),
                     "best_epoch": max(history, key=lambda h: h["val_auroc_mean"])["epoch"],
                     "train_minutes": round(sum(h["epoch_seconds"] for h in history) / 60, 1),
                     "history": history},
        "validation": {"split": f"{cfg.val_fraction:.0%} of patients per source, seed "
                                f"{cfg.seed}", "n_images": len(val),
                       "n_patients": len(set(val.patients)), "metrics": figures,
                       "metrics_population": "adult validation films (all films when a run "
                                             "has no adult ones)",
                       "by_population": populations},
        "intended_use": INTENDED_USE, "not_for": NOT_FOR,
    }
    add_card_extra(card, cfg.card_extra, card_extra)
    from radlens.train.ood import fit_run

    earlier = None if refit_ood else _earlier_ood(out)
    card["ood"] = earlier if earlier is not None else fit_run(
        model, train_split.images, val.images, list(val.meta), out, progress=False)
    path = out / "model.json"
    path.write_text(json.dumps(json_safe(card), indent=2, allow_nan=False))
    log.info("exported %s (%s)", path, weights)
    return path


def add_card_extra(card: dict[str, Any], path: str | None,
                   extra: dict[str, Any] | None = None) -> None:
    """Merge into `card` the keys of the JSON file `path` (``--card-extra``; skipped when
    empty), then `extra`; `ModelError` naming the file when it cannot be read."""
    if path:
        try:
            card.update(json.loads(Path(path).read_text("utf-8")))
        except (OSError, ValueError) as exc:
            raise ModelError(f"cannot read the card additions ({exc})", path) from exc
    card.update(extra or {})


def _earlier_ood(out: Path) -> dict[str, Any] | None:
    """The ``ood`` block of an earlier ``model.json`` in run folder `out` when its statistics
    file is there with the recorded SHA-256; None otherwise."""
    try:
        block = json.loads((out / "model.json").read_text("utf-8")).get("ood")
        stats = out / str(block["file"])
        if hashlib.sha256(stats.read_bytes()).hexdigest() != block["sha256"]:
            return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    return dict(block)


def bundle_run(run: str | Path, dest: str | Path | None = None) -> tuple[Path, Path]:
    """Copy an exported run's weights and card into `dest` (default: the package's
    ``radlens/weights``) as ``<name>.safetensors`` + ``<name>.json``; returns both paths.

    `ModelError` when the run has no export or its weights do not match the card's SHA-256.
    """
    from radlens.models.registry import read_card, verified_weights, weights_dir

    src = Path(run)
    card = read_card(src / "model.json")
    wpath, _ = verified_weights(card)
    folder = Path(dest) if dest else weights_dir()
    folder.mkdir(parents=True, exist_ok=True)
    name = str(card["name"])
    out_w, out_c = folder / f"{name}.safetensors", folder / f"{name}.json"
    out_w.write_bytes(wpath.read_bytes())
    card.pop("_path", None)
    card["weights"]["file"] = out_w.name
    if isinstance(card.get("ood"), dict):
        ood_src = src / str(card["ood"]["file"])
        if not ood_src.is_file():
            raise ModelError("the card names OOD statistics that are not in the run", ood_src)
        ood_dst = folder / f"{name}.ood.safetensors"
        ood_dst.write_bytes(ood_src.read_bytes())
        card["ood"]["file"] = ood_dst.name
    out_c.write_text(json.dumps(json_safe(card), indent=2, allow_nan=False) + "\n")
    return out_w, out_c
