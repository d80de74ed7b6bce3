"""HelpWindow: the user guide shipped with the app (docs/*.md), rendered, with its pages listed
on the left; links between the pages work, web links open in the browser. F1 opens it."""

from __future__ import annotations

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QTextDocument
from PySide6.QtWidgets import (
    QDialog,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QSplitter,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from app.core.help import HelpPage, docs_dir, help_pages


class HelpWindow(QDialog):
    """Non-modal; one per main window (:meth:`show_for` raises the open one)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("HydroDiag — help")
        self.setWindowFlag(Qt.WindowType.WindowContextHelpButtonHint, False)
        self.resize(1000, 700)
        self.pages: list[HelpPage] = help_pages()
        self.index = QListWidget()
        self.index.setMaximumWidth(260)
        for page in self.pages:
            item = QListWidgetItem(page.title)
            item.setToolTip(page.path.name)
            self.index.addItem(item)
        self.browser = QTextBrowser()
        self.browser.setOpenExternalLinks(True)
        self.browser.setSearchPaths([str(docs_dir())])
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.index)
        splitter.addWidget(self.browser)
        splitter.setStretchFactor(1, 1)
        layout = QVBoxLayout(self)
        if not self.pages:
            layout.addWidget(QLabel(f"The guide is not in this installation ({docs_dir()})."))
        layout.addWidget(splitter, 1)
        self.index.currentRowChanged.connect(self._on_index_current_row_changed)
        if self.pages:
            self.index.setCurrentRow(0)

    def show_page(self, stem: str) -> None:
        """Show a page by its file name without ``.md`` (``gui``, ``report``, ...)."""
        for row, page in enumerate(self.pages):
            if page.path.stem == stem:
                self.index.setCurrentRow(row)
                return

    def _on_index_current_row_changed(self, row: int) -> None:
        if 0 <= row < len(self.pages):
            self.browser.setSource(
                QUrl.fromLocalFile(str(self.pages[row].path)),
                QTextDocument.ResourceType.MarkdownResource,
            )

    @classmethod
    def show_for(cls, parent: QWidget) -> HelpWindow:
        window = parent.findChild(HelpWindow)
        if window is None:
            window = cls(parent)
        window.show()
        window.raise_()
        window.activateWindow()
        return window
