"""radlens: reads chest X-rays offline on a CPU.

The public API, imported lazily so that ``import radlens`` stays light:

- ``radlens.load_image(path) -> Image``: pixels (float32, [0, 1], air dark) plus metadata.
- ``radlens.check(image) -> QCReport``: the input-quality gate.
- ``radlens.read(path_or_image) -> Interpretation``: load, check and interpret one image.
- ``radlens.label(texts) -> list[LabelRecord]``: finding labels, with evidence, from report text.
- ``radlens.ground(image_or_path, phrase) -> GroundResult``: where a finding phrase lies.

The result types live in `radlens.schema`; JSON in `radlens.schema_json`.
"""

from __future__ import annotations

import importlib
from typing import Any

from radlens._version import __version__

_LAZY = {
    "load_image": "radlens.io",
    "check": "radlens.io.qc",
    "read": "radlens.pipeline",
    "label": "radlens.text.labeler",
    "ground": "radlens.tasks.ground",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'radlens' has no attribute {name!r}")
