"""Training and evaluation arrays for the generators.

Three data specs (``radlens.data.spec`` syntax):

- ``medmnist:FILE.npz`` (a 2-D grey MedMNIST file): images of the official ``train`` and
  ``val`` splits with their class labels, at the file's side (28 px);
- ``kermany:FOLDER`` (one Kermany split folder with ``NORMAL/`` and ``PNEUMONIA/``, read by
  `radlens.data.adapters.kermany`): whole films resized to `size` x `size` (stretch,
  antialiased) with the classes of ``kermany.json`` (package data): normal, bacterial
  pneumonia, viral pneumonia (the PNEUMONIA file name says ``bacteria`` or ``virus``; a file
  saying neither is skipped with a warning naming it). Split by patient (file-name patient
  id) with `radlens.data.splits.assign_patients` at the table's fractions and seed (80/20,
  seed 0: the split of the bundled ``radlens-cxr-lite0`` classifier, whose held-out Kermany
  patients thus form the validation side). Unreadable images are skipped with a counted
  warning naming each file;
- ``covid:FOLDER`` (the covid-cxr folder with ``metadata.csv``, ``images/`` and the lung-mask
  folders): every frontal film with an expert lung mask, resized whole to `size` x `size`
  (stretch, antialiased), with the union of both lungs as the mask. The v7labs ("full" lung
  field) mask is used where an image has one, else the lungVAE ("visible" lung) mask. Split by
  patient exactly as the bundled segmenter was (5 folds, fold 0 held out, seed 0), so the
  held-out films are also unseen by the segmenter used to judge mask fidelity.

Arrays: images uint8 (N, S, S) (0-255, air dark); labels int64 (N,); masks bool (N, S, S).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from radlens.errors import DataError

log = logging.getLogger(__name__)

LUNG_MASK_SIZE = 64


@dataclass(frozen=True)
class GenData:
    """The arrays of one spec: `train` and `val` as (images, labels or None, masks or None).

    `conditioning`: "class" or "mask"; `labels`: class names (class data); `side`: image side;
    `source`: what the data is, for the card (name, licences, citation)."""

    conditioning: str
    side: int
    labels: tuple[str, ...]
    train_images: np.ndarray
    val_images: np.ndarray
    train_labels: np.ndarray | None = None
    val_labels: np.ndarray | None = None
    train_masks: np.ndarray | None = None
    val_masks: np.ndarray | None = None
    source: dict[str, Any] = field(default_factory=dict)
    dataset: str = ""


def load(spec: str, size: int = LUNG_MASK_SIZE, cache: Path | None = None,
         progress: bool = False) -> GenData:
    """The arrays of a ``medmnist:FILE.npz``, ``kermany:FOLDER`` or ``covid:FOLDER`` spec
    (module docstring). `size`: side in px of chest films (ignored for MedMNIST). `cache`:
    path stem of the .npz caches of decoded chest films (e.g. ``RUN/cache``). `progress`: a
    tqdm bar while decoding. `DataError` naming the spec when it is none of these."""
    from radlens.data import spec as data_spec

    kind, path, opts = data_spec.parse(spec)
    if kind == "medmnist":
        return _medmnist(path)
    if kind == "covid":
        return _lungs(path, size, cache, progress)
    if kind == "kermany":
        if opts:
            raise DataError(f"a kermany spec takes no options (got {', '.join(opts)})", spec)
        return _kermany(path, size, cache, progress)
    raise DataError("generators train on medmnist:FILE.npz or kermany:FOLDER (class labels) "
                    f"or covid:FOLDER (lung masks), not {kind!r} data", spec)


def _medmnist(path: Path) -> GenData:
    from radlens.data import medmnist as md

    f = md.open_npz(path)
    info = f.info
    if info.dims != 2 or info.channels != 1:
        raise DataError("generators take 2-D grey MedMNIST files only", path)
    tr, ytr = f.split("train")
    va, yva = f.split("val")
    n = len(ytr)
    source = {"source": f"MedMNIST v2 {info.name} ({info.description})", "images": n,
              "split": "official train", "licences": {info.licence: n},
              "citation": "Yang et al., MedMNIST v2, Scientific Data 2023"}
    return GenData("class", info.side, tuple(info.labels), tr, va, ytr.astype(np.int64),
                   yva.astype(np.int64), source=source, dataset=info.name)


def union_masks(targets: np.ndarray, have: np.ndarray) -> np.ndarray:
    """Both lungs of one convention as bool (N, S, S) from the segmenter cache layout:
    `targets` uint8 (N, 4, S, S) (full R, full L, visible R, visible L), `have` bool (N, 4).
    "full" (v7labs) where present, else "visible" (lungVAE)."""
    full = np.maximum(targets[:, 0], targets[:, 1]) > 127
    vis = np.maximum(targets[:, 2], targets[:, 3]) > 127
    use_full = have[:, 0] & have[:, 1]
    out: np.ndarray = np.where(use_full[:, None, None], full, vis)
    return out


def _lungs(path: Path, size: int, cache: Path | None, progress: bool) -> GenData:
    from collections import Counter

    from radlens.grounding.data import build_cache, load_mask_set, split

    samples = load_mask_set(path)
    train, held = split(samples, 5, 0, 0)
    parts = []
    for name, subset in (("train", train), ("val", held)):
        c = None if cache is None else cache.with_name(f"{cache.stem}-{name}-{size}.npz")
        images, targets, have = build_cache(subset, size, c, progress)
        parts.append((images, union_masks(targets, have)))
    licences = Counter(s.licence for s in train)
    source = {"source": "COVID-19 image data collection (Cohen et al. 2020), frontal films "
                        "with expert lung masks (v7labs, else lungVAE)",
              "images": len(train), "split": "patients of folds 1-4 of 5 (seed 0)",
              "licences": dict(licences), "masks": "v7labs / lungVAE annotation releases; "
              "research use", "citation": "Cohen et al., COVID-19 image data collection, "
              "2020"}
    log.info("lung-mask data: %d train, %d held-out films at %d px", len(train), len(held),
             size)
    return GenData("mask", size, (), parts[0][0], parts[1][0], train_masks=parts[0][1],
                   val_masks=parts[1][1], source=source, dataset="covid-cxr-lungs")


@cache
def kermany_table() -> dict[str, Any]:
    """The class table of the ``kermany:FOLDER`` spec (``radlens/synth/kermany.json``):
    classes (name, folder, subtype, pneumonia), split, judging classifier and source."""
    text = resources.files("radlens.synth").joinpath("kermany.json").read_text("utf-8")
    table: dict[str, Any] = json.loads(text)
    return table


def kermany_class(path: str, subtype: str, classes: Sequence[dict[str, Any]]) -> int | None:
    """Index into `classes` of the Kermany film at `path` (its folder, NORMAL or PNEUMONIA)
    with the adapter's `subtype` ("bacteria", "virus", ...); None when no class fits."""
    folder = Path(path).parent.name
    for k, c in enumerate(classes):
        if c["folder"] == folder and c["subtype"] in (None, subtype):
            return k
    return None


