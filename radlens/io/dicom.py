"""DICOM input: decode, apply the Modality and VOI LUTs, and map to radlens's pixel convention.

Pixel mapping, in order (DICOM PS3.3 C.11):
1. Decode the first frame (pydicom; compressed transfer syntaxes through pylibjpeg, openjpeg and
   the RLE plug-in: JPEG baseline/extended/lossless, JPEG-LS, JPEG 2000, RLE Lossless).
2. Modality LUT: Rescale Slope/Intercept or a Modality LUT Sequence.
3. VOI: a VOI LUT Sequence if present (its output 0 .. 2**bits - 1, bits from the LUT
   Descriptor, maps to 0 .. 1); otherwise the first Window Center/Width (LINEAR, LINEAR_EXACT or
   SIGMOID; its output range maps to 0 .. 1); otherwise the image's own minimum .. maximum.
4. MONOCHROME1: ``1 - value``, so that air is dark in every output.
Colour images (RGB, YBR) become grey by ITU-R BT.601 luma over the container's bit range.
"""

from __future__ import annotations

import logging
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from radlens.errors import DecodeError, ImageTooLargeError, UnsupportedFormatError
from radlens.schema import Image, ImageMeta

log = logging.getLogger(__name__)

_AGE = re.compile(r"^\s*(\d{1,3})\s*([DWMY])\s*$", re.IGNORECASE)
_AGE_UNIT_YEARS = {"D": 1 / 365.25, "W": 7 / 365.25, "M": 1 / 12, "Y": 1.0}


def parse_age(value: object) -> float | None:
    """DICOM Age String ('045Y', '006M', '003W', '010D') -> age in years, or None if invalid."""
    match = _AGE.match(str(value or ""))
    if not match:
        return None
    return int(match.group(1)) * _AGE_UNIT_YEARS[match.group(2).upper()]


def _text(ds: Any, keyword: str) -> str | None:
    value = ds.get(keyword)
    if value is None or value == "":
        return None
    text = str(value).strip()
    return text or None


def _spacing(ds: Any) -> tuple[float, float] | None:
    for keyword in ("PixelSpacing", "ImagerPixelSpacing"):
        value = ds.get(keyword)
        try:
            if value is not None and len(value) == 2:
                row, col = float(value[0]), float(value[1])
                if row > 0 and col > 0 and np.isfinite(row) and np.isfinite(col):
                    return (row, col)
        except (TypeError, ValueError):
            continue
    return None


def _read_dataset(path: Path, force: bool) -> Any:
    import pydicom

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ds = pydicom.dcmread(path, force=force)
        for w in caught:
            log.debug("%s: pydicom: %s", path, w.message)
        return ds
    except Exception as exc:  # pydicom raises many types on corrupt input
        log.debug("dcmread failed for %s", path, exc_info=True)
        raise DecodeError(f"not a readable DICOM file ({type(exc).__name__}: {exc})",
                          path) from exc


def _geometry(ds: Any, path: Path, max_pixels: int) -> tuple[int, int, int, int]:
    try:
        rows, cols = int(ds.Rows), int(ds.Columns)
        frames = int(ds.get("NumberOfFrames") or 1)
        samples = int(ds.get("SamplesPerPixel") or 1)
    except Exception as exc:
        raise DecodeError(f"DICOM image geometry is missing or invalid ({exc})", path) from exc
    if rows <= 0 or cols <= 0 or frames <= 0 or samples <= 0:
        raise DecodeError(f"DICOM image geometry is invalid ({rows}x{cols}, {frames} frames)",
                          path)
    if rows * cols * samples > max_pixels or rows * cols * samples * frames > 8 * max_pixels:
        raise ImageTooLargeError(
            f"image of {cols}x{rows} pixels x {frames} frames exceeds the safety limit of "
            f"{max_pixels:,} pixels (decompression-bomb guard)", path)
    return rows, cols, frames, samples


