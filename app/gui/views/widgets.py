"""Small painted widgets shared by the views: status badge, legend, bars and a sparkline."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import (
    QColor,
    QFontMetrics,
    QPainter,
    QPaintEvent,
    QPen,
    QPolygonF,
    QResizeEvent,
)
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSizePolicy, QWidget

from app.core.presentation import ATTENTION_COLOR, STATUS_STYLES, status_style
from gnn.results import Status


class StatusBadge(QLabel):
    """Glyph + word on the status colour (readable without colour)."""

    def __init__(self, status: Status = Status.NOT_ASSESSED, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.status = status
        self.set_status(status)

    def set_status(self, status: Status) -> None:
        self.status = status
        style = status_style(status)
        self.setText(f"{style.glyph} {style.word}")
        self.setStyleSheet(
            f"QLabel {{ background: {style.fill}; color: {style.text}; border: 1px solid "
            f"{style.border}; border-radius: 4px; padding: 2px 8px; font-weight: bold; }}"
        )


class StatusLegend(QWidget):
    """What the node colours, glyphs and edge widths mean."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 2, 4, 2)
        layout.setSpacing(10)
        for status in STATUS_STYLES:
            layout.addWidget(StatusBadge(status))
        layout.addSpacing(12)
        layout.addWidget(_EdgeSample())
        text = QLabel("line width = attention, arrow = flow")
        text.setStyleSheet("color: #3c4650;")
        text.setWordWrap(True)  # wraps rather than widening the window's minimum
        layout.addWidget(text, 1)


class _EdgeSample(QWidget):
    def sizeHint(self) -> QSize:
        return QSize(60, 18)

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        h = self.height() / 2
        painter.setPen(QPen(QColor(ATTENTION_COLOR), 1.0))
        painter.setOpacity(0.4)
        painter.drawLine(QPointF(2, h), QPointF(26, h))
        painter.setOpacity(1.0)
        painter.setPen(QPen(QColor(ATTENTION_COLOR), 7.0))
        painter.drawLine(QPointF(34, h), QPointF(58, h))


class BarList(QWidget):
    """Labelled horizontal bars for probabilities (0..1), highlighted index in bold. A label too
    long to sit beside its bar goes on a line of its own above it, never cut off."""

    ROW = 20

    def __init__(
        self,
        labels: Sequence[str],
        values: Sequence[float],
        *,
        highlight: int | None = None,
        color: str = "#0072b2",
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.labels = list(labels)
        self.values = [float(v) for v in values]
        self.highlight = highlight
        self.color = color
        policy = QSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        policy.setHeightForWidth(True)
        self.setSizePolicy(policy)

    def _label_width(self, width: int) -> int:
        return min(170, int(width * 0.55))

    def stacked(self, width: int | None = None) -> bool:
        """Whether the labels go above their bars at ``width`` (some would not fit beside)."""
        width = self.width() if width is None else width
        font = self.font()
        font.setBold(True)
        widest = max((QFontMetrics(font).horizontalAdvance(t) for t in self.labels), default=0)
        return widest + 6 > self._label_width(width)

    def hasHeightForWidth(self) -> bool:
        return True

    def heightForWidth(self, width: int) -> int:
        rows = max(len(self.labels), 1)
        return (2 * self.ROW if self.stacked(width) else self.ROW) * rows + 2

    def sizeHint(self) -> QSize:
        return QSize(220, self.heightForWidth(220))

    def minimumSizeHint(self) -> QSize:
        return QSize(160, self.ROW * max(len(self.labels), 1) + 2)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self.setMinimumHeight(self.heightForWidth(self.width()))

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        stacked = self.stacked()
        label_w = 0 if stacked else self._label_width(self.width())
        value_w = 44
        bar_w = max(10, self.width() - label_w - value_w - 8)
        step = 2 * self.ROW if stacked else self.ROW
        for i, (label, value) in enumerate(zip(self.labels, self.values, strict=False)):
            y = i * step + 2
            font = painter.font()
            font.setBold(i == self.highlight)
            painter.setFont(font)
            painter.setPen(QColor("#1f2933"))
            text_w = self.width() - 2 if stacked else label_w - 6
            painter.drawText(
                QRectF(0, y, text_w, 16),
                Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                painter.fontMetrics().elidedText(label, Qt.TextElideMode.ElideRight, text_w),
            )
            if stacked:
                y += self.ROW
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QColor("#e8ecf0"))
            painter.drawRoundedRect(QRectF(label_w, y + 3, bar_w, 11), 3, 3)
            painter.setBrush(QColor(self.color))
            painter.drawRoundedRect(
                QRectF(label_w, y + 3, bar_w * max(0.0, min(1.0, value)), 11), 3, 3
            )
            painter.setPen(QColor("#1f2933"))
            painter.drawText(
                QRectF(label_w + bar_w + 4, y, value_w, 16),
                Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                f"{value * 100:.0f} %",
            )


class Sparkline(QWidget):
    """Health over the diagnosis windows, with the warning and critical levels as faint lines."""

    def __init__(
        self,
        values: Sequence[float],
        *,
        warning: float = 0.7,
        critical: float = 0.5,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.values = [float(v) for v in values]
        self.warning = warning
        self.critical = critical
        self.setMinimumHeight(54)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def sizeHint(self) -> QSize:
        return QSize(220, 54)

    def minimumSizeHint(self) -> QSize:
        return QSize(120, 54)

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        w, h = self.width() - 4, self.height() - 4

        def y_of(v: float) -> float:
            return 2 + h * (1.0 - v)

        painter.fillRect(self.rect(), QColor("#f6f8fa"))
        for level, color in ((self.warning, "#f0a202"), (self.critical, "#c8322a")):
            painter.setPen(QPen(QColor(color), 1.0, Qt.PenStyle.DashLine))
            painter.drawLine(QPointF(2, y_of(level)), QPointF(2 + w, y_of(level)))
        if len(self.values) < 2:
            return
        step = w / (len(self.values) - 1)
        poly = QPolygonF([QPointF(2 + i * step, y_of(v)) for i, v in enumerate(self.values)])
        painter.setPen(QPen(QColor("#0072b2"), 1.6))
        painter.drawPolyline(poly)
