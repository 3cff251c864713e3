"""radlens: reads chest X-rays offline on a CPU.

The public API, imported lazily so that ``import radlens`` stays light:

- ``radlens.load_image(path) -> Image``: pixels (float32, [0, 1], air dark) plus metadata.
- ``radlens.to_image(path_or_array) -> Image``: a path, an `Image` or a 2-D numpy array (float
  in [0, 1], uint8 or uint16 full range; air dark) as an `Image`.
- ``radlens.check(image) -> QCReport``: the input-quality gate.
- ``radlens.Reader(model=None, device="cpu", explain=True)``: models loaded once;
  ``.read(x)`` for a path, `Image`, array or a list of them, ``.predict(batch)`` for an
  (N, 1, S, S) tensor -> (N, labels) calibrated probabilities.
- ``radlens.read(x) -> Interpretation`` (or a list for a list): one call with a fresh `Reader`.
- ``radlens.to_records(results)`` / ``radlens.to_dataframe(results)``: readings as a table.
- ``radlens.label(texts) -> list[LabelRecord]``: finding labels, with evidence, from report text.
- ``radlens.ground(image_or_path, phrase) -> GroundResult``: where a finding phrase lies.
- ``radlens.Image``, ``radlens.Interpretation``, ``radlens.ReadFailure``: result types (all of
  them in `radlens.schema`; JSON in `radlens.schema_json`; errors in `radlens.errors`).
"""

from __future__ import annotations

import importlib as _importlib
from typing import Any as _Any

from radlens._version import __version__

_LAZY = {
    "load_image": "radlens.io",
    "to_image": "radlens.reader",
    "check": "radlens.io.qc",
    "Reader": "radlens.reader",
    "read": "radlens.pipeline",
    "to_records": "radlens.tables",
    "to_dataframe": "radlens.tables",
    "label": "radlens.text.labeler",
    "ground": "radlens.tasks.ground",
    "Image": "radlens.schema",
    "Interpretation": "radlens.schema",
    "ReadFailure": "radlens.schema",
    "RadlensError": "radlens.errors",
    "InputError": "radlens.errors",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> _Any:
    if name in _LAZY:
        value = getattr(_importlib.import_module(_LAZY[name]), name)
        globals()[name] = value  # later look-ups skip this function
        return value
    raise AttributeError(f"module 'radlens' has no attribute {name!r}")


def __dir__() -> list[str]:
    """The public API (`__all__`); submodules are imported as ``radlens.<name>``."""
    return sorted(__all__)
