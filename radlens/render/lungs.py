"""Draw lungs on an overlay: lung outlines, zone boundaries and short zone labels.

`draw_lungs` works on an RGB canvas that `radlens.render.overlay.render_overlay` (or anyone)
has already made; `render_lungs` writes a stand-alone PNG. Input regions are the LUNG (mask)
and ZONE (box) regions of `radlens.tasks.segment.lung_regions`. Sides are the patient's:
the right lung is drawn on the image's left on a PA/AP view.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image as PILImage
from PIL import ImageDraw

from radlens.errors import InputError
from radlens.schema import Image, Region, RegionKind

OUTLINE = (60, 220, 60)
ZONE_LINE = (120, 200, 255)
_ABBREV = {"upper": "U", "middle": "M", "lower": "L"}


def outline(mask: np.ndarray, width: int, height: int) -> np.ndarray:
    """Boolean outline (H, W) = (`height`, `width`) of a mask stretched over that canvas."""
    from radlens.grounding.heat import resample_mask
    from radlens.grounding.zones import ndimage

    m = resample_mask(mask, (height, width))
    thick = max(1, round(max(width, height) / 400))
    return m & ~ndimage().binary_erosion(m, iterations=thick, border_value=0)


def draw_lungs(rgb: np.ndarray, regions: Sequence[Region], scale: float) -> np.ndarray:
    """Draw lung outlines, zone boundaries and zone labels onto uint8 RGB (H, W, 3).

    `scale` maps image pixels to canvas pixels (canvas = image size x scale). Returns a new
    array; regions other than LUNG and ZONE are ignored.
    """
    h, w = rgb.shape[:2]
    out = rgb.copy()
    for r in regions:
        if r.kind is RegionKind.LUNG and r.mask is not None:
            out[outline(r.mask, w, h)] = OUTLINE
    canvas = PILImage.fromarray(out, mode="RGB")
    draw = ImageDraw.Draw(canvas)
    line = max(1, round(max(w, h) / 512))
    for r in regions:
        if r.kind is not RegionKind.ZONE or r.box is None:
            continue
        b = r.box
        x0, y0, x1, y1 = b.x0 * scale, b.y0 * scale, b.x1 * scale, b.y1 * scale
        side, level = (r.zones[0][0] if r.zones else r.label).split()[:2]
        if level != "upper":  # the boundary with the zone above
            draw.line((x0, y0, x1, y0), fill=ZONE_LINE, width=line)
        tag = ("R" if side == "right" else "L") + _ABBREV.get(level, "?")
        tx = x0 + 4 if side == "right" else x1 - 20
        draw.text((tx, (y0 + y1) / 2 - 5), tag, fill=ZONE_LINE)
    return np.asarray(canvas)


def render_lungs(image: Image, regions: Sequence[Region], path: str | os.PathLike[str],
                 max_side: int = 1024) -> None:
    """Write a PNG of `image` with lung outlines, zones and labels (longer side <= max_side).

    Raises `InputError` naming the path when the PNG cannot be written.
    """
    pixels = np.clip(np.asarray(image.pixels, dtype=np.float32), 0, 1)
    height, width = pixels.shape
    scale = min(1.0, max_side / max(height, width))
    w, h = max(1, round(width * scale)), max(1, round(height * scale))
    grey = PILImage.fromarray((pixels * 255).astype(np.uint8)).resize(
        (w, h), PILImage.Resampling.BILINEAR)
    rgb = np.repeat(np.asarray(grey)[..., None], 3, -1)
    out = Path(path)
    try:
        PILImage.fromarray(draw_lungs(rgb, regions, scale), mode="RGB").save(out, format="PNG")
    except OSError as exc:
        raise InputError(f"cannot write the PNG ({exc.strerror or exc})", out) from exc
