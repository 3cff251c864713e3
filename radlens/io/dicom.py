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

import functools
import itertools
import logging
import os
import re
import threading
import warnings
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from pydicom.datadict import tag_for_keyword
from pydicom.multival import MultiValue
from pydicom.tag import BaseTag
from pydicom.uid import (
    HTJ2K,
    JPEG2000,
    JPEG2000MC,
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    HTJ2KLossless,
    HTJ2KLosslessRPCL,
    JPEG2000Lossless,
    JPEG2000MCLossless,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLossless,
    JPEGLosslessSV1,
    JPEGLSLossless,
    JPEGLSNearLossless,
    RLELossless,
)

from radlens.errors import DecodeError, ImageTooLargeError, RadlensError, UnsupportedFormatError
from radlens.io.budget import (
    MAX_J2K_TILES,
    BudgetError,
    check_jpeg_scans,
    clip_unit,
    describe,
    j2k_info,
    jpeg_info,
    rle_segments,
)
from radlens.schema import Image, ImageMeta

log = logging.getLogger(__name__)

_AGE = re.compile(r"^\s*(\d{1,3})\s*([DWMY])\s*$", re.IGNORECASE)
_MODALITY = re.compile(r"[A-Z0-9_ ]{1,16}")  # a Code String (PS3.5 6.2), safe to show
_AGE_UNIT_YEARS = {"D": 1 / 365.25, "W": 7 / 365.25, "M": 1 / 12, "Y": 1.0}
_J2K_SYNTAXES = {JPEG2000Lossless, JPEG2000, JPEG2000MCLossless, JPEG2000MC, HTJ2KLossless,
                 HTJ2KLosslessRPCL, HTJ2K}
_JPEG_SYNTAXES = {JPEGBaseline8Bit, JPEGExtended12Bit, JPEGLossless, JPEGLosslessSV1,
                  JPEGLSLossless, JPEGLSNearLossless}
_CHECKED_SYNTAXES = _J2K_SYNTAXES | _JPEG_SYNTAXES | {RLELossless}
#: Bytes a deflated data set may inflate to beyond 2 bytes per allowed pixel (its other elements).
_DEFLATE_SLACK = 16 * 2**20
#: Elements per block when a LUT chain runs in float64 (bounds its temporaries to 8 MB).
_BLOCK = 1 << 20
#: Elements per block of the fused linear mapping (512 kB of float32: stays in L2).
_LINEAR_BLOCK = 1 << 17
#: Images with at least this many pixels are converted by several threads.
_PARALLEL_PIXELS = 1 << 21


def parse_age(value: object) -> float | None:
    """DICOM Age String ('045Y', '006M', '003W', '010D') -> age in years, or None if invalid."""
    match = _AGE.match(str(value or ""))
    if not match:
        return None
    return int(match.group(1)) * _AGE_UNIT_YEARS[match.group(2).upper()]


@functools.lru_cache(maxsize=256)
def _tag(keyword: str) -> BaseTag:
    tag = tag_for_keyword(keyword)
    if tag is None:
        raise KeyError(keyword)
    return BaseTag(tag)


def _value(ds: Any, keyword: str) -> Any:
    """The value of element `keyword`, or None when absent or when it cannot be converted (an
    unknown or wrong VR, a malformed value): metadata oddities never fail a read."""
    try:
        return ds[_tag(keyword)].value
    except KeyError:
        return None
    except Exception as exc:  # pydicom converts raw values lazily and raises many types
        log.debug("ignoring unreadable element %s (%s)", keyword, type(exc).__name__)
        return None


def _text(ds: Any, keyword: str) -> str | None:
    """A text element as a stripped str (None when absent, empty, or not text at all)."""
    value = _value(ds, keyword)
    if isinstance(value, bytes | bytearray):  # VR UN / OB: decode when it is plain ASCII
        try:
            value = bytes(value).decode("ascii").strip("\x00 ")
        except UnicodeDecodeError:
            return None
    if isinstance(value, list | tuple | MultiValue):
        value = "\\".join(v for v in (str(x) for x in value if isinstance(x, str)) if v) or None
    if not isinstance(value, str):  # numbers or arrays under a text keyword (wrong VR)
        return None
    text = value.strip()
    return text or None


