"""Minimal PNG line plots drawn with Pillow (no plotting library needed): ROC and reliability.

Both plots live on the unit square: x and y in [0, 1], with a dashed diagonal as reference.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from PIL import Image as PILImage
from PIL import ImageDraw

_COLOURS = ((31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189), (255, 127, 14),
            (140, 86, 75), (227, 119, 194), (127, 127, 127))
SIZE, MARGIN = 480, 56


def _to_px(x: float, y: float) -> tuple[float, float]:
    span = SIZE - 2 * MARGIN
    return MARGIN + x * span, SIZE - MARGIN - y * span


def _axes(draw: ImageDraw.ImageDraw, title: str, xlabel: str, ylabel: str) -> None:
    draw.rectangle((*_to_px(0, 1), *_to_px(1, 0)), outline=(0, 0, 0))
    for k in range(6):
        v = k / 5
        x, y0 = _to_px(v, 0)
        draw.line((x, y0, x, y0 + 4), fill=(0, 0, 0))
        draw.text((x - 8, y0 + 6), f"{v:.1f}", fill=(0, 0, 0))
        x0, y = _to_px(0, v)
        draw.line((x0 - 4, y, x0, y), fill=(0, 0, 0))
        draw.text((x0 - 28, y - 6), f"{v:.1f}", fill=(0, 0, 0))
    steps = 40
    for k in range(0, steps, 2):  # dashed diagonal
        draw.line((*_to_px(k / steps, k / steps), *_to_px((k + 1) / steps, (k + 1) / steps)),
                  fill=(160, 160, 160))
    draw.text((MARGIN, 16), title, fill=(0, 0, 0))
    draw.text((SIZE / 2 - 40, SIZE - 24), xlabel, fill=(0, 0, 0))
    draw.text((6, MARGIN - 20), ylabel, fill=(0, 0, 0))


def line_plot(series: Sequence[tuple[str, Any, Any]], title: str,
              xlabel: str, ylabel: str, path: str | os.PathLike[str],
              markers: bool = False) -> None:
    """Write a PNG with one line per (name, xs, ys) series on the unit square, with a legend."""
    canvas = PILImage.new("RGB", (SIZE, SIZE), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    _axes(draw, title, xlabel, ylabel)
    for k, (name, xs, ys) in enumerate(series):
        colour = _COLOURS[k % len(_COLOURS)]
        pts = [_to_px(float(x), float(y)) for x, y in zip(xs, ys, strict=True)]
        if len(pts) > 1:
            draw.line(pts, fill=colour, width=2)
        if markers:
            for px, py in pts:
                draw.ellipse((px - 3, py - 3, px + 3, py + 3), fill=colour)
        lx, ly = _to_px(0.45, 0.05 + 0.07 * k)
        draw.line((lx, ly, lx + 18, ly), fill=colour, width=3)
        draw.text((lx + 24, ly - 6), name, fill=(0, 0, 0))
    canvas.save(path, format="PNG")
