"""The first start, from the main window: what the welcome page's buttons do, and the demo
built (once, off the GUI thread, with ``hydrodiag demo``'s code) and opened."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QPushButton

from app.gui.workers import TaskContext

if TYPE_CHECKING:
    from app.gui.main_window import MainWindow

BUILDING = "The demo is being built; it opens when ready (Esc cancels)."


def welcome_action(window: MainWindow, name: str) -> None:
    """Run what the welcome page's button ``name`` stands for."""
    actions: dict[str, Callable[[], object]] = {
        "demo": window.open_demo,
        "new": window.new_equipment,
        "import": window.import_log,
        "diagnose": window.diagnose,
        "report": window.open_report,
        "open": window.choose_workspace,
        "help": window.open_help,
    }
    actions[name]()


def open_demo(window: MainWindow) -> None:
    """Open the demo workspace (its own file), building it first if there is none; while it
    is built, the demo's button and menu entry are disabled (two builds would write one file)."""
    from ingestion.resources import demo_workspace_path

    path = demo_workspace_path()
    button, action = window.welcome.buttons["demo"], window.acts.demo
    if not action.isEnabled():
        window.tasks.set_text(BUILDING)
        return
    if path.exists():
        window.open_demo_at(path)
        return

    def work(ctx: TaskContext) -> Path:
        from app.core.demo import build_demo

        build_demo(path, progress=ctx)
        return path

    tips = button.toolTip(), action.toolTip()
    _set(button, action, False, BUILDING, BUILDING)

    def finished() -> None:
        _set(button, action, True, *tips)

    window.tasks.start(
        "Building the demo (four simulated hours, diagnosed every half hour)",
        work,
        window.open_demo_at,
        key="demo",
        on_finished=finished,
    )


def _set(button: QPushButton, action: QAction, on: bool, button_tip: str, action_tip: str) -> None:
    button.setEnabled(on)
    button.setToolTip(button_tip)
    action.setEnabled(on)
    action.setToolTip(action_tip)