def _int(ds: Any, keyword: str) -> int | None:
    """An integer element (None when absent or not an integer)."""
    value = _value(ds, keyword)
    if isinstance(value, list | tuple | MultiValue):
        value = value[0] if len(value) else None
    if isinstance(value, bool) or not isinstance(value, int | np.integer | str | float):
        return None
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        return None


def _spacing(ds: Any) -> tuple[float, float] | None:
    for keyword in ("PixelSpacing", "ImagerPixelSpacing"):
        value = _value(ds, keyword)
        try:
            if value is not None and not isinstance(value, str | bytes) and len(value) == 2:
                row, col = float(value[0]), float(value[1])
                if row > 0 and col > 0 and np.isfinite(row) and np.isfinite(col):
                    return (row, col)
        except Exception:  # wrong VR, arrays, odd types: no spacing
            continue
    return None


def _transfer_syntax(ds: Any) -> UID | None:
    try:
        syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
        return UID(str(syntax)) if syntax else None
    except Exception:
        return None


def _deflated_dataset(path: Path, max_bytes: int) -> Any:
    """Read a Deflated Explicit VR Little Endian file, inflating its body in bounded steps.

    pydicom inflates the whole body in one call, with no limit; here the inflated size is
    capped at `max_bytes` (`ImageTooLargeError` beyond) before pydicom parses it."""
    import pydicom
    from pydicom.filebase import DicomBytesIO
    from pydicom.filereader import _read_file_meta_info, read_preamble
    from pydicom.filewriter import write_file_meta_info

    with path.open("rb") as fh:
        read_preamble(fh, False)
        meta = _read_file_meta_info(fh)
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        buffer = DicomBytesIO()  # inflated straight into the buffer pydicom reads: no copy
        buffer.write(b"\x00" * 128 + b"DICM")
        write_file_meta_info(buffer, meta, enforce_standard=False)
        limit = buffer.tell() + max_bytes
        inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        pending = b""
        while True:
            if not pending:
                pending = fh.read(1 << 20)
                if not pending:
                    break
            room = limit + 1 - buffer.tell()
            buffer.write(inflater.decompress(pending, min(room, 1 << 24)))
            pending = inflater.unconsumed_tail
            if buffer.tell() > limit:
                raise ImageTooLargeError(
                    f"the deflated DICOM data set inflates to more than {max_bytes:,} bytes, "
                    "the safety limit (decompression-bomb guard)", path)
            if inflater.eof:
                break
    buffer.seek(0)
    ds = pydicom.dcmread(buffer)
    ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    return ds


def _read_dataset(path: Path, force: bool, max_pixels: int) -> Any:
    import pydicom

    try:
        with path.open("rb") as fh:
            head = fh.read(4096)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if not force and DeflatedExplicitVRLittleEndian.encode() in head:
                ds = _deflated_dataset(path, 2 * max_pixels + _DEFLATE_SLACK)
            else:
                ds = pydicom.dcmread(path, force=force)
        for w in caught:
            log.debug("pydicom: %s", describe(Warning(str(w.message))))
        return ds
    except RadlensError:
        raise
    except Exception as exc:  # pydicom raises many types on corrupt input
        log.debug("dcmread failed: %s", describe(exc))
        raise DecodeError(f"not a readable DICOM file ({describe(exc)})", path) from exc


def _geometry(ds: Any, path: Path, max_pixels: int) -> tuple[int, int, int, int]:
    rows, cols = _int(ds, "Rows"), _int(ds, "Columns")
    frames = _int(ds, "NumberOfFrames") or 1
    samples = _int(ds, "SamplesPerPixel") or 1
    if rows is None or cols is None:
        raise DecodeError("DICOM image geometry (Rows, Columns) is missing or invalid", path)
    if rows <= 0 or cols <= 0 or frames <= 0 or samples <= 0:
        raise DecodeError(f"DICOM image geometry is invalid ({rows}x{cols}, {frames} frames)",
                          path)
    if rows * cols * samples > max_pixels or rows * cols * samples * frames > 8 * max_pixels:
        raise ImageTooLargeError(
            f"image of {cols}x{rows} pixels x {frames} frames exceeds the safety limit of "
            f"{max_pixels:,} pixels (decompression-bomb guard)", path)
    return rows, cols, frames, samples


