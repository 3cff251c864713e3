"""The work a PACS node does per received instance, exactly once: `Processor`.

Both transports (`radlens.pacs.dicomweb`, `radlens.pacs.dimse`) hand each instance to a
`Processor`, which

1. looks it up in the batch result store (`radlens.serve.store.ResultStore`) by its SOP
   Instance UID: an instance already ``done`` (its SR delivered) is skipped; a ``failed`` one
   is tried again (a refusal is cheap to repeat, and a failed delivery must be retried);
2. refuses what is not a CR/DX radiograph (SOP class and modality) or not a frontal view
   (ViewPosition), recording the reason;
3. skips an image whose SR the destination already holds, when the transport can ask
   (`already_sent`, a query by the SR's SOP Instance UID);
4. writes the received bytes to a private temporary file (mode 0600 in a 0700 folder, whose
   name carries the node's pid: a node starting removes the folders of killed ones),
   decodes it in a killable child process (`radlens.io.isolated.DecodeWorker`, so a malformed
   or hostile file cannot take the node down), interprets it with the `Reader`, builds the
   SR (TID 1500, `radlens.report.export.dicom_sr.build_sr`, kept in memory) and deletes the file;
5. delivers the SR (`deliver`: STOW-RS or C-STORE, with retries) and only then records the
   instance ``done`` with its `Interpretation` JSON, in one transaction.

The SR's Series and SOP Instance UIDs are derived from the source's Study and SOP Instance
UIDs (`sr_uids`): a node killed between delivering an SR and recording it sends the same
instance again after the restart, and the PACS keeps one copy. So a crash, a restart or a
re-sent study never yields a second SR for one image.

Every refusal or failure is recorded per instance (``status = 'failed'``, ``error_type`` one
of `REASONS` or the radlens error's class name, ``error`` a one-line reason without file
names or patient fields). Logs name instances by `tag` (a short hash of the SOP Instance
UID) only.

A `Processor` is not thread-safe (it owns one SQLite connection): use it from one thread.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import logging
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from radlens.errors import DataError, PacsError, RadlensError

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

    from radlens.reader import Reader
    from radlens.schema import Image, Interpretation
    from radlens.serve.store import ResultStore

log = logging.getLogger(__name__)

#: SOP classes of the radiographs the node reads (CR, and DX for presentation / processing).
RADIOGRAPH_SOP_CLASSES: dict[str, str] = {
    "1.2.840.10008.5.1.4.1.1.1": "CR Image Storage",
    "1.2.840.10008.5.1.4.1.1.1.1": "Digital X-Ray Image Storage - For Presentation",
    "1.2.840.10008.5.1.4.1.1.1.1.1": "Digital X-Ray Image Storage - For Processing",
}
#: Default modalities the node reads.
DEFAULT_MODALITIES = ("CR", "DX")
#: ``error_type`` values the node records itself (radlens errors record their class name).
REASONS = {
    "NotRadiograph": "not a CR/DX radiograph (SOP class or modality)",
    "NotFrontal": "not a frontal view (ViewPosition)",
    "Malformed": "the DICOM data set could not be parsed",
    "NoReport": "the reading gave no finding to report",
    "SendFailed": "the SR could not be delivered (tried again when the image comes again)",
    "RetrieveFailed": "the image could not be retrieved from the PACS (tried again next time)",
    "InternalError": "an unexpected error (a bug: please report it)",
}
#: Error types that are refusals (the image is not for the node), not failures: the outcome's
#: status is "refused" (recorded in the store as failed, with the reason).
REFUSALS = frozenset({"NotRadiograph", "NotFrontal"})
_NAMESPACE = uuid.UUID("6f1d7c1e-5b1a-4f57-9a3e-2d0c4a1b7e21")  # radlens SR UIDs (fixed)


def tag(uid: str) -> str:
    """A short, stable, non-identifying name of an instance for logs and summaries: the first
    12 hex digits of the SHA-256 of its UID."""
    return hashlib.sha256(uid.encode("utf-8", "surrogateescape")).hexdigest()[:12]


def _derived(kind: str, uid: str) -> str:
    return f"2.25.{uuid.uuid5(_NAMESPACE, f'{kind}:{uid}').int}"


def sr_uids(study_uid: str, sop_uid: str) -> tuple[str, str]:
    """(Series Instance UID, SOP Instance UID) of radlens's SR of image `sop_uid` in study
    `study_uid`: one SR series per study, one SR per image, the same every time (UUID-5 under
    a fixed radlens namespace, as ``2.25.<integer>``)."""
    return _derived("sr-series", study_uid), _derived("sr", sop_uid)


@dataclass(frozen=True)
class Outcome:
    """What happened to one instance.

    `status`: "done" (interpreted; SR delivered when there is a destination), "skipped"
    (already done, or its SR is already in the PACS), "refused" (not a frontal CR/DX
    radiograph: `REFUSALS`) or "failed" (not interpretable, or the SR not delivered);
    `error_type` and `reason` say why. `key`: its SOP Instance UID (kept in
    the store; `summary` gives `tag` instead). `sr_uid`: the SR's SOP Instance UID.
    `read_s`: seconds to decode and interpret; `sr_s`: to build the SR (and overlay); `send_s`: to
    deliver it; `total_s`: seconds in the node. `positive`: labels called positive.
    """

    key: str
    status: str
    error_type: str = ""
    reason: str = ""
    sr_uid: str = ""
    read_s: float = 0.0
    total_s: float = 0.0
    positive: tuple[str, ...] = ()
    sr_s: float = 0.0
    send_s: float = 0.0

    def summary(self) -> dict[str, Any]:
        """A JSON-ready dict without identifiers (the instance as its `tag`)."""
        return {"instance": tag(self.key), "status": self.status,
                "error_type": self.error_type or None, "reason": self.reason or None,
                "sr": bool(self.sr_uid) and self.status == "done",
                "positive": list(self.positive), "read_s": round(self.read_s, 4),
                "sr_s": round(self.sr_s, 4), "send_s": round(self.send_s, 4),
                "total_s": round(self.total_s, 4)}


def _text(ds: Any, keyword: str) -> str:
    value = ds.get(keyword, "") if ds is not None else ""
    return str(value or "").strip()


def lateral_views() -> set[str]:
    """ViewPosition values that mean a lateral film (from the QC rules)."""
    from radlens.io.qc import rules

    return {str(v).upper() for v in rules()["lateral_views"]}


def refusal(sop_class: str, modality: str, view: str,
            modalities: tuple[str, ...] = DEFAULT_MODALITIES) -> tuple[str, str] | None:
    """(error_type, reason) when an instance with these header values is not for the node:
    not a radiograph of `modalities`, or a lateral view; None when it is."""
    if sop_class and sop_class not in RADIOGRAPH_SOP_CLASSES:
        from pydicom.uid import UID

        name = UID(sop_class).name if UID(sop_class).is_valid else "an unknown SOP class"
        return "NotRadiograph", f"refused: {name} is not a CR/DX radiograph"
    if modality.upper() not in {m.upper() for m in modalities}:
        return "NotRadiograph", (f"refused: modality {modality or '(none)'} is not one of "
                                 f"{', '.join(modalities)}")
    if view.upper() in lateral_views():
        return "NotFrontal", f"not a frontal view (ViewPosition {view}): no SR"
    return None


def sweep_stale(parent: Path) -> int:
    """Remove the temporary folders (``radlens-pacs-<pid>-*`` in `parent`, ours) of nodes
    that were killed (SIGKILL leaves the image in flight there); returns how many. A folder
    whose process still runs, or that another user owns, is left alone."""
    removed = 0
    for d in parent.glob("radlens-pacs-*-*"):
        pid = d.name.split("-")[2]
        if not pid.isdigit() or int(pid) == os.getpid() or not d.is_dir():
            continue
        try:
            os.kill(int(pid), 0)
            continue  # that node still runs
        except ProcessLookupError:
            pass
        except OSError:  # not ours to signal
            continue
        if d.stat().st_uid == os.getuid():
            shutil.rmtree(d, ignore_errors=True)
            removed += 1
    if removed:
        log.info("removed %d temporary folder(s) left by killed nodes", removed)
    return removed


class Processor:
    """Interprets received instances exactly once (see the module docstring).

    `store`: the result store (None: a dry run that records nothing and skips nothing).
    `deliver`: sends one SR data set (raises `PacsError` when it cannot); None: no SR is
    sent (the reading is still recorded). `already_sent`: ``(study_uid, sr_sop_uid) -> bool``,
    whether the destination already holds that SR (None: not asked). `reader`: the `Reader`
    (default: one with the bundled models, made on first use, `model` and `explain`).
    `modalities`: the modalities read. `decode_timeout_s` / `decode_memory_mb`: limits of the
    decode child (0 s: decode in this process). `spool`: the parent of the private temporary
    folder (default: the system's). `overlay`: also deliver the overlay picture as a derived
    Secondary Capture in the same study (`radlens.report.export.secondary_capture`), after
    the SR and before the instance is recorded done.
    """

    def __init__(self, store: ResultStore | None,
                 deliver: Callable[[Dataset], None] | None = None, *,
                 already_sent: Callable[[str, str], bool] | None = None,
                 reader: Reader | None = None, model: str | None = None,
                 explain: bool = True, modalities: tuple[str, ...] = DEFAULT_MODALITIES,
                 decode_timeout_s: float = 60.0, decode_memory_mb: int = 3072,
                 spool: str | os.PathLike[str] | None = None, overlay: bool = False) -> None:
        from radlens.pacs import quiet_identifying_logs

        quiet_identifying_logs()
        self.store, self.deliver, self.already_sent = store, deliver, already_sent
        self.modalities = tuple(m.strip().upper() for m in modalities if m.strip())
        self._reader, self._model, self._explain = reader, model, explain
        self._limits = (decode_timeout_s, decode_memory_mb)
        self.overlay = overlay
        self._decoder: Any = None
        parent = Path(spool) if spool is not None else Path(tempfile.gettempdir())
        sweep_stale(parent)
        self._dir = Path(tempfile.mkdtemp(prefix=f"radlens-pacs-{os.getpid()}-",
                                          dir=parent))  # mode 0700
        if store is not None:
            self._check_model(store)

    def _check_model(self, store: ResultStore) -> None:
        from radlens.serve.batch import resolved_model_name

        name = resolved_model_name(self._model)
        recorded = store.get_meta("model")
        if recorded is None:
            store.set_meta("model", name)
        elif recorded != name:
            raise DataError(f"this store holds results of model {recorded!r}, not {name!r}: "
                            "use a new --store (or the same --model)", store.path)

    # -- set-up and tear-down -------------------------------------------------------------
    @property
    def reader(self) -> Reader:
        """The `Reader` (loaded on first use)."""
        if self._reader is None:
            from radlens.reader import Reader

            self._reader = Reader(self._model, explain=self._explain, workers=0)
        return self._reader

    def warm_up(self) -> None:
        """Load the models, start the decode child and make one SR of a synthetic image now
        (first calls are slow), not on the first instance."""
        import numpy as np

        from radlens.report.export.dicom_sr import build_sr
        from radlens.report.export.patient import Patient

        decoder = self._decoder_or_none()
        if decoder is not None:
            decoder.start()
        y, x = np.mgrid[0:256, 0:256] / 255.0
        lungs = np.exp(-(((x - 0.28) / 0.12) ** 2 + ((y - 0.5) / 0.25) ** 2)) \
            + np.exp(-(((x - 0.72) / 0.12) ** 2 + ((y - 0.5) / 0.25) ** 2))
        try:
            interp = self.reader.read(np.clip(0.75 - 0.45 * lungs, 0, 1).astype(np.float32))
            if interp.report is not None:
                build_sr(interp, interp.report, Patient())
        except RadlensError as exc:  # no model installed, ...: the first instance will say
            log.warning("warm-up reading failed: %s", exc.reason)

    def _decoder_or_none(self) -> Any:
        from radlens.io.isolated import DecodeWorker, isolation_available

        timeout_s, memory_mb = self._limits
        if timeout_s <= 0 or not isolation_available():
            return None
        if self._decoder is None:
            self._decoder = DecodeWorker(timeout_s, memory_mb)
        return self._decoder

    def close(self) -> None:
        """Stop the decode child and remove the temporary folder."""
        if self._decoder is not None:
            self._decoder.close()
            self._decoder = None
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> Processor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- recording ------------------------------------------------------------------------
    def fail(self, key: str, error_type: str, reason: str, elapsed_s: float = 0.0,
             read_s: float = 0.0) -> Outcome:
        """Record `key` as failed with `error_type` and one-line `reason` (the store's
        status "failed"); the `Outcome` ("refused" for `REFUSALS`, else "failed")."""
        reason = " ".join(reason.split())
        if self.store is not None:
            self.store.record_failed(key, "pacs:" + tag(key), error_type, reason, elapsed_s)
        log.info("instance %s: %s (%s)", tag(key), error_type, reason)
        status = "refused" if error_type in REFUSALS else "failed"
        return Outcome(key, status, error_type, reason, read_s=read_s, total_s=elapsed_s)

    def previous(self, key: str) -> Outcome | None:
        """A "skipped" outcome when `key` is already done in the store, else None."""
        if self.store is None:
            return None
        item = self.store.get(key)
        if item is not None and item.status == "done":
            return Outcome(key, "skipped", reason="already interpreted (in the store)")
        return None

    # -- the work -------------------------------------------------------------------------
    def process(self, ds: Dataset, raw: bytes | None = None) -> Outcome:
        """Interpret one instance exactly once; never raises for a bad instance.

        `ds`: the data set (with its pixels). `raw`: the same instance as the bytes of a
        DICOM file (preamble and file meta), when the transport has them (written as is;
        otherwise `ds` is written). Raises only for a broken store (`sqlite3.Error`).
        """
        start = time.perf_counter()
        key = _text(ds, "SOPInstanceUID")
        if not key:
            log.info("an instance without a SOP Instance UID was refused")
            return Outcome("", "failed", "Malformed", "no SOP Instance UID")
        done = self.previous(key)
        if done is not None:
            return done
        refused = refusal(_text(ds, "SOPClassUID"), _text(ds, "Modality"),
                          _text(ds, "ViewPosition"), self.modalities)
        if refused is not None:
            return self.fail(key, *refused, time.perf_counter() - start)
        study = _text(ds, "StudyInstanceUID")
        series_uid, sr_uid = sr_uids(study, key)
        if self.already_sent is not None and study:
            try:
                if self.already_sent(study, sr_uid):
                    log.info("instance %s: its SR is already in the PACS", tag(key))
                    return Outcome(key, "skipped", reason="its SR is already in the PACS",
                                   sr_uid=sr_uid, total_s=time.perf_counter() - start)
            except PacsError as exc:  # the question failed: the UIDs still prevent duplicates
                log.warning("instance %s: could not ask the PACS for its SR (%s)", tag(key),
                            exc.reason)
        try:
            return self._interpret_and_send(ds, raw, key, series_uid, sr_uid, start)
        except Exception as exc:  # a bug on one instance must not take the node down
            if isinstance(exc, OSError) and not isinstance(exc, RadlensError):
                log.exception("instance %s: file system error", tag(key))
            else:
                log.exception("instance %s: unexpected error", tag(key))
            return self.fail(key, "InternalError",
                             f"internal error ({type(exc).__name__}); please report it",
                             time.perf_counter() - start)

    def _interpret_and_send(self, ds: Dataset, raw: bytes | None, key: str, series_uid: str,
                            sr_uid: str, start: float) -> Outcome:
        from radlens.report.export.dicom_sr import build_sr
        from radlens.report.export.patient import patient_for
        from radlens.schema_json import to_json

        fd, name = tempfile.mkstemp(suffix=".dcm", dir=self._dir)  # mode 0600
        src = Path(name)
        try:
            with os.fdopen(fd, "wb") as fh:
                if raw is not None:
                    fh.write(raw)
                else:
                    ds.save_as(fh, enforce_file_format=True)
            t_read = time.perf_counter()
            try:
                image, interp = self._read(src)
            except RadlensError as exc:
                return self.fail(key, type(exc).__name__, exc.reason,
                                 time.perf_counter() - start, time.perf_counter() - t_read)
            read_s = time.perf_counter() - t_read
            if interp.report is None:
                return self.fail(key, "NoReport", REASONS["NoReport"],
                                 time.perf_counter() - start, read_s)
            t_sr = time.perf_counter()
            patient = patient_for(interp.image)  # header fields, read from the temporary file
            try:  # the SR stays in memory: sent as built, never written and read back
                sr = build_sr(interp, interp.report, patient, series_uid=series_uid,
                              sop_uid=sr_uid)
            except DataError as exc:
                return self.fail(key, "NoReport", exc.reason, time.perf_counter() - start,
                                 read_s)
            sc = self._overlay(image, interp, patient, key) if self.overlay else None
            sr_s = time.perf_counter() - t_sr
        finally:
            with contextlib.suppress(FileNotFoundError):
                src.unlink()
        interp = dataclasses.replace(interp, image=dataclasses.replace(
            interp.image, source="pacs:" + tag(key)))  # no temporary path in the store
        t_send = time.perf_counter()
        if self.deliver is not None:
            try:
                self.deliver(sr)
                if sc is not None:
                    self.deliver(sc)
            except PacsError as exc:
                return self.fail(key, "SendFailed", exc.reason, time.perf_counter() - start,
                                 read_s)
        send_s = time.perf_counter() - t_send
        elapsed = time.perf_counter() - start
        if self.store is not None:
            self.store.record_done(key, "pacs:" + tag(key), to_json(interp), elapsed)
        positive = tuple(f.label for f in interp.findings if f.call == "positive")
        log.info("instance %s: read in %.2f s, %d positive, SR %s", tag(key), read_s,
                 len(positive), "sent" if self.deliver is not None else "not sent")
        return Outcome(key, "done", sr_uid=sr_uid, read_s=read_s, total_s=elapsed,
                       positive=positive, sr_s=sr_s, send_s=send_s)

    def _read(self, path: Path) -> tuple[Image, Interpretation]:
        from radlens.io import load_image

        decoder = self._decoder_or_none()
        image = decoder.load(path) if decoder is not None else load_image(path)
        return image, self.reader.read(image)

    @staticmethod
    def _overlay(image: Image, interp: Interpretation, patient: Any, key: str) -> Any:
        from radlens.render.overlay import overlay_rgb
        from radlens.report.export.secondary_capture import build_overlay_sc

        study = patient.study_uid or interp.image.study_instance_uid or ""
        return build_overlay_sc(overlay_rgb(image, interp), patient,
                                series_uid=_derived("sc-series", study),
                                sop_uid=_derived("sc", key), model=interp.models[0].name
                                if interp.models else "radlens")
