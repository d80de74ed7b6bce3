"""The ``hydrodiag`` command line. With no arguments it opens the desktop app.

Each sub-command lives in ``app/commands/<name>.py`` with a ``register(subparsers)`` function;
modules import their heavy dependencies (torch, onnxruntime, Qt) inside the handler so that
``hydrodiag --help`` and the GUI's start stay fast and torch-free.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from app import __version__
from ingestion.errors import HydroDiagError

COMMAND_MODULES = (
    "profile",
    "workspace",
    "ingest",
    "train",
    "fit",
    "export",
    "model",
    "evaluate",
    "diagnose",
    "simulate",
    "live",
    "demo",
    "report",
    "gui",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hydrodiag",
        description="Offline diagnosis of hydraulic equipment. Run without arguments to open the app.",
    )
    parser.add_argument("--version", action="version", version=f"hydrodiag {__version__}")
    parser.add_argument(
        "--workspace",
        type=Path,
        default=None,
        help="workspace file (default: $HYDRODIAG_WORKSPACE or the user data directory)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log details to stderr")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"app.commands.{name}")
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    handler = getattr(args, "handler", None)
    if handler is None:
        from app.commands.gui import run_gui

        handler = run_gui
    try:
        return int(handler(args) or 0)
    except HydroDiagError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted; nothing half-written was kept", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
