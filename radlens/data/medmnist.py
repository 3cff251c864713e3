"""MedMNIST v2 files (``.npz``) as radlens datasets: the ``medmnist:PATH.npz`` data spec.

A MedMNIST file holds ``<split>_images`` and ``<split>_labels`` arrays for its official splits
(``train``, ``val``, ``test``; a development copy may lack ``test``). Images are uint8:
``(N, H, W)`` grey, ``(N, H, W, 3)`` RGB or ``(N, D, H, W)`` volumes; labels are ``(N, 1)``
class indices. The dataset is recognised by the file stem (``breastmnist.npz``,
``adrenalmnist3d_64.npz``: the size suffix is dropped) and described by ``medmnist.json``
(label names, task, modality, licence); an unknown stem is accepted with classes named
``"0"``, ``"1"``, ... . Nothing is ever downloaded.

Pixel convention: float32 in [0, 1] (uint8 / 255), channels first: ``(C, H, W)`` for 2-D
(C = 1 grey, 3 RGB), ``(1, D, H, W)`` for volumes. No resizing: the models are trained at
the file's native side.
"""

from __future__ import annotations

import json
import re
import zipfile
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from radlens.data.samples import Dataset, Item, Sample
from radlens.errors import DataError

SPLITS = ("train", "val", "test")


@cache
def known_datasets() -> dict[str, dict[str, Any]]:
    """The MedMNIST datasets radlens describes (``medmnist.json``): stem -> info."""
    text = resources.files("radlens.data").joinpath("medmnist.json").read_text("utf-8")
    data: dict[str, dict[str, Any]] = json.loads(text)["datasets"]
    return data


def dataset_key(path: str | Path) -> str:
    """The dataset name of a MedMNIST file: its stem without a ``_64``-style size suffix."""
    return re.sub(r"_\d+$", "", Path(path).stem.lower())


@dataclass(frozen=True)
class MedMNISTInfo:
    """What a MedMNIST file holds.

    `name`: dataset (file stem without size suffix); `labels`: class names (index = class);
    `task`: ``binary-class``, ``multi-class`` or ``ordinal-regression`` (the MedMNIST
    evaluator's names); `dims`: 2 or 3; `channels`: 1 or 3; `side`: image side in pixels;
    `modality`: corruption-family key (``corruptions.json``), "unknown" when not described.
    """

    name: str
    labels: tuple[str, ...]
    task: str
    dims: int
    channels: int
    side: int
    modality: str
    licence: str
    description: str

    @property
    def n_classes(self) -> int:
        return len(self.labels)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"name": self.name, "labels": list(self.labels), "task": self.task,
                "dims": self.dims, "channels": self.channels, "side": self.side,
                "modality": self.modality, "licence": self.licence,
                "description": self.description}


def _layout(images: np.ndarray) -> tuple[int, int, int]:
    """(dims, channels, side) of an image array (N, H, W) / (N, H, W, 3) / (N, D, H, W)."""
    if images.ndim == 3:
        return 2, 1, int(images.shape[1])
    if images.ndim == 4 and images.shape[-1] == 3:
        return 2, 3, int(images.shape[1])
    if images.ndim == 4:
        return 3, 1, int(images.shape[1])
    raise ValueError(f"images of shape {images.shape}")


