"""The one sample contract every dataset adapter produces, and label harmonisation.

A `Sample` is one image file with a label vector, a mask saying which labels are known, the
patient it belongs to and free-form metadata. A `Dataset` is a named, ordered collection of
samples sharing one label list. Images are decoded lazily (`load_pixels`) through
`radlens.io.load_image`, so training and inference see the same input convention.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from radlens._repr import short_repr
from radlens.errors import DataError, RadlensError

if TYPE_CHECKING:
    import torch

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


class Item(NamedTuple):
    """One indexed sample, ready for torch: what ``dataset[i]`` returns.

    `image`: float32 tensor (1, H, W), grey in [0, 1], air dark (`radlens.load_image`'s
    convention), resized whole to (size, size) when the dataset has a `size`, then passed
    through its `transform`; `labels`: float32 (L,) (1 positive, 0 negative or unknown);
    `mask`: bool (L,), True where the label is known; `meta`: path, patient_id, source,
    index and the adapter's metadata (str values).
    """

    image: torch.Tensor
    labels: torch.Tensor
    mask: torch.Tensor
    meta: dict[str, Any]


class Batch(NamedTuple):
    """Items stacked by `collate`: images (N, 1, H, W), labels (N, L) float32, mask (N, L)
    bool, meta (a list of N dicts)."""

    images: torch.Tensor
    labels: torch.Tensor
    mask: torch.Tensor
    meta: list[dict[str, Any]]


Transform = Callable[["torch.Tensor"], "torch.Tensor"]


@dataclass(frozen=True)
class Dataset:
    """Samples with a common label list. `skipped` lists (path, reason) of rows not usable.

    A map-style torch dataset as it stands: ``len(ds)`` and ``ds[i]`` -> `Item` (image tensor,
    label vector, label mask, metadata), decoded on access; hand it to
    ``torch.utils.data.DataLoader(ds, batch_size=..., collate_fn=radlens.data.samples.collate)``.
    `size`: resize every image whole to (size, size) pixels on access (None: native size; a
    batch then needs equal sizes or a `transform` that makes them equal). `transform`: a
    callable on the (1, H, W) image tensor applied after the resize (e.g. augmentation);
    it must be picklable for DataLoader worker processes. Set both with `with_transform`.
    """

    name: str
    label_names: tuple[str, ...]
    samples: tuple[Sample, ...]
    skipped: tuple[tuple[str, str], ...] = ()
    size: int | None = field(default=None, compare=False)
    transform: Transform | None = field(default=None, compare=False)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> Item:
        """Sample `index` (negative counts from the end) decoded as an `Item`.

        Raises IndexError out of range and `DataError` naming the file when the image
        cannot be read.
        """
        import torch

        if not isinstance(index, (int, np.integer)) or isinstance(index, bool):
            raise TypeError(f"dataset indices are integers, got {type(index).__name__}")
        if not -len(self.samples) <= index < len(self.samples):
            raise IndexError(f"index {index} out of range for {len(self.samples)} samples")
        s = self.samples[int(index)]
        try:
            pixels = load_pixels(s.path)
        except RadlensError as exc:
            raise DataError(f"cannot read sample {int(index)} ({exc.reason})", s.path) from exc
        if self.size is not None:
            from radlens.data.transforms import resize_square

            pixels = resize_square(pixels, self.size)
        image = torch.from_numpy(np.ascontiguousarray(pixels, dtype=np.float32))[None]
        if self.transform is not None:
            image = self.transform(image)
        meta = {"path": s.path, "patient_id": s.patient_id, "source": s.source,
                "index": int(index) % len(self.samples), **dict(s.meta)}
        return Item(image, torch.from_numpy(s.labels.astype(np.float32)),
                    torch.from_numpy(s.mask.astype(bool)), meta)

    def with_transform(self, transform: Transform | None = None,
                       size: int | None = None) -> Dataset:
        """A copy that resizes to `size` x `size` and applies `transform` on access."""
        if size is not None and size < 1:
            raise DataError(f"size must be a positive number of pixels, got {size}", self.name)
        return dataclasses.replace(self, transform=transform, size=size)

    def __repr__(self) -> str:
        return (f"Dataset(name={self.name!r}, labels={len(self.label_names)}, "
                f"samples={len(self.samples)}, skipped={len(self.skipped)}, size={self.size}, "
                f"transform={self.transform!r})")

    def patients(self) -> tuple[str, ...]:
        """Distinct patient ids, in first-seen order."""
        return tuple(dict.fromkeys(s.patient_id for s in self.samples))


def collate(items: Sequence[Item]) -> Batch:
    """Stack `Item`s into a `Batch` (a ``collate_fn`` for ``torch.utils.data.DataLoader``).

    Images must share one shape: give the dataset a `size` (`Dataset.with_transform`) when
    the files differ; `DataError` naming the first mismatch otherwise. Metadata stay a list.
    """
    import torch

    if not items:
        raise DataError("cannot collate an empty batch")
    shape = items[0].image.shape
    for it in items:
        if it.image.shape != shape:
            raise DataError(f"images of different shapes {tuple(shape)} and "
                            f"{tuple(it.image.shape)} in one batch: set a size with "
                            "dataset.with_transform(size=...)", it.meta.get("path"))
    return Batch(torch.stack([it.image for it in items]),
                 torch.stack([it.labels for it in items]),
                 torch.stack([it.mask for it in items]), [it.meta for it in items])


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


def decode_cached(samples: Sequence[Sample], size: int, file: Path | None,
                  progress: bool = True, key: str | None = None
                  ) -> tuple[np.ndarray, list[int], list[str]]:
    """`decode_all`, cached in the .npz `file` (written atomically; None: no cache).

    With `key`, a cache file is used only when it was written with the same key (otherwise the
    samples are decoded again and the file replaced); without, any readable cache file at
    `file` is used. On a cache hit the files skipped as unreadable are logged by name again.
    Returns (uint8 images (K, size, size), indices of the K decoded samples, skipped paths).
    """
    if file is not None and file.is_file():
        try:
            with np.load(file, allow_pickle=False) as z:
                if key is None or ("key" in z.files and str(z["key"]) == key):
                    bad = z["skipped"].tolist() if "skipped" in z.files else []
                    for path in bad:
                        log.warning("skipping unreadable image %s (cached)", path)
                    if bad:
                        log.warning("%d unreadable image(s) skipped", len(bad))
                    return z["images"], [int(i) for i in z["kept"]], bad
        except (OSError, ValueError, KeyError) as exc:
            log.warning("ignoring unreadable cache %s (%s)", file, exc)
    images, kept, skipped = decode_all(samples, size, progress)
    paths = [path for path, _ in skipped]
    if file is not None:
        file.parent.mkdir(parents=True, exist_ok=True)
        tmp = file.with_name(f"{file.stem}.tmp.npz")
        np.savez(tmp, images=images, kept=np.asarray(kept, dtype=np.int64),
                 key=np.array(key or ""), skipped=np.array(paths, dtype=str))
        os.replace(tmp, file)
    return images, kept, paths