def _decode_first_frame(ds: Any, path: Path, frames: int) -> np.ndarray:
    syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    name = getattr(syntax, "name", str(syntax))
    try:
        if frames > 1:
            from pydicom.pixels import pixel_array

            arr = pixel_array(ds, index=0)
        else:
            arr = ds.pixel_array
    except (KeyboardInterrupt, SystemExit, GeneratorExit):
        raise
    except BaseException as exc:  # decoder plug-ins in Rust raise PanicException (BaseException)
        log.debug("pixel decoding failed for %s", path, exc_info=True)
        raise DecodeError(f"cannot decode the pixel data ({name}): {exc}", path) from exc
    return np.asarray(arr)


def _linear_params(ds: Any) -> tuple[float, float, str] | None:
    """(gain, offset, how) such that unit = clip(stored * gain + offset, 0, 1), when the whole
    Modality + VOI chain is linear (rescale and a LINEAR / LINEAR_EXACT window); else None."""
    if ds.get("ModalityLUTSequence") or ds.get("VOILUTSequence"):
        return None
    if "WindowCenter" not in ds or "WindowWidth" not in ds:
        return None
    function = str(ds.get("VOILUTFunction") or "LINEAR").upper()
    try:
        slope = float(ds.get("RescaleSlope", 1) or 1)
        intercept = float(ds.get("RescaleIntercept", 0) or 0)
        c_elem, w_elem = ds["WindowCenter"], ds["WindowWidth"]
        centre = float(c_elem.value[0] if c_elem.VM > 1 else c_elem.value)
        width = float(w_elem.value[0] if w_elem.VM > 1 else w_elem.value)
    except (TypeError, ValueError, IndexError):
        return None
    if function == "LINEAR" and width > 1:  # PS3.3 C.11.2.1.2.1
        gain, offset = 1.0 / (width - 1), 0.5 - (centre - 0.5) / (width - 1)
    elif function == "LINEAR_EXACT" and width > 0:  # PS3.3 C.11.2.1.3.2
        gain, offset = 1.0 / width, 0.5 - centre / width
    else:
        return None
    values = (slope * gain, intercept * gain + offset)
    if not all(np.isfinite(values)):
        return None
    return values[0], values[1], "voi-window"


def _apply_linear(arr: np.ndarray, gain: float, offset: float) -> np.ndarray:
    out = arr.astype(np.float32)
    np.multiply(out, np.float32(gain), out=out)
    np.add(out, np.float32(offset), out=out)
    return np.clip(out, 0.0, 1.0, out=out)


def _to_unit_range(arr: np.ndarray, ds: Any, path: Path) -> tuple[np.ndarray, str]:
    from pydicom.pixels import apply_modality_lut, apply_voi, apply_windowing

    linear = _linear_params(ds) if arr.dtype.kind in "iu" else None
    if linear is not None:  # fast path: one fused pass in float32, same values as the general one
        return _apply_linear(arr, linear[0], linear[1]), linear[2]
    if arr.dtype.kind in "iu" and not ds.get("ModalityLUTSequence") and (
            "WindowCenter" not in ds and not ds.get("VOILUTSequence")):
        slope = float(ds.get("RescaleSlope", 1) or 1)
        lo, hi = float(arr.min()), float(arr.max())
        if hi > lo and slope != 0:  # min-max of a linear rescale = min-max of stored values
            gain = 1.0 / (hi - lo)
            if slope > 0:
                return _apply_linear(arr, gain, -lo * gain), "min-max"
            return _apply_linear(arr, -gain, hi * gain), "min-max"
    values = apply_modality_lut(arr, ds).astype(np.float64)
    if ds.get("VOILUTSequence"):
        item = ds.VOILUTSequence[0]
        bits = int(item.LUTDescriptor[2])
        out = apply_voi(values, ds, index=0).astype(np.float64)
        return out / float(2**bits - 1), "voi-lut"
    if "WindowCenter" in ds and "WindowWidth" in ds:
        try:
            out = apply_windowing(values, ds, index=0)
            lo, hi = apply_windowing(np.array([-np.inf, np.inf]), ds, index=0)
        except Exception as exc:
            log.warning("%s: ignoring invalid VOI window (%s)", path, exc)
        else:
            if np.isfinite(lo) and np.isfinite(hi) and hi != lo:
                return (np.asarray(out, dtype=np.float64) - lo) / (hi - lo), "voi-window"
    return _min_max(values), "min-max"


