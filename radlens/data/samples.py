"""The one sample contract every dataset adapter produces, and label harmonisation.

A `Sample` is one image file with a label vector, a mask saying which labels are known, the
patient it belongs to and free-form metadata. A `Dataset` is a named, ordered collection of
samples sharing one label list. Images are decoded lazily (`load_pixels`) through
`radlens.io.load_image`, so training and inference see the same input convention.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from radlens._repr import short_repr
from radlens.errors import DataError, RadlensError

log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class Sample:
    """One labelled image.

    `labels`: float32 (L,) with 1 positive, 0 negative (uncertain values already mapped by the
    adapter's policy); `mask`: bool (L,), True where the label is known (unknown entries of
    `labels` are 0 and must be ignored). `patient_id` is namespaced by the source
    (``"kermany:person12"``), so ids never collide across datasets. `source` names the dataset.
    """

    path: str
    labels: np.ndarray
    mask: np.ndarray
    patient_id: str
    source: str
    meta: Mapping[str, str] = field(default_factory=dict)

    __repr__ = short_repr


@dataclass(frozen=True)
class Dataset:
    """Samples with a common label list. `skipped` lists (path, reason) of rows not usable."""

    name: str
    label_names: tuple[str, ...]
    samples: tuple[Sample, ...]
    skipped: tuple[tuple[str, str], ...] = ()

    def __len__(self) -> int:
        return len(self.samples)

    def patients(self) -> tuple[str, ...]:
        """Distinct patient ids, in first-seen order."""
        return tuple(dict.fromkeys(s.patient_id for s in self.samples))


def make_sample(path: str, values: Mapping[str, float | None], label_names: Sequence[str],
                patient_id: str, source: str, meta: Mapping[str, str] | None = None) -> Sample:
    """Build a Sample from ``label -> 1/0/None`` (None or absent: unknown) over `label_names`."""
    labels = np.zeros(len(label_names), dtype=np.float32)
    mask = np.zeros(len(label_names), dtype=bool)
    for i, name in enumerate(label_names):
        v = values.get(name)
        if v is not None:
            labels[i] = float(v)
            mask[i] = True
    return Sample(path, labels, mask, f"{source}:{patient_id}", source, dict(meta or {}))


def _apply_rules(labels: np.ndarray, mask: np.ndarray, targets: Sequence[str],
                 source_names: Sequence[str], sample: Sample) -> None:
    """Fill unknown targets in place from ``label_rules.json``: a normal film is negative for
    every finding; a positive implies the labels it implies (e.g. Pneumonia -> Lung Opacity)."""
    from radlens.data.adult import label_rules

    rules = label_rules()
    index = {n.lower(): i for i, n in enumerate(source_names)}
    normal = index.get(str(rules["normal"]).lower())
    if normal is not None and sample.mask[normal] and sample.labels[normal] == 1:
        labels[~mask] = 0.0
        mask[:] = True
        return
    lower = [t.lower() for t in targets]
    for cause, effects in rules["implies"].items():
        i = index.get(cause.lower())
        if i is None or not (sample.mask[i] and sample.labels[i] == 1):
            continue
        for effect in effects:
            if effect.lower() in lower:
                j = lower.index(effect.lower())
                if not mask[j]:
                    labels[j], mask[j] = 1.0, True


def harmonise(datasets: Iterable[Dataset], label_names: Sequence[str],
              infer: bool = True) -> Dataset:
    """Merge datasets onto `label_names`: labels a dataset lacks become unknown (mask False).

    With `infer` (default), unknown labels are then filled by ``label_rules.json``: a film known
    to be "No Finding" is negative for every other label, and a known positive fills the labels
    it implies (Pneumonia -> Lung Opacity). Known values are never changed.

    Raises `DataError` when a requested label is known in none of the datasets, or when the
    merged dataset is empty.
    """
    targets = tuple(label_names)
    out: list[Sample] = []
    skipped: list[tuple[str, str]] = []
    seen: set[str] = set()
    names = []
    for ds in datasets:
        names.append(ds.name)
        index = {n.lower(): i for i, n in enumerate(ds.label_names)}
        cols = [index.get(t.lower()) for t in targets]
        seen.update(t for t, c in zip(targets, cols, strict=True) if c is not None)
        for s in ds.samples:
            labels = np.zeros(len(targets), dtype=np.float32)
            mask = np.zeros(len(targets), dtype=bool)
            for j, c in enumerate(cols):
                if c is not None and s.mask[c]:
                    labels[j], mask[j] = s.labels[c], True
            if infer:
                _apply_rules(labels, mask, targets, ds.label_names, s)
            out.append(Sample(s.path, labels, mask, s.patient_id, s.source, s.meta))
        skipped.extend(ds.skipped)
    missing = [t for t in targets if t not in seen]
    if missing:
        raise DataError(f"no dataset provides the label(s) {', '.join(missing)}",
                        ", ".join(names))
    if not out:
        raise DataError("the dataset is empty", ", ".join(names))
    return Dataset("+".join(names), targets, tuple(out), tuple(skipped))


def load_pixels(path: str) -> np.ndarray:
    """Decode one image with `radlens.io.load_image`: float32 (H, W) in [0, 1], air dark."""
    from radlens.io import load_image

    return load_image(path).pixels


def decode_all(samples: Sequence[Sample], size: int,
               progress: bool = True) -> tuple[np.ndarray, list[int], list[tuple[str, str]]]:
    """Decode and resize every sample to `size` x `size` (uint8 cache to save memory).

    Returns (array (K, size, size) uint8, indices of the K decoded samples, skipped
    (path, reason) for unreadable files, which are also logged).
    """
    from radlens.data.transforms import resize_square

    images: list[np.ndarray] = []
    kept: list[int] = []
    skipped: list[tuple[str, str]] = []
    iterator: Iterable[tuple[int, Sample]] = enumerate(samples)
    if progress:
        from tqdm import tqdm

        iterator = tqdm(iterator, total=len(samples), desc="decoding", unit="img")
    for i, s in iterator:
        try:
            pixels = load_pixels(s.path)
        except RadlensError as exc:
            log.warning("skipping unreadable image %s", exc.one_line())
            skipped.append((s.path, exc.reason))
            continue
        images.append(np.round(resize_square(pixels, size) * 255).astype(np.uint8))
        kept.append(i)
    if skipped:
        log.warning("%d unreadable image(s) skipped", len(skipped))
    arr = np.stack(images) if images else np.zeros((0, size, size), np.uint8)
    return arr, kept, skipped
