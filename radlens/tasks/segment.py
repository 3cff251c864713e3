"""Segment the lungs of one image: right and left masks, boxes and the six zones.

Every output is in the original image's pixel grid (see `radlens.schema`). Sides are the
patient's: on a PA/AP radiograph in standard display the right lung is on the image's left.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from radlens._repr import short_repr
from radlens.grounding.heat import resample_mask
from radlens.grounding.zones import (
    Lung,
    largest_component,
    make_lungs,
    zone_boxes,
    zone_label_map,
)
from radlens.schema import Image, ModelInfo, Region, RegionKind

if TYPE_CHECKING:
    import torch

# work grid for the zone label map used by grounding (masks stretched over the image)
LABEL_GRID = 256


@dataclass(frozen=True, eq=False)
class LungResult:
    """Lungs of one image.

    `right`, `left`: `Lung` objects (patient's sides) whose masks are bool (H, W) in the image's
    grid, with boxes in image pixels and zone row bands. `probability`: (2, h, w) float32 lung
    probabilities (right, left) at model resolution, stretched over the image. `zones`: an int8
    (LABEL_GRID, LABEL_GRID) map, 0 outside the lungs and k+1 in zone
    `radlens.grounding.zones.ZONE_NAMES[k]`, stretched over the image. `convention`: "full"
    (whole lung field, behind the heart included) or "visible". `notes`: plain sentences about
    missing or small lungs. `model`: the segmenter used.
    """

    right: Lung
    left: Lung
    probability: np.ndarray
    zones: np.ndarray
    convention: str
    notes: tuple[str, ...]
    model: ModelInfo

    __repr__ = short_repr

    @property
    def lungs(self) -> tuple[Lung, Lung]:
        """(right, left)."""
        return self.right, self.left


def predict_probabilities(image: Image, model: str | None = None,
                          convention: str = "full") -> tuple[np.ndarray, ModelInfo]:
    """Lung probabilities (2, S/2, S/2) float32 (right, left) for `convention`, and the model.

    S is the model's input size; the map is stretched over the whole image.
    """
    from radlens.models.classifier import preprocess

    probs, info = predict_batch(lambda size: preprocess(image.pixels, size), model, convention)
    return probs[0], info


def predict_batch(inputs: Callable[[int], torch.Tensor], model: str | None = None,
                  convention: str = "full", device: str | torch.device | None = None,
                  channels_last: bool = False) -> tuple[np.ndarray, ModelInfo]:
    """Lung probabilities (N, 2, S/2, S/2) float32 (right, left) for a batch, and the model.

    `inputs(size)` returns the batch (N, 1, size, size), float in [0, 1] (air dark), each
    image resized whole to the segmenter's input side `size` (`radlens.models.classifier.
    preprocess`). `device`: where to run (default: the network's own device, the CPU).
    `channels_last`: run a channels-last copy of the network (faster on a CPU; see
    `radlens.models.classifier.on_device`).
    """
    import torch

    from radlens.models.classifier import on_device, to_channels_last
    from radlens.models.segmenter import CONVENTIONS, load_segmenter

    if convention not in CONVENTIONS:
        raise ValueError(f"convention must be one of {CONVENTIONS}, got {convention!r}")
    seg = load_segmenter(model)
    torch.set_num_threads(max(1, min(torch.get_num_threads(), 2)))  # never more than 2
    net: torch.nn.Module = seg.network
    if device is not None or channels_last:
        net = on_device(seg.network, device or "cpu", channels_last)
    x = inputs(seg.size).to(next(net.parameters()).device)
    if channels_last:
        x = to_channels_last(x)
    with torch.no_grad():
        logits = net(x)
    k = 2 * CONVENTIONS.index(convention)
    return torch.sigmoid(logits[:, k:k + 2]).cpu().numpy().astype(np.float32), seg.info


def clean(prob: np.ndarray, level: float = 0.5) -> np.ndarray:
    """Boolean mask of `prob` >= `level`: largest component plus pieces >= 20% of its size,
    holes filled (an aerated lung has no holes in its outline)."""
    from radlens.grounding.zones import ndimage

    m = largest_component(prob >= level, keep_fraction=0.2)
    return np.asarray(ndimage().binary_fill_holes(m), dtype=bool)


def upsample_mask(prob: np.ndarray, keep: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Full-resolution boolean mask from a low-resolution probability map and its cleaned mask.

    The probability is bilinearly resampled to `shape` (stretch convention) and thresholded at
    0.5, restricted to the (dilated) cleaned mask, so the outline is smooth at full resolution.
    """
    from radlens.grounding.heat import resample
    from radlens.grounding.zones import ndimage

    grown = ndimage().binary_dilation(keep, iterations=1)
    p = np.where(grown, prob, 0.0).astype(np.float32)
    return resample(p, shape) >= 0.5


def segment_lungs(image: Image, model: str | None = None,
                  convention: str = "full") -> LungResult:
    """Segment the right and left lungs of `image` and derive boxes and zones.

    `image`: pixels in [0, 1], air dark (as `radlens.load_image` gives). `model`: bundled name,
    card path or run folder (default: the bundled segmenter). `convention`: "full" (default)
    or "visible" (see `radlens.models.segmenter`). A lung that is missing or much smaller than
    the other is reported in `notes` and its status, never raised. Raises `ModelError` when no
    segmenter is available.
    """
    prob, info = predict_probabilities(image, model, convention)
    return lungs_from_probability(prob, image.pixels.shape[:2], info, convention)


def lungs_from_probability(prob: np.ndarray, shape: tuple[int, int], info: ModelInfo,
                           convention: str = "full") -> LungResult:
    """A `LungResult` from the segmenter's probabilities (2, h, w) (right, left; stretched over
    the image) for an image of `shape` (rows, columns): cleaned, upsampled masks, boxes and
    zones (what `segment_lungs` does after the network)."""
    keep = [clean(prob[0]), clean(prob[1])]
    both = keep[0] & keep[1]
    if both.any():  # a cell belongs to the side with the higher probability
        keep[0] &= ~(both & (prob[1] > prob[0]))
        keep[1] &= ~(both & (prob[0] >= prob[1]))
    masks = [upsample_mask(prob[k], keep[k], shape) if keep[k].any()
             else np.zeros(shape, dtype=bool) for k in range(2)]
    masks[1] &= ~masks[0]  # the dilated edges may touch: the right lung keeps the pixel
    return lungs_from_masks(masks[0], masks[1], prob, convention, info)


def lungs_from_masks(right_mask: np.ndarray, left_mask: np.ndarray,
                     probability: np.ndarray | None = None, convention: str = "full",
                     model: ModelInfo | None = None) -> LungResult:
    """A `LungResult` from given bool (H, W) masks of the patient's right and left lungs.

    Used by `segment_lungs`, and for masks from elsewhere (another segmenter, a reference).
    `probability` defaults to the masks themselves at `LABEL_GRID` resolution.
    """
    right, left = make_lungs(right_mask.astype(bool), left_mask.astype(bool))
    small = (resample_mask(right.mask, (LABEL_GRID, LABEL_GRID)),
             resample_mask(left.mask, (LABEL_GRID, LABEL_GRID)))
    if probability is None:
        probability = np.stack(small).astype(np.float32)
    info = model or ModelInfo("given-masks", "1", "segment")
    return LungResult(right, left, probability, zone_label_map(make_lungs(*small)), convention,
                      lung_notes((right, left)), info)


def lung_notes(lungs: tuple[Lung, Lung]) -> tuple[str, ...]:
    """Plain sentences for missing or small lungs (empty when both look normal)."""
    notes = []
    for lung in lungs:
        if lung.status == "missing":
            notes.append(f"The {lung.side} lung was not found (collapsed, opacified, resected, "
                         "or outside the image); its zones are not reported.")
        elif lung.status == "small":
            notes.append(f"The {lung.side} lung is much smaller than the other (volume loss, "
                         "effusion, or incomplete segmentation).")
    return tuple(notes)


def lung_regions(result: LungResult, zones: bool = True,
                 masks: bool = True) -> tuple[Region, ...]:
    """Schema regions for the lungs (kind LUNG, with mask and box) and their zones (kind ZONE,
    box only; label like "right upper zone"). Missing lungs give no region.

    The lung masks are bool (H, W) in the image grid (`masks=False` leaves them out, e.g. for a
    lighter JSON). Region scores are the mean lung probability inside the mask.
    """
    out = []
    for lung, k in zip(result.lungs, (0, 1), strict=True):
        if lung.status == "missing":
            continue
        inside = resample_mask(lung.mask, result.probability.shape[1:])
        score = float(result.probability[k][inside].mean()) if inside.any() else None
        out.append(Region(id=uuid.uuid4().hex, kind=RegionKind.LUNG, label=f"{lung.side} lung",
                          box=lung.box, mask=lung.mask if masks else None, side=lung.side,
                          score=None if score is None else round(score, 4)))
    if zones:
        for name, box in zone_boxes(result.lungs).items():
            out.append(Region(id=uuid.uuid4().hex, kind=RegionKind.ZONE, label=f"{name} zone",
                              box=box, side=name.split()[0], zones=((name, 1.0),)))
    return tuple(out)
