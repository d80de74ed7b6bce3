"""ComponentGraphView: the machine's components laid out like its hydraulic schematic.

Nodes are coloured by status and carry glyph + word + health (never colour alone); edges are
drawn once per profile connection with width and opacity from the attention the model paid
along it (both directions summed). Positions come from the profile; components without one
are placed on a grid below. Click a node to select it (``componentSelected``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import (
    QBrush,
    QColor,
    QFont,
    QMouseEvent,
    QPainter,
    QPainterPath,
    QPen,
    QPolygonF,
    QResizeEvent,
)
from PySide6.QtWidgets import (
    QGraphicsItem,
    QGraphicsObject,
    QGraphicsPathItem,
    QGraphicsScene,
    QGraphicsView,
    QStyleOptionGraphicsItem,
    QWidget,
)

from app.core.presentation import (
    ATTENTION_COLOR,
    format_health,
    schematic_positions,
    status_style,
)
from gnn.contract import GRADE_NAMES
from gnn.recommend import grade_text, shown_confidence
from gnn.results import Diagnosis, Status
from ingestion.profiles import Component, Connection, EquipmentProfile

SCALE_X = 190.0  # scene pixels per profile unit
SCALE_Y = 120.0
NODE_W = 128.0
NODE_H = 62.0
MIN_EDGE_W = 1.0
MAX_EDGE_W = 9.0


def layout_positions(profile: EquipmentProfile) -> dict[str, QPointF]:
    """Scene centre of each component: the profile's schematic position, else a grid slot."""
    return {
        cid: QPointF(x * SCALE_X, y * SCALE_Y)
        for cid, (x, y) in schematic_positions(profile).items()
    }


def connection_attention(
    diagnosis: Diagnosis, window: int | None = None
) -> dict[tuple[str, str], float]:
    """Attention per unordered component pair (both directions summed), for one window or all."""
    values: Sequence[float]
    if (
        window is not None
        and 0 <= window < len(diagnosis.windows)
        and diagnosis.windows[window].attention
    ):
        values = diagnosis.windows[window].attention
    else:
        values = [e.combined for e in diagnosis.edges]
    out: dict[tuple[str, str], float] = {}
    for edge, value in zip(diagnosis.edges, values, strict=False):
        if edge.source == edge.target:
            continue
        key = tuple(sorted((edge.source, edge.target)))
        out[(key[0], key[1])] = out.get((key[0], key[1]), 0.0) + float(value)
    return out


class ComponentNodeItem(QGraphicsObject):
    """One component: rounded box with id, status glyph and word, and health."""

    def __init__(self, component: Component) -> None:
        super().__init__()
        self.component = component
        self.status = Status.NOT_ASSESSED
        self.health: float | None = None
        self.selected = False
        self.placeholder = True  # no diagnosis shown yet: say so instead of "not graded"
        self.setAcceptHoverEvents(True)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setToolTip(f"{component.name} ({component.type.value})")
        self.setZValue(10)

    def boundingRect(self) -> QRectF:
        return QRectF(-NODE_W / 2 - 4, -NODE_H / 2 - 4, NODE_W + 8, NODE_H + 8)

    def fill_color(self) -> QColor:
        return QColor(status_style(self.status).fill)

    def set_state(self, status: Status, health: float | None, tooltip: str) -> None:
        self.status = status
        self.health = health
        self.setToolTip(tooltip)
        self.update()

    def set_selected(self, selected: bool) -> None:
        self.selected = selected
        self.update()

    def paint(
        self,
        painter: QPainter,
        option: QStyleOptionGraphicsItem,
        widget: QWidget | None = None,
    ) -> None:
        style = status_style(self.status)
        rect = QRectF(-NODE_W / 2, -NODE_H / 2, NODE_W, NODE_H)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        pen = QPen(QColor(style.border), 2.0)
        if self.status in (Status.NOT_ASSESSED, Status.INSUFFICIENT_DATA):
            pen.setStyle(Qt.PenStyle.DashLine)
        if self.selected:
            pen = QPen(QColor("#1565c0"), 4.0)
        painter.setPen(pen)
        painter.setBrush(QBrush(self.fill_color()))
        if self.status == Status.CRITICAL:  # a distinct shape too: an octagon-cut box
            cut = 12.0
            poly = QPolygonF(
                [
                    QPointF(rect.left() + cut, rect.top()),
                    QPointF(rect.right() - cut, rect.top()),
                    QPointF(rect.right(), rect.top() + cut),
                    QPointF(rect.right(), rect.bottom() - cut),
                    QPointF(rect.right() - cut, rect.bottom()),
                    QPointF(rect.left() + cut, rect.bottom()),
                    QPointF(rect.left(), rect.bottom() - cut),
                    QPointF(rect.left(), rect.top() + cut),
                ]
            )
            painter.drawPolygon(poly)
        else:
            radius = 14.0 if self.status == Status.HEALTHY else 4.0
            painter.drawRoundedRect(rect, radius, radius)
        painter.setPen(QColor(style.text))
        title = QFont()
        title.setBold(True)
        title.setPointSizeF(11.0)
        painter.setFont(title)
        painter.drawText(
            QRectF(rect.left() + 8, rect.top() + 4, rect.width() - 16, 22),
            Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
            self.component.id,
        )
        painter.drawText(
            QRectF(rect.left() + 8, rect.top() + 4, rect.width() - 16, 22),
            Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
            format_health(self.health) if self.health is not None else "",
        )
        small = QFont()
        small.setPointSizeF(8.5)
        small.setBold(self.status in (Status.WARNING, Status.CRITICAL))
        painter.setFont(small)
        painter.drawText(
            QRectF(rect.left() + 8, rect.top() + 26, rect.width() - 16, 16),
            Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
            "no diagnosis yet" if self.placeholder else f"{style.glyph} {style.word}",
        )
        small.setBold(False)
        painter.setFont(small)
        name = painter.fontMetrics().elidedText(
            self.component.type.value.replace("_", " "),
            Qt.TextElideMode.ElideRight,
            int(rect.width() - 16),
        )
        painter.drawText(
            QRectF(rect.left() + 8, rect.top() + 42, rect.width() - 16, 16),
            Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
            name,
        )


