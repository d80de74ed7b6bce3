"""Long work started from the main window, as its status bar shows it (message, progress,
Cancel), and the question asked when the window closes while a task still writes."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, Literal

from PySide6.QtWidgets import QLabel, QMainWindow, QMessageBox, QProgressBar, QPushButton

from app.gui.dialogs.errors import show_error
from app.gui.workers import TaskContext, TaskRunner

ClosePolicy = Literal["ask", "cancel", "wait"]
PROGRESS_EVERY_S = 0.1


class TaskStatus:
    """Starts the window's tasks on its :class:`TaskRunner` and shows them in its status bar;
    errors become dialogs on the window."""

    def __init__(self, window: QMainWindow, runner: TaskRunner) -> None:
        self.window = window
        self.runner = runner
        self.label = QLabel("")
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(220)
        self.progress.setTextVisible(True)
        self.progress.hide()
        self._last_progress = 0.0
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Cancel the running task (Esc)")
        self.cancel_button.clicked.connect(self.cancel_all)
        self.cancel_button.hide()
        bar = window.statusBar()
        bar.addWidget(self.label, 1)
        bar.addPermanentWidget(self.progress)
        bar.addPermanentWidget(self.cancel_button)

    def start(
        self,
        name: str,
        fn: Callable[[TaskContext], Any],
        on_result: Callable[[Any], None],
        *,
        key: str | None = None,
        writes: bool = True,
        on_finished: Callable[[], None] | None = None,
    ) -> None:
        """Run ``fn`` off the GUI thread; ``on_result`` gets its result on the GUI thread,
        ``on_finished`` runs after it however the task ended."""
        self.progress.setRange(0, 0)
        self.progress.show()
        self.cancel_button.show()
        self.set_text(f"{name}…")

        def on_error(exc: BaseException) -> None:
            self.set_text(f"{name} failed.")
            show_error(self.window, exc, name)

        self.runner.start(
            fn,
            name=name,
            key=key,
            on_result=on_result,
            on_error=on_error,
            on_progress=self._on_task_progress,
            on_cancelled=lambda: self.set_text(f"{name} cancelled; nothing was changed."),
            on_finished=on_finished,
            writes=writes,
        )

    def set_text(self, text: str) -> None:
        self.label.setText(text)

    def show_busy(self, busy: bool) -> None:
        self.progress.setVisible(busy)
        self.cancel_button.setVisible(busy)

    def cancel_all(self) -> None:
        if self.runner.active_count:
            self.runner.cancel_all()
            self.set_text("Cancelling…")

    def _on_task_progress(self, fraction: float, message: str) -> None:
        # A progress bar repaints at once on every new value (16 ms each here): at most ten
        # updates a second, and the last one always.
        now = time.monotonic()
        if 0.0 <= fraction < 1.0 and now - self._last_progress < PROGRESS_EVERY_S:
            return
        self._last_progress = now
        if fraction < 0:
            self.progress.setRange(0, 0)
        else:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(fraction * 1000))
        if message:
            self.label.setText(message)


def ask_before_closing(window: QMainWindow, task_names: Sequence[str]) -> ClosePolicy | None:
    """Ask what to do with the tasks that still write: cancel, wait, or (None) keep working."""
    box = QMessageBox(window)
    box.setWindowTitle("Task running")
    box.setText(f"{', '.join(sorted(set(task_names)))} is still running.")
    box.setInformativeText(
        "Cancel it and close (nothing half-written is kept), wait for it to finish, "
        "or keep working?"
    )
    cancel_close = box.addButton("Cancel task and close", QMessageBox.ButtonRole.DestructiveRole)
    wait = box.addButton("Wait, then close", QMessageBox.ButtonRole.AcceptRole)
    box.addButton("Keep working", QMessageBox.ButtonRole.RejectRole)
    box.exec()
    clicked = box.clickedButton()
    if clicked is cancel_close:
        return "cancel"
    if clicked is wait:
        return "wait"
    return None
