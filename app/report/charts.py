"""Vector drawing for the report: hatching, status fills and markers, and the component graph;
drawn with QPainter straight into the PDF page (the time-series charts are in time_charts.py).

Every chart takes a painter, the rectangle to fill (device units) and ``unit`` = device units
per point, so the same code draws the PDF (720 dpi) and the preview image. Status is always
shown by text and pattern as well as colour, so a black-and-white print loses nothing:
warning = single hatch, critical = cross hatch, not assessed = dashed outline.
"""

from __future__ import annotations

import math

from PySide6.QtCore import QLineF, QPointF, QRectF, Qt
from PySide6.QtGui import (
    QBrush,
    QColor,
    QFont,
    QFontMetricsF,
    QPainter,
    QPainterPath,
    QPen,
    QPolygonF,
)

from app.core.presentation import STATUS_STYLES, schematic_positions
from app.report.layout import INK, font
from gnn.results import ComponentResult, Diagnosis, Status
from gnn.wording import health_text
from ingestion.profiles import ConnectionKind, EquipmentProfile

GRID = QColor("#c8c8c8")


def pen(colour: QColor | str, width: float, style: Qt.PenStyle = Qt.PenStyle.SolidLine) -> QPen:
    pen = QPen(QColor(colour))
    pen.setWidthF(width)
    pen.setStyle(style)
    pen.setCapStyle(Qt.PenCapStyle.FlatCap)
    pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
    return pen


def hatch(
    painter: QPainter,
    area: QPainterPath,
    spacing: float,
    width: float,
    colour: QColor | str = INK,
    *,
    cross: bool = False,
) -> None:
    """Diagonal hatching as real vector lines clipped to ``area`` (Qt's pattern brushes are
    device-pixel sized: at 720 dpi they print as a grey smear)."""
    bounds = area.boundingRect()
    painter.save()
    painter.setClipPath(area, Qt.ClipOperation.IntersectClip)
    painter.setPen(pen(colour, width))
    x = bounds.left() - bounds.height()
    lines: list[QLineF] = []
    while x < bounds.right():
        lines.append(QLineF(x, bounds.bottom(), x + bounds.height(), bounds.top()))
        if cross:
            lines.append(QLineF(x, bounds.top(), x + bounds.height(), bounds.bottom()))
        x += spacing
    painter.drawLines(lines)
    painter.restore()


def status_fill(
    painter: QPainter, area: QPainterPath, status: Status, unit: float, *, light: bool = True
) -> None:
    """Background of a status area: a tint for colour prints plus a hatch for black and white."""
    style = STATUS_STYLES[status]
    if status in (Status.WARNING, Status.CRITICAL, Status.HEALTHY):
        tint = QColor(style.fill)
        tint.setAlphaF(0.10 if light else 0.2)
        painter.fillPath(area, tint)
    if status == Status.WARNING:
        hatch(painter, area, 5 * unit, 0.5 * unit, style.ink)
    elif status == Status.CRITICAL:
        hatch(painter, area, 4 * unit, 0.6 * unit, style.ink, cross=True)


