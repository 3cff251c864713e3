"""The lung-mask development set: images, masks of both annotation releases, patients, folds.

Layout read (``covid-cxr`` of the shared data): ``images/``, ``metadata.csv`` (patientid, view,
filename, license), ``lung-masks-v7labs/`` and ``lung-masks-lungVAE/`` (binary PNG masks, 255 =
lung, same size and stem as the image) and optionally ``lung-boxes.json`` (COCO, category 1 =
right lung, 2 = left lung, patient's sides). Lateral views are left out (no right/left split).

Mask conventions: v7labs masks are the ``full`` lung field (behind the heart included), lungVAE
masks the ``visible`` lung (heart shadow excluded); see `radlens.models.segmenter`.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from radlens.errors import DataError
from radlens.schema import Box

log = logging.getLogger(__name__)

MASK_FOLDERS = {"full": "lung-masks-v7labs", "visible": "lung-masks-lungVAE"}
FRONTAL_VIEWS = {"PA", "AP", "AP SUPINE", "AP ERECT", ""}


@dataclass(frozen=True)
class MaskSample:
    """One image with its lung masks: paths of the masks per convention, patient, view, licence,
    and reference lung boxes (side -> `Box` in image pixels) when `lung-boxes.json` has them."""

    image: str
    patient_id: str
    view: str
    licence: str
    masks: dict[str, str] = field(default_factory=dict)
    boxes: dict[str, Box] = field(default_factory=dict)

    @property
    def stem(self) -> str:
        return Path(self.image).stem


def _read_boxes(path: Path) -> dict[str, dict[str, Box]]:
    if not path.is_file():
        return {}
    try:
        coco = json.loads(path.read_text("utf-8"))
        names = {im["id"]: Path(im["file_name"]).stem for im in coco["images"]}
        out: dict[str, dict[str, Box]] = {}
        for a in coco["annotations"]:
            x, y, w, h = (float(v) for v in a["bbox"])
            side = {1: "right", 2: "left"}[int(a["category_id"])]
            out.setdefault(names[a["image_id"]], {})[side] = Box(x, y, x + w, y + h)
    except (ValueError, KeyError, TypeError) as exc:
        raise DataError(f"not a COCO lung-box file ({exc})", path) from exc
    return out


def load_mask_set(root: str | Path) -> list[MaskSample]:
    """All frontal images of `root` (a covid-cxr folder) that have at least one lung mask.

    Raises `DataError` naming the folder or file when the layout is not as described above.
    """
    base = Path(root).expanduser()
    meta_path = base / "metadata.csv"
    if not base.is_dir() or not meta_path.is_file():
        raise DataError("not a lung-mask data folder (needs metadata.csv and images/)", base)
    with meta_path.open(newline="", encoding="latin-1") as fh:
        rows = list(csv.DictReader(fh))
    if not rows or "patientid" not in rows[0] or "filename" not in rows[0]:
        raise DataError("metadata.csv lacks patientid/filename columns", meta_path)
    masks = {conv: {p.stem: str(p) for p in (base / folder).glob("*.png")}
             for conv, folder in MASK_FOLDERS.items() if (base / folder).is_dir()}
    if not any(masks.values()):
        raise DataError(f"no mask folders ({', '.join(MASK_FOLDERS.values())})", base)
    boxes = _read_boxes(base / "lung-boxes.json")
    out = []
    for r in rows:
        stem = Path(r["filename"]).stem
        view = r.get("view", "").strip().upper()
        have = {conv: m[stem] for conv, m in masks.items() if stem in m}
        image = base / "images" / r["filename"]
        if not have or view not in FRONTAL_VIEWS or not image.is_file():
            continue
        out.append(MaskSample(str(image), f"covid:{r['patientid']}", view,
                              r.get("license", "").strip() or "unspecified", have,
                              boxes.get(stem, {})))
    if not out:
        raise DataError("no frontal image has a lung mask", base)
    return out


def fold_of(patient_id: str, folds: int, seed: int = 0) -> int:
    """Deterministic fold (0..folds-1) of a patient: a hash of seed and id, file-order free."""
    digest = hashlib.sha256(f"{seed}:{patient_id}".encode()).digest()
    return int.from_bytes(digest[:8], "little") % folds


def split(samples: Sequence[MaskSample], folds: int, fold: int,
          seed: int = 0) -> tuple[list[MaskSample], list[MaskSample]]:
    """(train, held-out) by patient: held-out are the patients of fold `fold`."""
    held = [s for s in samples if fold_of(s.patient_id, folds, seed) == fold]
    return [s for s in samples if fold_of(s.patient_id, folds, seed) != fold], held


def read_mask(path: str | Path) -> np.ndarray:
    """A binary mask PNG as bool (H, W) (pixels > 127 are lung)."""
    from PIL import Image as PILImage

    try:
        with PILImage.open(path) as im:
            return np.asarray(im.convert("L")) > 127
    except OSError as exc:
        raise DataError(f"cannot read the mask ({exc})", path) from exc


def side_masks(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """(patient's right, patient's left) bool masks of a two-lung mask file."""
    from radlens.grounding.zones import split_sides

    return split_sides(read_mask(path))


def build_cache(samples: Sequence[MaskSample], size: int, cache: Path | None,
                progress: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Decode images and masks at `size` x `size` (stretch), cached in an .npz file.

    Returns images uint8 (N, S, S), targets uint8 (N, 4, S, S) in the order of
    `radlens.models.segmenter.CHANNELS` (0..255 soft edges), and availability bool (N, 4).
    Unreadable images are an error (the set is small and curated).
    """
    from radlens.data.transforms import resize_square
    from radlens.io import load_image
    from radlens.models.segmenter import CONVENTIONS

    key = hashlib.sha256("|".join(s.image for s in samples).encode()).hexdigest()[:12]
    if cache is not None and cache.is_file():
        z = np.load(cache, allow_pickle=False)
        if str(z["key"]) == key:
            return z["images"], z["targets"], z["have"]
    n = len(samples)
    images = np.zeros((n, size, size), np.uint8)
    targets = np.zeros((n, 4, size, size), np.uint8)
    have = np.zeros((n, 4), bool)
    it: Sequence[MaskSample] = samples
    if progress:
        from tqdm import tqdm

        it = tqdm(samples, desc="decoding images and masks", unit="img")
    for i, s in enumerate(it):
        pixels = load_image(s.image).pixels
        images[i] = np.round(resize_square(pixels, size) * 255)
        for c, conv in enumerate(CONVENTIONS):
            if conv not in s.masks:
                continue
            sides = side_masks(s.masks[conv])
            if sides[0].shape != pixels.shape:
                raise DataError(f"mask size {sides[0].shape} differs from the image's "
                                f"{pixels.shape}", s.masks[conv])
            for k in range(2):
                targets[i, 2 * c + k] = np.round(
                    resize_square(sides[k].astype(np.float32), size) * 255)
                have[i, 2 * c + k] = True
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cache, images=images, targets=targets, have=have, key=np.array(key))
    return images, targets, have
