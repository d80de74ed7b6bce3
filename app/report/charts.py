"""Vector charts for the report, drawn with QPainter straight into the PDF page.

Every chart takes a painter, the rectangle to fill (device units) and ``unit`` = device units
per point, so the same code draws the PDF (720 dpi) and the preview image. Status is always
shown by text and pattern as well as colour, so a black-and-white print loses nothing:
warning = single hatch, critical = cross hatch, not assessed = dashed outline.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime
from itertools import pairwise

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
from app.report.model import HealthSeries, SensorSeries
from gnn.results import ComponentResult, Diagnosis, Status, StatusThresholds
from ingestion.profiles import ConnectionKind, EquipmentProfile

INK = QColor("#1a1a1a")
GRID = QColor("#c8c8c8")


def font(family: str, size_pt: float, *, bold: bool = False, italic: bool = False) -> QFont:
    result = QFont(family)
    result.setPointSizeF(size_pt)
    result.setBold(bold)
    result.setItalic(italic)
    # Design metrics: the layout must not depend on the device's hinting (PDF vs preview).
    result.setHintingPreference(QFont.HintingPreference.PreferNoHinting)
    # No ligatures: with them "file" is stored as "ﬁle" and PDF search and copy miss it.
    result.setFeature(QFont.Tag("liga"), 0)
    result.setFeature(QFont.Tag("clig"), 0)
    return result


def _pen(colour: QColor | str, width: float, style: Qt.PenStyle = Qt.PenStyle.SolidLine) -> QPen:
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
    painter.setPen(_pen(colour, width))
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
    painter.setPen(_pen(ink, 0.9 * unit))
    r = radius
    if status == Status.HEALTHY:
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawEllipse(centre, r, r)
        path = QPainterPath(QPointF(centre.x() - 0.5 * r, centre.y()))
        path.lineTo(centre.x() - 0.1 * r, centre.y() + 0.45 * r)
        path.lineTo(centre.x() + 0.55 * r, centre.y() - 0.45 * r)
        painter.setPen(_pen(ink, 1.3 * unit))
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
        painter.setPen(_pen(style.text, 1.3 * unit))
        d = 0.42 * r
        painter.drawLine(QLineF(centre.x() - d, centre.y() - d, centre.x() + d, centre.y() + d))
        painter.drawLine(QLineF(centre.x() - d, centre.y() + d, centre.x() + d, centre.y() - d))
    else:
        painter.setPen(_pen(ink, 0.8 * unit, Qt.PenStyle.DashLine))
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
            painter.setPen(_pen(ink, 1.0 * unit))
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
        painter.setPen(_pen(INK, width, _EDGE_STYLES.get(conn.kind.value, Qt.PenStyle.SolidLine)))
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
            _pen(INK, border * unit, Qt.PenStyle.DashLine if dashed else Qt.PenStyle.SolidLine)
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
        painter.setPen(_pen(INK, 0.4 * unit))
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
    return f"{result.health:.2f} {STATUS_STYLES[result.status].word}"


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
            _pen(INK, 0.6 * unit, Qt.PenStyle.DashLine if dashed else Qt.PenStyle.SolidLine)
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
        painter.setPen(_pen(INK, 1.2 * unit, style))
        painter.drawLine(QLineF(x, y2, x + 18 * unit, y2))
        painter.setPen(INK)
        painter.drawText(QPointF(x + 22 * unit, y2 + 2.5 * unit), name)
        x += 34 * unit + QFontMetricsF(small, painter.device()).horizontalAdvance(name)
    painter.drawText(
        QPointF(x, y2 + 2.5 * unit),
        "line width = attention (labels: strongest five)",
    )
    painter.restore()


# --- time-series charts --------------------------------------------------------------------

_TIME_STEPS = (
    1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200,
    86400, 2 * 86400, 7 * 86400, 14 * 86400, 28 * 86400,
)  # fmt: skip


def time_ticks(t0: float, t1: float, target: int = 6) -> tuple[list[float], str]:
    """Aligned UTC ticks and the strftime format that labels them unambiguously."""
    span = max(t1 - t0, 1e-9)
    step = next((s for s in _TIME_STEPS if span / s <= target), _TIME_STEPS[-1])
    first = math.ceil(t0 / step) * step
    ticks = [float(first + i * step) for i in range(int((t1 - first) // step) + 1)]
    if step < 60:
        fmt = "%H:%M:%S"
    elif span <= 86400:
        fmt = "%H:%M"
    elif step < 86400:
        fmt = "%d %b %H:%M"
    else:
        fmt = "%d %b"
    return ticks, fmt


def value_ticks(lo: float, hi: float, target: int = 5) -> list[float]:
    span = max(hi - lo, 1e-12)
    raw = span / target
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step) * step
    return [first + i * step for i in range(int((hi - first) / step + 1e-9) + 1)]


def _fmt_value(v: float, step: float) -> str:
    decimals = max(0, -math.floor(math.log10(step))) if step > 0 else 0
    return f"{v:.{min(decimals, 3)}f}"


def utc_label(t: float, fmt: str) -> str:
    return datetime.fromtimestamp(t, tz=UTC).strftime(fmt)


class _Axes:
    """Maps data to a plot rectangle and draws the frame, grid and tick labels."""

    def __init__(
        self,
        painter: QPainter,
        rect: QRectF,
        x_range: tuple[float, float],
        y_range: tuple[float, float],
        family: str,
        unit: float,
    ) -> None:
        self.painter = painter
        self.unit = unit
        self.small = font(family, 6.5)
        fm = QFontMetricsF(self.small, painter.device())
        self.plot = QRectF(
            rect.left() + fm.horizontalAdvance("0000.0") + 4 * unit,
            rect.top() + 2 * unit,
            0,
            0,
        )
        self.plot.setRight(rect.right() - 6 * unit)
        self.plot.setBottom(rect.bottom() - fm.height() - 4 * unit)
        self.x0, self.x1 = x_range
        self.y0, self.y1 = y_range
        self.labels_left = False
        self._labels: list[tuple[float, str]] = []

    def px(self, x: float) -> float:
        return self.plot.left() + (x - self.x0) / max(self.x1 - self.x0, 1e-12) * self.plot.width()

    def py(self, y: float) -> float:
        return (
            self.plot.bottom() - (y - self.y0) / max(self.y1 - self.y0, 1e-12) * self.plot.height()
        )

    def frame(self) -> None:
        p, u = self.painter, self.unit
        p.save()
        p.setFont(self.small)
        fm = QFontMetricsF(self.small, p.device())
        yt = value_ticks(self.y0, self.y1)
        step = yt[1] - yt[0] if len(yt) > 1 else 1.0
        for v in yt:
            y = self.py(v)
            p.setPen(_pen(GRID, 0.3 * u))
            p.drawLine(QLineF(self.plot.left(), y, self.plot.right(), y))
            p.setPen(INK)
            label = _fmt_value(v, step)
            p.drawText(
                QRectF(self.plot.left() - 50 * u, y - fm.height() / 2, 48 * u, fm.height()),
                Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                label,
            )
        ticks, fmt = time_ticks(self.x0, self.x1)
        last_right = -math.inf
        for t in ticks:
            x = self.px(t)
            p.setPen(_pen(GRID, 0.3 * u))
            p.drawLine(QLineF(x, self.plot.top(), x, self.plot.bottom()))
            label = utc_label(t, fmt)
            w = fm.horizontalAdvance(label)
            if x - w / 2 < last_right + 4 * u or x + w / 2 > self.plot.right() + 10 * u:
                continue
            p.setPen(INK)
            p.drawText(QPointF(x - w / 2, self.plot.bottom() + fm.ascent() + 2 * u), label)
            last_right = x + w / 2
        p.setPen(_pen(INK, 0.6 * u))
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawRect(self.plot)
        p.restore()

    def band(self, t0: float, t1: float) -> QPainterPath:
        path = QPainterPath()
        left = max(self.px(t0), self.plot.left())
        right = min(self.px(t1), self.plot.right())
        path.addRect(
            QRectF(left, self.plot.top(), max(right - left, 0.8 * self.unit), self.plot.height())
        )
        return path

    def hline(self, y: float, label: str, style: Qt.PenStyle) -> None:
        """A labelled horizontal line; the label is drawn by :meth:`labels`, over the data."""
        if not self.y0 <= y <= self.y1:
            return
        p, u = self.painter, self.unit
        p.save()
        p.setPen(_pen(INK, 0.7 * u, style))
        p.drawLine(QLineF(self.plot.left(), self.py(y), self.plot.right(), self.py(y)))
        p.restore()
        self._labels.append((y, label))

    def labels(self) -> None:
        p, u = self.painter, self.unit
        p.save()
        p.setClipping(False)
        p.setFont(self.small)
        fm = QFontMetricsF(self.small, p.device())
        for y, label in self._labels:
            box = QRectF(0, 0, fm.horizontalAdvance(label) + 4 * u, fm.height())
            box.moveBottomRight(QPointF(self.plot.right() - 2 * u, self.py(y) - 0.5 * u))
            if self.labels_left:
                box.moveBottomLeft(QPointF(self.plot.left() + 2 * u, self.py(y) - 0.5 * u))
            p.fillRect(box, QColor("white"))
            p.setPen(INK)
            p.drawText(box, Qt.AlignmentFlag.AlignCenter, label)
        p.restore()


def segments(xs: Sequence[float]) -> list[range]:
    """Index ranges of ``xs`` without gaps: a step over 3x the typical one starts a new range,
    so lines and bands never bridge time without data."""
    if len(xs) < 3:
        return [range(len(xs))]
    steps = sorted(b - a for a, b in pairwise(xs))
    typical = steps[len(steps) // 2]
    limit = 3.0 * typical if typical > 0 else math.inf
    out: list[range] = []
    start = 0
    for i in range(1, len(xs)):
        if xs[i] - xs[i - 1] > limit:
            out.append(range(start, i))
            start = i
    out.append(range(start, len(xs)))
    return out


def _polyline(axes: _Axes, xs: Sequence[float], ys: Sequence[float]) -> QPainterPath:
    path = QPainterPath()
    for part in segments(xs):
        for n, i in enumerate(part):
            point = QPointF(axes.px(xs[i]), axes.py(ys[i]))
            if n == 0:
                path.moveTo(point)
            else:
                path.lineTo(point)
    return path


def draw_health_trend(
    painter: QPainter,
    rect: QRectF,
    series: HealthSeries,
    result: ComponentResult,
    thresholds: StatusThresholds,
    family: str,
    unit: float,
) -> None:
    """Health over time with the warning/critical lines, worst-window envelope and the trend fit."""
    if not series.t:
        _no_data(painter, rect, "no health history stored for this component", family, unit)
        return
    t_start, t_end = series.t[0], series.t[-1]
    trend = result.trend
    projection: tuple[float, float] | None = None
    if trend is not None and trend.rate_per_100h is not None and trend.rate_per_100h > 0:
        # Project along the measured rate until critical, at most half the history ahead.
        span = max(t_end - t_start, 3600.0)
        last = series.health[-1]
        hours = (last - thresholds.critical) / (trend.rate_per_100h / 100.0)
        horizon = min(max(hours, 0.0) * 3600.0, 0.5 * span)
        if horizon > 0:
            projection = (t_end + horizon, last - trend.rate_per_100h / 100.0 * horizon / 3600.0)
    x1 = projection[0] if projection else t_end
    if x1 - t_start < 60:
        x1 = t_start + 60
    axes = _Axes(painter, rect, (t_start, x1), (0.0, 1.0), family, unit)
    axes.labels_left = projection is not None
    painter.save()
    painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
    below = QPainterPath()
    below.addRect(
        QRectF(
            axes.plot.left(),
            axes.py(thresholds.critical),
            axes.plot.width(),
            axes.py(0) - axes.py(thresholds.critical),
        )
    )
    hatch(painter, below, 6 * unit, 0.3 * unit, GRID)
    axes.frame()
    axes.hline(thresholds.healthy, f"warning below {thresholds.healthy:.2f}", Qt.PenStyle.DashLine)
    axes.hline(
        thresholds.critical, f"critical below {thresholds.critical:.2f}", Qt.PenStyle.DashDotLine
    )
    painter.setClipRect(axes.plot)
    painter.setPen(_pen("#555555", 0.5 * unit, Qt.PenStyle.DotLine))
    painter.drawPath(_polyline(axes, series.t, series.health_min))
    painter.setPen(_pen(INK, 1.1 * unit))
    painter.drawPath(_polyline(axes, series.t, series.health))
    painter.setBrush(QColor("white"))
    painter.setPen(_pen(INK, 0.6 * unit))
    if len(series.t) <= 120:
        for t, h in zip(series.t, series.health, strict=True):
            painter.drawEllipse(QPointF(axes.px(t), axes.py(h)), 1.4 * unit, 1.4 * unit)
    if projection is not None:
        painter.setPen(_pen(STATUS_STYLES[Status.CRITICAL].ink, 1.0 * unit, Qt.PenStyle.DashLine))
        painter.drawLine(
            QLineF(
                axes.px(t_end),
                axes.py(series.health[-1]),
                axes.px(projection[0]),
                axes.py(projection[1]),
            )
        )
    painter.setClipping(False)
    axes.labels()
    painter.restore()
    _legend_line(
        painter,
        rect,
        [
            ("mean health", Qt.PenStyle.SolidLine),
            ("worst window", Qt.PenStyle.DotLine),
            *([("measured trend, projected", Qt.PenStyle.DashLine)] if projection else []),
        ],
        family,
        unit,
    )


def _legend_line(
    painter: QPainter,
    rect: QRectF,
    entries: list[tuple[str, Qt.PenStyle]],
    family: str,
    unit: float,
) -> None:
    small = font(family, 6.0)
    fm = QFontMetricsF(small, painter.device())
    painter.save()
    painter.setFont(small)
    x = rect.left() + fm.horizontalAdvance("0000.0") + 10 * unit
    y = rect.top() + 9 * unit
    width = sum(fm.horizontalAdvance(t) + 24 * unit for t, _ in entries)
    painter.fillRect(
        QRectF(x - 3 * unit, y - 6 * unit, width + 2 * unit, 10 * unit), QColor("white")
    )
    for text, style in entries:
        painter.setPen(_pen(INK, 1.0 * unit, style))
        painter.drawLine(QLineF(x, y - 2 * unit, x + 14 * unit, y - 2 * unit))
        painter.setPen(INK)
        painter.drawText(QPointF(x + 17 * unit, y), text)
        x += fm.horizontalAdvance(text) + 24 * unit
    painter.restore()


def _no_data(painter: QPainter, rect: QRectF, text: str, family: str, unit: float) -> None:
    painter.save()
    painter.setPen(_pen(GRID, 0.6 * unit, Qt.PenStyle.DashLine))
    painter.drawRect(rect)
    painter.setFont(font(family, 8, italic=True))
    painter.setPen(INK)
    painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)
    painter.restore()


def draw_sensor_plot(
    painter: QPainter,
    rect: QRectF,
    series: SensorSeries,
    window: tuple[float, float],
    family: str,
    unit: float,
) -> None:
    """min–max envelope and mean of a sensor; anomalous windows hatched, limit violations
    cross-hatched, limits as labelled lines."""
    if not series.t:
        _no_data(
            painter, rect, f"no {series.sensor_id} samples in the diagnosed window", family, unit
        )
        return
    lo, hi = min(series.lo), max(series.hi)
    limits: list[tuple[float, str, Qt.PenStyle]] = []
    if series.limits is not None:
        for name, value, style in (
            ("warning high", series.limits.warning_high, Qt.PenStyle.DashLine),
            ("alarm high", series.limits.alarm_high, Qt.PenStyle.DashDotLine),
            ("warning low", series.limits.warning_low, Qt.PenStyle.DashLine),
            ("alarm low", series.limits.alarm_low, Qt.PenStyle.DashDotLine),
        ):
            if value is not None:
                limits.append((value, f"{name} {value:g} {series.unit}", style))
    # Show a limit when the data comes near it (within half the data's range); never all of
    # the plausible range, which would flatten the signal.
    pad = max(hi - lo, 1e-6)
    for value, _, _ in limits:
        if lo - 0.5 * pad <= value <= hi + 0.5 * pad:
            lo, hi = min(lo, value), max(hi, value)
    pad = max(hi - lo, 1e-6) * 0.08
    axes = _Axes(painter, rect, window, (lo - pad, hi + pad), family, unit)
    painter.save()
    painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
    strip_h = 6 * unit
    for span in series.anomalous_spans:
        painter.fillPath(axes.band(span.start, span.end), QColor("#ededed"))
    for violation in series.violations:
        t0 = (violation.start - datetime(1970, 1, 1)).total_seconds()
        t1 = (violation.end - datetime(1970, 1, 1)).total_seconds()
        band = axes.band(t0, t1)
        hatch(painter, band, 2.5 * unit, 0.5 * unit, STATUS_STYLES[Status.CRITICAL].ink, cross=True)
        painter.setPen(_pen(STATUS_STYLES[Status.CRITICAL].ink, 0.8 * unit))
        painter.drawPath(band)
    axes.frame()
    for value, label, style in limits:
        axes.hline(value, label, style)
    painter.setClipRect(axes.plot)
    envelope = QPainterPath()
    for part in segments(series.t):
        idx = list(part)
        envelope.moveTo(axes.px(series.t[idx[0]]), axes.py(series.hi[idx[0]]))
        for i in idx[1:]:
            envelope.lineTo(axes.px(series.t[i]), axes.py(series.hi[i]))
        for i in reversed(idx):
            envelope.lineTo(axes.px(series.t[i]), axes.py(series.lo[i]))
        envelope.closeSubpath()
    painter.fillPath(envelope, QColor("#d5d5d5"))
    painter.setPen(_pen("#9a9a9a", 0.3 * unit))
    painter.drawPath(envelope)
    painter.setPen(_pen(INK, 0.8 * unit))
    painter.drawPath(_polyline(axes, series.t, series.mean))
    # Anomalous windows: a hatched strip along the top edge (readable without colour), over a
    # light background band behind the data.
    for span in series.anomalous_spans:
        strip = QPainterPath()
        left = max(axes.px(span.start), axes.plot.left())
        right = min(axes.px(span.end), axes.plot.right())
        strip.addRect(QRectF(left, axes.plot.top(), max(right - left, 0.8 * unit), strip_h))
        painter.fillPath(strip, QColor("white"))
        hatch(painter, strip, 2.0 * unit, 0.5 * unit, INK)
    painter.setClipping(False)
    axes.labels()
    painter.restore()
    small = font(family, 6.0)
    fm = QFontMetricsF(small, painter.device())
    painter.save()
    painter.setFont(small)
    x = axes.plot.left() + 4 * unit
    y = axes.plot.top() + (9 if series.anomalous_spans else 3) * unit
    entries: list[tuple[str, str]] = [("band", "min–max per bucket"), ("line", "mean")]
    if series.anomalous_spans:
        entries.append(("hatch", "windows the model flagged anomalous (top strip)"))
    if series.violations:
        entries.append(("cross", "limit violation"))
    width = sum(fm.horizontalAdvance(t) + 20 * unit for _, t in entries)
    painter.fillRect(QRectF(x - 2 * unit, y - 1 * unit, width, 9 * unit), QColor("white"))
    for kind, text in entries:
        swatch = QRectF(x, y, 12 * unit, 6 * unit)
        path = QPainterPath()
        path.addRect(swatch)
        if kind == "band":
            painter.fillPath(path, QColor("#d5d5d5"))
        elif kind == "line":
            painter.setPen(_pen(INK, 0.8 * unit))
            painter.drawLine(
                QLineF(swatch.left(), swatch.center().y(), swatch.right(), swatch.center().y())
            )
        elif kind == "hatch":
            painter.fillPath(path, QColor("#ededed"))
            hatch(painter, path, 2.0 * unit, 0.5 * unit, INK)
        else:
            hatch(
                painter,
                path,
                2.0 * unit,
                0.5 * unit,
                STATUS_STYLES[Status.CRITICAL].ink,
                cross=True,
            )
        painter.setPen(INK)
        painter.drawText(QPointF(x + 15 * unit, y + 5.5 * unit), text)
        x += fm.horizontalAdvance(text) + 20 * unit
    painter.restore()
