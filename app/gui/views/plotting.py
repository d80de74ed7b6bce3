"""pyqtgraph set-up shared by the plot views (imported lazily: pyqtgraph pulls numpy+Qt).

Time axes show the zone the settings choose (:mod:`app.core.timefmt`) and name it with the
dates in view; value axes keep the unit they are given (no "(x0.001)" prefixes); every plot
view has a visible Export button (PNG, CSV of the shown range), a cursor readout and says "no
data" instead of drawing empty axes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QObject, QPointF, Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QFileDialog, QLabel, QMenu, QToolButton, QWidget

from app.core import timefmt

_configured = False


def configure() -> None:
    """Light background, antialiasing off for speed on long series (on for short ones per item)."""
    global _configured
    if _configured:
        return
    pg.setConfigOptions(background="w", foreground="#1f2933", antialias=False, useNumba=False)
    _configured = True


class TimeAxis(pg.DateAxisItem):  # type: ignore[misc]
    """A time axis in the shown zone (local or UTC), labelled with the zone and the dates in
    view ("Time (CET) · 30 Nov 2026"), so that an hour-and-minute tick is never dateless."""

    def __init__(self, title: str = "Time") -> None:
        super().__init__(orientation="bottom", utcOffset=-timefmt.offset_seconds())
        self.title = title
        self._shown = ""

    def follow(self, view: pg.ViewBox) -> None:
        """Keep the label's dates in step with ``view``'s x range."""
        view.sigXRangeChanged.connect(lambda _v, r: self._on_range(float(r[0]), float(r[1])))

    def refresh_zone(self) -> None:
        self.utcOffset = -timefmt.offset_seconds()
        self.picture = None
        self.update()

    def _on_range(self, lo: float, hi: float) -> None:
        text = range_label(lo, hi, self.title)
        if text != self._shown:
            self._shown = text
            self.setLabel(text)


def range_label(lo: float, hi: float, title: str = "Time") -> str:
    """``Time (CET) · 30 Nov 2026`` or ``Time (UTC) · 29 Nov – 2 Dec 2026`` for epoch seconds."""
    try:
        a, b = (timefmt.shown(from_epoch(v)) for v in (lo, max(lo, hi)))
    except (OverflowError, OSError, ValueError):
        return f"{title} ({timefmt.zone_name()})"
    if a.date() == b.date():
        dates = f"{a.day} {a:%b %Y}"
    elif a.year == b.year:
        dates = f"{a.day} {a:%b} – {b.day} {b:%b %Y}"
    else:
        dates = f"{a.day} {a:%b %Y} – {b.day} {b:%b %Y}"
    return f"{title} ({timefmt.zone_name(from_epoch(hi))}) · {dates}"


class PercentAxis(pg.AxisItem):  # type: ignore[misc]
    """A 0–1 axis labelled in % (health reads in % everywhere)."""

    def __init__(self, orientation: str = "left") -> None:
        super().__init__(orientation)
        self.enableAutoSIPrefix(False)

    def tickStrings(self, values: list[float], scale: float, spacing: float) -> list[str]:
        return [f"{100 * v:.0f}" for v in values]


def time_axis(title: str = "Time") -> TimeAxis:
    return TimeAxis(title)


def utc_axis() -> pg.DateAxisItem:
    """A time axis in the shown zone (kept for callers that only want the axis)."""
    return TimeAxis()


def value_axis(plot: pg.PlotItem, unit: str) -> None:
    """The left axis shows ``unit`` as given, with decimals, never a "(x0.001)" prefix."""
    axis = plot.getAxis("left")
    axis.enableAutoSIPrefix(False)
    plot.setLabel("left", unit)


def to_epoch(value: datetime) -> float:
    return value.replace(tzinfo=UTC).timestamp() if value.tzinfo is None else value.timestamp()


def from_epoch(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC).replace(tzinfo=None)


class NoDataText:
    """'no data' in the middle of a plot whose curves are all empty."""

    def __init__(self, plot: pg.PlotItem, text: str = "no data") -> None:
        self.plot = plot
        self.item = pg.TextItem(text, color="#8a96a3", anchor=(0.5, 0.5))
        self.item.setZValue(50)
        plot.addItem(self.item, ignoreBounds=True)
        plot.getViewBox().sigRangeChanged.connect(lambda *_: self._centre())
        self.item.hide()

    def show(self, visible: bool) -> None:
        self.item.setVisible(visible)
        if visible:
            self._centre()

    def _centre(self) -> None:
        (x0, x1), (y0, y1) = self.plot.getViewBox().viewRange()
        self.item.setPos((x0 + x1) / 2, (y0 + y1) / 2)


Curves = Callable[[], Sequence[tuple[str, str, pg.PlotDataItem]]]  # (name, unit, curve)


class CursorReadout(QObject):
    """Time and values under the mouse: a vertical line in each plot and a line of text
    ("08:41:12 CET · PS1 152.3 bar · TS1 45.1 °C"), from the nearest sample of each curve."""

    def __init__(
        self, scene: pg.GraphicsScene, plots: Callable[[], Sequence[pg.PlotItem]], curves: Curves,
        label: QLabel, *, value_format: Callable[[str, float, str], str] | None = None,
    ) -> None:  # fmt: skip
        super().__init__(label)
        self._plots = plots
        self._curves = curves
        self.label = label
        self._lines: dict[int, pg.InfiniteLine] = {}
        self._format = value_format or (lambda name, v, unit: f"{name} {v:.4g} {unit}".strip())
        scene.sigMouseMoved.connect(self._on_scene_mouse_moved)

    def _line(self, plot: pg.PlotItem) -> pg.InfiniteLine:
        line = self._lines.get(id(plot))
        if line is None or line.scene() is None:
            line = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen("#8a96a3", width=1))
            line.setZValue(40)
            plot.addItem(line, ignoreBounds=True)
            self._lines[id(plot)] = line
        return line

    def _on_scene_mouse_moved(self, pos: QPointF) -> None:
        plot = next((p for p in self._plots() if p.sceneBoundingRect().contains(pos)), None)
        if plot is None:
            return
        x = float(plot.getViewBox().mapSceneToView(pos).x())
        self.show_at(x)

    def show_at(self, x: float) -> None:
        """Put the cursor at ``x`` (epoch seconds) and say what each curve reads there."""
        for plot in self._plots():
            self._line(plot).setPos(x)
        parts = [timefmt.when(from_epoch(x), "%Y-%m-%d %H:%M:%S")]
        for name, unit, curve in self._curves():
            if not curve.isVisible():
                continue
            xs, ys = curve.getOriginalDataset()
            if xs is None or not len(xs):
                continue
            i = int(np.clip(np.searchsorted(xs, x), 1, len(xs) - 1))
            j = i - 1 if abs(xs[i - 1] - x) <= abs(xs[i] - x) else i
            if np.isfinite(ys[j]):
                parts.append(self._format(name, float(ys[j]), unit))
        self.label.setText(" · ".join(parts))


def export_button(
    parent: QWidget, on_png: Callable[[Path], object], on_csv: Callable[[Path], object], what: str
) -> QToolButton:
    """A visible "Export ▾" button: the picture as PNG, or the shown range's data as CSV."""
    button = QToolButton(parent)
    button.setText("Export")
    button.setToolTip(f"Save the {what} as a picture (PNG) or its shown range as data (CSV)")
    button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
    button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
    menu = QMenu(button)
    png = QAction("Picture (PNG)…", menu)
    csv = QAction("Data of the shown range (CSV)…", menu)
    png.triggered.connect(lambda: _ask_path(parent, "PNG image (*.png)", ".png", on_png))
    csv.triggered.connect(lambda: _ask_path(parent, "CSV (*.csv)", ".csv", on_csv))
    menu.addAction(png)
    menu.addAction(csv)
    button.setMenu(menu)
    return button


def _ask_path(
    parent: QWidget, filter_text: str, suffix: str, then: Callable[[Path], object]
) -> None:
    path, _ = QFileDialog.getSaveFileName(parent, "Export", str(Path.home()), filter_text)
    if path:
        then(Path(path if path.lower().endswith(suffix) else path + suffix))
