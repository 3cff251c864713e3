"""Lossless JSON for every `radlens.schema` dataclass.

`to_dict` / `from_dict` convert between a schema object and plain JSON values, driven by the
dataclasses' type hints: dataclasses become objects, enums their string value, tuples lists, and
NumPy arrays one of the encodings in `radlens.arrays` (inline by default, or ``.npy`` files in
`array_dir`). `to_json` / `from_json` add the text step. ``from_json(to_json(x), type(x)) == x``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import types
import typing
from enum import Enum
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from radlens import schema
from radlens.arrays import decode_array, encode_array
from radlens.errors import DataError

T = TypeVar("T")
log = logging.getLogger(__name__)


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls, vars(schema))


def to_dict(obj: Any, array_dir: Path | None = None, _name: str = "a") -> Any:
    """Convert a schema object (or any nesting of them) to JSON-ready values.

    Standard JSON has no NaN or infinity: a non-finite float becomes ``null``, and when the
    top-level object has a ``notes`` list (an `Interpretation`) a note there names the field.
    `from_dict` reads such a ``null`` back as NaN in a float field."""
    found: list[str] = []
    out = _to_dict(obj, array_dir, _name, found, type(obj).__name__)
    if found:
        log.warning("%d non-finite number(s) written as null: %s", len(found),
                    ", ".join(found[:5]))
        if isinstance(out, dict) and isinstance(out.get("notes"), list):
            out["notes"].append("non-finite number(s), which JSON cannot hold, written as "
                                "null: " + ", ".join(found[:10]))
    return out


def _to_dict(obj: Any, array_dir: Path | None, name: str, found: list[str], where: str) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        out: dict[str, Any] = {}
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            key = f"{name}-{getattr(obj, 'id', '')}-{f.name}".replace("--", "-")
            out[f.name] = _to_dict(value, array_dir, key, found, f"{where}.{f.name}")
        return out
    if isinstance(obj, Enum):
        return obj.value
    if isinstance(obj, np.ndarray):
        return encode_array(obj, array_dir, name)
    if isinstance(obj, dict):
        return {k: _to_dict(v, array_dir, f"{name}{k}", found, f"{where}[{k!r}]")
                for k, v in obj.items()}
    if isinstance(obj, tuple | list):
        return [_to_dict(v, array_dir, f"{name}{i}", found, f"{where}[{i}]")
                for i, v in enumerate(obj)]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        found.append(where)
        return None
    return obj


def _convert(value: Any, hint: Any, array_dir: Path | None, where: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        non_none = [a for a in args if a is not type(None)]
        return _convert(value, non_none[0], array_dir, where)
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise DataError(f"{where}: expected a list, got {type(value).__name__}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(v, args[0], array_dir, f"{where}[{i}]")
                         for i, v in enumerate(value))
        if len(args) != len(value):
            raise DataError(f"{where}: expected {len(args)} items, got {len(value)}")
        return tuple(_convert(v, a, array_dir, f"{where}[{i}]")
                     for i, (v, a) in enumerate(zip(value, args, strict=True)))
    if hint is np.ndarray:
        return decode_array(value, array_dir)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return from_dict(value, hint, array_dir)
    if isinstance(hint, type) and issubclass(hint, Enum):
        try:
            return hint(value)
        except ValueError as exc:
            raise DataError(f"{where}: {value!r} is not a valid {hint.__name__}") from exc
    if hint is float:
        if value is None:  # a non-finite number written by `to_dict`
            return float("nan")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise DataError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if hint in (int, str, bool):
        if not isinstance(value, hint) or (hint is int and isinstance(value, bool)):
            raise DataError(f"{where}: expected {hint.__name__}, got {value!r}")
        return value
    return value


def from_dict(data: Any, cls: type[T], array_dir: Path | None = None) -> T:
    """Build a `cls` schema object from `to_dict` output; `DataError` when it does not fit."""
    if not isinstance(data, dict):
        raise DataError(f"{cls.__name__}: expected an object, got {type(data).__name__}")
    hints = _hints(cls)  # type: ignore[arg-type]
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if f.name in data:
            kwargs[f.name] = _convert(data[f.name], hints[f.name], array_dir,
                                      f"{cls.__name__}.{f.name}")
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise DataError(f"{cls.__name__}: missing field {f.name!r}")
    return cls(**kwargs)


def to_json(obj: Any, array_dir: Path | None = None, indent: int | None = None) -> str:
    """Serialise a schema object to a standard JSON string (arrays inline, or as files in
    `array_dir`); non-finite numbers become ``null`` (see `to_dict`), never ``Infinity``."""
    return json.dumps(to_dict(obj, array_dir), indent=indent, allow_nan=False)


def from_json(text: str, cls: type[T], array_dir: Path | None = None) -> T:
    """Parse `to_json` output back into a `cls` object."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(f"not valid JSON: {exc}") from exc
    return from_dict(data, cls, array_dir)
