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

import numpy as np

from radlens.errors import DecodeError, ImageTooLargeError
from radlens.schema import Image, ImageMeta

log = logging.getLogger(__name__)

_FORMATS = {"PNG": "png", "JPEG": "jpeg", "MPO": "jpeg", "TIFF": "tiff"}
_MAX_BY_MODE = {"1": 1.0, "L": 255.0, "LA": 255.0, "P": 255.0, "PA": 255.0, "RGB": 255.0,
                "RGBA": 255.0, "RGBX": 255.0, "CMYK": 255.0, "YCbCr": 255.0, "LAB": 255.0,
                "I;16": 65535.0, "I;16L": 65535.0, "I;16B": 65535.0, "I;16N": 65535.0}


def _grey(im: object, path: Path) -> tuple[np.ndarray, int | None]:
    from PIL import Image as PILImage

    assert isinstance(im, PILImage.Image)
    mode = im.mode
    if mode in ("P", "PA", "CMYK", "YCbCr", "LAB", "RGBA", "RGBX", "LA"):
        im = im.convert("RGB" if mode not in ("LA",) else "L")
    if im.mode == "RGB":
        rgb = np.asarray(im, dtype=np.float64)
        return (rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114) / 255.0, 8
    arr = np.asarray(im)
    if mode in _MAX_BY_MODE:
        bits = 1 if mode == "1" else 8 if _MAX_BY_MODE[mode] == 255.0 else 16
        return arr.astype(np.float64) / _MAX_BY_MODE[mode], bits
    if mode == "I" and arr.size and arr.min() >= 0 and arr.max() <= 65535 and (
            getattr(im, "format", None) == "PNG"):
        return arr.astype(np.float64) / 65535.0, 16  # Pillow opens 16-bit grey PNG as "I"
    values = arr.astype(np.float64)
    finite = values[np.isfinite(values)]
    if finite.size == 0 or finite.max() <= finite.min():
        return np.zeros(values.shape, dtype=np.float64), None
    return (values - finite.min()) / (finite.max() - finite.min()), None


def load_raster(path: Path, max_pixels: int) -> Image:
    """Read a PNG, JPEG or TIFF file into an `Image` (pixels float32 in [0, 1], air dark).

    The size is checked from the header before any pixel is decoded: images above `max_pixels`
    raise `ImageTooLargeError`. Corrupt or truncated files raise `DecodeError`.
    """
    from PIL import Image as PILImage
    from PIL import ImageOps

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", PILImage.DecompressionBombWarning)
            im = PILImage.open(path)
    except (PILImage.DecompressionBombError, PILImage.DecompressionBombWarning) as exc:
        raise ImageTooLargeError(f"image is too large to decode safely ({exc})", path) from exc
    except Exception as exc:
        raise DecodeError(f"not a readable image ({type(exc).__name__}: {exc})", path) from exc
    with im:
        width, height = im.size
        bands = len(im.getbands())
        if width <= 0 or height <= 0:
            raise DecodeError(f"image has an invalid size {width}x{height}", path)
        if width * height > max_pixels or width * height * bands > 4 * max_pixels:
            raise ImageTooLargeError(
                f"image of {width}x{height} pixels exceeds the safety limit of {max_pixels:,} "
                "pixels (decompression-bomb guard)", path)
        frames = int(getattr(im, "n_frames", 1) or 1)
        fmt = _FORMATS.get(im.format or "", (im.format or "unknown").lower())
        try:
            im.load()
            oriented = ImageOps.exif_transpose(im) if fmt == "jpeg" else im
            unit, bits = _grey(oriented, path)
        except Exception as exc:
            log.debug("decoding failed for %s", path, exc_info=True)
            raise DecodeError(f"cannot decode the image ({type(exc).__name__}: {exc})",
                              path) from exc
    if unit.ndim != 2:
        raise DecodeError(f"decoded pixels have an unexpected shape {unit.shape}", path)
    pixels = np.clip(np.nan_to_num(unit, nan=0.0), 0.0, 1.0).astype(np.float32)
    meta = ImageMeta(source=str(path), format=fmt, width=int(pixels.shape[1]),
                     height=int(pixels.shape[0]), bits_stored=bits, number_of_frames=frames,
                     photometric_interpretation="MONOCHROME2" if bands == 1 else "RGB",
                     intensity_window="container-range" if bits else "min-max")
    return Image(pixels=pixels, meta=meta)
