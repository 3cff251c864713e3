"""Errors radlens raises on purpose.

Every error a user can cause (a bad file, a bad flag, a missing model) is a `RadlensError`. The CLI
prints it as one line, ``radlens: <file>: <what is wrong>``, and never as a traceback. Anything
else escaping radlens is a bug.
"""

from __future__ import annotations

from os import PathLike


class RadlensError(Exception):
    """Base class of every error radlens raises on purpose.

    `source` names the file (or other input) the error is about, when there is one; `reason` is a
    short, human-readable sentence fragment saying what is wrong with it.
    """

    def __init__(self, reason: str, source: str | PathLike[str] | None = None) -> None:
        self.reason = reason
        self.source = None if source is None else str(source)
        super().__init__(self.one_line())

    def one_line(self) -> str:
        """The error as ``<source>: <reason>`` (or just the reason when there is no source)."""
        text = " ".join(self.reason.split())
        return f"{self.source}: {text}" if self.source else text


class InputError(RadlensError):
    """The path does not lead to a readable file (missing, a directory, empty, unreadable)."""


class UnsupportedFormatError(RadlensError):
    """The file is not in a format radlens reads, or its content contradicts its extension."""


class DecodeError(RadlensError):
    """The file claims a supported format but its content cannot be decoded (corrupt, truncated)."""


class ImageTooLargeError(RadlensError):
    """The image would need more memory than the configured safety limit (decompression bomb)."""


class QualityError(RadlensError):
    """The image failed a fatal input-quality check; `issues` holds the QC results."""

    def __init__(self, reason: str, source: str | None = None, issues: tuple[object, ...] = ()):
        super().__init__(reason, source)
        self.issues = issues


class ModelError(RadlensError):
    """A model is missing, its card is invalid, or its weights do not match its card."""


class DataError(RadlensError):
    """A dataset, CSV, JSONL or report file is malformed or does not match what was asked for."""


class MissingDependencyError(RadlensError):
    """An optional dependency needed for this feature is not installed (message says which)."""


class PacsError(RadlensError):
    """A PACS (DICOMweb or DIMSE peer) could not be reached, refused a request or answered
    with an error, after the retries (message says which peer and what it answered)."""
