"""The input-quality gate: is this image something radlens's chest X-ray models may read?

`check(image)` returns a `QCReport` of `QCIssue`s (code, severity, message). FATAL issues stop
interpretation (`radlens.read` raises `QualityError`); warnings travel inside the
`Interpretation`. Thresholds are data: ``radlens/resources/qc.json``.

Codes: ``not_radiograph``, ``modality_unknown``, ``multi_frame``, ``constant_image``,
``too_small``, ``low_resolution``, ``aspect_ratio``, ``lateral_view``, ``probable_lateral``,
``suspected_inverted``, ``colour_image``. Oversized images (``too_large``) are refused earlier,
by `load_image`, before they are decoded.

The image-based checks are heuristics on a 128x128 thumbnail:
- *inverted*: on a frontal film the mediastinum (central vertical band) is brighter than the two
  lung bands beside it; when it is clearly darker, the photometry is probably inverted;
- *lateral*: when that contrast is near zero (no bright central band between two dark lung
  fields) and the DICOM view is not frontal, the image is probably a lateral view.
`benchmarks/qc_heuristics.py` measures both rules on real frontal and lateral films.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

import numpy as np

from radlens.schema import Image, QCIssue, QCReport, Severity


@cache
def rules() -> dict[str, Any]:
    """The QC thresholds and modality lists (``radlens/resources/qc.json``)."""
    text = resources.files("radlens.resources").joinpath("qc.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def thumbnail(pixels: np.ndarray, size: int = 128) -> np.ndarray:
    """`pixels` (H, W) resampled to (size, size) float64 by box (area) averaging."""
    from PIL import Image as PILImage

    im = PILImage.fromarray(np.ascontiguousarray(pixels, dtype=np.float32), mode="F")
    return np.asarray(im.resize((size, size), PILImage.Resampling.BOX), dtype=np.float64)


def symmetry_score(pixels: np.ndarray) -> float:
    """Pearson correlation, in [-1, 1], between the thumbnail and its left-right mirror image."""
    t = thumbnail(pixels)
    a = t - t.mean()
    b = a[:, ::-1]
    denom = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / denom) if denom > 0 else 0.0


def mediastinum_contrast(pixels: np.ndarray) -> float:
    """Mean of the central vertical band minus the mean of the two lung bands, in pixel units
    ([-1, 1]); rows 30-70 % of the height. Positive on a normally displayed frontal chest film."""
    t = thumbnail(pixels)
    n = t.shape[0]
    rows = slice(int(0.3 * n), int(0.7 * n))
    centre = t[rows, int(0.45 * n):int(0.55 * n)].mean()
    lungs = np.concatenate([t[rows, int(0.2 * n):int(0.35 * n)].ravel(),
                            t[rows, int(0.65 * n):int(0.8 * n)].ravel()]).mean()
    return float(centre - lungs)


def _issue(code: str, severity: Severity, message: str) -> QCIssue:
    return QCIssue(code=code, severity=severity, message=message)


def _metadata_issues(image: Image, r: dict[str, Any]) -> list[QCIssue]:
    meta = image.meta
    out: list[QCIssue] = []
    modality = (meta.modality or "").upper()
    if modality in r["non_radiograph_modalities"]:
        name = r["non_radiograph_modalities"][modality]
        out.append(_issue("not_radiograph", Severity.FATAL,
                          f"DICOM modality {modality} ({name}) is not a projection radiograph"))
    elif modality and modality not in r["radiograph_modalities"]:
        out.append(_issue("modality_unknown", Severity.WARNING,
                          f"DICOM modality {modality} is not a known radiograph modality"))
    if meta.number_of_frames > 1:
        out.append(_issue("multi_frame", Severity.FATAL,
                          f"image has {meta.number_of_frames} frames; a chest radiograph has one"))
    view = (meta.view_position or "").upper()
    if view in r["lateral_views"]:
        out.append(_issue("lateral_view", Severity.FATAL,
                          f"DICOM view position is {view} (lateral); the models read frontal "
                          "(PA/AP) views only"))
    if (meta.photometric_interpretation or "").upper() not in ("", "MONOCHROME1", "MONOCHROME2"):
        out.append(_issue("colour_image", Severity.INFO,
                          f"{meta.photometric_interpretation} image converted to grey"))
    return out


def _geometry_issues(image: Image, r: dict[str, Any]) -> list[QCIssue]:
    h, w = image.pixels.shape
    out: list[QCIssue] = []
    if min(h, w) < r["min_side_fatal"]:
        out.append(_issue("too_small", Severity.FATAL,
                          f"image is {w}x{h} pixels; at least {r['min_side_fatal']} px per side "
                          "is needed"))
    elif min(h, w) < r["min_side_warning"]:
        out.append(_issue("low_resolution", Severity.WARNING,
                          f"image is only {w}x{h} pixels; findings may be missed"))
    ratio = max(h, w) / max(1, min(h, w))
    if ratio > r["aspect_fatal"]:
        out.append(_issue("aspect_ratio", Severity.FATAL,
                          f"aspect ratio {ratio:.2f}:1 is implausible for a chest radiograph"))
    elif ratio > r["aspect_warning"]:
        out.append(_issue("aspect_ratio", Severity.WARNING,
                          f"aspect ratio {ratio:.2f}:1 is unusual for a chest radiograph"))
    return out


def check(image: Image) -> QCReport:
    """Run every QC check on `image`; returns the QCReport (never raises for a valid Image)."""
    r = rules()
    issues = _metadata_issues(image, r) + _geometry_issues(image, r)
    pixels = image.pixels
    lo, hi = np.percentile(pixels, [1, 99]) if pixels.size else (0.0, 0.0)
    if pixels.size == 0 or float(hi - lo) < r["constant_range"]:
        issues.append(_issue("constant_image", Severity.FATAL,
                             "image is constant or nearly constant (1st-99th percentile range "
                             f"{float(hi - lo):.4f})"))
        return QCReport(tuple(issues))
    if any(i.severity is Severity.FATAL for i in issues):
        return QCReport(tuple(issues))
    contrast = mediastinum_contrast(pixels)
    inverted = contrast < r["inverted_contrast_below"]
    view = (image.meta.view_position or "").upper()
    if view not in r["frontal_views"] and not inverted and contrast < r["lateral_contrast_below"]:
        issues.append(_issue("probable_lateral", Severity.WARNING,
                             f"no bright mediastinum between two lung fields (contrast "
                             f"{contrast:.2f}): probably a lateral view; the models read "
                             "frontal views"))
    if inverted:
        issues.append(_issue("suspected_inverted", Severity.WARNING,
                             f"mediastinum darker than the lungs (contrast {contrast:.2f}); "
                             "photometry may be inverted"))
    return QCReport(tuple(issues))
