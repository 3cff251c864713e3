"""Training and evaluation arrays for the generators.

Two data specs (``radlens.data.spec`` syntax):

- ``medmnist:FILE.npz`` (a 2-D grey MedMNIST file): images of the official ``train`` and
  ``val`` splits with their class labels, at the file's side (28 px);
- ``covid:FOLDER`` (the covid-cxr folder with ``metadata.csv``, ``images/`` and the lung-mask
  folders): every frontal film with an expert lung mask, resized whole to `size` x `size`
  (stretch, antialiased), with the union of both lungs as the mask. The v7labs ("full" lung
  field) mask is used where an image has one, else the lungVAE ("visible" lung) mask. Split by
  patient exactly as the bundled segmenter was (5 folds, fold 0 held out, seed 0), so the
  held-out films are also unseen by the segmenter used to judge mask fidelity.

Arrays: images uint8 (N, S, S) (0-255, air dark); labels int64 (N,); masks bool (N, S, S).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
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
    """The arrays of a ``medmnist:FILE.npz`` or ``covid:FOLDER`` spec (module docstring).
    `size`: side for chest films (ignored for MedMNIST). `cache`: .npz cache of the decoded
    chest films. `DataError` naming the spec when it is neither."""
    from radlens.data import spec as data_spec

    kind, path, _opts = data_spec.parse(spec)
    if kind == "medmnist":
        return _medmnist(path)
    if kind == "covid":
        return _lungs(path, size, cache, progress)
    raise DataError("generators train on medmnist:FILE.npz (class labels) or covid:FOLDER "
                    f"(lung masks), not {kind!r} data", spec)


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
