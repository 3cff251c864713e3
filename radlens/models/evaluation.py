"""Evaluate a classifier on a dataset: per-label AUROC, AP, sens/spec, ECE with patient CIs.

With ``by`` the same figures per subgroup (sex, age band) and the largest gaps between
subgroups: see `radlens.metrics.subgroups`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from radlens.data import spec as data_spec
from radlens.data.samples import Dataset, decode_all, harmonise
from radlens.errors import DataError
from radlens.metrics import classification as cm
from radlens.metrics import subgroups as sg
from radlens.models.registry import LoadedModel
from radlens.train.calibrate import summarise

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Predictions:
    """Calibrated probabilities (N, L), labels and mask (N, L), patient ids, for `labels`.

    `meta[i]` is the metadata of kept sample i (`Sample.meta`: "age", "sex", "view", ...);
    empty when the predictions were built without it.
    """

    labels: tuple[str, ...]
    probs: np.ndarray
    targets: np.ndarray
    mask: np.ndarray
    patients: tuple[str, ...]
    n_skipped: int
    meta: tuple[Mapping[str, str], ...] = ()


def shared_labels(model_labels: Sequence[str], datasets: Sequence[Dataset]) -> tuple[str, ...]:
    """Model labels that at least one dataset provides (case-insensitive); DataError if none."""
    have = {n.lower() for d in datasets for n in d.label_names}
    out = tuple(n for n in model_labels if n.lower() in have)
    if not out:
        raise DataError(f"the data has none of the model's labels ({', '.join(model_labels)})",
                        ", ".join(d.name for d in datasets))
    return out


def predict(loaded: LoadedModel, dataset: Dataset, batch: int = 32,
            progress: bool = True) -> Predictions:
    """Run `loaded` over every readable image of `dataset` (already harmonised to its labels).

    Probabilities use the card's temperatures; samples whose adapter names their population
    (``meta["population"]``, e.g. Kermany: "paediatric") get that population's temperatures
    where the card has them."""
    import torch

    images, kept, skipped = decode_all(dataset.samples, loaded.size, progress)
    if not kept:
        raise DataError("no readable images in the dataset", dataset.name)
    cols = [loaded.labels.index(n) for n in dataset.label_names]
    outs = []
    with torch.no_grad():
        for s in range(0, len(images), batch):
            x = torch.from_numpy(images[s:s + batch]).float().div_(255)[:, None]
            outs.append(loaded.network(x).numpy())
    samples = [dataset.samples[i] for i in kept]
    # a sample whose population the adapter knows gets that population's temperatures
    full = 1.0 / (1.0 + np.exp(-np.concatenate(outs) / loaded.temperatures))
    for pop in {str(s.meta.get("population", "")) for s in samples} - {""}:
        rows = [i for i, s in enumerate(samples) if s.meta.get("population") == pop]
        full[rows] = loaded.population_probabilities(full[rows], pop)
    probs = full[:, cols]
    return Predictions(dataset.label_names, probs, np.stack([s.labels for s in samples]),
                       np.stack([s.mask for s in samples]),
                       tuple(s.patient_id for s in samples), len(skipped),
                       tuple(dict(s.meta) for s in samples))


def operating_kinds(loaded: LoadedModel, labels: Sequence[str]) -> dict[str, str]:
    """label -> the card's default threshold kind for calls ("youden", "sens95", "operating",
    ...; "youden" when the card names none or names one it does not hold)."""
    table = loaded.card.get("thresholds", {})
    out: dict[str, str] = {}
    for n in labels:
        entry = table.get(n, {})
        kind = str(entry.get("default", "youden")) if isinstance(entry, Mapping) else "youden"
        out[n] = kind if isinstance(entry, Mapping) and kind in entry else "youden"
    return out


def evaluate(model: str, specs: Sequence[str], plots: str | Path | None = None,
             n_boot: int = 1000, progress: bool = True, by: str | Sequence[str] | None = None,
             min_samples: int = 10) -> dict[str, Any]:
    """Evaluate `model` (name or path) on the datasets `specs`; optionally write PNG plots.

    Returns {"model", "data", "n_images", "n_patients", "n_skipped", "metrics": label -> figures
    (see `radlens.train.calibrate.summarise`)}. Plots: ``roc.png`` and ``reliability.png``.
    `by` ("sex", "age", "sex,age" or a sequence of them) adds "subgroups": the block of
    `radlens.metrics.subgroups.subgroup_figures` (groups with fewer than `min_samples` known
    entries for a label, or one class only, get null figures and a note).
    """
    from radlens.models import registry

    factors = sg.parse_factors(by) if by is not None else None
    loaded = registry.load(model)
    datasets = [data_spec.load(s) for s in specs]
    labels = shared_labels(loaded.labels, datasets)
    data = harmonise(datasets, labels)
    overlap = training_overlap(loaded.card, data)
    for o in overlap:
        log.warning("evaluating on source %r, which model %s was trained on (%d of its "
                    "training images; %d evaluated): figures are optimistic unless these "
                    "images were held out", o["source"], loaded.info.name, o["trained_images"],
                    o["evaluated_images"])
    pred = predict(loaded, data, progress=progress)
    thresholds = {n: {"threshold_youden": loaded.threshold(n, "youden"),
                      "threshold_sens95": loaded.threshold(n, "sens95")} for n in labels}
    figures = summarise(pred.probs, pred.targets, pred.mask, pred.patients, labels, thresholds,
                        n_boot=n_boot)
    if plots is not None:
        write_plots(pred, Path(plots))
    result: dict[str, Any] = {
        "model": loaded.info.name, "sha256": loaded.info.sha256, "data": list(specs),
        "n_images": len(pred.patients), "n_patients": len(set(pred.patients)),
        "n_skipped": pred.n_skipped, "metrics": figures, "training_overlap": overlap}
    if factors is not None:
        operating = operating_kinds(loaded, labels)
        at = {n: {**thresholds[n], f"threshold_{k}": loaded.threshold(n, k)}
              for n, k in operating.items()}
        result["subgroups"] = sg.subgroup_figures(
            pred.probs, pred.targets, pred.mask, pred.patients, pred.meta, labels, at,
            operating=operating, factors=factors, n_boot=n_boot, min_samples=min_samples)
    return result


def training_overlap(card: Mapping[str, Any], data: Dataset) -> list[dict[str, Any]]:
    """The sources of `data` that the model card says the model was trained on.

    One entry per shared source: ``source`` (`Sample.source`, e.g. "tb-cxr/shenzhen"),
    ``evaluated_images`` (samples of that source in `data`) and ``trained_images`` (the card's
    count). A card without a ``training.data`` block gives []. The card records sources, not
    image lists, so an overlap means "possibly the same images": the training run held out a
    validation split of each source, and an evaluation on that same split is fair.
    """
    trained = {str(d.get("source")): int(d.get("images", 0))
               for d in card.get("training", {}).get("data", []) or []
               if isinstance(d, Mapping) and d.get("source")}
    counts: dict[str, int] = {}
    for s in data.samples:
        counts[s.source] = counts.get(s.source, 0) + 1
    return [{"source": src, "evaluated_images": n, "trained_images": trained[src]}
            for src, n in counts.items() if src in trained]


def write_plots(pred: Predictions, folder: Path) -> list[Path]:
    """Write ``roc.png`` and ``reliability.png`` (one line per label) into `folder`."""
    from radlens.render.plots import line_plot

    folder.mkdir(parents=True, exist_ok=True)
    roc, rel = [], []
    for j, name in enumerate(pred.labels):
        k = pred.mask[:, j].astype(bool)
        y, p = pred.targets[k, j], pred.probs[k, j]
        if len(np.unique(y)) == 2:
            fpr, tpr, _ = cm.roc_curve(y, p)
            roc.append((f"{name} (AUROC {cm.auroc(y, p):.3f})", fpr, tpr))
        bins = cm.reliability_bins(y, p)
        rel.append((f"{name} (ECE {cm.expected_calibration_error(y, p):.3f})",
                    [b[0] for b in bins], [b[1] for b in bins]))
    paths = [folder / "roc.png", folder / "reliability.png"]
    line_plot(roc, "ROC", "false-positive rate", "sensitivity", paths[0])
    line_plot(rel, "Reliability", "predicted probability", "observed frequency", paths[1],
              markers=True)
    return paths