def _check_codestream(ds: Any, path: Path, rows: int, cols: int, samples: int,
                      frames: int) -> None:
    """Check the first compressed frame's own header against the DICOM header before any
    decoder runs: its size and components (JPEG SOF, JPEG-LS SOF55, JPEG 2000 SIZ), its scan
    and tile counts, and an RLE frame's segment table. `DecodeError` on a mismatch or a
    malformed header, `ImageTooLargeError` over a decode budget."""
    syntax = _transfer_syntax(ds)
    if syntax is None or not syntax.is_encapsulated or syntax not in _CHECKED_SYNTAXES:
        return
    from pydicom.encaps import generate_frames

    try:
        frame = next(generate_frames(ds.PixelData, number_of_frames=frames))
    except Exception as exc:
        raise DecodeError(f"the encapsulated pixel data is malformed ({describe(exc)})",
                          path) from exc
    try:
        if syntax == RLELossless:
            allocated = _int(ds, "BitsAllocated") or 8
            expected = samples * max(1, (allocated + 7) // 8)
            segments = rle_segments(frame)
            if segments != expected:
                raise BudgetError(f"the RLE frame has {segments} segments; {samples} samples "
                                  f"of {allocated} bits need {expected}")
            return
        if syntax in _J2K_SYNTAXES:
            info = j2k_info(frame)
            if info.tiles > MAX_J2K_TILES:
                raise BudgetError(f"the JPEG 2000 codestream has {info.tiles:,} tiles, more "
                                  f"than the limit of {MAX_J2K_TILES:,} (CPU-bomb guard)",
                                  too_large=True)
        else:
            info = jpeg_info(frame)
            check_jpeg_scans(info)
    except BudgetError as exc:
        error = ImageTooLargeError if exc.too_large else DecodeError
        raise error(f"{exc} ({syntax.name})", path) from exc
    if (info.width, info.height, info.components) != (cols, rows, samples):
        raise DecodeError(
            f"the compressed pixel data is {info.width}x{info.height} with {info.components} "
            f"components but the DICOM header says {cols}x{rows} with {samples} "
            f"({syntax.name})", path)


def _decode_first_frame(ds: Any, path: Path, frames: int, samples: int = 1) -> np.ndarray:
    """The first frame's stored values. Native (uncompressed) grey data comes back as a
    read-only view on the file's bytes, without pydicom's unused-bit correction: `_stored`
    applies that correction only when the unused bits are actually set, which saves two copies
    of the image (pydicom still checks the pixel data's length and geometry)."""
    from pydicom.pixels import pixel_array
    from pydicom.pixels.decoders.base import get_decoder

    syntax = _transfer_syntax(ds)
    name = syntax.name if syntax is not None else "no transfer syntax"
    options: dict[str, Any] = {}
    if syntax is not None and not syntax.is_encapsulated and samples == 1 \
            and "PixelData" in ds:
        options = {"view_only": True, "correct_unused_bits": False}
    plugin = ""
    try:
        if syntax is not None and syntax.is_encapsulated and \
                "pylibjpeg" in get_decoder(syntax).available_plugins:
            plugin = "pylibjpeg"  # one decoder with bounded output; no fall-back chain
    except Exception:  # no decoder for this syntax: pixel_array says so below
        plugin = ""
    try:
        arr = pixel_array(ds, index=0, decoding_plugin=plugin, **options)
    except (KeyboardInterrupt, SystemExit, GeneratorExit):
        raise
    except MemoryError as exc:
        raise ImageTooLargeError("not enough memory to decode the pixel data", path) from exc
    except BaseException as exc:  # decoder plug-ins in Rust raise PanicException (BaseException)
        log.debug("pixel decoding failed: %s", describe(exc))
        raise DecodeError(f"cannot decode the pixel data ({name}): {describe(exc)}",
                          path) from exc
    return np.asarray(arr)


def _stored(arr: np.ndarray, ds: Any) -> tuple[np.ndarray, float | None, float]:
    """Integer stored values with their unused high bits corrected (PS3.5 8.1.1: values come
    from the low BitsStored bits, sign-extended when signed), plus their minimum (None when
    not computed: unsigned data needs only the maximum) and maximum.

    The correction -- pydicom's shift pair -- runs only when some value has a bit set beyond
    BitsStored; otherwise `arr` (possibly a read-only view) is returned as it is."""
    hi = float(arr.max())
    lo = None if arr.dtype.kind == "u" else float(arr.min())
    width = arr.dtype.itemsize * 8
    bits = _int(ds, "BitsStored")
    if bits is None or not 0 < bits < width:
        return arr, lo, hi
    if lo is None:
        clean = hi < 2**bits
    else:
        clean = -(2 ** (bits - 1)) <= lo and hi < 2 ** (bits - 1)
    if clean:
        return arr, lo, hi
    shift = width - bits
    fixed = np.left_shift(arr, shift)
    np.right_shift(fixed, shift, out=fixed)
    return fixed, float(fixed.min()), float(fixed.max())


def _window(ds: Any) -> tuple[float, float] | None:
    """The first Window Center and Width as floats, or None when absent or not numbers."""
    centre, width = _value(ds, "WindowCenter"), _value(ds, "WindowWidth")
    try:
        if isinstance(centre, list | tuple | MultiValue):
            centre = centre[0]
        if isinstance(width, list | tuple | MultiValue):
            width = width[0]
        if centre is None or width is None or isinstance(centre, bytes | str) \
                or isinstance(width, bytes | str):
            return None
        return float(centre), float(width)
    except Exception:
        return None


def _float(ds: Any, keyword: str, default: float) -> float | None:
    """A numeric element as float: `default` when absent or empty, None when not a number."""
    value = _value(ds, keyword)
    if value is None or value == "":
        return default
    try:
        return float(value)
    except Exception:
        return None


def _linear_params(ds: Any) -> tuple[float, float, str] | None:
    """(gain, offset, how) such that unit = clip(stored * gain + offset, 0, 1), when the whole
    Modality + VOI chain is linear (rescale and a LINEAR / LINEAR_EXACT window); else None."""
    if _value(ds, "ModalityLUTSequence") or _value(ds, "VOILUTSequence"):
        return None
    window = _window(ds)
    if window is None:
        return None
    centre, width = window
    function = (_text(ds, "VOILUTFunction") or "LINEAR").upper()
    slope = _float(ds, "RescaleSlope", 1.0) or 1.0
    intercept = _float(ds, "RescaleIntercept", 0.0)
    if intercept is None:
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


def _conversion_threads() -> int:
    """Threads that convert one large image: ``OMP_NUM_THREADS`` when set (batch workers and
    decode workers set it to their math-thread budget, usually 1), else up to 2 of the CPUs
    this process may use."""
    try:
        return max(1, int(os.environ["OMP_NUM_THREADS"]))
    except (KeyError, ValueError):
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = os.cpu_count() or 1
    return max(1, min(2, usable))


_pool_lock = threading.Lock()
_pool: Any = None
_pool_threads = 0


def _executor(threads: int) -> Any:
    """A thread pool of `threads` threads, made on first use (and again if the count changes)."""
    global _pool, _pool_threads
    with _pool_lock:
        if _pool is None or _pool_threads != threads:
            from concurrent.futures import ThreadPoolExecutor

            if _pool is not None:
                _pool.shutdown(wait=False)
            _pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="radlens-io")
            _pool_threads = threads
        return _pool


