"""A PACS node: read studies from a PACS over DICOMweb and DIMSE and send the SR back.

- `radlens.pacs.dicomweb`: a DICOMweb endpoint (QIDO-RS search, WADO-RS retrieval, STOW-RS
  storage, with basic / bearer auth and a TLS CA file) and `pull`, which interprets the
  frontal radiographs of the studies a query finds and stores one SR per image back into
  the same study (``radlens pacs pull``).
- `radlens.pacs.dimse`: a DICOM C-STORE SCP (with C-ECHO) that interprets each CR/DX image it
  receives from the calling AE titles it allows and forwards the SR with C-STORE
  (``radlens pacs listen``).
- `radlens.pacs.work`: what both share: every received instance goes through the batch
  result store (`radlens.serve.store.ResultStore`), keyed by its SOP Instance UID, and the
  SR's UIDs are derived from the source image's, so a crash, a restart or a re-sent study
  never yields a second SR for the same image.
- `radlens.pacs.retry`: retry with exponential back-off for a PACS that is down or answers
  5xx, then a clear `radlens.errors.PacsError`.

The network libraries (``dicomweb-client``, ``pynetdicom``) are optional: install
``radlens[pacs]``; they are imported when a PACS is first used, with a message naming the
package when missing. Received files live in a private temporary folder only while they are
read, and logs name an instance by a short hash (`radlens.pacs.work.tag`), never by a UID or a
patient field.
"""

from __future__ import annotations

import logging
from types import ModuleType

from radlens.report import _deps


def require(module: str, feature: str, package: str) -> ModuleType:
    """Import `module` or raise `MissingDependencyError` naming `feature`, the pip package and
    the ``pacs`` extra (`radlens.report._deps.require`)."""
    return _deps.require(module, feature, package, extra="pacs")


#: Libraries whose INFO / DEBUG records name studies and instances by their UIDs.
IDENTIFYING_LOGGERS = ("dicomweb_client", "highdicom", "pynetdicom")


def quiet_identifying_logs() -> None:
    """Raise the loggers of `IDENTIFYING_LOGGERS` to WARNING where nobody has set their level
    (a level set by the application is left as it is), so that no UID reaches the logs."""
    for name in IDENTIFYING_LOGGERS:
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.WARNING)
