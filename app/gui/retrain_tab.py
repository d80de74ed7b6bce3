"""The Retraining tab in the main window, built the first time it is shown (it loads
pyqtgraph and the retraining core only then). One call from MainWindow: :func:`add_retrain_tab`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QVBoxLayout, QWidget

if TYPE_CHECKING:
    from app.gui.main_window import MainWindow
    from app.gui.views.retrain import RetrainPanel

TITLE = "Retraining"


class _RetrainTab(QObject):
    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.holder = QWidget()
        QVBoxLayout(self.holder).setContentsMargins(0, 0, 0, 0)
        self.panel: RetrainPanel | None = None
        window.tabs.addTab(self.holder, TITLE)
        window.tabs.currentChanged.connect(self._on_current_changed)
        window.installEventFilter(self)

    def build(self) -> RetrainPanel:
        if self.panel is None:
            from app.gui.views.retrain import RetrainPanel

            w = self.window
            self.panel = RetrainPanel(lambda: (w.store, w.equipment_id), w.refresh_workspace)
            layout = self.holder.layout()
            assert layout is not None
            layout.addWidget(self.panel)
        return self.panel

    def _on_current_changed(self, index: int) -> None:
        if self.window.tabs.widget(index) is self.holder:
            panel = self.build()
            if not panel.running:
                panel.refresh()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.window and event.type() == QEvent.Type.Close and self.panel:
            self.panel.shutdown()  # a running worker is killed; nothing of it is kept
        return False


def add_retrain_tab(window: MainWindow) -> QObject:
    """Add the Retraining tab to ``window.tabs`` (returns the object that owns it)."""
    return _RetrainTab(window)
