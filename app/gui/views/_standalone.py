"""Run one view on its own with sample data: ``python -m app.gui.views.<module>``.

With ``--screenshot FILE`` it renders the view at 1366×768 and saves a PNG instead of showing it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from PySide6.QtWidgets import QApplication, QWidget


def ensure_app() -> QApplication:
    app = QApplication.instance()
    if isinstance(app, QApplication):
        return app
    return QApplication(sys.argv[:1])


def run_standalone(title: str, build: Callable[[], QWidget]) -> int:
    app = ensure_app()
    widget = build()
    widget.setWindowTitle(f"HydroDiag — {title} (sample data)")
    widget.resize(1366, 768)
    if "--screenshot" in sys.argv:
        target = sys.argv[sys.argv.index("--screenshot") + 1]
        widget.show()
        for _ in range(5):
            app.processEvents()
        widget.grab().save(target)
        return 0
    widget.show()
    return app.exec()