def _linear_span(flat: np.ndarray, out: np.ndarray, start: int, stop: int, gain: np.float32,
                 offset: np.float32) -> None:
    zero, one = np.float32(0.0), np.float32(1.0)
    for s in range(start, stop, _LINEAR_BLOCK):
        e = min(s + _LINEAR_BLOCK, stop)
        block = out[s:e]
        np.multiply(flat[s:e], gain, out=block, dtype=np.float32, casting="unsafe")
        np.add(block, offset, out=block)
        np.clip(block, zero, one, out=block)


def _apply_linear(arr: np.ndarray, gain: float, offset: float) -> np.ndarray:
    """clip(float32(arr) * gain + offset, 0, 1) as a new float32 array of `arr`'s shape, in
    blocks that stay in the CPU cache (one pass over memory instead of four); images of
    `_PARALLEL_PIXELS` or more are split between `_conversion_threads` threads (numpy
    releases the GIL), each writing its own rows of the output."""
    flat = arr.reshape(-1)
    out = np.empty(flat.shape, dtype=np.float32)
    g, o = np.float32(gain), np.float32(offset)
    threads = _conversion_threads() if flat.size >= _PARALLEL_PIXELS else 1
    if threads == 1:
        _linear_span(flat, out, 0, flat.size, g, o)
    else:
        bounds = np.linspace(0, flat.size, threads + 1).astype(int)
        jobs = [_executor(threads).submit(_linear_span, flat, out, int(s), int(e), g, o)
                for s, e in itertools.pairwise(bounds)]
        for job in jobs:
            job.result()
    return out.reshape(arr.shape)


