"""The report's time-series charts: health trend and sensor envelope, on UTC time axes.

Drawn with QPainter in device units like every report chart (``unit`` = device units per
point). Limit violations are cross-hatched and anomalous windows hatched along the top, so a
black-and-white print keeps them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime
from itertools import pairwise

from PySide6.QtCore import QLineF, QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFontMetricsF, QPainter, QPainterPath

from app.core.presentation import STATUS_STYLES
from app.report.charts import GRID, hatch, pen
from app.report.layout import INK, font
from app.report.model import HealthSeries, SensorSeries
from gnn.results import ComponentResult, Status, StatusThresholds
from gnn.wording import health_text

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
            p.setPen(pen(GRID, 0.3 * u))
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
            p.setPen(pen(GRID, 0.3 * u))
            p.drawLine(QLineF(x, self.plot.top(), x, self.plot.bottom()))
            label = utc_label(t, fmt)
            w = fm.horizontalAdvance(label)
            if x - w / 2 < last_right + 4 * u or x + w / 2 > self.plot.right() + 10 * u:
                continue
            p.setPen(INK)
            p.drawText(QPointF(x - w / 2, self.plot.bottom() + fm.ascent() + 2 * u), label)
            last_right = x + w / 2
        p.setPen(pen(INK, 0.6 * u))
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
        p.setPen(pen(INK, 0.7 * u, style))
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
    axes.hline(
        thresholds.healthy, f"warning below {health_text(thresholds.healthy)}", Qt.PenStyle.DashLine
    )
    axes.hline(
        thresholds.critical, f"critical below {thresholds.critical:.2f}", Qt.PenStyle.DashDotLine
    )
    painter.setClipRect(axes.plot)
    painter.setPen(pen("#555555", 0.5 * unit, Qt.PenStyle.DotLine))
    painter.drawPath(_polyline(axes, series.t, series.health_min))
    painter.setPen(pen(INK, 1.1 * unit))
    painter.drawPath(_polyline(axes, series.t, series.health))
    painter.setBrush(QColor("white"))
    painter.setPen(pen(INK, 0.6 * unit))
    if len(series.t) <= 120:
        for t, h in zip(series.t, series.health, strict=True):
            painter.drawEllipse(QPointF(axes.px(t), axes.py(h)), 1.4 * unit, 1.4 * unit)
    if projection is not None:
        painter.setPen(pen(STATUS_STYLES[Status.CRITICAL].ink, 1.0 * unit, Qt.PenStyle.DashLine))
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
        painter.setPen(pen(INK, 1.0 * unit, style))
        painter.drawLine(QLineF(x, y - 2 * unit, x + 14 * unit, y - 2 * unit))
        painter.setPen(INK)
        painter.drawText(QPointF(x + 17 * unit, y), text)
        x += fm.horizontalAdvance(text) + 24 * unit
    painter.restore()


def _no_data(painter: QPainter, rect: QRectF, text: str, family: str, unit: float) -> None:
    painter.save()
    painter.setPen(pen(GRID, 0.6 * unit, Qt.PenStyle.DashLine))
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
        painter.setPen(pen(STATUS_STYLES[Status.CRITICAL].ink, 0.8 * unit))
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
    painter.setPen(pen("#9a9a9a", 0.3 * unit))
    painter.drawPath(envelope)
    painter.setPen(pen(INK, 0.8 * unit))
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
            painter.setPen(pen(INK, 0.8 * unit))
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