def _kermany(path: Path, size: int, cache: Path | None, progress: bool) -> GenData:
    from radlens.data.adapters import kermany
    from radlens.data.splits import assign_patients

    table = kermany_table()
    classes = table["classes"]
    ds = kermany(path)  # DataError: folder missing, not the layout, no images
    # on the whole folder, so the split is the one the bundled classifier was trained with
    assign = assign_patients(ds, table["split"]["fractions"], table["split"]["seed"])
    samples, ys = [], []
    for s in ds.samples:
        k = kermany_class(s.path, s.meta.get("subtype", ""), classes)
        if k is None:
            log.warning("skipping %s: the file name says neither bacteria nor virus", s.path)
        else:
            samples.append(s)
            ys.append(k)
    if len(samples) < len(ds.samples):
        log.warning("%d PNEUMONIA file(s) without a subtype skipped",
                    len(ds.samples) - len(samples))
    from radlens.data.samples import decode_cached

    key = hashlib.sha256("|".join([*(s.path for s in samples), str(size)]).encode()
                         ).hexdigest()[:16]
    file = None if cache is None else cache.with_name(f"{cache.stem}-kermany-{size}.npz")
    images, ok, _ = decode_cached(samples, size, file, progress, key)
    if not ok:
        raise DataError("no readable images", path)
    kept = np.asarray(ok, np.int64)
    y = np.asarray(ys, np.int64)[kept]
    side = np.array([assign[samples[i].patient_id] for i in kept])
    names = tuple(str(c["name"]) for c in classes)
    for part, label in enumerate(("train", "validation")):
        missing = [n for k, n in enumerate(names) if not (y[side == part] == k).any()]
        if missing:
            raise DataError(f"no {label} film of class(es) {', '.join(missing)} after the "
                            "patient split: every class needs films on both sides", path)
    tr = side == 0
    n = int(tr.sum())
    patients = len({samples[i].patient_id for i, t in zip(kept, tr, strict=True) if t})
    f, seed = table["split"]["fractions"], table["split"]["seed"]
    source = {**table["source"], "images": n, "patients": patients,
              "classes": {c: int((y[tr] == k).sum()) for k, c in enumerate(names)},
              "split": f"patients: {f[0]:.0%} train / {f[1]:.0%} validation "
                       f"(radlens.data.splits.assign_patients, seed {seed})",
              "licences": {table["source"]["licence"]: n}}
    log.info("kermany class data: %d train, %d validation films at %d px", n,
             len(y) - n, size)
    return GenData("class", size, names, images[tr], images[~tr], y[tr], y[~tr],
                   source=source, dataset=str(table["dataset"]))
