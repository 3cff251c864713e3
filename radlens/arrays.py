"""Compact, lossless JSON encodings for the NumPy arrays inside radlens results.

Two inline encodings and one by-reference form, all JSON objects:

- ``{"encoding": "rle", "shape": [H, W], "counts": [...]}`` for boolean masks: run lengths over
  the row-major (C-order) flattened mask, starting with a run of ``False`` (which may be 0).
- ``{"encoding": "npy-zlib-b64", "shape": [...], "dtype": "<f2", "data": "..."}`` for any other
  array: the raw little-endian bytes, zlib-compressed, base64-encoded.
- ``{"encoding": "npy-file", "shape": [...], "dtype": "...", "file": "name.npy"}`` when the
  serialiser was given a directory: the array is written there as a ``.npy`` file and the JSON
  holds its file name, relative to that directory.

Decoding returns an array equal (bit for bit) to the one encoded.
"""

from __future__ import annotations

import base64
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from radlens.errors import DataError


def _rle_encode(mask: np.ndarray) -> list[int]:
    flat = np.ascontiguousarray(mask, dtype=bool).ravel()
    if flat.size == 0:
        return []
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate(([0], change, [flat.size]))
    counts = np.diff(bounds).tolist()
    if flat[0]:
        counts = [0, *counts]
    return [int(c) for c in counts]


def _rle_decode(counts: list[int], shape: tuple[int, ...]) -> np.ndarray:
    total = int(np.prod(shape)) if shape else 1
    if sum(counts) != total:
        raise DataError(f"RLE counts sum to {sum(counts)}, expected {total} for shape {shape}")
    values = np.zeros(len(counts), dtype=bool)
    values[1::2] = True
    return np.repeat(values, counts).reshape(shape)


def encode_array(array: np.ndarray, directory: Path | None = None, name: str = "array") -> dict:
    """Encode `array` as a JSON-ready dict (see module docstring for the three forms).

    With `directory`, the array is saved there as ``<name>.npy`` and referenced by file name.
    """
    arr = np.asarray(array)
    shape = [int(s) for s in arr.shape]
    if directory is not None:
        directory.mkdir(parents=True, exist_ok=True)
        file = f"{name}.npy"
        np.save(directory / file, arr, allow_pickle=False)
        return {"encoding": "npy-file", "shape": shape, "dtype": arr.dtype.str, "file": file}
    if arr.dtype == np.bool_:
        return {"encoding": "rle", "shape": shape, "counts": _rle_encode(arr)}
    if arr.dtype.hasobject:
        raise DataError("object arrays cannot be serialised")
    little = arr.astype(arr.dtype.newbyteorder("<"), copy=False)
    data = base64.b64encode(zlib.compress(np.ascontiguousarray(little).tobytes(), 6))
    return {"encoding": "npy-zlib-b64", "shape": shape, "dtype": little.dtype.str,
            "data": data.decode("ascii")}


def decode_array(obj: Any, directory: Path | None = None) -> np.ndarray:
    """Inverse of `encode_array`. `directory` resolves ``npy-file`` references."""
    if not isinstance(obj, dict) or "encoding" not in obj:
        raise DataError("encoded array must be an object with an 'encoding' field")
    shape = tuple(int(s) for s in obj.get("shape", ()))
    enc = obj["encoding"]
    if enc == "rle":
        return _rle_decode([int(c) for c in obj["counts"]], shape)
    if enc == "npy-zlib-b64":
        raw = zlib.decompress(base64.b64decode(obj["data"]))
        return np.frombuffer(raw, dtype=np.dtype(obj["dtype"])).reshape(shape).copy()
    if enc == "npy-file":
        if directory is None:
            raise DataError(f"array stored in file {obj.get('file')!r} but no directory was given")
        path = directory / str(obj["file"])
        if path.resolve().parent != directory.resolve():
            raise DataError(f"array file reference {obj['file']!r} leaves its directory")
        arr = np.load(path, allow_pickle=False)
        if tuple(arr.shape) != shape:
            raise DataError(f"{path}: shape {arr.shape} does not match recorded {shape}")
        return np.asarray(arr)
    raise DataError(f"unknown array encoding {enc!r}")