def status_marker(
    painter: QPainter, centre: QPointF, radius: float, status: Status, unit: float
) -> None:
    """The status glyph as a shape: circle with tick, triangle, octagon with cross, dashed
    circle with a dash (not graded) or a question mark (no data)."""
    style = STATUS_STYLES[status]
    ink, fill = QColor(style.ink), QColor(style.fill)
    painter.save()
    painter.setPen(pen(ink, 0.9 * unit))
    r = radius
    if status == Status.HEALTHY:
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawEllipse(centre, r, r)
        path = QPainterPath(QPointF(centre.x() - 0.5 * r, centre.y()))
        path.lineTo(centre.x() - 0.1 * r, centre.y() + 0.45 * r)
        path.lineTo(centre.x() + 0.55 * r, centre.y() - 0.45 * r)
        painter.setPen(pen(ink, 1.3 * unit))
        painter.drawPath(path)
    elif status == Status.WARNING:
        painter.setBrush(QBrush(fill))
        tri = QPolygonF(
            [
                QPointF(centre.x(), centre.y() - r),
                QPointF(centre.x() + r, centre.y() + 0.8 * r),
                QPointF(centre.x() - r, centre.y() + 0.8 * r),
            ]
        )
        painter.drawPolygon(tri)
    elif status == Status.CRITICAL:
        # The octagon of the app's critical nodes, with the ✖ of its badge in white.
        painter.setBrush(QBrush(fill))
        cut = 0.41 * r  # tan(22.5°): a regular octagon
        corners = [(-cut, -r), (cut, -r), (r, -cut), (r, cut), (cut, r), (-cut, r)]
        corners += [(-r, cut), (-r, -cut)]
        painter.drawPolygon(
            QPolygonF([QPointF(centre.x() + x, centre.y() + y) for x, y in corners])
        )
        painter.setPen(pen(style.text, 1.3 * unit))
        d = 0.42 * r
        painter.drawLine(QLineF(centre.x() - d, centre.y() - d, centre.x() + d, centre.y() + d))
        painter.drawLine(QLineF(centre.x() - d, centre.y() + d, centre.x() + d, centre.y() - d))
    else:
        painter.setPen(pen(ink, 0.8 * unit, Qt.PenStyle.DashLine))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawEllipse(centre, r, r)
        if status == Status.INSUFFICIENT_DATA:
            mark = QFont(painter.font())
            mark.setPixelSize(max(1, round(1.4 * r)))
            mark.setBold(True)
            painter.setFont(mark)
            painter.setPen(ink)
            painter.drawText(
                QRectF(centre.x() - r, centre.y() - r, 2 * r, 2 * r),
                Qt.AlignmentFlag.AlignCenter,
                "?",
            )
        else:
            painter.setPen(pen(ink, 1.0 * unit))
            painter.drawLine(
                QLineF(centre.x() - 0.45 * r, centre.y(), centre.x() + 0.45 * r, centre.y())
            )
    painter.restore()


# --- component graph -----------------------------------------------------------------------

_EDGE_STYLES: dict[str, Qt.PenStyle] = {
    ConnectionKind.PRESSURE_LINE.value: Qt.PenStyle.SolidLine,
    ConnectionKind.RETURN_LINE.value: Qt.PenStyle.DashLine,
    ConnectionKind.SUCTION_LINE.value: Qt.PenStyle.DashLine,
    ConnectionKind.DRAIN_LINE.value: Qt.PenStyle.DashLine,
    ConnectionKind.PILOT_LINE.value: Qt.PenStyle.DashLine,
    ConnectionKind.SHAFT.value: Qt.PenStyle.DashDotLine,
    ConnectionKind.THERMAL.value: Qt.PenStyle.DotLine,
}


def pair_attention(diagnosis: Diagnosis) -> dict[frozenset[str], float]:
    """Attention per connection: mean of both directions' combined weight (self loops left out)."""
    sums: dict[frozenset[str], list[float]] = {}
    for edge in diagnosis.edges:
        if edge.source == edge.target:
            continue
        sums.setdefault(frozenset((edge.source, edge.target)), []).append(edge.combined)
    return {k: sum(v) / len(v) for k, v in sums.items()}


def _clip_to_box(centre: QPointF, towards: QPointF, half_w: float, half_h: float) -> QPointF:
    dx, dy = towards.x() - centre.x(), towards.y() - centre.y()
    if dx == 0 and dy == 0:
        return centre
    scale = min(
        half_w / abs(dx) if dx else math.inf,
        half_h / abs(dy) if dy else math.inf,
    )
    return QPointF(centre.x() + dx * scale, centre.y() + dy * scale)


