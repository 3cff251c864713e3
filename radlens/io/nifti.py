"""NIfTI input (nibabel) for 2-D images: ``.nii`` and ``.nii.gz``.

Orientation: NIfTI's first voxel axis (i) runs along image columns and its second (j) along
rows, with j growing upwards as in the usual radiological display of a 2-D NIfTI slice; so the
returned pixels are ``data.T[::-1]`` (row 0 is the top of the image). Intensities: the header's
scaling (scl_slope/scl_inter) is applied by nibabel; then cal_min .. cal_max when the header sets
a display range, else the image's own minimum .. maximum, map to 0 .. 1. Pixel spacing comes
from the header's voxel sizes (row spacing = j size, column spacing = i size), in millimetres
when the header's spatial unit is mm.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from radlens.errors import DecodeError, ImageTooLargeError, UnsupportedFormatError
from radlens.io.budget import clip_unit, describe
from radlens.schema import Image, ImageMeta

log = logging.getLogger(__name__)


def _finite(value: Any) -> float | None:
    try:
        number = float(value)
    except Exception:
        return None
    return number if np.isfinite(number) else None


def load_nifti(path: Path, max_pixels: int) -> Image:
    """Read a 2-D NIfTI image into an `Image` (pixels float32 in [0, 1]; see module docstring).

    The image may carry singleton axes anywhere (e.g. shape (256, 256, 1) or (1, 256, 256));
    its two other axes are (i, j). A volume with more than one slice raises
    `UnsupportedFormatError`; an image whose full shape holds more than `max_pixels` voxels
    raises `ImageTooLargeError` before its data is read. Non-finite header values (voxel sizes,
    display range) are ignored.
    """
    import nibabel as nib

    try:
        img: Any = nib.load(str(path))
        shape = tuple(int(s) for s in img.shape)
    except Exception as exc:
        raise DecodeError(f"not a readable NIfTI file ({describe(exc)})", path) from exc
    voxels = 1
    for size in shape:
        voxels *= max(size, 0)
    if voxels > max_pixels:
        raise ImageTooLargeError(
            f"image of shape {shape} ({voxels:,} voxels) exceeds the safety limit of "
            f"{max_pixels:,} pixels (decompression-bomb guard)", path)
    dims = [s for s in shape if s != 1]
    if len(shape) < 2 or len(dims) > 2 or voxels == 0:
        raise UnsupportedFormatError(
            f"NIfTI image has shape {shape}; radlens reads 2-D images only", path)
    dims += [1] * (2 - len(dims))
    nx, ny = dims
    try:
        data = np.asarray(img.get_fdata(dtype=np.float32), dtype=np.float32).reshape(nx, ny)
        header: Any = img.header
        cal_min, cal_max = _finite(header.get("cal_min", 0)), _finite(header.get("cal_max", 0))
        zooms = tuple(_finite(z) for z in header.get_zooms()[:2])
        unit = header.get_xyzt_units()[0]
    except MemoryError as exc:
        raise ImageTooLargeError("not enough memory to read the NIfTI data", path) from exc
    except Exception as exc:
        raise DecodeError(f"cannot decode the NIfTI data ({describe(exc)})", path) from exc
    pixels = np.ascontiguousarray(data.T[::-1])
    del data
    np.nan_to_num(pixels, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
    if cal_min is not None and cal_max is not None and cal_max > cal_min:
        lo, hi, how = cal_min, cal_max, "nifti-cal-range"
    else:
        lo, hi, how = float(pixels.min()), float(pixels.max()), "min-max"
    if hi > lo and np.isfinite(1.0 / (hi - lo)):
        np.subtract(pixels, np.float32(lo), out=pixels)
        np.multiply(pixels, np.float32(1.0 / (hi - lo)), out=pixels)
        clip_unit(pixels)  # NaN (inf * 0 when the range overflows float32) becomes 0
    else:
        pixels[...] = 0.0
    spacing = None
    if len(zooms) == 2 and zooms[0] is not None and zooms[1] is not None and \
            zooms[0] > 0 and zooms[1] > 0 and unit in ("mm", "unknown"):
        spacing = (zooms[1], zooms[0])
    meta = ImageMeta(source=str(path), format="nifti", width=nx, height=ny,
                     pixel_spacing_mm=spacing, intensity_window=how)
    return Image(pixels=pixels, meta=meta)