class ConnectionItem(QGraphicsPathItem):
    """A connection between two components; width/opacity encode attention."""

    def __init__(self, connection: Connection, start: QPointF, end: QPointF, bend: float) -> None:
        super().__init__()
        self.connection = connection
        self.attention: float | None = None
        self.setZValue(1)
        path = QPainterPath(start)
        mid = (start + end) / 2
        dx, dy = end.x() - start.x(), end.y() - start.y()
        length = math.hypot(dx, dy) or 1.0
        ctrl = mid + QPointF(-dy / length, dx / length) * bend
        path.quadTo(ctrl, end)
        self._arrow_at = path.pointAtPercent(0.62)
        self._arrow_angle = math.degrees(
            math.atan2(
                path.pointAtPercent(0.64).y() - path.pointAtPercent(0.6).y(),
                path.pointAtPercent(0.64).x() - path.pointAtPercent(0.6).x(),
            )
        )
        self.setPath(path)
        self.set_attention(None, 0.0)
        self.setToolTip(
            f"{connection.source} → {connection.target} ({connection.kind.value.replace('_', ' ')})"
        )

    def pen_width(self) -> float:
        return self.pen().widthF()

    def set_attention(self, value: float | None, normalised: float) -> None:
        self.attention = value
        color = QColor(ATTENTION_COLOR if value is not None else "#7d8b99")
        width = MIN_EDGE_W + (MAX_EDGE_W - MIN_EDGE_W) * normalised
        self.setOpacity(0.3 + 0.7 * normalised if value is not None else 0.6)
        pen = QPen(color, width)
        pen.setCapStyle(Qt.PenCapStyle.RoundCap)
        if self.connection.kind.value in ("thermal", "pilot_line", "drain_line"):
            pen.setStyle(Qt.PenStyle.DashLine)
        self.setPen(pen)
        kind = self.connection.kind.value.replace("_", " ")
        text = f"{self.connection.source} → {self.connection.target} ({kind})"
        if value is not None:
            text += f"\nattention {value:.3f} (both directions)"
        self.setToolTip(text)

    def paint(
        self,
        painter: QPainter,
        option: QStyleOptionGraphicsItem,
        widget: QWidget | None = None,
    ) -> None:
        super().paint(painter, option, widget)
        # Flow-direction arrowhead, sized with the line so it stays visible.
        size = 7.0 + self.pen().widthF()
        painter.save()
        painter.translate(self._arrow_at)
        painter.rotate(self._arrow_angle)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(self.pen().color())
        painter.drawPolygon(
            QPolygonF(
                [
                    QPointF(size, 0),
                    QPointF(-size * 0.6, size * 0.6),
                    QPointF(-size * 0.6, -size * 0.6),
                ]
            )
        )
        painter.restore()