def draw_component_graph(
    painter: QPainter,
    rect: QRectF,
    profile: EquipmentProfile,
    diagnosis: Diagnosis,
    family: str,
    unit: float,
) -> None:
    """Schematic graph: nodes show status (pattern + symbol + text), edge width shows attention."""
    results = {c.component_id: c for c in diagnosis.components}
    positions = schematic_positions(profile)
    legend_h = 30 * unit
    area = QRectF(rect.left(), rect.top(), rect.width(), rect.height() - legend_h)
    full_w, full_h = 78 * unit, 36 * unit
    xs = [p[0] for p in positions.values()]
    ys = [p[1] for p in positions.values()]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    # Crowded schematics (large profiles) get smaller node boxes instead of overlapping ones.
    fit = 1.0
    for _ in range(2):
        node_w, node_h = full_w * fit, full_h * fit
        sx = (area.width() - node_w - 8 * unit) / max(x1 - x0, 1e-9)
        sy = (area.height() - node_h - 8 * unit) / max(y1 - y0, 1e-9)
        points = [((x - x0) * sx, (y - y0) * sy) for x, y in positions.values()]
        allowed = [
            max(abs(a[0] - b[0]) / full_w, abs(a[1] - b[1]) / full_h) * 0.95
            for i, a in enumerate(points)
            for b in points[i + 1 :]
        ]
        fit = max(0.4, min([1.0, *allowed]))
    node_w, node_h = full_w * fit, full_h * fit

    def at(cid: str) -> QPointF:
        x, y = positions[cid]
        return QPointF(
            area.left() + node_w / 2 + 4 * unit + (x - x0) * sx,
            area.top() + node_h / 2 + 4 * unit + (y - y0) * sy,
        )

    attention = pair_attention(diagnosis)
    strongest = max(attention.values(), default=0.0) or 1.0
    labelled = set(sorted(attention, key=lambda k: attention[k], reverse=True)[:5])
    small = font(family, 6.5)
    painter.save()
    painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
    labels: list[tuple[QPointF, str]] = []
    for conn in profile.connections:
        key = frozenset((conn.source, conn.target))
        weight = attention.get(key, 0.0) / strongest
        a, b = at(conn.source), at(conn.target)
        start = _clip_to_box(a, b, node_w / 2 + 1 * unit, node_h / 2 + 1 * unit)
        end = _clip_to_box(b, a, node_w / 2 + 2 * unit, node_h / 2 + 2 * unit)
        width = (0.5 + 2.8 * weight) * unit
        painter.setPen(pen(INK, width, _EDGE_STYLES.get(conn.kind.value, Qt.PenStyle.SolidLine)))
        painter.drawLine(QLineF(start, end))
        _arrow_head(painter, start, end, (4.0 + 2.0 * weight) * unit)
        if key in labelled:
            labels.append(
                (
                    QPointF((start.x() + end.x()) / 2, (start.y() + end.y()) / 2),
                    f"{attention[key]:.2f}",
                )
            )
    bold = font(family, 7.5, bold=True)
    normal = font(family, 6.5)
    for comp in profile.components:
        result = results.get(comp.id)
        status = result.status if result else Status.NOT_ASSESSED
        # Each node is drawn full size around the origin and scaled into place.
        painter.save()
        centre = at(comp.id)
        painter.translate(centre)
        painter.scale(fit, fit)
        box = QRectF(-full_w / 2, -full_h / 2, full_w, full_h)
        path = QPainterPath()
        path.addRoundedRect(box, 4 * unit, 4 * unit)
        painter.fillPath(path, QColor("white"))
        status_fill(painter, path, status, unit)
        dashed = status in (Status.NOT_ASSESSED, Status.INSUFFICIENT_DATA)
        border = 1.6 if status == Status.CRITICAL else 0.8
        painter.setPen(
            pen(INK, border * unit, Qt.PenStyle.DashLine if dashed else Qt.PenStyle.SolidLine)
        )
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawPath(path)
        status_marker(
            painter, QPointF(box.left() + 8 * unit, box.top() + 9 * unit), 4 * unit, status, unit
        )
        # White label plates keep text readable over the hatching.
        painter.setFont(bold)
        title = QRectF(
            box.left() + 15 * unit, box.top() + 3 * unit, box.width() - 18 * unit, 12 * unit
        )
        _plate(painter, title, comp.id, bold, unit, Qt.AlignmentFlag.AlignLeft)
        line2 = _node_line(result)
        sub = QRectF(
            box.left() + 3 * unit, box.top() + 19 * unit, box.width() - 6 * unit, 12 * unit
        )
        _plate(painter, sub, line2, normal, unit, Qt.AlignmentFlag.AlignHCenter)
        painter.restore()
    # Attention labels last, so no node covers them.
    painter.setFont(small)
    fm = QFontMetricsF(small, painter.device())
    for mid, text in labels:
        box = QRectF(0, 0, fm.horizontalAdvance(text) + 4 * unit, fm.height() + 1 * unit)
        box.moveCenter(mid)
        painter.setPen(pen(INK, 0.4 * unit))
        painter.setBrush(QColor("white"))
        painter.drawRect(box)
        painter.drawText(box, Qt.AlignmentFlag.AlignCenter, text)
    painter.restore()
    _graph_legend(
        painter,
        QRectF(rect.left(), rect.bottom() - legend_h + 6 * unit, rect.width(), legend_h - 6 * unit),
        family,
        unit,
    )