def _blockwise(arr: np.ndarray, fn: Callable[[np.ndarray], np.ndarray],
               out: np.ndarray | None = None) -> np.ndarray:
    """``fn`` applied to row blocks of `arr` (2-D or 3-D), written into a float32 (H, W) array
    (`out`, which may be `arr` itself): float64 temporaries stay ~8 MB whatever the image."""
    rows = arr.shape[0]
    per_row = max(1, int(np.prod(arr.shape[1:])))
    step = max(1, _BLOCK // per_row)
    if out is None:
        out = np.empty(arr.shape[:2], dtype=np.float32)
    for r0 in range(0, rows, step):
        out[r0:r0 + step] = fn(arr[r0:r0 + step])
    return out


def _to_unit_range(arr: np.ndarray, ds: Any, path: Path, invert: bool = False
                   ) -> tuple[np.ndarray, str, bool]:
    """Stored values -> [0, 1] by the Modality and VOI chain; `invert` (MONOCHROME1) gives
    ``1 - value``. Returns (values, how, clean): `clean` when the values are already finite
    float32 in [0, 1] (the fused linear paths clip as they go)."""

    lo: float | None = None
    hi = 0.0
    if arr.dtype.kind in "iu":
        arr, lo, hi = _stored(arr, ds)
    linear = _linear_params(ds) if arr.dtype.kind in "iu" else None
    if linear is not None:  # fast path: one fused pass in float32, same values as the general one
        gain, offset = linear[0], linear[1]
        if invert:  # 1 - clip(x g + o) == clip(x (-g) + (1 - o))
            gain, offset = -gain, 1.0 - offset
        return _apply_linear(arr, gain, offset), linear[2], True
    has_window = _window(ds) is not None
    if arr.dtype.kind in "iu" and not _value(ds, "ModalityLUTSequence") and (
            not has_window and not _value(ds, "VOILUTSequence")):
        slope = _float(ds, "RescaleSlope", 1.0) or 1.0
        if lo is None:
            lo = float(arr.min())
        if hi > lo and np.isfinite(slope):  # min-max of a linear rescale = of stored values
            gain = 1.0 / (hi - lo)
            rising = slope > 0
            if invert:
                rising = not rising
            if rising:
                return _apply_linear(arr, gain, -lo * gain), "min-max", True
            return _apply_linear(arr, -gain, hi * gain), "min-max", True
    values, how = _general_chain(arr, ds, has_window)
    if invert:
        values = np.subtract(np.float32(1.0), values, out=values)
    return values, how, False


def _general_chain(arr: np.ndarray, ds: Any, has_window: bool) -> tuple[np.ndarray, str]:
    from pydicom.pixels import apply_modality_lut, apply_voi, apply_windowing

    # The general chain, in float32, with pydicom's float64 LUT functions run block by block.
    if _value(ds, "VOILUTSequence"):
        bits = int(ds.VOILUTSequence[0].LUTDescriptor[2])
        scale = 1.0 / float(2**bits - 1)
        return _blockwise(arr, lambda block: apply_voi(
            _lut_input(apply_modality_lut(block, ds)), ds, index=0) * scale), "voi-lut"
    values = _blockwise(arr, lambda block: apply_modality_lut(block, ds))
    if has_window:
        try:
            lo, hi = apply_windowing(np.array([-np.inf, np.inf]), ds, index=0)
            if np.isfinite(lo) and np.isfinite(hi) and hi != lo:
                _blockwise(values, lambda block: (apply_windowing(
                    block.astype(np.float64), ds, index=0) - lo) / (hi - lo), out=values)
                return values, "voi-window"
        except Exception as exc:
            log.warning("ignoring an invalid VOI window (%s)", describe(exc))
    return _min_max(values), "min-max"


def _lut_input(values: np.ndarray) -> np.ndarray:
    """Modality output as LUT indices: integers stay integers (a VOI LUT indexes by value)."""
    if values.dtype.kind == "f" and np.array_equal(values, np.floor(values)):
        return values.astype(np.int64)
    return values


def _min_max(values: np.ndarray) -> np.ndarray:
    """Min-max scaling of a float32 array in place (non-finite values become 0)."""
    finite = np.isfinite(values)  # one byte per pixel, only on this rare path
    if not finite.all():
        values[~finite] = 0.0
    del finite
    lo, hi = float(values.min()), float(values.max())
    if not hi > lo:
        values[...] = 0.0
        return values
    np.subtract(values, np.float32(lo), out=values)
    np.multiply(values, np.float32(1.0 / (hi - lo)), out=values)
    return values


def _colour_to_grey(arr: np.ndarray, ds: Any) -> np.ndarray:
    if arr.ndim != 3 or arr.shape[-1] < 3:
        raise DecodeError(f"colour pixel data has an unexpected shape {arr.shape}")
    bits = _int(ds, "BitsStored") or 8
    scale = np.float32(1.0 / float(2 ** min(max(bits, 1), 32) - 1))
    weights = np.array([0.299, 0.587, 0.114], dtype=np.float32) * scale
    return _blockwise(arr, lambda block: block[..., :3].astype(np.float32) @ weights)


def load_dicom(path: Path, max_pixels: int, force: bool = False) -> Image:
    """Read a DICOM file into an `Image` (pixels float32 in [0, 1], air dark; first frame only).

    `force` reads files that lack the DICOM preamble. Before any pixel is decoded, the header's
    size is checked against `max_pixels`, a compressed first frame's own header (JPEG SOF,
    JPEG 2000 SIZ, RLE segment table) against the DICOM header, and a deflated data set is
    inflated to at most 2 bytes per allowed pixel (+16 MiB). Raises `DecodeError`,
    `ImageTooLargeError` or `UnsupportedFormatError` (no pixel data) naming `path`.
    """
    ds = _read_dataset(path, force, max_pixels)
    if "PixelData" not in ds and "FloatPixelData" not in ds and "DoubleFloatPixelData" not in ds:
        if "Rows" in ds or "Columns" in ds or len(ds) == 0:
            raise DecodeError("DICOM image has no complete pixel data (truncated file?)", path)
        kind = _text(ds, "Modality") or ""
        kind = kind if _MODALITY.fullmatch(kind) else "unknown modality"  # never raw bytes
        raise UnsupportedFormatError(
            f"DICOM object holds no image ({kind}; e.g. a report or presentation state)", path)
    rows, cols, frames, samples = _geometry(ds, path, max_pixels)
    _check_codestream(ds, path, rows, cols, samples, frames)
    arr = _decode_first_frame(ds, path, frames, samples)
    photometric = _text(ds, "PhotometricInterpretation") or "MONOCHROME2"
    try:
        if samples > 1 or arr.ndim == 3:
            unit, how, clean = _colour_to_grey(arr, ds), "colour-luma", False
        else:
            unit, how, clean = _to_unit_range(arr, ds, path,
                                              invert=photometric.upper() == "MONOCHROME1")
    except MemoryError as exc:
        raise ImageTooLargeError("not enough memory to convert the pixel data", path) from exc
    except Exception as exc:
        raise DecodeError(f"cannot apply the DICOM LUTs: {describe(exc)}", path) from exc
    del arr
    if unit.shape != (rows, cols):
        raise DecodeError(f"decoded pixels have shape {unit.shape}, expected {(rows, cols)}", path)
    if not clean or unit.dtype != np.float32:  # the fused paths are already clean
        unit = clip_unit(np.asarray(unit, dtype=np.float32))
    syntax = _transfer_syntax(ds)
    sex = (_text(ds, "PatientSex") or "").upper()[:1]
    meta = ImageMeta(
        source=str(path), format="dicom", width=cols, height=rows,
        modality=_text(ds, "Modality"), view_position=_text(ds, "ViewPosition"),
        photometric_interpretation=photometric, pixel_spacing_mm=_spacing(ds),
        bits_stored=_int(ds, "BitsStored"), number_of_frames=frames,
        patient_age_years=parse_age(_text(ds, "PatientAge")),
        patient_sex=sex if sex.isalpha() else None,
        study_instance_uid=_text(ds, "StudyInstanceUID"),
        series_instance_uid=_text(ds, "SeriesInstanceUID"),
        sop_instance_uid=_text(ds, "SOPInstanceUID"),
        transfer_syntax_uid=str(syntax) if syntax else None, intensity_window=how,
    )
    return Image(pixels=unit, meta=meta)
