"""SensorPlotPanel: raw sensor plots with linked time axes, one plot per unit.

Sensors sharing a unit share a plot (so the axis says what the numbers are); all plots share
the time axis. Curves use clip-to-view and peak downsampling so hours of 100 Hz data pan and
zoom smoothly. Model windows flagged anomalous, limit violations, data gaps and dataset or
inspection labels are marked as shaded regions.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
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


RANGES = (
    ("diagnosed range", "diagnosis"),
    ("last 8 hours", "last8h"),
    ("all data", "all"),
)


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
        self.tree.setMinimumWidth(170)
        self.tree.setMaximumWidth(260)
        self.tree.itemChanged.connect(self._on_tree_item_changed)
        self.graphics = pg.GraphicsLayoutWidget()
        self.info = QLabel("")
        self.info.setStyleSheet("color: #3c4650;")
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
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
            "<span style='background:#7fb3d9'>&nbsp;known condition (label, top strip)&nbsp;</span>"
        )
        bottom.addWidget(legend)
        right_layout.addLayout(bottom)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.tree)
        splitter.addWidget(right)
        splitter.setStretchFactor(1, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(splitter)
        self.plots: dict[str, pg.PlotItem] = {}  # unit -> plot
        self.curves: dict[str, pg.PlotDataItem] = {}  # sensor -> curve
        self.limit_lines: dict[str, list[pg.InfiniteLine]] = {}
        self.items: dict[str, QTreeWidgetItem] = {}
        self.loaded: set[str] = set()
        self.markers: list[Marker] = []
        self._marker_items: list[tuple[pg.PlotItem, pg.LinearRegionItem]] = []
        self._raw: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._fit_x = True
        self.loaded_window: tuple[float, float] | None = None  # what the loaded points cover
        self._view_timer = QTimer(self, singleShot=True, interval=150)
        self._view_timer.timeout.connect(self._on_view_timer_timeout)

    # -- new data --------------------------------------------------------------------

    def set_profile(self, profile: EquipmentProfile, checked: list[str] | None = None) -> None:
        """Create the sensor list, one plot per unit and one curve per sensor (once)."""
        self.profile = profile
        self.graphics.clear()
        self.plots, self.curves, self.limit_lines, self.items = {}, {}, {}, {}
        self.loaded, self._raw, self._marker_items = set(), {}, []
        self._fit_x = True
        self.tree.blockSignals(True)
        self.tree.clear()
        default = set(checked) if checked is not None else {s.id for s in profile.sensors[:4]}
        for comp in profile.components:
            sensors = profile.sensors_of(comp.id)
            if not sensors:
                continue
            parent = QTreeWidgetItem([f"{comp.id} — {comp.name}", ""])
            parent.setFlags(parent.flags() & ~Qt.ItemFlag.ItemIsUserCheckable)
            self.tree.addTopLevelItem(parent)
            for sensor in sensors:
                item = QTreeWidgetItem([sensor.id, sensor.unit])
                item.setToolTip(
                    0, f"{sensor.id}: {sensor.quantity.value} on {comp.id}\n{sensor.description}"
                )
                item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
                item.setCheckState(
                    0, Qt.CheckState.Checked if sensor.id in default else Qt.CheckState.Unchecked
                )
                parent.addChild(item)
                self.items[sensor.id] = item
            parent.setExpanded(True)
        self.tree.setColumnWidth(0, 150)
        self.tree.resizeColumnToContents(1)
        self.tree.blockSignals(False)
        first: pg.PlotItem | None = None
        for i, sensor in enumerate(profile.sensors):
            unit = sensor.unit
            if unit not in self.plots:
                plot = pg.PlotItem(axisItems={"bottom": plotting.utc_axis()})
                plot.showGrid(x=True, y=True, alpha=0.15)
                plot.setMouseEnabled(x=True, y=False)
                plot.enableAutoRange(axis="y", enable=True)
                plot.setAutoVisible(y=True)
                # PlotItem.addItem imposes the plot's own modes on its curves: set them here.
                plot.setClipToView(True)
                plot.setDownsampling(auto=True, mode="peak")
                plot.getAxis("left").setWidth(62)
                plot.addLegend(
                    offset=(-10, -5), labelTextSize="8pt"
                )  # bottom right: clear of the label strip
                if first is None:
                    first = plot
                    plot.sigXRangeChanged.connect(lambda *_: self._view_timer.start())
                else:
                    plot.setXLink(first)
                self.plots[unit] = plot
            curve = pg.PlotDataItem(
                [], [], name=sensor.id, pen=pg.mkPen(series_color(i), width=1), connect="finite"
            )
            self.plots[unit].addItem(curve)
            self.curves[sensor.id] = curve
            self.limit_lines[sensor.id] = self._make_limit_lines(sensor)
        self._relayout()

    def _make_limit_lines(self, sensor: Sensor) -> list[pg.InfiniteLine]:
        lines: list[pg.InfiniteLine] = []
        if sensor.limits is None:
            return lines
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
                pos=value,
                angle=0,
                movable=False,
                pen=pg.mkPen(color, width=1, style=Qt.PenStyle.DashLine),
                label=f"{sensor.id} {name.replace('_', ' ')}",
                labelOpts={"position": 0.02, "color": color, "anchors": [(0, 0), (0, 0)]},
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
        for sensor_id in list(self._raw):
            self._apply(sensor_id)
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
            if sensor_id not in self.curves:
                continue
            t = self._shared_time(t)
            self._raw[sensor_id] = (t, v)
            self.loaded.add(sensor_id)
            self._apply(sensor_id)
        total = sum(len(t) for t, _ in self._raw.values())
        self.info.setText(f"{len(self._raw)} sensor(s) loaded, {total:,} samples")
        if not set(series) <= known:  # a zoom's reload of the same sensors keeps the layout
            self._relayout()
        if self._fit_x and self.plots:
            # A new equipment or range: show all of it. Adding a sensor keeps the user's zoom.
            self._fit_x = False
            next(iter(self.plots.values())).enableAutoRange(axis="x")

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

    def _unit_of(self, sensor_id: str) -> str:
        assert self.profile is not None
        return self.profile.sensor(sensor_id).unit

    def _apply(self, sensor_id: str) -> None:
        t, v = self._raw[sensor_id]
        unit = self._unit_of(sensor_id)
        target = display_unit(unit, self.pressure_unit, self.temperature_unit)
        self.curves[sensor_id].setData(t, convert(v, unit, target))
        for line in self.limit_lines[sensor_id]:
            line.setValue(convert_scalar(float(line.property("limit_value")), unit, target))

    def set_markers(self, markers: list[Marker]) -> None:
        """Replace the shaded regions (few items: recreated, unlike the curves)."""
        for plot, item in self._marker_items:
            plot.removeItem(item)
        self._marker_items = []
        self.markers = list(markers)
        self._place_markers()

    def _place_markers(self) -> None:
        for plot, item in self._marker_items:
            plot.removeItem(item)
        self._marker_items = []
        checked = set(self.checked_sensors())
        for marker in self.markers:
            color = MARKER_COLORS.get(marker.kind, (100, 100, 100, 50))
            targets = set(marker.sensors) & checked if marker.sensors else checked
            units = {self._unit_of(s) for s in targets}
            for unit in units:
                plot = self.plots[unit]
                region = pg.LinearRegionItem(
                    values=(plotting.to_epoch(marker.start), plotting.to_epoch(marker.end)),
                    movable=False,
                    brush=pg.mkBrush(*color),
                    pen=pg.mkPen(None),
                    # Labels (known conditions) are a strip along the top; findings span the plot.
                    span=(0.93, 1.0) if marker.kind == "label" else (0.0, 1.0),
                )
                region.setZValue(-10)
                region.setToolTip(marker.text)
                plot.addItem(region, ignoreBounds=True)  # the data, not the marks, set the view
                self._marker_items.append((plot, region))

    # -- layout ------------------------------------------------------------------------

    def _relayout(self) -> None:
        """Show a plot row for each unit with a checked sensor; the items themselves persist."""
        checked = self.checked_sensors()
        self.graphics.ci.clear()
        units: list[str] = []
        for sid in checked:
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
            legend = plot.legend
            if legend is not None:
                legend.removeItem(curve)
                if visible:
                    legend.addItem(curve, sid)
        for row, unit in enumerate(units):
            plot = self.plots[unit]
            target = display_unit(unit, self.pressure_unit, self.temperature_unit)
            plot.setLabel("left", target)
            plot.getAxis("bottom").setStyle(showValues=row == len(units) - 1)
            self.graphics.ci.addItem(plot, row=row, col=0)
        self._place_markers()

    def show_range(self, start: datetime, end: datetime) -> None:
        if self.plots:
            next(iter(self.plots.values())).setXRange(
                plotting.to_epoch(start), plotting.to_epoch(end), padding=0
            )

    @property
    def range_key(self) -> str:
        return str(self.range_choice.currentData())

    def set_range_key(self, key: str) -> None:
        self.range_choice.setCurrentIndex(max(0, self.range_choice.findData(key)))

    def _on_range_choice_changed(self, _index: int) -> None:
        # Everything shown so far belongs to the old range: reload what is checked.
        self.loaded = set()
        self._raw = {}
        for curve in self.curves.values():
            curve.setData([], [])
        self._fit_x = True
        self._on_selection_changed()

    def _on_view_timer_timeout(self) -> None:
        """Ask for the data of the view when it left the loaded window or zoomed in a lot."""
        if self.loaded_window is None or not self.plots:
            return
        lo, hi = next(iter(self.plots.values())).getViewBox().viewRange()[0]
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


if __name__ == "__main__":
    raise SystemExit(main())
