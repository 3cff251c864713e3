"""DIMSE: a C-STORE SCP that reads each CR/DX image it receives and forwards the SR (pynetdicom).

`Listener` is ``radlens pacs listen``: an application entity that

- answers C-ECHO;
- accepts associations only from the calling AE titles of its allow-list (when one is given;
  any other is rejected at association time, "calling AE title not recognised", logged and
  counted in `Listener.stats`);
- accepts C-STORE of any storage SOP class in any transfer syntax, and hands each instance
  to one worker thread that owns the `radlens.pacs.work.Processor` (the result store, the
  models and the decode child): the C-STORE response is sent once the instance is done, so a
  success means the SR has been delivered and recorded;
- answers with the status that says what happened (`status_for`): 0x0000 when interpreted,
  already done, or received but not reportable (a lateral film, a failed quality check:
  the reason is recorded); 0x0122 "SOP class not supported" for an image that is not a CR/DX
  radiograph (e.g. a CT); 0xC210 "cannot understand" for a data set that cannot be parsed
  or decoded; 0xA700 "out of resources" when the SR could not be forwarded (the sender may
  send it again later: nothing is duplicated); 0x0110 on an internal error.

`Destination` is the C-STORE peer the SRs go to (``--forward AE@HOST:PORT``), with retries,
and the C-FIND query that tells whether it already holds an SR. Its association is kept open
between films (C-FIND, SR and Secondary Capture contexts in one association) and opened again
when the peer has closed it, it has been idle for `LINK_IDLE_S`, or a send failed.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from radlens.errors import InputError, PacsError
from radlens.pacs import quiet_identifying_logs, require
from radlens.pacs.retry import Backoff, with_retry
from radlens.pacs.work import DEFAULT_MODALITIES, Outcome, Processor, tag

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

log = logging.getLogger(__name__)

#: C-STORE statuses (PS3.4 Annex B.2.3, PS3.7 Annex C).
SUCCESS, REFUSED_SOP_CLASS, CANNOT_UNDERSTAND = 0x0000, 0x0122, 0xC210
OUT_OF_RESOURCES, PROCESSING_FAILURE = 0xA700, 0x0110
_UNDERSTAND = {"Malformed", "DecodeError", "DecodeTimeoutError", "UnsupportedFormatError",
               "InputError"}
_SR_OK = {0x0000, 0xB000, 0xB006, 0xB007}  # success and the C-STORE warnings
#: Abstract syntaxes every forward association asks for: Comprehensive 3D SR, Secondary
#: Capture (the overlay) and the study-root C-FIND model.
LINK_CONTEXTS = ("1.2.840.10008.5.1.4.1.1.88.34", "1.2.840.10008.5.1.4.1.1.7",
                 "1.2.840.10008.5.1.4.1.2.2.1")
LINK_IDLE_S = 20.0  # a kept-open association idle longer than this is closed and reopened


class _Link:
    """The kept-open association of one `Destination` (guarded by `lock`)."""

    def __init__(self) -> None:
        self.assoc: Any = None
        self.used = 0.0
        self.opened = 0  # associations opened so far (for tests and logs)
        self.lock = threading.RLock()


def _ae() -> Any:
    return require("pynetdicom", "the DIMSE node", "pynetdicom")


def status_for(outcome: Outcome) -> int:
    """The C-STORE status that answers `outcome` (see the module docstring)."""
    if outcome.status in ("done", "skipped"):
        return SUCCESS
    if outcome.error_type == "NotRadiograph":
        return REFUSED_SOP_CLASS
    if outcome.error_type in _UNDERSTAND:
        return CANNOT_UNDERSTAND
    if outcome.error_type == "SendFailed":
        return OUT_OF_RESOURCES
    if outcome.error_type == "InternalError":
        return PROCESSING_FAILURE
    return SUCCESS  # received and judged (e.g. failed QC, lateral): the reason is recorded


def ae_title(text: str, what: str = "AE title") -> str:
    """`text` checked as a DICOM AE title (1-16 characters, no backslash or control
    characters); `InputError` otherwise."""
    t = text.strip()
    if not 1 <= len(t) <= 16 or "\\" in t or any(ord(c) < 32 for c in t):
        raise InputError(f"{what} must be 1 to 16 characters without a backslash, got {text!r}")
    return t


@dataclass(frozen=True)
class Destination:
    """A C-STORE peer: `ae` title, `host`, `port`; `calling` is our AE title."""

    ae: str
    host: str
    port: int
    calling: str = "RADLENS"
    backoff: Backoff = field(default_factory=Backoff)
    timeout_s: float = 60.0
    link: _Link = field(default_factory=_Link, compare=False, repr=False)

    @classmethod
    def parse(cls, text: str, calling: str = "RADLENS", backoff: Backoff | None = None
              ) -> Destination:
        """A destination from ``AE@HOST:PORT``; `InputError` when it does not parse."""
        ae, at, rest = text.partition("@")
        host, colon, port = rest.rpartition(":")
        if not at or not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise InputError(f"a forward destination reads AE@HOST:PORT, got {text!r}")
        return cls(ae_title(ae, "the destination AE title"), host, int(port), calling,
                   backoff or Backoff())

    def __str__(self) -> str:
        return f"{self.ae}@{self.host}:{self.port}"

    def _associate(self, abstracts: list[str]) -> Any:
        from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

        pynetdicom = _ae()
        ae = pynetdicom.AE(ae_title=self.calling)
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = self.timeout_s
        for abstract in abstracts:
            ae.add_requested_context(abstract, [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
        assoc = ae.associate(self.host, self.port, ae_title=self.ae)
        if not assoc.is_established:
            why = "rejected the association" if assoc.is_rejected else "did not answer"
            raise _Transient(f"{self} {why}")
        self.link.opened += 1
        return assoc

    def _session(self, abstract: str) -> Any:
        """The kept-open association, (re)opened when it is gone, idle too long or lacks
        `abstract`; call with `link.lock` held."""
        link, now = self.link, time.monotonic()
        a = link.assoc
        if a is not None and (not a.is_established or now - link.used > LINK_IDLE_S
                              or not any(cx.abstract_syntax == abstract
                                         for cx in a.accepted_contexts)):
            self._drop(release=a.is_established)
        if link.assoc is None:
            wanted = list(dict.fromkeys((*LINK_CONTEXTS, abstract)))
            link.assoc = self._associate(wanted)
        link.used = now
        return link.assoc

    def _drop(self, release: bool = False) -> None:
        a, self.link.assoc = self.link.assoc, None
        if a is None:
            return
        try:
            a.release() if release else a.abort()
        except Exception:  # the association is being thrown away
            log.debug("closing the association to %s failed", self)

    def close(self) -> None:
        """Release the kept-open association, if any (the next call opens a new one)."""
        with self.link.lock:
            self._drop(release=self.link.assoc is not None and self.link.assoc.is_established)

    def store(self, ds: Dataset) -> None:
        """C-STORE `ds` at the destination over the kept-open association, retried with
        back-off (each retry on a new association); `PacsError` at last."""

        def send() -> None:
            with self.link.lock:
                assoc = self._session(str(ds.SOPClassUID))
                try:
                    status = assoc.send_c_store(ds)
                except Exception:
                    self._drop()
                    raise
                code = int(getattr(status, "Status", -1)) if status else -1
                if code == -1 or not assoc.is_established:
                    self._drop()
            if code == -1:
                raise _Transient(f"{self} gave no C-STORE answer")
            if code not in _SR_OK:
                raise (_Transient if code & 0xFF00 == 0xA700 else PacsError)(
                    f"{self} refused the SR (C-STORE status 0x{code:04X})")

        with_retry(send, f"C-STORE to {self}", backoff=self.backoff,
                   transient=lambda e: isinstance(e, (_Transient, OSError)))

    def has_instance(self, study: str, series: str, sop: str) -> bool:
        """Whether the destination holds instance `sop` (a C-FIND at IMAGE level, study
        root); `PacsError` when the query cannot be made."""
        from pydicom.dataset import Dataset

        pynetdicom = _ae()
        model = pynetdicom.sop_class.StudyRootQueryRetrieveInformationModelFind
        query = Dataset()
        query.QueryRetrieveLevel = "IMAGE"
        query.StudyInstanceUID, query.SeriesInstanceUID, query.SOPInstanceUID = study, series, sop

        def find() -> bool:
            found, answered = False, False
            with self.link.lock:
                assoc = self._session(model)
                try:
                    for status, identifier in assoc.send_c_find(query, model):
                        code = int(getattr(status, "Status", -1)) if status else -1
                        if code in (0xFF00, 0xFF01) and identifier is not None:
                            found = found or str(identifier.get("SOPInstanceUID", "")) == sop
                        elif code == 0x0000:
                            answered = True
                        elif code != -1:
                            raise PacsError(f"{self} refused the C-FIND (status 0x{code:04X})")
                except Exception:
                    self._drop()
                    raise
                if not answered:
                    self._drop()
            if not answered:
                raise _Transient(f"{self} gave no complete C-FIND answer")
            return found

        return with_retry(find, f"C-FIND at {self}", backoff=self.backoff,
                          transient=lambda e: isinstance(e, (_Transient, OSError)))


class _Transient(PacsError):
    """A DIMSE failure worth retrying (no association, no answer, out of resources)."""


@dataclass
class Stats:
    """Counters of a running `Listener` (no identifiers)."""

    received: int = 0
    done: int = 0
    skipped: int = 0
    refused: int = 0
    failed: int = 0
    rejected_associations: int = 0
    reasons: dict[str, int] = field(default_factory=dict)


class Listener:
    """The C-STORE SCP of ``radlens pacs listen`` (see the module docstring).

    `port` / `host`: where to listen. `ae`: our AE title. `store_path`: the result store.
    `allow`: calling AE titles allowed (None: any). `forward`: where SRs go (None: they are
    not sent; readings are still recorded). `check_forward`: ask `forward` (C-FIND) before
    reading whether it already holds the SR. `processor_factory`: builds the `Processor` in
    the worker thread (tests pass one with a shared `Reader`); by default one with `model`,
    `explain`, `modalities` and `overlay` (also forward the overlay as a derived Secondary
    Capture). `stats` counts what happened; `recent` holds the latest
    outcomes (at most 1000), in order.
    """

    def __init__(self, port: int, ae: str = "RADLENS",
                 store_path: str | Path = "radlens-pacs.sqlite", *, host: str = "0.0.0.0",
                 allow: list[str] | None = None,
                 forward: Destination | None = None, check_forward: bool = True,
                 model: str | None = None, explain: bool = True,
                 modalities: tuple[str, ...] = DEFAULT_MODALITIES, overlay: bool = False,
                 processor_factory: Callable[..., Processor] | None = None) -> None:
        self.port, self.host, self.ae_title = port, host, ae_title(ae)
        self.allow = [ae_title(a, "an allowed AE title") for a in allow] if allow else None
        self.forward, self.check_forward = forward, check_forward
        self.store_path = Path(store_path)
        self._factory = processor_factory
        self._options = dict(model=model, explain=explain, modalities=modalities,
                             overlay=overlay)
        self.stats = Stats()
        self.recent: deque[Outcome] = deque(maxlen=1000)  # the latest outcomes, in order
        self._jobs: queue.Queue[tuple[Dataset | None, bytes | None, str, Future[Outcome]] | None]
        self._jobs = queue.Queue()
        self._ready: Future[None] = Future()
        self._worker: threading.Thread | None = None
        self._server: Any = None

    # -- the worker thread: owns the store, the models and the decode child -----------------
    def _make_processor(self) -> Processor:
        from radlens.serve.store import ResultStore

        store = ResultStore(self.store_path)
        try:
            store.run_lock()  # one node per store; the kernel drops it if the node is killed
        except BaseException:
            store.close()
            raise
        already = None
        if self.forward is not None and self.check_forward:
            fwd = self.forward
            already = lambda study, sr: fwd.has_instance(  # noqa: E731
                study, _sr_series(study), sr)
        deliver = self.forward.store if self.forward is not None else None
        if self._factory is not None:
            return self._factory(store, deliver, already_sent=already)
        return Processor(store, deliver, already_sent=already, **self._options)  # type: ignore[arg-type]

    def _work(self) -> None:
        try:
            proc = self._make_processor()
            proc.warm_up()
        except BaseException as exc:
            self._ready.set_exception(exc)
            return
        self._ready.set_result(None)
        try:
            while True:
                job = self._jobs.get()
                if job is None:
                    return
                ds, raw, key, fut = job
                try:
                    out = proc.process(ds, raw) if ds is not None else \
                        proc.fail(key, "Malformed", "the DICOM data set could not be parsed")
                    fut.set_result(out)
                except BaseException as exc:  # the store broke: answer, then stop
                    fut.set_exception(exc)
                    raise
        finally:
            store = proc.store
            proc.close()
            if store is not None:
                store.close()

    def _submit(self, ds: Dataset | None, raw: bytes | None, key: str) -> Outcome:
        fut: Future[Outcome] = Future()
        self._jobs.put((ds, raw, key, fut))
        while True:
            try:
                out = fut.result(timeout=1.0)
                break
            except TimeoutError:  # still working, unless the worker thread has stopped
                worker = self._worker
                if worker is None or not worker.is_alive():
                    log.error("instance %s: the node's worker has stopped", tag(key))
                    out = Outcome(key, "failed", "InternalError", "the node's worker stopped")
                    break
        self.recent.append(out)
        self.stats.received += 1
        if out.status == "done":
            self.stats.done += 1
        elif out.status == "skipped":
            self.stats.skipped += 1
        else:
            if out.status == "refused":
                self.stats.refused += 1
            else:
                self.stats.failed += 1
            self.stats.reasons[out.error_type] = self.stats.reasons.get(out.error_type, 0) + 1
        return out

    # -- DIMSE handlers -------------------------------------------------------------------
    def _on_store(self, event: Any) -> Any:
        from pydicom.dataset import Dataset

        key = str(getattr(event.request, "AffectedSOPInstanceUID", "") or "")
        try:
            ds = event.dataset
            ds.file_meta = event.file_meta
            raw = event.encoded_dataset(include_meta=True)
            _ = ds.SOPInstanceUID, ds.get("Modality"), ds.get("ViewPosition")  # parse now
        except Exception as exc:
            log.info("instance %s: malformed data set (%s)", tag(key), type(exc).__name__)
            out = self._submit(None, None, key) if key else \
                Outcome("", "failed", "Malformed", "no SOP Instance UID")
        else:
            out = self._submit(ds, raw, key)
        reply = Dataset()
        reply.Status = status_for(out)
        if reply.Status != SUCCESS:
            reply.ErrorComment = ("radlens: " + (out.reason or out.error_type))[:64]
        return reply

    def _on_echo(self, event: Any) -> int:
        return SUCCESS

    def _on_rejected(self, event: Any) -> None:
        self.stats.rejected_associations += 1
        calling = getattr(getattr(event.assoc, "requestor", None), "ae_title", "?")
        log.warning("association from %s refused: calling AE title %r is not allowed",
                    getattr(event.assoc.requestor, "address", "?"), calling)

    # -- running --------------------------------------------------------------------------
    def start(self) -> None:
        """Load the models, open the store and listen (returns once listening). Raises
        `DataError` when another node holds the store, `PacsError` when the port is taken."""
        pynetdicom = _ae()
        quiet_identifying_logs()
        from pynetdicom import evt

        self._worker = threading.Thread(target=self._work, name="radlens-pacs-worker",
                                        daemon=True)
        self._worker.start()
        self._ready.result()
        ae = pynetdicom.AE(ae_title=self.ae_title)
        ae.network_timeout = ae.acse_timeout = 60
        ae.dimse_timeout = 600
        ae.maximum_pdu_size = 0  # no limit on what we receive
        for cx in pynetdicom.AllStoragePresentationContexts:
            ae.add_supported_context(cx.abstract_syntax, pynetdicom.ALL_TRANSFER_SYNTAXES)
        ae.add_supported_context("1.2.840.10008.1.1")  # Verification
        if self.allow:
            ae.require_calling_aet = self.allow
        handlers = [(evt.EVT_C_STORE, self._on_store), (evt.EVT_C_ECHO, self._on_echo),
                    (evt.EVT_REJECTED, self._on_rejected)]
        try:
            self._server = ae.start_server((self.host, self.port), block=False,
                                           evt_handlers=handlers)
        except OSError as exc:
            self.stop()
            raise PacsError(f"cannot listen on {self.host}:{self.port} ({exc.strerror})"
                            ) from exc
        log.info("listening on %s:%d as %s; SRs go to %s", self.host, self.port,
                 self.ae_title, self.forward or "nowhere (not forwarded)")

    def stop(self) -> None:
        """Stop listening, finish the instance in hand, close the store."""
        if self._server is not None:
            self._server.shutdown()
            self._server = None
        if self._worker is not None:
            self._jobs.put(None)
            self._worker.join(timeout=120)
            self._worker = None
        if self.forward is not None:
            self.forward.close()

    def __enter__(self) -> Listener:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _sr_series(study: str) -> str:
    from radlens.pacs.work import sr_uids

    return sr_uids(study, "")[0]
