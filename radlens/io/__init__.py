"""Image input: `load_image` reads DICOM, PNG, JPEG, TIFF and 2-D NIfTI files.

The pixel convention is the same for every format: a float32 array of shape (height, width),
values in [0, 1], 0 = darkest (air on a radiograph), 1 = brightest. Each format module documents
how its stored values map to that range. The format is decided by the file's content (magic
bytes), not its name. Raster files are often misnamed in real collections (PNG content in a
``.jpg`` file) and load by their content; but a file named as DICOM whose content is not DICOM,
or DICOM content named as a raster image, is rejected: DICOM metadata drives the QC gate, and
such a mix-up usually means something went wrong upstream.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from radlens.errors import (
    DecodeError,
    ImageTooLargeError,
    InputError,
    RadlensError,
    UnsupportedFormatError,
)
from radlens.io.budget import describe
from radlens.schema import Image, ImageMeta

log = logging.getLogger(__name__)

#: Default decompression-bomb guard: images above this many pixels are refused before decoding.
MAX_PIXELS = 100_000_000

_EXTENSIONS = {
    ".dcm": "dicom", ".dicom": "dicom", ".dic": "dicom",
    ".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".jpe": "jpeg",
    ".tif": "tiff", ".tiff": "tiff", ".nii": "nifti", ".nii.gz": "nifti",
}

SUPPORTED = "DICOM, PNG, JPEG, TIFF or 2-D NIfTI"


def _extension_kind(path: Path) -> str | None:
    name = path.name.lower()
    if name.endswith(".nii.gz"):
        return "nifti"
    return _EXTENSIONS.get(path.suffix.lower())


def sniff(head: bytes, path: Path) -> str | None:
    """The format named by a file's first bytes (at least 352 of them when available).

    Returns "dicom", "png", "jpeg", "tiff", "nifti", "gzip" or None when unrecognised.
    """
    if len(head) >= 132 and head[128:132] == b"DICM":
        return "dicom"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "tiff"
    if len(head) >= 348 and head[344:348] in (b"n+1\x00", b"ni1\x00"):
        return "nifti"
    if len(head) >= 8 and head[4:8] in (b"n+2\x00", b"ni2\x00"):
        return "nifti"
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    return None


def _looks_like_raw_dicom(head: bytes) -> bool:
    """A DICOM stream without preamble starts with an explicit group 0002 or 0008 tag."""
    return len(head) >= 8 and head[:2] in (b"\x02\x00", b"\x08\x00") and head[2:4] < b"\x20\x00"


def _check_path(path: Path) -> bytes:
    if not path.exists():
        raise InputError("no such file", path)
    if path.is_dir():
        raise InputError("is a directory, not an image file", path)
    if not path.is_file():
        raise InputError("is not a regular file", path)
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            head = fh.read(352)
    except OSError as exc:
        raise InputError(f"cannot be read ({exc.strerror or exc})", path) from exc
    if size == 0:
        raise InputError("file is empty (0 bytes)", path)
    return head


def load_image(path: str | os.PathLike[str], *, max_pixels: int = MAX_PIXELS) -> Image:
    """Load one image file into an `Image`: float32 pixels (H, W) in [0, 1], air dark, + metadata.

    `path`: a DICOM, PNG (8/16-bit), JPEG, TIFF or 2-D NIfTI file, grey or colour. Only the
    first frame of a multi-frame file is decoded; `meta.number_of_frames` says how many there
    are. `max_pixels` guards against decompression bombs: sizes, and the decode budgets of
    `radlens.io.budget`, are checked before pixels are decoded, and the conversion runs in
    float32 (peak memory about the decoder's buffer plus 4 bytes per pixel). Every failure is a
    `RadlensError` naming the file: `InputError`, `UnsupportedFormatError`, `DecodeError` or
    `ImageTooLargeError`; an unexpected third-party decoder exception becomes a `DecodeError`
    whose message names its type but no value from the file.
    """
    p = Path(path)
    try:
        return _load(p, max_pixels)
    except RadlensError:
        raise
    except MemoryError as exc:
        raise ImageTooLargeError("not enough memory to decode this image", p) from exc
    except RecursionError as exc:
        raise DecodeError("the file's structure is nested too deeply to decode", p) from exc
    except (KeyboardInterrupt, SystemExit, GeneratorExit):
        raise
    except BaseException as exc:  # any third-party decoder error (Rust panics included)
        log.debug("decoder error: %s", describe(exc))
        raise DecodeError(f"cannot decode this file ({describe(exc)})", p) from exc


def _load(p: Path, max_pixels: int) -> Image:
    head = _check_path(p)
    content = sniff(head, p)
    claimed = _extension_kind(p)
    if content == "gzip" and claimed == "nifti":
        content = "nifti"
    if content is None and claimed in (None, "dicom") and _looks_like_raw_dicom(head):
        from radlens.io.dicom import load_dicom

        return load_dicom(p, max_pixels, force=True)
    if content is None or content == "gzip":
        raise UnsupportedFormatError(f"not an image radlens reads (expected {SUPPORTED})", p)
    if claimed is not None and claimed != content and "dicom" in (claimed, content):
        raise UnsupportedFormatError(
            f"the extension says {claimed.upper()} but the content is {content.upper()}; "
            "rename the file to match its content", p)
    if content == "dicom":
        from radlens.io.dicom import load_dicom

        return load_dicom(p, max_pixels)
    if content == "nifti":
        from radlens.io.nifti import load_nifti

        return load_nifti(p, max_pixels)
    from radlens.io.raster import load_raster

    return load_raster(p, max_pixels)


def image_from_array(pixels: np.ndarray, source: str = "<array>") -> Image:
    """Wrap a 2-D array already in radlens's convention ([0, 1], air dark) as an `Image`.

    Values are clipped to [0, 1] and converted to float32; non-finite values become 0.
    """
    arr = np.asarray(pixels)
    if arr.ndim != 2:
        raise UnsupportedFormatError(f"expected a 2-D array, got shape {arr.shape}", source)
    out = np.array(arr, dtype=np.float32)  # a copy: the caller's array is never modified
    np.nan_to_num(out, copy=False, nan=0.0, posinf=1.0, neginf=0.0)
    np.clip(out, 0.0, 1.0, out=out)
    meta = ImageMeta(source=source, format="array", width=arr.shape[1], height=arr.shape[0])
    return Image(pixels=out, meta=meta)


__all__ = ["MAX_PIXELS", "image_from_array", "load_image", "sniff"]
