"""Overlay PNG: the radiograph in grey with finding heatmaps, masks and boxes drawn over it.

Heatmaps (FINDING regions) are blended with a blue-to-red colour ramp whose opacity grows with
the heat; masks are tinted; boxes are outlined and labelled with the finding and probability. A
legend in the top-left corner lists each positive or uncertain finding with its probability,
certainty band and location as the report words it (`radlens.render.legend`). A finding whose
location is not stated (not determined, or withheld on a lateral film) gets no box.
The PNG has the image's own size (capped at `max_side` pixels on the longer side).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image as PILImage
from PIL import ImageDraw, ImageFont

from radlens.errors import InputError
from radlens.render.legend import legend_lines
from radlens.render.lungs import draw_lungs
from radlens.report.location import location_of
from radlens.schema import Image, Interpretation, Region, RegionKind

# colour ramp stops: (heat, (r, g, b)); low heat is transparent anyway
_RAMP = ((0.0, (0, 0, 255)), (0.5, (0, 255, 255)), (0.75, (255, 255, 0)), (1.0, (255, 0, 0)))
_MASK_TINT = {RegionKind.LUNG: (0, 200, 0), RegionKind.ZONE: (0, 120, 255),
              RegionKind.FINDING: (255, 80, 0)}


def colour_ramp(heat: np.ndarray) -> np.ndarray:
    """Map heat in [0, 1] (H, W) to uint8 RGB (H, W, 3) along a blue-cyan-yellow-red ramp."""
    xs = np.array([s[0] for s in _RAMP])
    cols = np.array([s[1] for s in _RAMP], dtype=float)
    h = np.clip(heat, 0, 1)
    return np.stack([np.interp(h, xs, cols[:, c]) for c in range(3)], -1).astype(np.uint8)


def _stretch(arr: np.ndarray, width: int, height: int) -> np.ndarray:
    im = PILImage.fromarray(np.asarray(arr, dtype=np.float32), mode="F")
    return np.asarray(im.resize((width, height), PILImage.Resampling.BILINEAR))


def blend_heatmap(rgb: np.ndarray, heat: np.ndarray, max_alpha: float = 0.55) -> np.ndarray:
    """Blend a heatmap (any shape, stretched over the image) onto uint8 RGB (H, W, 3)."""
    h, w = rgb.shape[:2]
    full = np.clip(_stretch(heat, w, h), 0, 1)
    alpha = (max_alpha * np.clip((full - 0.2) / 0.8, 0, 1))[..., None]
    out = rgb * (1 - alpha) + colour_ramp(full) * alpha
    return np.asarray(out.astype(np.uint8))


def _label(region: Region, interpretation: Interpretation) -> str:
    finding = next((f for f in interpretation.findings if region.id in f.region_ids), None)
    if finding is not None:
        return f"{finding.label} {finding.probability:.2f}"
    return region.label


def _boxed(region: Region, interpretation: Interpretation) -> bool:
    """Whether the region's box may be drawn: its finding's location is stated."""
    finding = next((f for f in interpretation.findings if region.id in f.region_ids), None)
    return finding is None or location_of(interpretation, finding).known


def render_overlay(image: Image, interpretation: Interpretation, path: str | os.PathLike[str],
                   max_side: int = 1024) -> None:
    """Write a PNG of `image` with the regions of `interpretation` drawn over it.

    Heatmaps and masks follow the schema's array convention (stretched over the whole image);
    boxes are in image pixel coordinates. The output is downscaled so its longer side is at
    most `max_side` pixels. Raises `InputError` when the PNG cannot be written.
    """
    out = Path(path)
    try:
        PILImage.fromarray(overlay_rgb(image, interpretation, max_side), mode="RGB").save(
            out, format="PNG")
    except OSError as exc:
        raise InputError(f"cannot write the overlay PNG ({exc.strerror or exc})", out) from exc


def overlay_rgb(image: Image, interpretation: Interpretation, max_side: int = 1024
                ) -> np.ndarray:
    """The overlay of `render_overlay` as an RGB array (h, w, 3) uint8, `image` scaled so its
    longer side is at most `max_side` pixels (rows and columns scaled alike)."""
    pixels = np.clip(np.asarray(image.pixels, dtype=np.float32), 0, 1)
    height, width = pixels.shape
    scale = min(1.0, max_side / max(height, width))
    w, h = max(1, round(width * scale)), max(1, round(height * scale))
    grey = _stretch(pixels, w, h) if scale < 1 else pixels
    rgb = np.repeat((np.clip(grey, 0, 1) * 255).astype(np.uint8)[..., None], 3, -1)
    for region in interpretation.regions:
        if region.kind in (RegionKind.LUNG, RegionKind.ZONE):
            continue  # drawn as contours and zone lines by draw_lungs below
        if region.heatmap is not None:
            rgb = blend_heatmap(rgb, region.heatmap)
        elif region.mask is not None:
            m = _stretch(region.mask.astype(np.float32), w, h)[..., None] >= 0.5
            tint = np.array(_MASK_TINT.get(region.kind, (255, 255, 0)), dtype=float)
            rgb = np.where(m, rgb * 0.75 + tint * 0.25, rgb).astype(np.uint8)
    rgb = draw_lungs(rgb, interpretation.regions, scale)
    canvas = PILImage.fromarray(rgb, mode="RGB")
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default(size=max(10, round(max(w, h) / 48)))
    for region in interpretation.regions:
        if region.box is None or region.kind in (RegionKind.LUNG, RegionKind.ZONE):
            continue
        if not _boxed(region, interpretation):
            continue
        b = region.box
        xy = (b.x0 * scale, b.y0 * scale, max(b.x0, b.x1 - 1) * scale,
              max(b.y0, b.y1 - 1) * scale)
        colour = _MASK_TINT.get(region.kind, (255, 255, 0))
        draw.rectangle(xy, outline=colour, width=max(1, round(2 * max(w, h) / 512)))
        if region.kind is RegionKind.FINDING:
            draw.text((xy[0] + 3, xy[1] + 2), _label(region, interpretation), fill=colour,
                      font=font)
    y = 4.0
    for line in legend_lines(interpretation):
        draw.text((5, y + 1), line, fill=(0, 0, 0), font=font)
        draw.text((4, y), line, fill=(255, 255, 255), font=font)
        y += font.size * 1.25 if hasattr(font, "size") else 14
    return np.asarray(canvas, dtype=np.uint8)