def _min_max(values: np.ndarray) -> np.ndarray:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return np.zeros_like(values, dtype=np.float64)
    lo, hi = float(finite.min()), float(finite.max())
    if hi <= lo:
        return np.zeros_like(values, dtype=np.float64)
    return (values - lo) / (hi - lo)


def _colour_to_grey(arr: np.ndarray, ds: Any) -> np.ndarray:
    rgb = arr.astype(np.float64)
    grey = rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114
    bits = int(ds.get("BitsStored") or 8)
    return grey / float(2**bits - 1)


def load_dicom(path: Path, max_pixels: int, force: bool = False) -> Image:
    """Read a DICOM file into an `Image` (pixels float32 in [0, 1], air dark; first frame only).

    `force` reads files that lack the DICOM preamble. Raises `DecodeError`, `ImageTooLargeError`
    or `UnsupportedFormatError` (no pixel data) naming `path`.
    """
    ds = _read_dataset(path, force)
    if "PixelData" not in ds and "FloatPixelData" not in ds and "DoubleFloatPixelData" not in ds:
        if "Rows" in ds or "Columns" in ds or len(ds) == 0:
            raise DecodeError("DICOM image has no complete pixel data (truncated file?)", path)
        kind = _text(ds, "Modality") or "unknown modality"
        raise UnsupportedFormatError(
            f"DICOM object holds no image ({kind}; e.g. a report or presentation state)", path)
    rows, cols, frames, samples = _geometry(ds, path, max_pixels)
    arr = _decode_first_frame(ds, path, frames)
    photometric = _text(ds, "PhotometricInterpretation") or "MONOCHROME2"
    try:
        if samples > 1 or arr.ndim == 3:
            unit, how = _colour_to_grey(arr, ds), "colour-luma"
        else:
            unit, how = _to_unit_range(arr, ds, path)
            if photometric.upper() == "MONOCHROME1":
                unit = np.subtract(1.0, unit, out=unit) if unit.dtype == np.float32 else 1 - unit
    except Exception as exc:
        raise DecodeError(f"cannot apply the DICOM LUTs: {exc}", path) from exc
    if unit.shape != (rows, cols):
        raise DecodeError(f"decoded pixels have shape {unit.shape}, expected {(rows, cols)}", path)
    if unit.dtype != np.float32:  # the general path; the fast path is already clean float32
        unit = np.clip(np.nan_to_num(unit, nan=0.0), 0.0, 1.0).astype(np.float32)
    pixels = unit
    syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    bits = ds.get("BitsStored")
    meta = ImageMeta(
        source=str(path), format="dicom", width=cols, height=rows,
        modality=_text(ds, "Modality"), view_position=_text(ds, "ViewPosition"),
        photometric_interpretation=photometric, pixel_spacing_mm=_spacing(ds),
        bits_stored=int(bits) if isinstance(bits, int) else None, number_of_frames=frames,
        patient_age_years=parse_age(ds.get("PatientAge")),
        patient_sex=(_text(ds, "PatientSex") or "").upper()[:1] or None,
        study_instance_uid=_text(ds, "StudyInstanceUID"),
        series_instance_uid=_text(ds, "SeriesInstanceUID"),
        sop_instance_uid=_text(ds, "SOPInstanceUID"),
        transfer_syntax_uid=str(syntax) if syntax else None, intensity_window=how,
    )
    return Image(pixels=pixels, meta=meta)