@dataclass(frozen=True, eq=False)
class MedMNISTFile:
    """A loaded MedMNIST ``.npz``: `info` and, per split present, (images uint8, labels int64
    (N,)). Build with `open_npz`."""

    path: Path
    info: MedMNISTInfo
    splits: dict[str, tuple[np.ndarray, np.ndarray]] = field(repr=False)

    def split(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(images, labels) of split `name`; `DataError` naming the file when it is absent."""
        if name not in self.splits:
            raise DataError(f"has no {name!r} split (expected arrays {name}_images and "
                            f"{name}_labels; present: {', '.join(sorted(self.splits)) or 'none'})",
                            self.path)
        return self.splits[name]

    def __repr__(self) -> str:
        sizes = ", ".join(f"{k}={len(v[1])}" for k, v in self.splits.items())
        return f"MedMNISTFile({self.path.name!r}, {self.info.name}, {sizes})"


def open_npz(path: str | Path, expect: dict[str, Any] | None = None) -> MedMNISTFile:
    """Read and check a MedMNIST ``.npz`` (every split it has).

    Checks: the file exists and is an npz; it has at least one ``<split>_images`` /
    ``<split>_labels`` pair; images are uint8 with one of the three layouts, labels are
    integers in [0, n_classes) with one per image; every split has the same layout. `expect`
    (e.g. a model card's ``input``: ``dims``, ``channels``, ``size``) must match the file: a
    3-D file for a 2-D model, or RGB for a grey model, is refused. Raises `DataError` naming
    the file and what was expected.
    """
    p = Path(path).expanduser()
    if not p.is_file():
        raise DataError("MedMNIST file not found (expected a .npz with <split>_images and "
                        "<split>_labels arrays)", p)
    try:
        z = np.load(p, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise DataError(f"not a readable .npz file ({exc})", p) from exc
    if not isinstance(z, np.lib.npyio.NpzFile):
        raise DataError("not a .npz archive (a single .npy array?); expected <split>_images "
                        "and <split>_labels arrays", p)
    key = dataset_key(p)
    known = known_datasets().get(key)
    splits: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    layout: tuple[int, int, int] | None = None
    with z:
        files = set(z.files)
        for s in SPLITS:
            if f"{s}_images" not in files and f"{s}_labels" not in files:
                continue
            if f"{s}_images" not in files or f"{s}_labels" not in files:
                raise DataError(f"has {s}_images or {s}_labels but not both", p)
            images, labels = z[f"{s}_images"], z[f"{s}_labels"]
            if images.dtype != np.uint8:
                raise DataError(f"{s}_images are {images.dtype}, expected uint8 pixels", p)
            try:
                this = _layout(images)
            except ValueError:
                raise DataError(f"{s}_images have shape {images.shape}; expected (N, H, W) "
                                "grey, (N, H, W, 3) RGB or (N, D, H, W) volumes", p) from None
            if layout is not None and this != layout:
                raise DataError(f"{s}_images have another layout than the other splits", p)
            layout = this
            if labels.ndim == 2 and labels.shape[1] == 1:
                labels = labels[:, 0]
            if labels.ndim != 1 or len(labels) != len(images):
                raise DataError(f"{s}_labels have shape {z[f'{s}_labels'].shape}; expected "
                                f"({len(images)}, 1) class indices", p)
            if not np.issubdtype(labels.dtype, np.integer):
                raise DataError(f"{s}_labels are {labels.dtype}, expected integer classes", p)
            splits[s] = (images, labels.astype(np.int64))
    if not splits or layout is None:
        raise DataError("has no MedMNIST arrays (expected train_images/train_labels, "
                        f"val_images/val_labels ...; found: {', '.join(sorted(files)) or 'none'})",
                        p)
    dims, channels, side = layout
    top = max(int(lab.max()) for _, lab in splits.values() if len(lab))
    n_classes = len(known["labels"]) if known else top + 1
    for s, (_, lab) in splits.items():
        if len(lab) and (lab.min() < 0 or lab.max() >= n_classes):
            raise DataError(f"{s}_labels out of range: found {int(lab.min())}..{int(lab.max())}, "
                            f"expected classes 0..{n_classes - 1} of {key}", p)
    if known and (known["dims"], known["channels"]) != (dims, channels):
        raise DataError(f"{key} should hold {known['dims']}-D images with {known['channels']} "
                        f"channel(s), found {dims}-D with {channels}", p)
    info = MedMNISTInfo(
        name=key, labels=tuple(known["labels"]) if known else tuple(map(str, range(n_classes))),
        task=known["task"] if known else ("binary-class" if n_classes == 2 else "multi-class"),
        dims=dims, channels=channels, side=side,
        modality=known["modality"] if known else "unknown",
        licence=known["licence"] if known else "unspecified",
        description=known["description"] if known else "")
    if expect:
        check_input(info, expect, p)
    return MedMNISTFile(p, info, splits)


def check_input(info: MedMNISTInfo, expect: dict[str, Any], source: str | Path) -> None:
    """`DataError` naming `source` unless `info` fits `expect` (keys ``dims``, ``channels``,
    ``size``, each optional: a model card's ``input`` block)."""
    dims, ch = int(expect.get("dims", info.dims)), int(expect.get("channels", info.channels))
    size = int(expect.get("size", info.side))
    kind = {1: "grey", 3: "RGB"}
    if dims != info.dims:
        raise DataError(f"holds {info.dims}-D images but the model expects {dims}-D input "
                        f"({'volumes' if dims == 3 else 'single images'})", source)
    if ch != info.channels:
        raise DataError(f"holds {kind.get(info.channels, info.channels)} images but the model "
                        f"expects {kind.get(ch, ch)} input ({ch} channel(s))", source)
    if size != info.side:
        raise DataError(f"holds {info.side}-px images but the model expects {size}-px input",
                        source)


def to_float(images: np.ndarray, dims: int) -> np.ndarray:
    """uint8 images of one layout -> float32 (N, C, H, W) or (N, 1, D, H, W) in [0, 1]."""
    x = images.astype(np.float32) / 255.0
    if dims == 3 or x.ndim == 3:
        return x[:, None]
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


@dataclass(frozen=True)
class ArrayDataset(Dataset):
    """A `Dataset` whose pixels live in an array (one MedMNIST split) instead of files.

    ``ds[i]`` returns an `Item` whose image is float32 (C, H, W) (or (1, D, H, W)) in [0, 1];
    labels are one-hot over the classes, mask all True. `size` and `transform` are not
    applied (MedMNIST models use the native side).
    """

    images: np.ndarray | None = field(default=None, compare=False, repr=False)
    dims: int = 2

    def __getitem__(self, index: int) -> Item:
        import torch

        if not isinstance(index, (int, np.integer)) or isinstance(index, bool):
            raise TypeError(f"dataset indices are integers, got {type(index).__name__}")
        if not -len(self.samples) <= index < len(self.samples):
            raise IndexError(f"index {index} out of range for {len(self.samples)} samples")
        assert self.images is not None
        i = int(index) % len(self.samples)
        s = self.samples[i]
        image = torch.from_numpy(to_float(self.images[i:i + 1], self.dims)[0])
        meta = {**dict(s.meta), "path": s.path, "patient_id": s.patient_id,
                "source": s.source, "index": i}
        return Item(image, torch.from_numpy(s.labels.astype(np.float32)),
                    torch.from_numpy(s.mask.astype(bool)), meta)


def dataset(path: str | Path, split: str = "train") -> ArrayDataset:
    """One split of a MedMNIST file as a radlens `Dataset` (the one sample contract).

    Each `Sample`: ``path`` = ``FILE#split/index``, labels one-hot over the classes, mask all
    True, ``patient_id`` = ``<name>:<split>/<index>`` (MedMNIST has no patient ids: one image
    per patient is assumed), ``source`` = dataset name, meta: split, index, class, licence.
    """
    f = open_npz(path)
    images, labels = f.split(split)
    eye = np.eye(f.info.n_classes, dtype=np.float32)
    mask = np.ones(f.info.n_classes, dtype=bool)
    samples = tuple(
        Sample(f"{f.path}#{split}/{i}", eye[c], mask, f"{f.info.name}:{split}/{i}",
               f.info.name, {"split": split, "index": str(i), "class": f.info.labels[c],
                             "license": f.info.licence})
        for i, c in enumerate(labels.tolist()))
    return ArrayDataset(f.info.name, f.info.labels, samples, images=images, dims=f.info.dims)
