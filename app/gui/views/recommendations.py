"""RecommendationsPanel: what to do, most urgent first, copyable, with the Report button."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QColor, QGuiApplication, QKeySequence, QResizeEvent, QShortcut, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.core.presentation import PRIORITY_COLORS, most_urgent_first
from gnn.results import Diagnosis, Recommendation

COLUMNS = ("Priority", "Due", "Component", "What", "Action", "Evidence")


def recommendations_text(recs: list[Recommendation]) -> str:
    """Plain text for the clipboard (pastes as a table into a spreadsheet or an e-mail)."""
    lines = ["\t".join(COLUMNS)]
    for r in recs:
        lines.append(
            "\t".join(
                (
                    r.priority.value.upper(),
                    f"{r.due_date:%Y-%m-%d} ({r.due_days} d)",
                    r.component_id,
                    r.title,
                    r.action,
                    "; ".join(r.evidence),
                )
            )
        )
    return "\n".join(lines)


class RecommendationsPanel(QWidget):
    reportRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.recommendations: list[Recommendation] = []
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setWordWrap(True)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        # Short columns fit their text; the long texts wrap in fixed widths, Action takes the rest.
        for col in (0, 1, 2):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(4, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(5, QHeaderView.ResizeMode.Interactive)
        self.table.setColumnWidth(3, 240)
        self.table.setColumnWidth(5, 300)
        self.table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.summary = QLabel("No diagnosis yet.")
        self.copy_button = QPushButton("Copy")
        self.copy_button.setToolTip("Copy the selected rows (all rows if none selected) — Ctrl+C")
        self.copy_button.clicked.connect(self.copy_to_clipboard)
        self.report_button = QPushButton("Report…")
        self.report_button.setToolTip("Write the PDF diagnosis report (Ctrl+P)")
        self.report_button.clicked.connect(self.reportRequested.emit)
        shortcut = QShortcut(QKeySequence.StandardKey.Copy, self.table)
        shortcut.activated.connect(self.copy_to_clipboard)
        top = QHBoxLayout()
        top.addWidget(self.summary, 1)
        top.addWidget(self.copy_button)
        top.addWidget(self.report_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(top)
        layout.addWidget(self.table, 1)

    def set_diagnosis(self, diagnosis: Diagnosis | None) -> None:
        recs = most_urgent_first(diagnosis.recommendations) if diagnosis is not None else []
        self.recommendations = recs
        self.table.setRowCount(len(recs))
        for row, r in enumerate(recs):
            values = (
                r.priority.value.upper(),
                f"{r.due_date:%Y-%m-%d} ({r.due_days} d)",
                r.component_id,
                r.title,
                r.action,
                "\n".join(r.evidence),
            )
            for col, value in enumerate(values):
                item = QTableWidgetItem(value)
                item.setToolTip(value)
                if col == 0:
                    item.setForeground(QColor(PRIORITY_COLORS[r.priority]))
                    font = item.font()
                    font.setBold(True)
                    item.setFont(font)
                item.setTextAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
                self.table.setItem(row, col, item)
        self.table.resizeRowsToContents()
        if diagnosis is None:
            self.summary.setText("No diagnosis yet.")
        elif not recs:
            self.summary.setText("No maintenance action recommended by this diagnosis.")
        else:
            counts: dict[str, int] = {}
            for r in recs:
                counts[r.priority.value] = counts.get(r.priority.value, 0) + 1
            parts = ", ".join(f"{n} {p}" for p, n in counts.items())
            self.summary.setText(
                f"{len(recs)} recommendation(s): {parts}. Sorted by priority, then due date."
            )
        self.report_button.setEnabled(diagnosis is not None)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        # Row heights follow the wrapped text, which depends on the column widths.
        QTimer.singleShot(0, self.table.resizeRowsToContents)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        QTimer.singleShot(0, self.table.resizeRowsToContents)

    def selected_recommendations(self) -> list[Recommendation]:
        rows = sorted({index.row() for index in self.table.selectionModel().selectedRows()})
        return [self.recommendations[r] for r in rows] if rows else list(self.recommendations)

    def copy_to_clipboard(self) -> str:
        text = recommendations_text(self.selected_recommendations())
        QGuiApplication.clipboard().setText(text)
        return text


def main() -> int:
    from app.gui.views._standalone import run_standalone

    def build() -> QWidget:
        from app.core.sample import sample_diagnosis

        panel = RecommendationsPanel()
        panel.set_diagnosis(sample_diagnosis())
        return panel

    return run_standalone("Recommendations", build)


if __name__ == "__main__":
    raise SystemExit(main())
