"""`hydrodiag gui` (and `hydrodiag` with no arguments): open the desktop app.

Qt is imported inside the functions so that the CLI's other commands start without it; torch is
never imported on this path (tests/app/gui asserts it).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.commands._common import workspace_path

if TYPE_CHECKING:
    from PySide6.QtCore import QCoreApplication

    from app.gui.main_window import MainWindow

SMOKE_ENV = "HYDRODIAG_GUI_SMOKE"  # seconds after which the window reports and closes itself


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "gui", help="open the desktop app (the default when no command is given)"
    )
    parser.add_argument("--equipment", default=None, help="equipment to show first")
    parser.set_defaults(handler=run_gui)


def run_gui(args: argparse.Namespace) -> int:
    """Open the main window on ``--workspace`` (default workspace otherwise) and run Qt."""
    path = workspace_path(args)
    if path.exists():
        # a folder, another program's database or a newer workspace: said on the terminal
        # before a window opens
        from ingestion.workspace import open_workspace

        open_workspace(path, read_only=True).close()
    return open_workspace_window(path, getattr(args, "equipment", None))


def open_workspace_window(path: Path | str, equipment_id: str | None = None) -> int:
    """Show the app on the workspace at ``path`` (``hydrodiag demo`` calls this) until closed."""
    app = _application()
    from app.gui.dialogs.errors import install_excepthook
    from app.gui.main_window import MainWindow

    install_excepthook()
    window = MainWindow(workspace=Path(path), equipment_id=equipment_id)
    if os.environ.get(SMOKE_ENV):
        _smoke_test(window, float(os.environ[SMOKE_ENV]))
    window.show()
    return int(app.exec())


def _smoke_test(window: MainWindow, seconds: float) -> None:
    """Packaging and CI smoke test: print when the window first paints (the wall clock, for the
    bundle's cold-start figure), let the workspace load for ``seconds``, report, quit."""
    import time

    from PySide6.QtCore import QEvent, QObject, QTimer

    class FirstPaint(QObject):
        def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt)
            if event.type() == QEvent.Type.Paint and watched is window:
                print(f"HydroDiag first paint at {time.time():.6f}", flush=True)
                window.removeEventFilter(self)
            return False

    spy = FirstPaint(window)
    window.installEventFilter(spy)

    def report() -> None:
        store = window.store
        print(
            f"HydroDiag window {window.width()}x{window.height()} on "
            f"{store.path if store else None}, equipment {window.equipment_id}",
            flush=True,
        )
        window.close()

    QTimer.singleShot(int(seconds * 1000), report)


def _application() -> QCoreApplication:
    """The running Qt application, or a new one set up for HydroDiag."""
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication
    from PySide6.QtWidgets import QApplication

    existing = QApplication.instance()
    if existing is not None:
        return existing
    # Crisp on high-DPI screens with fractional scaling (125 %, 150 %) instead of rounding.
    QGuiApplication.setHighDpiScaleFactorRoundingPolicy(
        Qt.HighDpiScaleFactorRoundingPolicy.PassThrough
    )
    if (
        sys.platform.startswith("linux")
        and not os.environ.get("DISPLAY")
        and not os.environ.get("WAYLAND_DISPLAY")
    ):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    app = QApplication(sys.argv[:1])
    app.setApplicationName("HydroDiag")
    app.setOrganizationName("HydroDiag")
    app.setStyle("Fusion")
    return app
