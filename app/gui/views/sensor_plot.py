"""SensorPlotPanel: raw sensor plots with linked time axes, one plot per unit.

Sensors sharing a unit share a plot (so the axis says what the numbers are); all plots share
the time axis. A plot is built the first time one of its sensors is checked (building all of
them up front blocked the first open of the tab for 0.2 s). Curves use clip-to-view and peak
downsampling so hours of 100 Hz data pan and zoom smoothly. Model windows flagged anomalous,
limit violations and data gaps are shaded; known conditions (labels) sit in a strip of their
own above the plots, so they never cover a curve or a limit line. Colours are explained in
the sensor list (each name in its curve's colour), not by legends over the curves; a cursor
readout gives time and values under the mouse; Export saves the picture or the shown range.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QSplitter,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.core import timefmt
from app.core.export import write_series_csv
from app.core.markers import Marker, diagnosis_markers
from app.core.presentation import series_color
from app.core.units import convert, convert_scalar, display_unit
from app.gui.views import plotting
from ingestion.profiles import EquipmentProfile, Sensor

MARKER_COLORS = {
    "anomaly": (204, 121, 167, 60),
    "violation": (200, 50, 42, 70),
    "gap": (120, 120, 120, 70),
    "label": (0, 114, 178, 110),
}
LABEL_STRIP_PX = 26


RANGES = (
    ("diagnosed range", "diagnosis"),
    ("last 8 hours", "last8h"),
    ("all data", "all"),
)


def break_at_gaps(
    t: np.ndarray, v: np.ndarray, factor: float = 5.0
) -> tuple[np.ndarray, np.ndarray]:
    """The series with a NaN wherever samples are missing for more than ``factor`` times the
    usual interval, so the line breaks at a dropout instead of bridging it (the arrays are
    returned unchanged, not copied, when there is no such gap)."""
    if len(t) < 3:
        return t, v
    dt = np.diff(t)
    usual = float(np.median(dt))
    gaps = np.flatnonzero(dt > factor * usual) + 1 if usual > 0 else np.array([], dtype=np.intp)
    if not gaps.size:
        return t, v
    mid = (t[gaps - 1] + t[gaps]) / 2
    return np.insert(t, gaps, mid), np.insert(v.astype(np.float64), gaps, np.nan)


class SensorPlotPanel(QWidget):
    """Checked sensors are plotted; ``seriesRequested`` asks the owner to load missing data
    (for :attr:`range_key`: the diagnosed range, the last 8 hours or everything), and
    ``windowRequested`` (epoch seconds) the data of a zoomed or panned view, when the owner
    loads about a screen's width of points per curve (``set_series(..., window=...)``)."""

    seriesRequested = Signal(list)
    windowRequested = Signal(float, float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        plotting.configure()
        self.profile: EquipmentProfile | None = None
        self.pressure_unit = "bar"
        self.temperature_unit = "°C"
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Sensor", "Unit"])
        self.tree.setMinimumWidth(200)
        self.tree.setMaximumWidth(320)
        self.tree.setTextElideMode(Qt.TextElideMode.ElideNone)
        self.tree.itemChanged.connect(self._on_tree_item_changed)
        self.graphics = pg.GraphicsLayoutWidget()
        self.info = QLabel("")
        self.info.setStyleSheet("color: #3c4650;")
        self.readout = QLabel("Move the mouse over a plot to read time and values.")
        self.readout.setStyleSheet("color: #3c4650;")
        self.readout.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        top = QHBoxLayout()
        top.addWidget(self.readout, 1)
        self.export_button = plotting.export_button(
            self, self.export_png, self.export_csv, "sensor plots"
        )
        top.addWidget(self.export_button)
        right_layout.addLayout(top)
        right_layout.addWidget(self.graphics, 1)
        bottom = QHBoxLayout()
        self.range_choice = QComboBox()
        for text, key in RANGES:
            self.range_choice.addItem(text, key)
        self.range_choice.setToolTip("How much data to load: long logs load faster in parts")
        self.range_choice.currentIndexChanged.connect(self._on_range_choice_changed)
        bottom.addWidget(QLabel("Show:"))
        bottom.addWidget(self.range_choice)
        bottom.addWidget(self.info, 1)
        legend = QLabel(
            "<span style='background:#e9c6dc'>&nbsp;anomalous window&nbsp;</span> "
            "<span style='background:#eab9b6'>&nbsp;limit violation&nbsp;</span> "
            "<span style='background:#d6d6d6'>&nbsp;gap&nbsp;</span> "
            "<span style='background:#7fb3d9'>&nbsp;known condition (top strip)&nbsp;</span>"
        )
        bottom.addWidget(legend)
        right_layout.addLayout(bottom)
        self.splitter = splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.tree)
        splitter.addWidget(right)
        splitter.setStretchFactor(1, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(splitter)
        self.plots: dict[str, pg.PlotItem] = {}  # unit -> plot (built when first needed)
        self.curves: dict[str, pg.PlotDataItem] = {}  # sensor -> curve (built when first needed)
        self.limit_lines: dict[str, list[pg.InfiniteLine]] = {}
        self.no_data: dict[str, plotting.NoDataText] = {}
        self.items: dict[str, QTreeWidgetItem] = {}
        self.loaded: set[str] = set()
        self.markers: list[Marker] = []
        self._marker_items: list[tuple[pg.PlotItem, pg.LinearRegionItem]] = []
        self._raw: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._fit_x = True
        self.loaded_window: tuple[float, float] | None = None  # what the loaded points cover
        self._view_timer = QTimer(self, singleShot=True, interval=150)
        self._view_timer.timeout.connect(self._on_view_timer_timeout)
        self._first: pg.PlotItem | None = None
        self._placed: tuple[tuple[str, ...], tuple[str, ...]] | None = None  # markers shown for
        self._color: dict[str, str] = {}  # sensor -> its curve's colour (and its name's)
        self.time_axis: plotting.TimeAxis | None = None
        self.label_strip = self._make_label_strip()
        self.readout_cursor = plotting.CursorReadout(
            self.graphics.scene(), self._shown_plots, self._shown_curves, self.readout
        )

    # -- new data --------------------------------------------------------------------

    def set_profile(self, profile: EquipmentProfile, checked: list[str] | None = None) -> None:
        """The sensor list for ``profile``; plots and curves are built as sensors are checked."""
        self.profile = profile
        self.graphics.clear()
        self.plots, self.curves, self.limit_lines, self.items = {}, {}, {}, {}
        self.no_data = {}
        self.loaded, self._raw, self._marker_items = set(), {}, []
        self._fit_x = True
        self._first = None
        self._placed = None
        self.time_axis = None
        self.label_strip = self._make_label_strip()
        self.tree.blockSignals(True)
        self.tree.clear()
        default = set(checked) if checked is not None else {s.id for s in profile.sensors[:4]}
        for i, sensor in enumerate(profile.sensors):
            self._color[sensor.id] = series_color(i)
        for comp in profile.components:
            sensors = profile.sensors_of(comp.id)
            if not sensors:
                continue
            parent = QTreeWidgetItem([component_label(comp.id, comp.name), ""])
            parent.setToolTip(0, f"{comp.id} — {comp.name}")
            parent.setFlags(parent.flags() & ~Qt.ItemFlag.ItemIsUserCheckable)
            self.tree.addTopLevelItem(parent)
            parent.setFirstColumnSpanned(True)  # the component's name across both columns
            for sensor in sensors:
                item = QTreeWidgetItem([sensor.id, sensor.unit])
                tip = f"{sensor.id}: {sensor.quantity.value} on {comp.id}"
                item.setToolTip(0, f"{tip}\n{sensor.description}" if sensor.description else tip)
                item.setForeground(0, QBrush(QColor(self._color[sensor.id])))
                item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
                item.setCheckState(
                    0, Qt.CheckState.Checked if sensor.id in default else Qt.CheckState.Unchecked
                )
                parent.addChild(item)
                self.items[sensor.id] = item
            parent.setExpanded(True)
        self.tree.resizeColumnToContents(1)
        # Wide enough for the longest component name (it spans both columns), up to 320 px.
        metrics = self.tree.fontMetrics()
        labels = [component_label(c.id, c.name) for c in profile.components]
        widest = max((metrics.horizontalAdvance(label) for label in labels), default=0)
        want = min(320, max(200, widest + self.tree.indentation() + 36))
        total = sum(self.splitter.sizes())
        if self.tree.width() < want and total > want:
            self.splitter.setSizes([want, total - want])
        self.tree.setColumnWidth(0, max(120, self.tree.width() - self.tree.columnWidth(1) - 24))
        self.tree.blockSignals(False)
        self._relayout()

    def _make_label_strip(self) -> pg.PlotItem:
        """A thin plot above the others for the known conditions (labels), x-linked to them."""
        strip = pg.PlotItem()
        strip.hideAxis("bottom")
        strip.getAxis("left").setWidth(62)
        strip.getAxis("left").setTicks([[]])
        strip.setLabel("left", "labels")
        strip.setMouseEnabled(x=True, y=False)
        strip.setYRange(0, 1, padding=0)
        return strip

    def _plot_for(self, unit: str) -> pg.PlotItem:
        """The plot of ``unit`` (built, axes linked, on first use)."""
        plot = self.plots.get(unit)
        if plot is not None:
            return plot
        axis = plotting.time_axis()
        plot = pg.PlotItem(axisItems={"bottom": axis})
        plot.showGrid(x=True, y=True, alpha=0.15)
        plot.setMouseEnabled(x=True, y=False)
        plot.enableAutoRange(axis="y", enable=True)
        plot.setAutoVisible(y=True)
        # PlotItem.addItem imposes the plot's own modes on its curves: set them here.
        plot.setClipToView(True)
        plot.setDownsampling(auto=True, mode="peak")
        plot.getAxis("left").setWidth(62)
        plotting.value_axis(plot, display_unit(unit, self.pressure_unit, self.temperature_unit))
        if self._first is None:
            self._first = plot
            self.label_strip.setXLink(plot)
            plot.sigXRangeChanged.connect(lambda *_: self._view_timer.start())
        else:
            plot.setXLink(self._first)
        axis.follow(plot.getViewBox())
        self.plots[unit] = plot
        self.no_data[unit] = plotting.NoDataText(plot)
        return plot

    def _curve_for(self, sensor_id: str) -> pg.PlotDataItem:
        curve = self.curves.get(sensor_id)
        if curve is None:
            sensor = self._sensor(sensor_id)
            curve = pg.PlotDataItem(
                [], [], name=sensor_id, pen=pg.mkPen(self._color[sensor_id], width=1),
                connect="finite",
            )  # fmt: skip
            curve.setVisible(False)
            self._plot_for(sensor.unit).addItem(curve)
            self.curves[sensor_id] = curve
            self.limit_lines[sensor_id] = self._make_limit_lines(sensor)
        return curve

    def _make_limit_lines(self, sensor: Sensor) -> list[pg.InfiniteLine]:
        lines: list[pg.InfiniteLine] = []
        if sensor.limits is None:
            return lines
        target = display_unit(sensor.unit, self.pressure_unit, self.temperature_unit)
        for name, color in (
            ("warning_low", "#f0a202"),
            ("warning_high", "#f0a202"),
            ("alarm_low", "#c8322a"),
            ("alarm_high", "#c8322a"),
        ):
            value = getattr(sensor.limits, name)
            if value is None:
                continue
            line = pg.InfiniteLine(
                pos=convert_scalar(value, sensor.unit, target),
                angle=0,
                movable=False,
                pen=pg.mkPen(color, width=1, style=Qt.PenStyle.DashLine),
                label=f"{sensor.id} {name.replace('_', ' ')}",
                # inside the band it guards: under a high limit, over a low one (never cut off
                # by the plot's top or bottom edge)
                labelOpts={
                    "position": 0.02,
                    "color": color,
                    "anchors": [(0, 0), (0, 0)] if name.endswith("high") else [(0, 1), (0, 1)],
                },
            )
            line.setProperty("limit_value", value)
            line.setProperty("unit", sensor.unit)
            lines.append(line)
        return lines

    def checked_sensors(self) -> list[str]:
        return [
            sid for sid, item in self.items.items() if item.checkState(0) == Qt.CheckState.Checked
        ]

    def set_checked(self, sensor_ids: list[str]) -> None:
        self.tree.blockSignals(True)
        for sid, item in self.items.items():
            item.setCheckState(
                0, Qt.CheckState.Checked if sid in sensor_ids else Qt.CheckState.Unchecked
            )
        self.tree.blockSignals(False)
        self._on_selection_changed()

    def set_units(self, pressure_unit: str, temperature_unit: str) -> None:
        self.pressure_unit, self.temperature_unit = pressure_unit, temperature_unit
        for sensor_id in list(self.curves):
            if sensor_id in self._raw:
                self._apply(sensor_id)
            else:
                self._place_limits(sensor_id)
        self._relayout()

    def set_series(
        self,
        series: dict[str, tuple[np.ndarray, np.ndarray]],
        window: tuple[float, float] | None = None,
    ) -> None:
        """New data: (epoch seconds, values in the profile's unit) per sensor; ``window``: the
        range it covers when it is reduced to the screen (zooming in then asks for more)."""
        self.loaded_window = window
        known = set(self.loaded)
        for sensor_id, (t, v) in series.items():
            if self.profile is None or sensor_id not in self.profile.sensor_ids:
                continue
            self._curve_for(sensor_id)
            t = self._shared_time(t)
            self._raw[sensor_id] = (t, v)
            self.loaded.add(sensor_id)
            self._apply(sensor_id)
        total = sum(len(t) for t, _ in self._raw.values())
        self.info.setText(f"{len(self._raw)} sensor(s) loaded, {total:,} samples")
        if not set(series) <= known:  # a zoom's reload of the same sensors keeps the layout
            self._relayout()
        if self._fit_x and self._first is not None and total:
            # A new equipment or range: show all of it. Adding a sensor keeps the user's zoom.
            self._fit_x = False
            self._first.enableAutoRange(axis="x")

    def _shared_time(self, t: np.ndarray) -> np.ndarray:
        """Sensors sampled at the same instants share one time array (8 bytes per sample
        saved per sensor: half the memory of hours of 100 Hz data)."""
        for other, _ in self._raw.values():
            if other is t:
                return t
            if (
                len(other) == len(t)
                and len(t)
                and other[0] == t[0]
                and other[-1] == t[-1]
                and np.array_equal(other, t)
            ):
                return other
        return t

    def _sensor(self, sensor_id: str) -> Sensor:
        assert self.profile is not None
        return self.profile.sensor(sensor_id)

    def _unit_of(self, sensor_id: str) -> str:
        return self._sensor(sensor_id).unit

    def _target(self, sensor_id: str) -> str:
        return display_unit(self._unit_of(sensor_id), self.pressure_unit, self.temperature_unit)

    def _apply(self, sensor_id: str) -> None:
        t, v = self._raw[sensor_id]
        self.curves[sensor_id].setData(
            t, convert(v, self._unit_of(sensor_id), self._target(sensor_id))
        )
        self._place_limits(sensor_id)

    def _place_limits(self, sensor_id: str) -> None:
        unit, target = self._unit_of(sensor_id), self._target(sensor_id)
        for line in self.limit_lines.get(sensor_id, []):
            line.setValue(convert_scalar(float(line.property("limit_value")), unit, target))

    def set_markers(self, markers: list[Marker]) -> None:
        """Replace the shaded regions (few items: recreated, unlike the curves)."""
        self.markers = list(markers)
        self._placed = None
        self._relayout()

    def _place_markers(self) -> None:
        key = (tuple(self.checked_sensors()), tuple(self.plots))
        if key == self._placed:
            return  # same sensors, same plots: the regions in place are right
        self._placed = key
        for plot, item in self._marker_items:
            plot.removeItem(item)
        self._marker_items = []
        checked = set(self.checked_sensors())
        for marker in self.markers:
            color = MARKER_COLORS.get(marker.kind, (100, 100, 100, 50))
            values = (plotting.to_epoch(marker.start), plotting.to_epoch(marker.end))
            if marker.kind == "label":  # known conditions: their own strip above the plots
                targets = [self.label_strip]
            else:
                sensors = set(marker.sensors) & checked if marker.sensors else checked
                targets = [self.plots[u] for u in {self._unit_of(s) for s in sensors}]
            for plot in targets:
                region = pg.LinearRegionItem(
                    values=values, movable=False, brush=pg.mkBrush(*color), pen=pg.mkPen(None)
                )
                region.setZValue(-10)
                region.setToolTip(marker.text)
                plot.addItem(region, ignoreBounds=True)  # the data, not the marks, set the view
                self._marker_items.append((plot, region))

    # -- layout ------------------------------------------------------------------------

    def _relayout(self) -> None:
        """Show a plot row for each unit with a checked sensor (built on first need), under
        the known-conditions strip when there are labels; the items themselves persist."""
        checked = self.checked_sensors() if self.profile is not None else []
        self.graphics.ci.clear()
        units: list[str] = []
        for sid in checked:
            self._curve_for(sid)
            unit = self._unit_of(sid)
            if unit not in units:
                units.append(unit)
        for sid, curve in self.curves.items():
            visible = sid in checked
            curve.setVisible(visible)
            plot = self.plots[self._unit_of(sid)]
            for line in self.limit_lines[sid]:
                attached = line in plot.items
                if visible and not attached:
                    plot.addItem(line)
                elif not visible and attached:
                    plot.removeItem(line)
        row = 0
        grid = self.graphics.ci.layout
        if any(m.kind == "label" for m in self.markers) and units:
            self.graphics.ci.addItem(self.label_strip, row=0, col=0)
            grid.setRowFixedHeight(0, LABEL_STRIP_PX)
            grid.setRowStretchFactor(0, 0)
            row = 1
        for i, unit in enumerate(units):
            plot = self.plots[unit]
            plot.setLabel("left", display_unit(unit, self.pressure_unit, self.temperature_unit))
            plot.getAxis("bottom").setStyle(showValues=i == len(units) - 1)
            plot.getAxis("bottom").showLabel(i == len(units) - 1)
            self.graphics.ci.addItem(plot, row=row + i, col=0)
            grid.setRowStretchFactor(row + i, 1)
            grid.setRowMinimumHeight(row + i, 0)
            grid.setRowMaximumHeight(row + i, 1e6)
            shown = [self.curves[s] for s in checked if self._unit_of(s) == unit]
            self.no_data[unit].show(
                not any(len(c.xData if c.xData is not None else ()) for c in shown)
            )
        if not units:
            self.info.setText("Check sensors on the left to plot them.")
        self._place_markers()

    def _shown_plots(self) -> list[pg.PlotItem]:
        return [p for p in self.plots.values() if p.scene() is not None]

    def _shown_curves(self) -> list[tuple[str, str, pg.PlotDataItem]]:
        return [
            (sid, self._target(sid), self.curves[sid])
            for sid in self.checked_sensors()
            if sid in self.curves
        ]

    def shown_range(self) -> tuple[float, float] | None:
        if self._first is None:
            return None
        lo, hi = self._first.getViewBox().viewRange()[0]
        return float(lo), float(hi)

    def export_png(self, path: Path) -> None:
        self.graphics.grab().save(str(path))

    def export_csv(self, path: Path) -> int:
        """The checked sensors' samples in the shown time range, in their shown units."""
        span = self.shown_range()
        if span is None:
            return 0
        series = {
            sid: (
                self._raw[sid][0],
                convert(self._raw[sid][1], self._unit_of(sid), self._target(sid)),
            )
            for sid in self.checked_sensors()
            if sid in self._raw
        }
        return write_series_csv(path, series, {s: self._target(s) for s in series}, *span)

    def show_range(self, start: datetime, end: datetime) -> None:
        if self._first is not None:
            self._first.setXRange(plotting.to_epoch(start), plotting.to_epoch(end), padding=0)

    def refresh_times(self) -> None:
        """The time zone setting changed: redraw the time axes and the readout."""
        for plot in self.plots.values():
            axis = plot.getAxis("bottom")
            if isinstance(axis, plotting.TimeAxis):
                axis.refresh_zone()
        self.readout.setText(f"Times in {timefmt.zone_name()}.")

    @property
    def range_key(self) -> str:
        return str(self.range_choice.currentData())

    def set_range_key(self, key: str) -> None:
        self.range_choice.setCurrentIndex(max(0, self.range_choice.findData(key)))

    def _on_range_choice_changed(self, _index: int) -> None:
        # Everything shown so far belongs to the old range: reload what is checked, and ask
        # for no zoomed window of the old one meanwhile.
        self._view_timer.stop()
        self.loaded_window = None
        self.loaded = set()
        self._raw = {}
        for curve in self.curves.values():
            curve.setData([], [])
        self._fit_x = True
        self._on_selection_changed()

    def _on_view_timer_timeout(self) -> None:
        """Ask for the data of the view when it left the loaded window or zoomed in a lot."""
        if self.loaded_window is None or self._first is None:
            return
        lo, hi = self._first.getViewBox().viewRange()[0]
        w_lo, w_hi = self.loaded_window
        if lo < w_lo or hi > w_hi or (hi - lo) < (w_hi - w_lo) / 4:
            span = hi - lo
            self.windowRequested.emit(lo - span, hi + span)  # a screen each side, for panning

    def _on_tree_item_changed(self, item: QTreeWidgetItem, column: int) -> None:
        self._on_selection_changed()

    def _on_selection_changed(self) -> None:
        self._relayout()
        missing = [s for s in self.checked_sensors() if s not in self.loaded]
        if missing:
            self.seriesRequested.emit(missing)


def main() -> int:
    from app.gui.views._standalone import run_standalone

    def build() -> QWidget:
        from app.core.queries import equipment_profile, load_series
        from app.core.sample import sample_workspace_in_temp

        sample = sample_workspace_in_temp()
        store, equipment = sample.open(), sample.equipment_id
        profile = equipment_profile(store, equipment)
        panel = SensorPlotPanel()
        panel.set_profile(profile, ["PS1", "PS2", "EPS1", "VS1", "TS1"])
        panel.set_series(load_series(store, equipment, list(profile.sensor_ids)))
        panel.set_markers(diagnosis_markers(sample.diagnosis))
        panel.seriesRequested.connect(
            lambda ids: panel.set_series(load_series(store, equipment, ids))
        )
        return panel

    return run_standalone("Sensors", build)


def component_label(component_id: str, name: str) -> str:
    """A component as the Sensors tree names it: its name when that holds the id, else
    "id — name" ("RV1 — Pressure-relief valve RV1" said the id twice and was cut off)."""
    return name if component_id in name else f"{component_id} — {name}"


if __name__ == "__main__":
    raise SystemExit(main())
