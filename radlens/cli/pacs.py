"""``radlens pacs pull URL`` and ``radlens pacs listen``: a PACS node (DICOMweb and DIMSE).

``pull`` searches a DICOMweb endpoint (QIDO-RS), retrieves each frontal CR/DX radiograph
(WADO-RS), interprets it and, with ``--push``, stores its SR into the same study (STOW-RS).
``listen`` is a C-STORE SCP that interprets each CR/DX image it receives and forwards the SR
(``--forward AE@HOST:PORT``). Both go through the result store (``--store``), keyed by SOP
Instance UID, so a restart or a re-sent study never yields a second SR. Secrets come from the
environment or a file, never from the command line (``ps`` shows it to every user).
Exit status of ``pull``: 0 when no image failed (refusing a lateral or a CT is none), 1
when some did, 2 on a PACS or usage error.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from radlens.errors import InputError

DEFAULT_STORE = "radlens-pacs.sqlite"


def register(sub: Any) -> None:
    """Add the ``pacs`` subcommand (with ``pull`` and ``listen``) to `sub`."""
    p = sub.add_parser(
        "pacs", help="a PACS node: pull studies over DICOMweb or listen for DICOM C-STORE",
        description="Read studies from a PACS and send the structured report (DICOM SR) back. "
        "'pull' uses DICOMweb (QIDO-RS, WADO-RS, STOW-RS); 'listen' is a DICOM C-STORE SCP. "
        "See docs/pacs.md.")
    actions = p.add_subparsers(dest="pacs_action", metavar="ACTION")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--store", type=Path, default=Path(DEFAULT_STORE), metavar="FILE",
                        help=f"result store that makes it exactly once (default {DEFAULT_STORE})")
    common.add_argument("--modality", default="CR,DX", metavar="LIST",
                        help="modalities to read, comma-separated (default CR,DX)")
    common.add_argument("--model", help="finding model (default: the bundled one)")
    common.add_argument("--no-explain", action="store_true",
                        help="no heatmaps or region outlines in the SR (faster)")
    common.add_argument("--overlay", action="store_true",
                        help="also send the overlay picture (heatmaps, outlines, boxes) into "
                             "the study as a derived Secondary Capture image")
    common.add_argument("--retries", type=int, default=5, metavar="N",
                        help="attempts per PACS call while it is down or answers 5xx "
                             "(default 5)")
    common.add_argument("--retry-delay", type=float, default=0.5, metavar="SECONDS",
                        help="first wait between attempts, doubled each time (default 0.5)")

    pull = actions.add_parser(
        "pull", parents=[common], help="interpret studies found over DICOMweb",
        description="Search the DICOMweb endpoint URL, interpret each frontal radiograph and, "
        "with --push, store its SR into the same study.")
    pull.add_argument("url", metavar="URL", help="DICOMweb root, e.g. http://pacs:8042/dicom-web")
    which = pull.add_mutually_exclusive_group()
    which.add_argument("--study", metavar="UID", help="only this Study Instance UID")
    which.add_argument("--since", metavar="DATE",
                       help="studies on or after DATE (YYYYMMDD or YYYY-MM-DD)")
    pull.add_argument("--push", action="store_true",
                      help="store each SR in its study (STOW-RS); without it nothing is sent "
                           "and nothing recorded (a dry run)")
    pull.add_argument("--user", help="HTTP basic user (password from $RADLENS_PACS_PASSWORD "
                                     "or --password-file)")
    pull.add_argument("--password-file", type=Path, metavar="FILE",
                      help="file holding the HTTP basic password")
    pull.add_argument("--token-file", type=Path, metavar="FILE",
                      help="file holding a bearer token (or set $RADLENS_PACS_TOKEN)")
    pull.add_argument("--ca-file", type=Path, metavar="PEM",
                      help="CA certificates that sign the server's TLS certificate")
    pull.add_argument("--timeout", type=float, default=60.0, metavar="SECONDS",
                      help="seconds one HTTP request may take (default 60)")
    pull.add_argument("--json", action="store_true", help="print the result as JSON")
    pull.set_defaults(func=run_pull)

    listen = actions.add_parser(
        "listen", parents=[common], help="a DICOM C-STORE SCP that reads what it receives",
        description="Listen for DICOM C-STORE (and C-ECHO), interpret each CR/DX image and "
        "forward its SR with C-STORE. Runs until SIGINT or SIGTERM.")
    listen.add_argument("--port", type=int, required=True, help="TCP port to listen on")
    listen.add_argument("--host", default="0.0.0.0", help="address to bind (default 0.0.0.0)")
    listen.add_argument("--ae", default="RADLENS", help="our AE title (default RADLENS)")
    listen.add_argument("--allow", metavar="AE,...",
                        help="calling AE titles allowed to connect (default: any)")
    listen.add_argument("--forward", metavar="AE@HOST:PORT",
                        help="where the SRs go (C-STORE); without it they are not sent")
    listen.add_argument("--no-check-forward", action="store_true",
                        help="do not ask the forward destination (C-FIND) whether it "
                             "already holds an SR before reading")
    listen.set_defaults(func=run_listen)
    p.set_defaults(func=lambda args: _no_action(p))


def _no_action(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def _modalities(text: str) -> tuple[str, ...]:
    mods = tuple(m.strip().upper() for m in text.split(",") if m.strip())
    if not mods:
        raise InputError("--modality needs at least one modality, e.g. CR,DX")
    return mods


def _since(text: str | None) -> str | None:
    if text is None:
        return None
    digits = text.replace("-", "")
    if not re.fullmatch(r"\d{8}", digits):
        raise InputError(f"--since takes a date YYYYMMDD or YYYY-MM-DD, got {text!r}")
    return digits


def _secret(path: Path | None, env: str) -> str | None:
    if path is not None:
        try:
            return path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise InputError(f"cannot read the secret file ({exc.strerror})", path) from exc
    return os.environ.get(env) or None


def _backoff(args: argparse.Namespace) -> Any:
    from radlens.pacs.retry import Backoff

    if args.retries < 1 or args.retry_delay < 0:
        raise InputError("--retries must be at least 1 and --retry-delay 0 or more")
    return Backoff(attempts=args.retries, delay_s=args.retry_delay)


def _quiet_network_logs() -> None:
    # the network libraries log UIDs at INFO/DEBUG: never identifiers in our logs
    from radlens.pacs import quiet_identifying_logs

    quiet_identifying_logs()
    logging.getLogger("urllib3").setLevel(max(logging.WARNING, logging.getLogger(
        "urllib3").level))


def run_pull(args: argparse.Namespace) -> int:
    """``radlens pacs pull``; returns the exit status."""
    from radlens.pacs.dicomweb import Auth, DicomWeb, pull
    from radlens.serve.store import ResultStore

    _quiet_network_logs()
    auth = Auth(user=args.user,
                password=_secret(args.password_file, "RADLENS_PACS_PASSWORD") if args.user
                else None,
                token=_secret(args.token_file, "RADLENS_PACS_TOKEN"), ca_file=args.ca_file,
                timeout_s=args.timeout)
    pacs = DicomWeb(args.url, auth, _backoff(args))
    options = dict(study=args.study, since=_since(args.since),
                   modalities=_modalities(args.modality), push=args.push, model=args.model,
                   explain=not args.no_explain, overlay=args.overlay)
    if args.push:
        with ResultStore(args.store) as store:
            store.run_lock()
            results = pull(pacs, store, **options)
    else:
        results = pull(pacs, None, **options)
    outcomes = [o for r in results for o in r.outcomes]
    counts = {s: sum(o.status == s for o in outcomes)
              for s in ("done", "skipped", "refused", "failed")}
    if args.json:
        print(json.dumps({"studies": [r.summary() for r in results], **counts,
                          "pushed": bool(args.push)}))
    else:
        for r in results:
            if r.reason:
                print(f"study {r.study}: {r.reason}")
            for o in r.outcomes:
                what = o.reason or ("positive: " + ", ".join(o.positive) if o.positive
                                    else "no positive finding")
                print(f"study {r.study} instance {o.summary()['instance']}: {o.status} ({what})")
        print(f"{len(results)} studies: {counts['done']} images read"
              f"{' and SRs stored' if args.push else ' (dry run: nothing sent)'}, "
              f"{counts['skipped']} skipped, {counts['refused']} refused (not frontal CR/DX), "
              f"{counts['failed']} failed", file=sys.stderr)
    return 1 if counts["failed"] else 0


def run_listen(args: argparse.Namespace) -> int:
    """``radlens pacs listen``: runs until SIGINT / SIGTERM; returns the exit status."""
    from radlens.pacs.dimse import Destination, Listener, ae_title

    _quiet_network_logs()
    if not 0 < args.port < 65536:
        raise InputError(f"--port must be 1..65535, got {args.port}")
    ours = ae_title(args.ae)
    forward = Destination.parse(args.forward, ours, _backoff(args)) if args.forward else None
    allow = [a.strip() for a in args.allow.split(",") if a.strip()] if args.allow else None
    node = Listener(args.port, ours, args.store, host=args.host, allow=allow, forward=forward,
                    check_forward=not args.no_check_forward, model=args.model,
                    explain=not args.no_explain, modalities=_modalities(args.modality),
                    overlay=args.overlay)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    node.start()
    print(f"radlens pacs: listening on {args.host}:{args.port} as {ours}"
          f"{'; SRs to ' + str(forward) if forward else ''}", file=sys.stderr, flush=True)
    try:
        while not stop.wait(1.0):
            pass
    finally:
        node.stop()
    s = node.stats
    print(f"radlens pacs: stopped; {s.received} instances: {s.done} done, {s.skipped} "
          f"skipped, {s.refused} refused, {s.failed} failed; {s.rejected_associations} "
          "associations rejected", file=sys.stderr)
    return 0
