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
from radlens.schema import Image, ImageMeta

log = logging.getLogger(__name__)


def load_nifti(path: Path, max_pixels: int) -> Image:
    """Read a 2-D NIfTI image into an `Image` (pixels float32 in [0, 1]; see module docstring).

    A volume with more than one slice raises `UnsupportedFormatError`; an image above
    `max_pixels` raises `ImageTooLargeError` before its data is read.
    """
    import nibabel as nib

    try:
        img: Any = nib.load(str(path))
        shape = tuple(int(s) for s in img.shape)
    except Exception as exc:
        raise DecodeError(f"not a readable NIfTI file ({type(exc).__name__}: {exc})",
                          path) from exc
    dims = [s for s in shape if s != 1]
    if len(shape) < 2 or len(dims) > 2:
        raise UnsupportedFormatError(
            f"NIfTI image has shape {shape}; radlens reads 2-D images only", path)
    nx = shape[0]
    ny = shape[1] if len(shape) > 1 else 1
    if nx * ny > max_pixels:
        raise ImageTooLargeError(
            f"image of {nx}x{ny} pixels exceeds the safety limit of {max_pixels:,} pixels", path)
    try:
        data = np.asarray(img.get_fdata(dtype=np.float64)).reshape(nx, ny)
        header: Any = img.header
        cal_min, cal_max = float(header.get("cal_min", 0)), float(header.get("cal_max", 0))
        zooms = tuple(float(z) for z in header.get_zooms()[:2])
        unit = header.get_xyzt_units()[0]
    except Exception as exc:
        raise DecodeError(f"cannot decode the NIfTI data ({exc})", path) from exc
    pixels = data.T[::-1]
    if cal_max > cal_min:
        lo, hi, how = cal_min, cal_max, "nifti-cal-range"
    else:
        finite = pixels[np.isfinite(pixels)]
        lo = float(finite.min()) if finite.size else 0.0
        hi = float(finite.max()) if finite.size else 0.0
        how = "min-max"
    unit_pixels = (pixels - lo) / (hi - lo) if hi > lo else np.zeros_like(pixels)
    out = np.clip(np.nan_to_num(unit_pixels, nan=0.0), 0.0, 1.0).astype(np.float32)
    spacing = None
    if len(zooms) == 2 and all(z > 0 for z in zooms) and unit in ("mm", "unknown"):
        spacing = (zooms[1], zooms[0])
    meta = ImageMeta(source=str(path), format="nifti", width=nx, height=ny,
                     pixel_spacing_mm=spacing, intensity_window=how)
    return Image(pixels=np.ascontiguousarray(out), meta=meta)
