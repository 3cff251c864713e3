"""PNG, JPEG and TIFF input through Pillow.

Pixel mapping: values are divided by the container's maximum (255 for 8-bit, 65535 for 16-bit,
1 for 1-bit); 32-bit integer and float images are scaled from their own minimum .. maximum.
Colour images become grey by ITU-R BT.601 luma; an alpha channel is ignored. JPEG EXIF
orientation is applied. Multi-page TIFFs load their first page.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from radlens.errors import DecodeError, ImageTooLargeError
from radlens.io.budget import (
    MAX_TIFF_CHUNKS,
    BudgetError,
    check_jpeg_scans,
    clip_unit,
    describe,
    jpeg_info,
    png_chunks,
    tiff_layout,
)
from radlens.schema import Image, ImageMeta

log = logging.getLogger(__name__)

_FORMATS = {"PNG": "png", "JPEG": "jpeg", "MPO": "jpeg", "TIFF": "tiff"}
_MAX_BY_MODE = {"1": 1.0, "L": 255.0, "LA": 255.0, "P": 255.0, "PA": 255.0, "RGB": 255.0,
                "RGBA": 255.0, "RGBX": 255.0, "CMYK": 255.0, "YCbCr": 255.0, "LAB": 255.0,
                "I;16": 65535.0, "I;16L": 65535.0, "I;16B": 65535.0, "I;16N": 65535.0}
#: Pixels per block when converting to float32 (bounds temporaries to a few MB).
_BLOCK = 1 << 20


def _luma(block: np.ndarray, scale: float) -> np.ndarray:
    """ITU-R BT.601 luma of an (h, w, >=3) block, times `scale`, in float32."""
    weights = np.array([0.299, 0.587, 0.114], dtype=np.float32) * np.float32(scale)
    return block[..., :3].astype(np.float32) @ weights


def _rows(im: object, fn: object) -> np.ndarray:
    """Apply `fn` to the pixels of `im` (a loaded Pillow image) one block of rows at a time,
    into a float32 (H, W) array: no full-size intermediate besides Pillow's own buffer."""
    from PIL import Image as PILImage

    assert isinstance(im, PILImage.Image) and callable(fn)
    width, height = im.size
    step = max(1, _BLOCK // max(1, width))
    out = np.empty((height, width), dtype=np.float32)
    for r0 in range(0, height, step):
        r1 = min(height, r0 + step)
        out[r0:r1] = fn(np.asarray(im.crop((0, r0, width, r1))))
    return out


def _grey(im: object, path: Path) -> tuple[np.ndarray, int | None]:
    """Float32 (H, W) pixels in [0, 1] (before clipping) and the container's bit depth."""
    from PIL import Image as PILImage

    assert isinstance(im, PILImage.Image)
    mode = im.mode
    if mode in ("P", "PA", "CMYK", "YCbCr", "LAB", "RGBA", "RGBX", "LA"):
        im = im.convert("RGB" if mode not in ("LA",) else "L")
    if im.mode == "RGB":
        return _rows(im, lambda block: _luma(block, 1.0 / 255.0)), 8
    if mode in _MAX_BY_MODE:
        bits = 1 if mode == "1" else 8 if _MAX_BY_MODE[mode] == 255.0 else 16
        top = np.float32(_MAX_BY_MODE[mode])
        return _rows(im, lambda block: block.astype(np.float32) / top), bits
    if mode == "I" and getattr(im, "format", None) == "PNG":
        extrema: Any = im.getextrema()
        if 0 <= float(extrema[0]) and float(extrema[1]) <= 65535:  # 16-bit grey PNG opens as "I"
            top16 = np.float32(65535.0)
            return _rows(im, lambda block: block.astype(np.float32) / top16), 16
    values = _rows(im, lambda block: block.astype(np.float32))
    np.nan_to_num(values, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
    lo32, hi32 = float(values.min()), float(values.max())
    if not hi32 > lo32:
        return np.zeros(values.shape, dtype=np.float32), None
    np.subtract(values, np.float32(lo32), out=values)
    np.multiply(values, np.float32(1.0 / (hi32 - lo32)), out=values)
    return values, None


def _precheck(path: Path) -> int | None:
    """Format-specific decode budgets, checked before Pillow parses the file: a JPEG's scan
    count (`check_jpeg_scans`), a TIFF's chain of pages and strip count, a PNG's chunk count.
    Returns the TIFF's page count (else None). `BudgetError` when a budget is exceeded."""
    with path.open("rb") as fh:
        head = fh.read(8)
        if head.startswith(b"\xff\xd8\xff"):
            fh.seek(0)
            check_jpeg_scans(jpeg_info(fh.read()))
        elif head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
            layout = tiff_layout(fh)
            if layout.first_page_chunks > MAX_TIFF_CHUNKS:
                raise BudgetError(f"the TIFF's first page is stored in "
                                  f"{layout.first_page_chunks:,} strips or tiles, more than the "
                                  f"limit of {MAX_TIFF_CHUNKS:,} (CPU-bomb guard)",
                                  too_large=True)
            return layout.pages
        elif head.startswith(b"\x89PNG\r\n\x1a\n"):
            png_chunks(fh)
    return None


def load_raster(path: Path, max_pixels: int) -> Image:
    """Read a PNG, JPEG or TIFF file into an `Image` (pixels float32 in [0, 1], air dark).

    The size is checked from the header before any pixel is decoded: images above `max_pixels`
    raise `ImageTooLargeError`, and so do JPEGs with more scans, TIFFs with more pages or strips
    and PNGs with more chunks than the budgets of `radlens.io.budget` (CPU bombs). Corrupt or
    truncated files raise `DecodeError`. Peak memory: Pillow's decoded image + float32 output.
    """
    from PIL import Image as PILImage
    from PIL import ImageOps

    try:
        pages = _precheck(path)
    except BudgetError as exc:
        error = ImageTooLargeError if exc.too_large else DecodeError
        raise error(str(exc), path) from exc
    try:
        with warnings.catch_warnings():
            # Pillow's own warning threshold (89 M pixels) is not ours: `max_pixels` is checked
            # below. Its hard limit (twice that) still refuses, as ImageTooLargeError.
            warnings.simplefilter("ignore", PILImage.DecompressionBombWarning)
            im = PILImage.open(path)
    except PILImage.DecompressionBombError as exc:
        raise ImageTooLargeError(f"image is too large to decode safely ({describe(exc)})",
                                 path) from exc
    except Exception as exc:
        raise DecodeError(f"not a readable image ({describe(exc)})", path) from exc
    with im:
        width, height = im.size
        bands = len(im.getbands())
        if width <= 0 or height <= 0:
            raise DecodeError(f"image has an invalid size {width}x{height}", path)
        if width * height > max_pixels or width * height * bands > 4 * max_pixels:
            raise ImageTooLargeError(
                f"image of {width}x{height} pixels exceeds the safety limit of {max_pixels:,} "
                "pixels (decompression-bomb guard)", path)
        fmt = _FORMATS.get(im.format or "", (im.format or "unknown").lower())
        try:
            frames = pages or int(getattr(im, "n_frames", 1) or 1)
            im.load()
            oriented = ImageOps.exif_transpose(im) if fmt == "jpeg" else im
            unit, bits = _grey(oriented, path)
        except MemoryError as exc:
            raise ImageTooLargeError("not enough memory to decode the image", path) from exc
        except Exception as exc:
            log.debug("decoding failed: %s", describe(exc))
            raise DecodeError(f"cannot decode the image ({describe(exc)})", path) from exc
    if unit.ndim != 2:
        raise DecodeError(f"decoded pixels have an unexpected shape {unit.shape}", path)
    pixels = clip_unit(unit)
    meta = ImageMeta(source=str(path), format=fmt, width=int(pixels.shape[1]),
                     height=int(pixels.shape[0]), bits_stored=bits, number_of_frames=frames,
                     photometric_interpretation="MONOCHROME2" if bands == 1 else "RGB",
                     intensity_window="container-range" if bits else "min-max")
    return Image(pixels=pixels, meta=meta)
