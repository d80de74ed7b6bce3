"""Readable error dialogs: a HydroDiagError's sentence, never a traceback.

Anything that is not a HydroDiagError is a bug: the user gets one sentence and the path of the
log file; the traceback goes to that file.
"""

from __future__ import annotations

import logging
import sys
import traceback
from pathlib import Path
from types import TracebackType

from PySide6.QtWidgets import QMessageBox, QWidget

from app.core.gui_words import for_gui
from ingestion.errors import HydroDiagError
from ingestion.resources import user_data_dir

log = logging.getLogger(__name__)


def log_file() -> Path:
    folder = user_data_dir() / "logs"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / "hydrodiag-gui.log"


def _log_traceback(exc: BaseException) -> Path:
    path = log_file()
    try:
        with path.open("a", encoding="utf-8") as fh:
            fh.write("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
            fh.write("\n")
    except OSError:
        log.exception("cannot write the log file %s", path)
    return path


def error_message(exc: BaseException, context: str = "") -> str:
    """The sentence shown to the user for ``exc``."""
    prefix = f"{context}: " if context else ""
    if isinstance(exc, HydroDiagError):
        return f"{prefix}{for_gui(str(exc))}"  # the app's words, not command-line flags
    if isinstance(exc, MemoryError):
        return f"{prefix}not enough memory. Select a shorter time range or fewer sensors."
    if isinstance(exc, OSError) and exc.filename:
        return (
            f"{prefix}{exc.strerror or exc} ({exc.filename}). Check the path and its permissions."
        )
    path = _log_traceback(exc)
    return (
        f"{prefix}an internal error occurred ({type(exc).__name__}: {exc}). "
        f"This is a bug in HydroDiag; the details were written to {path}."
    )


def show_error(parent: QWidget | None, exc: BaseException, context: str = "") -> QMessageBox:
    """Open a window-modal message box (non-blocking) and return it."""
    box = QMessageBox(parent)
    box.setObjectName("ErrorDialog")
    box.setIcon(QMessageBox.Icon.Warning)
    box.setWindowTitle("HydroDiag — " + (context or "error"))
    box.setText(error_message(exc, context))
    box.setStandardButtons(QMessageBox.StandardButton.Ok)
    box.open()
    return box


def install_excepthook(parent_of: type[QWidget] | None = None) -> None:
    """Unhandled exceptions in Qt slots become an error dialog instead of a console traceback."""

    def hook(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        if issubclass(kind, KeyboardInterrupt):
            sys.__excepthook__(kind, exc, tb)
            return
        exc.__traceback__ = tb
        show_error(None, exc)

    sys.excepthook = hook
