"""Score finding pointers against expert boxes with patient-level cross-validation.

Each system maps (image, training samples) to a heatmap (stretched over the image) and scored
boxes. The location prior is rebuilt from the training folds for each held-out fold, so no
system sees the boxes of the images it is scored on. Systems: ``centre``, ``random-lung``
(a random point inside the segmented lungs, seeded per image), ``prior`` (training-set
location prior), ``cam`` (Grad-CAM of the bundled classifier's first finding label) and
``localiser`` (the learned head of `radlens.models.localiser`, trained on the training folds).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from radlens.grounding.data import fold_of
from radlens.grounding.localisation import (
    BoxSample,
    average_precision,
    box_at,
    location_prior,
    mass_in_boxes,
    median_box_size,
    point_heat,
    pointing_hit,
)
from radlens.metrics.stats import bootstrap_ci
from radlens.schema import Box, Image

Pointer = Callable[[Image, int], tuple[np.ndarray, list[tuple[Box, float]]]]
SYSTEMS = ("centre", "random-lung", "prior", "cam", "localiser")


def make_pointer(name: str, train: Sequence[BoxSample], model: str | None = None,
                 segmenter: str | None = None) -> Pointer:
    """A pointer function (image, image index) -> (heatmap, [(box, score)]) for `name`."""
    wh = median_box_size(train)
    if name == "centre":
        def centre(img: Image, i: int) -> tuple[np.ndarray, list[tuple[Box, float]]]:
            size = img.pixels.shape[:2]
            x, y = size[1] / 2, size[0] / 2
            return point_heat(x, y, size), [(box_at(x, y, wh, size), 1.0)]
        return centre
    if name == "prior":
        prior = location_prior(train)

        def prior_fn(img: Image, i: int) -> tuple[np.ndarray, list[tuple[Box, float]]]:
            from radlens.grounding.heat import peak

            size = img.pixels.shape[:2]
            x, y = peak(prior, size)
            return prior, [(box_at(x, y, wh, size), 1.0)]
        return prior_fn
    if name == "random-lung":
        from radlens.tasks.segment import segment_lungs

        def random_lung(img: Image, i: int) -> tuple[np.ndarray, list[tuple[Box, float]]]:
            size = img.pixels.shape[:2]
            res = segment_lungs(img, segmenter)
            ys, xs = np.nonzero(res.right.mask | res.left.mask)
            rng = np.random.default_rng(i)
            if ys.size:
                k = int(rng.integers(ys.size))
                x, y = xs[k] + 0.5, ys[k] + 0.5
            else:
                x, y = size[1] / 2, size[0] / 2
            return point_heat(x, y, size, sigma=0.03), [(box_at(x, y, wh, size), 1.0)]
        return random_lung
    if name == "cam":
        from radlens.grounding.heat import main_component
        from radlens.models.classifier import preprocess
        from radlens.models.gradcam import grad_cam
        from radlens.models.registry import LoadedModel
        from radlens.tasks.classify import probabilities

        def cam(img: Image, i: int) -> tuple[np.ndarray, list[tuple[Box, float]]]:
            import torch

            threads = torch.get_num_threads()
            probs, loaded = probabilities(img, model)
            torch.set_num_threads(threads)  # the caller's choice, for every system alike
            assert isinstance(loaded, LoadedModel)
            j = next(k for k, n in enumerate(loaded.labels) if n != "No Finding")
            heat = grad_cam(loaded.network, preprocess(img.pixels, loaded.size), [j])[j]
            _, box, _ = main_component(heat, img.pixels.shape[:2])
            return heat, ([(box, float(probs[j]))] if box is not None else [])
        return cam
    if name == "localiser":
        return _localiser_pointer(train)
    raise ValueError(f"unknown system {name!r}; choose from {', '.join(SYSTEMS)}")


def _localiser_pointer(train: Sequence[BoxSample]) -> Pointer:
    """The learned head trained on `train` only (per fold), on frozen encoder features."""
    from radlens.grounding.heat import main_component
    from radlens.grounding.localisation import BoxSample as _Sample
    from radlens.train.localiser import features, fit_head, targets

    feats = features(train, progress=False)
    head = fit_head(feats, targets(train, feats.shape[-1]))

    def localiser(img: Image, i: int) -> tuple[np.ndarray, list[tuple[Box, float]]]:
        import torch

        size = img.pixels.shape[:2]
        f = features([_Sample(img.meta.source, "", (), size)])
        with torch.no_grad():
            heat = torch.sigmoid(head(torch.from_numpy(f.astype(np.float32))))[0, 0].numpy()
        _, box, _ = main_component(heat, size)
        return heat, ([(box, float(heat.max()))] if box is not None else [])
    return localiser


def _mean_of(arr: np.ndarray) -> Callable[[np.ndarray], float]:
    return lambda idx: float(arr[idx].mean())


def _ap_of(rs: list[dict[str, Any]], iou: float) -> Callable[[np.ndarray], float]:
    return lambda idx: average_precision([rs[k]["preds"] for k in idx],
                                         [rs[k]["truth"] for k in idx], iou)


def evaluate_grounding(samples: Sequence[BoxSample], systems: Sequence[str] = SYSTEMS,
                       folds: int = 5, seed: int = 0, model: str | None = None,
                       segmenter: str | None = None, progress: bool = True,
                       n_boot: int = 1000) -> dict[str, Any]:
    """Cross-validated pointing game, mass in boxes and AP@0.3/0.5 per system, with CIs."""
    from radlens.io import load_image

    fold = [fold_of(s.patient_id, folds, seed) for s in samples]
    records: dict[str, list[dict[str, Any]]] = {n: [] for n in systems}
    order = sorted(range(len(samples)), key=lambda i: fold[i])
    it: Any = order
    if progress:
        from tqdm import tqdm

        it = tqdm(order, desc="grounding", unit="img")
    pointers: dict[tuple[str, int], Pointer] = {}
    for i in it:
        s = samples[i]
        img = load_image(s.image)
        for name in systems:
            key = (name, fold[i])
            if key not in pointers:
                train = [t for t, f in zip(samples, fold, strict=True) if f != fold[i]]
                pointers[key] = make_pointer(name, train, model, segmenter)
            heat, boxes = pointers[key](img, i)
            size = img.pixels.shape[:2]
            records[name].append({"image": s.image, "hit": pointing_hit(heat, s.boxes, size),
                                  "mass": mass_in_boxes(heat, s.boxes, size),
                                  "preds": boxes, "truth": s.boxes})
    summary: dict[str, Any] = {}
    for name, rs in records.items():
        hits = np.array([r["hit"] for r in rs], float)
        mass = np.array([r["mass"] for r in rs], float)
        entry: dict[str, Any] = {}
        for metric, arr in (("pointing", hits), ("mass_in_boxes", mass)):
            est = bootstrap_ci(_mean_of(arr), len(arr), n_boot)
            entry[metric] = {"mean": est.value, "ci_low": est.low, "ci_high": est.high}
        for t in (0.3, 0.5):
            est = bootstrap_ci(_ap_of(rs, t), len(rs), n_boot=min(n_boot, 200))
            entry[f"ap@{t}"] = {"mean": est.value, "ci_low": est.low, "ci_high": est.high}
        summary[name] = entry
    return {"n_images": len(samples), "folds": folds, "summary": summary}
