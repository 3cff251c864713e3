"""Short reprs for results that hold arrays: shape and dtype instead of the values.

`short_repr` is used as ``__repr__`` by the dataclasses that carry masks, heatmaps or pixels
(`radlens.schema.Image`, `Region`, `radlens.tasks.segment.LungResult`, ...), so printing a
result in a notebook shows ``mask=array(shape=(512, 512), dtype=bool)`` rather than a page of
numbers. Other field values keep their own repr.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np


def array_repr(a: np.ndarray) -> str:
    """``array(shape=(H, W), dtype=float32)`` for an ndarray."""
    return f"array(shape={tuple(a.shape)}, dtype={a.dtype})"


def value_repr(value: Any) -> str:
    """The repr of one field value, with arrays (also inside tuples and lists) shortened."""
    if isinstance(value, np.ndarray):
        return array_repr(value)
    if type(value).__module__ == "torch" and hasattr(value, "shape"):  # a tensor
        return f"tensor(shape={tuple(value.shape)}, dtype={value.dtype})"
    if isinstance(value, tuple) and any(isinstance(v, np.ndarray) for v in value):
        inner = ", ".join(value_repr(v) for v in value)
        return f"({inner}{',' if len(value) == 1 else ''})"
    if isinstance(value, list) and any(isinstance(v, np.ndarray) for v in value):
        return "[" + ", ".join(value_repr(v) for v in value) + "]"
    return repr(value)


def short_repr(self: Any) -> str:
    """A dataclass repr whose array fields show shape and dtype only (use as ``__repr__``)."""
    parts = [f"{f.name}={value_repr(getattr(self, f.name))}"
             for f in dataclasses.fields(self) if f.repr]
    return f"{type(self).__qualname__}({', '.join(parts)})"
