"""The ``hydrodiag`` command line. With no arguments it opens the desktop app.

Each sub-command lives in ``app/commands/<name>.py`` with a ``register(subparsers)`` function;
modules import their heavy dependencies (torch, onnxruntime, Qt) inside the handler so that
``hydrodiag --help`` and the GUI's start stay fast and torch-free.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from app import __version__
from ingestion.errors import HydroDiagError

# What `pip install hydrodiag[train]` adds; the desktop bundle leaves it out (docs/packaging.md).
TRAINING_LIBRARIES = frozenset({"torch", "torch_geometric", "sklearn", "onnx", "onnxscript"})

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
    """Run one command. Every way it can end is an exit status and at most a few lines on
    stderr: 0 done, 1 an error said as a sentence (an unexpected one also names the log file
    holding its details), 2 a usage error (argparse), 130 Ctrl-C, 141 a closed output pipe
    (``| head``). No traceback reaches the terminal."""
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
    command = _command_name(args)
    # Two levels on purpose: a clause of the inner try that re-raises what it does not handle
    # still ends in the outer one, as a sentence and a log file, never a traceback.
    try:
        try:
            code = int(handler(args) or 0)
            sys.stdout.flush()  # a closed pipe shows here, inside the handler, not at exit
            return code
        except HydroDiagError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        except ModuleNotFoundError as exc:
            if (exc.name or "").split(".")[0] not in TRAINING_LIBRARIES:
                raise
            print(
                f"error: `hydrodiag {command}` trains models and needs the training libraries "
                f"({exc.name} is not installed here; the desktop bundle does inference only). "
                "Install HydroDiag with Python and its training extra: "
                "pip install 'hydrodiag[train]'.",
                file=sys.stderr,
            )
            return 1
        except KeyboardInterrupt:
            print("interrupted; nothing half-written was kept", file=sys.stderr)
            return 130
        except BrokenPipeError:
            # `hydrodiag workspace info | head`: the reader has gone; stop quietly like any
            # Unix tool (128 + SIGPIPE), and keep Python from complaining at exit.
            _silence_stdout()
            return 141
    except Exception as exc:
        log = write_error_log(exc, argv if argv is not None else sys.argv[1:], command)
        print(f"error: {describe_unexpected(exc, command)} {_log_hint(log)}", file=sys.stderr)
        return 1


def _command_name(args: argparse.Namespace) -> str:
    parts = [getattr(args, "command", None)]
    for key, value in vars(args).items():
        if key.endswith(("_command", "_kind")) and isinstance(value, str):
            parts.append(value)
    return " ".join(p for p in parts if p) or "(app)"


def describe_unexpected(exc: BaseException, command: str) -> str:
    """One sentence for an exception no part of HydroDiag turned into its own message."""
    if isinstance(exc, OSError):
        return describe_os_error(exc)
    import duckdb

    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    if isinstance(exc, duckdb.IOException | duckdb.OutOfMemoryException):
        return (
            f"the workspace could not be read or written ({first}); nothing half-written was "
            "kept. Check the disk (space, permissions) and try again."
        )
    return (
        f"`hydrodiag {command}` stopped on an internal error ({type(exc).__name__}: "
        f"{first[:200]}). This is a bug in HydroDiag, not in your data."
    )


def describe_os_error(exc: OSError) -> str:
    """A sentence for a failed file operation: which file, and what to do."""
    name = exc.filename if exc.filename is not None else None
    where = f"{name}: " if name is not None else ""
    if isinstance(exc, PermissionError):
        return f"{where}permission denied. Check that you may read (or write) it and its folder."
    if isinstance(exc, FileNotFoundError):
        return f"{where}no such file or folder."
    if isinstance(exc, IsADirectoryError):
        return f"{where}is a folder, not a file."
    if isinstance(exc, NotADirectoryError):
        return f"{where}a part of this path is a file, not a folder."
    if exc.errno == errno.ENOSPC:
        return f"{where}the disk is full. Free some space and try again."
    if exc.errno in (errno.EROFS,):
        return f"{where}the file system is read-only."
    return f"{where}{exc.strerror or exc}."


def write_error_log(exc: BaseException, argv: Sequence[str], command: str) -> Path | None:
    """Write the traceback, the command line and the versions to a log file in the user data
    directory (``logs/``); its path, or None if no log could be written anywhere."""
    import platform
    import tempfile
    import traceback
    from datetime import UTC, datetime

    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    body = "\n".join(
        [
            f"hydrodiag {__version__} on Python {platform.python_version()} "
            f"({platform.platform()})",
            f"command: hydrodiag {' '.join(argv)}",
            f"sub-command: {command}",
            f"time (UTC): {stamp}",
            "",
            "".join(traceback.format_exception(exc)),
        ]
    )
    for folder in _log_folders(tempfile.gettempdir()):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"error-{stamp}-{os.getpid()}.log"
            path.write_text(body, encoding="utf-8")
            return path
        except OSError:
            continue
    return None


def _log_folders(temp: str) -> list[Path]:
    folders = []
    try:
        from ingestion.resources import user_data_dir

        folders.append(user_data_dir() / "logs")
    except (OSError, HydroDiagError):  # no data folder: the temporary folder's logs/ below
        pass
    folders.append(Path(temp) / "hydrodiag-logs")
    return folders


def _log_hint(log: Path | None) -> str:
    if log is None:
        return "(No log could be written: the user data folder and the temporary folder are not writable.)"
    return f"Details are in {log} (send that file along when you report it)."


def _silence_stdout() -> None:
    """Point stdout at devnull so that the interpreter's final flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


if __name__ == "__main__":
    sys.exit(main())