def _node_line(result: ComponentResult | None) -> str:
    if result is None or result.health is None:
        return STATUS_STYLES[result.status].word if result else "not in diagnosis"
    return f"{health_text(result.health)} {STATUS_STYLES[result.status].word}"


def _plate(
    painter: QPainter,
    rect: QRectF,
    text: str,
    qfont: QFont,
    unit: float,
    align: Qt.AlignmentFlag,
) -> None:
    fm = QFontMetricsF(qfont, painter.device())
    shown = fm.elidedText(text, Qt.TextElideMode.ElideRight, rect.width())
    width = fm.horizontalAdvance(shown) + 3 * unit
    if align == Qt.AlignmentFlag.AlignHCenter:
        plate = QRectF(rect.center().x() - width / 2, rect.top(), width, rect.height())
    else:
        plate = QRectF(rect.left() - 1.5 * unit, rect.top(), width, rect.height())
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(QColor("white"))
    painter.drawRect(plate)
    painter.setPen(INK)
    painter.setFont(qfont)
    painter.drawText(plate, Qt.AlignmentFlag.AlignCenter, shown)


def _arrow_head(painter: QPainter, start: QPointF, end: QPointF, size: float) -> None:
    angle = math.atan2(end.y() - start.y(), end.x() - start.x())
    left = QPointF(end.x() - size * math.cos(angle - 0.4), end.y() - size * math.sin(angle - 0.4))
    right = QPointF(end.x() - size * math.cos(angle + 0.4), end.y() - size * math.sin(angle + 0.4))
    painter.save()
    pen = painter.pen()
    pen.setStyle(Qt.PenStyle.SolidLine)
    pen.setWidthF(min(pen.widthF(), size / 4))
    painter.setPen(pen)
    painter.setBrush(pen.color())
    painter.drawPolygon(QPolygonF([end, left, right]))
    painter.restore()


def _graph_legend(painter: QPainter, rect: QRectF, family: str, unit: float) -> None:
    painter.save()
    small = font(family, 6.5)
    painter.setFont(small)
    x = rect.left()
    y = rect.top() + 6 * unit
    for status in (Status.HEALTHY, Status.WARNING, Status.CRITICAL, Status.NOT_ASSESSED):
        box = QRectF(x, y - 5 * unit, 16 * unit, 10 * unit)
        path = QPainterPath()
        path.addRect(box)
        painter.fillPath(path, QColor("white"))
        status_fill(painter, path, status, unit)
        dashed = status == Status.NOT_ASSESSED
        painter.setPen(
            pen(INK, 0.6 * unit, Qt.PenStyle.DashLine if dashed else Qt.PenStyle.SolidLine)
        )
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRect(box)
        painter.setPen(INK)
        label = STATUS_STYLES[status].label
        painter.drawText(QPointF(x + 20 * unit, y + 2.5 * unit), label)
        x += 28 * unit + QFontMetricsF(small, painter.device()).horizontalAdvance(label)
    y2 = y + 14 * unit
    x = rect.left()
    for name, style in (
        ("pressure line", Qt.PenStyle.SolidLine),
        ("return / suction / drain", Qt.PenStyle.DashLine),
        ("shaft", Qt.PenStyle.DashDotLine),
        ("thermal", Qt.PenStyle.DotLine),
    ):
        painter.setPen(pen(INK, 1.2 * unit, style))
        painter.drawLine(QLineF(x, y2, x + 18 * unit, y2))
        painter.setPen(INK)
        painter.drawText(QPointF(x + 22 * unit, y2 + 2.5 * unit), name)
        x += 34 * unit + QFontMetricsF(small, painter.device()).horizontalAdvance(name)
    painter.drawText(
        QPointF(x, y2 + 2.5 * unit),
        "line width = attention (labels: strongest five)",
    )
    painter.restore()
