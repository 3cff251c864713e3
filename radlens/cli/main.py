"""Entry point of the ``radlens`` command.

Each subcommand lives in its own module under `radlens.cli` and exposes
``register(subparsers) -> None``, which adds its parser and sets ``func`` (a callable taking the
parsed arguments and returning the exit status). Command modules import heavy dependencies
inside their ``func`` so that ``radlens --help`` stays fast.

Errors: a `RadlensError` that escapes a command is printed as one line ``radlens: <message>`` and
the exit status is 2; commands that process several files print one such line per failed file
themselves and exit 1 when any failed.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from radlens._version import __version__
from radlens.errors import RadlensError

# Subcommand modules, in the order `radlens --help` lists them.
COMMAND_MODULES: tuple[str, ...] = ("read", "ask", "label", "train", "evaluate", "score", "compare",
                                    "batch", "serve", "segment_eval",
                                    "ground_eval", "zeroshot", "index", "search", "pacs",
                                    "classify", "robustness", "synth")


def error_line(message: str) -> str:
    """The one-line form of an error message as the CLI prints it."""
    return "radlens: " + " ".join(message.split())


def _quiet_third_party(record: logging.LogRecord) -> bool:
    """Log filter: drop pydicom and Pillow records below ERROR (radlens reports the error)."""
    return record.levelno >= logging.ERROR or not record.name.startswith(("pydicom", "PIL"))


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser with every registered subcommand."""
    parser = argparse.ArgumentParser(
        prog="radlens",
        description="Read chest X-rays offline: input checks, findings, locations, reports.",
    )
    parser.add_argument("--version", action="version", version=f"radlens {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="more log output on stderr (repeat for debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"radlens.cli.{name}")
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI with `argv` (default: sys.argv[1:]); returns the process exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="radlens %(levelname)s %(name)s: %(message)s")
    if args.verbose < 2:  # third-party chatter about malformed files is already in our errors
        for handler in logging.getLogger().handlers:
            handler.addFilter(_quiet_third_party)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        status: int = args.func(args)
    except RadlensError as exc:
        print(error_line(str(exc)), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(error_line("interrupted"), file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    return status


if __name__ == "__main__":
    sys.exit(main())
