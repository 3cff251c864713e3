"""Optional dependencies of the exports, imported lazily with a clear message when missing."""

from __future__ import annotations

import importlib
from types import ModuleType

from radlens.errors import MissingDependencyError


def require(module: str, feature: str, package: str) -> ModuleType:
    """Import `module` or raise `MissingDependencyError` naming `feature` and the pip package."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(
            f"{feature} needs the optional package {package!r}: "
            f"pip install 'radlens[export]' (or pip install {package})") from exc
