"""DICOMweb: search (QIDO-RS), retrieve (WADO-RS) and store (STOW-RS) with ``dicomweb-client``.

`DicomWeb` wraps one endpoint (e.g. Orthanc's ``http://pacs:8042/dicom-web``) with its
authentication (`Auth`: HTTP basic, a bearer token, a TLS CA file) and retries every call
with back-off while the PACS is down or answers 5xx (`radlens.pacs.retry`), then raises one
clear `PacsError`.

`pull` is ``radlens pacs pull``: it searches the studies (one study by UID, or every study
since a date), lists the instances of their CR/DX series, refuses lateral views from the
metadata before fetching any pixels, skips images whose SR the study already holds (a QIDO
query by the SR's derived SOP Instance UID), retrieves each remaining frontal radiograph,
interprets it and, with `push`, stores its SR into the same study with STOW-RS — each image
through a `radlens.pacs.work.Processor`, so exactly once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from radlens.errors import InputError, PacsError
from radlens.pacs import quiet_identifying_logs, require
from radlens.pacs.retry import Backoff, http_transient, with_retry
from radlens.pacs.work import DEFAULT_MODALITIES, Outcome, Processor, refusal, sr_uids, tag

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

    from radlens.serve.store import ResultStore

log = logging.getLogger(__name__)
T = TypeVar("T")

_STUDY, _SERIES, _SOP = "0020000D", "0020000E", "00080018"
_SOP_CLASS, _MODALITY, _VIEW = "00080016", "00080060", "00185101"


@dataclass(frozen=True)
class Auth:
    """How to authenticate to a DICOMweb endpoint.

    `user` and `password`: HTTP basic. `token`: a bearer token (``Authorization: Bearer``).
    `ca_file`: a PEM file of the CA certificates that sign the server's TLS certificate (the
    system's trust store otherwise). `timeout_s`: seconds a request may take.
    """

    user: str | None = None
    password: str | None = None
    token: str | None = None
    ca_file: Path | None = None
    timeout_s: float = 60.0

    def __post_init__(self) -> None:
        if self.token and self.user:
            raise InputError("give either a user and password or a bearer token, not both")
        if self.ca_file is not None and not Path(self.ca_file).is_file():
            raise InputError("no such CA certificate file", self.ca_file)

    def session(self) -> Any:
        """A ``requests.Session`` set up with these credentials and this CA file."""
        requests = require("requests", "DICOMweb", "dicomweb-client")
        session = requests.Session()
        if self.user is not None:
            session.auth = (self.user, self.password or "")
        if self.token:
            session.headers["Authorization"] = f"Bearer {self.token}"
        if self.ca_file is not None:
            session.verify = str(self.ca_file)
        return session


def _value(item: dict[str, Any], tag_: str) -> str:
    values = item.get(tag_, {}).get("Value") or [""]
    return str(values[0] or "")


@dataclass(frozen=True)
class InstanceRef:
    """One instance a QIDO-RS search found (UIDs and the header values the node checks)."""

    study: str
    series: str
    sop: str
    sop_class: str = ""
    modality: str = ""
    view: str = ""


class DicomWeb:
    """One DICOMweb endpoint: `url` (the DICOMweb root), `auth`, `backoff` for retries."""

    def __init__(self, url: str, auth: Auth | None = None, backoff: Backoff | None = None
                 ) -> None:
        web = require("dicomweb_client.api", "DICOMweb", "dicomweb-client")
        quiet_identifying_logs()
        if not url.startswith(("http://", "https://")):
            raise InputError(f"a DICOMweb URL starts with http:// or https://, got {url!r}")
        self.url = url.rstrip("/")
        self.auth = auth or Auth()
        self.backoff = backoff or Backoff()
        session = self.auth.session()
        timeout = self.auth.timeout_s
        original = session.request

        def request(*args: Any, **kwargs: Any) -> Any:  # every request with a time limit
            kwargs.setdefault("timeout", timeout)
            return original(*args, **kwargs)

        session.request = request
        self.client = web.DICOMwebClient(self.url, session=session)
        self.client.set_http_retry_params(retry=False)  # `with_retry` retries, for all errors

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        return with_retry(fn, f"{what} at {self.url}", backoff=self.backoff,
                          transient=http_transient)

    # -- QIDO-RS --------------------------------------------------------------------------
    def studies(self, study: str | None = None, since: str | None = None) -> list[str]:
        """Study Instance UIDs of one study (`study`, when the PACS has it) or of every study
        dated `since` (YYYYMMDD) or later, or of every study."""
        filters: dict[str, Any] = {}
        if study:
            filters["StudyInstanceUID"] = study
        if since:
            filters["StudyDate"] = f"{since}-"
        found = self._call("QIDO-RS study search", lambda: self.client.search_for_studies(
            search_filters=filters, get_remaining=True))
        return list(dict.fromkeys(u for u in (_value(s, _STUDY) for s in found) if u))

    def instances(self, study: str, modalities: Sequence[str] = DEFAULT_MODALITIES
                  ) -> list[InstanceRef]:
        """The instances of the series of `study` whose modality is one of `modalities`."""
        wanted = {m.upper() for m in modalities}
        series = self._call("QIDO-RS series search", lambda: self.client.search_for_series(
            study, fields=["Modality"], get_remaining=True))
        out: list[InstanceRef] = []
        for s in series:
            uid, modality = _value(s, _SERIES), _value(s, _MODALITY).upper()
            if not uid or modality not in wanted:
                continue
            def search(uid: str = uid) -> list[dict[str, Any]]:
                return self.client.search_for_instances(
                    study, uid, fields=["SOPClassUID", "ViewPosition", "Modality"],
                    get_remaining=True)

            found = self._call("QIDO-RS instance search", search)
            for i in found:
                out.append(InstanceRef(study, uid, _value(i, _SOP), _value(i, _SOP_CLASS),
                                       _value(i, _MODALITY).upper() or modality,
                                       _value(i, _VIEW).upper()))
        return [r for r in out if r.sop]

    def has_instance(self, study: str, sop: str) -> bool:
        """Whether `study` holds an instance with SOP Instance UID `sop` (a QIDO-RS query)."""
        found = self._call("QIDO-RS instance query", lambda: self.client.search_for_instances(
            study, search_filters={"SOPInstanceUID": sop}))
        return any(_value(i, _SOP) == sop for i in found)

    # -- WADO-RS / STOW-RS ----------------------------------------------------------------
    def retrieve(self, ref: InstanceRef) -> Dataset:
        """The instance `ref` (WADO-RS), pixels included."""
        return self._call("WADO-RS retrieval", lambda: self.client.retrieve_instance(
            ref.study, ref.series, ref.sop))

    def store(self, ds: Dataset) -> None:
        """Store `ds` in its study (STOW-RS); `PacsError` when the PACS refuses it."""
        study = str(ds.StudyInstanceUID)
        reply = self._call("STOW-RS", lambda: self.client.store_instances([ds], study))
        failed = reply.get("FailedSOPSequence") if reply is not None else None
        if failed:
            reason = failed[0].get("FailureReason", "")
            raise PacsError(f"STOW-RS at {self.url}: the PACS refused the SR "
                            f"(failure reason {reason})")


@dataclass
class StudyResult:
    """What `pull` did with one study: `study` is its `tag`, `reason` set when no image of
    it was read (no CR/DX series, no frontal radiograph), `outcomes` one per instance."""

    study: str
    reason: str = ""
    outcomes: list[Outcome] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """A JSON-ready dict without identifiers."""
        return {"study": self.study, "reason": self.reason or None,
                "instances": [o.summary() for o in self.outcomes]}


def pull(pacs: DicomWeb, store: ResultStore | None, *, study: str | None = None,
         since: str | None = None, modalities: Sequence[str] = DEFAULT_MODALITIES,
         push: bool = False, model: str | None = None, explain: bool = True,
         overlay: bool = False, processor: Processor | None = None) -> list[StudyResult]:
    """Interpret the frontal CR/DX radiographs of the studies found in `pacs` (see the
    module docstring); with `push`, store each image's SR into its study (STOW-RS).

    `store`: the result store that makes it exactly once (None: a dry run; nothing recorded).
    `study` / `since`: which studies (one UID; or YYYYMMDD, studies on or after that date;
    neither: every study). `overlay`: with `push`, also store each image's overlay as a
    derived Secondary Capture in its study. `processor`: use this one (tests, benchmarks)
    instead of a new one. Raises `PacsError` when the PACS cannot be searched after the
    retries; an image that cannot be read or stored is an `Outcome` with its reason.
    """
    mods = tuple(m.strip().upper() for m in modalities if m.strip())
    own = processor is None
    proc = processor or Processor(store, pacs.store if push else None, model=model,
                                  explain=explain, modalities=mods, overlay=overlay)
    if not own:
        proc.deliver = pacs.store if push else None
    results: list[StudyResult] = []
    try:
        for uid in pacs.studies(study, since):
            results.append(_pull_study(pacs, proc, uid, mods))
    finally:
        if own:
            proc.close()
    return results


def _pull_study(pacs: DicomWeb, proc: Processor, study: str, mods: tuple[str, ...]
                ) -> StudyResult:
    result = StudyResult(tag(study))
    refs = pacs.instances(study, mods)
    if not refs:
        result.reason = f"no {'/'.join(mods)} series in this study"
        return result
    frontal = []
    for ref in refs:
        done = proc.previous(ref.sop)
        if done is not None:
            result.outcomes.append(done)
            continue
        refused = refusal(ref.sop_class, ref.modality, ref.view, mods)
        if refused is not None:  # from the search's metadata: no pixels fetched
            result.outcomes.append(proc.fail(ref.sop, *refused))
            continue
        frontal.append(ref)
    if not frontal and not any(o.status in ("done", "skipped") for o in result.outcomes):
        result.reason = "no frontal radiograph in this study"
        return result
    for ref in frontal:
        _, sr_uid = sr_uids(study, ref.sop)
        try:
            if pacs.has_instance(study, sr_uid):
                log.info("instance %s: its SR is already in the PACS", tag(ref.sop))
                result.outcomes.append(Outcome(ref.sop, "skipped", sr_uid=sr_uid,
                                               reason="its SR is already in the PACS"))
                continue
            ds = pacs.retrieve(ref)
        except PacsError as exc:
            result.outcomes.append(proc.fail(ref.sop, "RetrieveFailed", exc.reason))
            continue
        result.outcomes.append(proc.process(ds))
    return result