class ComponentGraphView(QGraphicsView):
    """The component graph of one equipment, restyled by each diagnosis (or window of it)."""

    componentSelected = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.TextAntialiasing)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setBackgroundBrush(QColor("#fbfcfd"))
        self.setMinimumSize(320, 220)
        self.nodes: dict[str, ComponentNodeItem] = {}
        self.connections: list[ConnectionItem] = []
        self.profile: EquipmentProfile | None = None
        self.diagnosis: Diagnosis | None = None
        self.window_index: int | None = None
        self.selected: str | None = None

    # -- new data --------------------------------------------------------------------

    def set_profile(self, profile: EquipmentProfile) -> None:
        """Build the items once per equipment."""
        scene = self.scene()
        scene.clear()
        self.profile = profile
        self.nodes = {}
        self.connections = []
        self.selected = None
        positions = layout_positions(profile)
        for comp in profile.components:
            node = ComponentNodeItem(comp)
            node.setPos(positions[comp.id])
            scene.addItem(node)
            self.nodes[comp.id] = node
        seen: dict[tuple[str, str], int] = {}
        for conn in profile.connections:
            key = tuple(sorted((conn.source, conn.target)))
            k = seen.get((key[0], key[1]), 0)
            seen[(key[0], key[1])] = k + 1
            bend = 0.0 if k == 0 else (28.0 if k % 2 else -28.0) * ((k + 1) // 2)
            item = ConnectionItem(conn, positions[conn.source], positions[conn.target], bend)
            scene.addItem(item)
            self.connections.append(item)
        rect = scene.itemsBoundingRect().adjusted(-20, -20, 20, 20)
        scene.setSceneRect(rect)
        self._fit()
        if self.diagnosis is not None:
            self.set_diagnosis(self.diagnosis, self.window_index)

    def set_diagnosis(self, diagnosis: Diagnosis | None, window: int | None = None) -> None:
        """Restyle nodes and edges; ``window`` picks one model window's attention (None = all)."""
        self.diagnosis = diagnosis
        self.window_index = window
        for cid, node in self.nodes.items():
            result = None
            if diagnosis is not None:
                try:
                    result = diagnosis.component(cid)
                except KeyError:
                    result = None
            if result is None:
                text = "no diagnosis yet" if diagnosis is None else "not in this diagnosis"
                node.set_state(Status.NOT_ASSESSED, None, f"{node.component.name}\n{text}")
                node.placeholder = diagnosis is None
                continue
            node.placeholder = False
            health = result.health
            status = result.status
            grade_line = (
                f"Grade {grade_text(result)} (confidence {shown_confidence(result) or 0:.0%})"
                if result.grade is not None
                else None
            )
            if window is not None and 0 <= window < len(diagnosis.windows if diagnosis else ()):
                assert diagnosis is not None
                in_window = diagnosis.windows[window].health.get(cid)
                if in_window is not None:  # that window's own health, status and grade
                    health = in_window
                    status = diagnosis.thresholds.status(in_window)
                    grade = diagnosis.windows[window].grade.get(cid)
                    if grade is not None:
                        grade_line = f"Grade {grade} {GRADE_NAMES[grade]} (this window)"
            style = status_style(status)
            lines = [
                f"{result.name} ({result.type.replace('_', ' ')})",
                f"Status: {style.glyph} {style.word}   Health: {format_health(health)}",
            ]
            if grade_line is not None:
                lines.append(grade_line)
            if result.anomaly is not None and result.anomaly.is_anomalous:
                lines.append(
                    f"Anomaly score {result.anomaly.score:.2f} (threshold {result.anomaly.threshold:.2f})"
                )
            if result.limit_violations:
                lines.append(f"{len(result.limit_violations)} limit violation(s)")
            lines.append("Click for details")
            node.set_state(status, health, "\n".join(lines))
        attention = connection_attention(diagnosis, window) if diagnosis is not None else {}
        top = max(attention.values(), default=0.0)
        for item in self.connections:
            key = tuple(sorted((item.connection.source, item.connection.target)))
            value = attention.get((key[0], key[1]))
            norm = (value / top) if (value is not None and top > 0) else 0.0
            item.set_attention(value, norm)

    def select(self, component_id: str | None) -> None:
        self.selected = component_id
        for cid, node in self.nodes.items():
            node.set_selected(cid == component_id)

    # -- interaction -----------------------------------------------------------------

    def mousePressEvent(self, event: QMouseEvent) -> None:
        item: QGraphicsItem | None = self.itemAt(event.position().toPoint())
        while item is not None and not isinstance(item, ComponentNodeItem):
            item = item.parentItem()
        if isinstance(item, ComponentNodeItem):
            self.select(item.component.id)
            self.componentSelected.emit(item.component.id)
        super().mousePressEvent(event)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fit()

    def _fit(self) -> None:
        if self.scene().items():
            self.fitInView(self.scene().sceneRect(), Qt.AspectRatioMode.KeepAspectRatio)
