"""Optional dependencies of the exports, imported lazily with a clear message when missing."""

from __future__ import annotations

import importlib
from types import ModuleType

from radlens.errors import MissingDependencyError


def require(module: str, feature: str, package: str, extra: str = "export") -> ModuleType:
    """Import `module` or raise `MissingDependencyError` naming `feature`, the pip package and
    the radlens extra (`extra`, e.g. "export", "pacs") that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(
            f"{feature} needs the optional package {package!r}: "
            f"pip install 'radlens[{extra}]' (or pip install {package})") from exc
