"""HealthTrendPanel: each graded component's health over time, status bands, trend projection.

Select a time range with the shaded region and press *Diagnose range* to run the engine on
exactly that stretch (``diagnoseRangeRequested``).
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.core.export import write_series_csv
from app.core.presentation import STATUS_STYLES, series_color
from app.core.queries import rolling_median
from app.gui.views import plotting
from gnn import wording
from gnn.results import Diagnosis, Status, StatusThresholds


def projection(
    t_last: float, h_last: float, rate_per_100h: float, floor: float
) -> tuple[np.ndarray, np.ndarray]:
    """Straight-line projection from the last point down to ``floor`` at the measured rate.

    The rate is per operating hour; drawing it against wall time assumes the machine keeps
    running, which the label under the plot says.
    """
    if rate_per_100h <= 0 or h_last <= floor:
        return np.array([]), np.array([])
    hours = (h_last - floor) / rate_per_100h * 100.0
    return np.array([t_last, t_last + hours * 3600.0]), np.array([h_last, floor])


class HealthTrendPanel(QWidget):
    diagnoseRangeRequested = Signal(object, object)  # start, end (naive UTC datetimes)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        plotting.configure()
        self.thresholds = StatusThresholds()
        self.time_axis = plotting.time_axis()
        self.plot = pg.PlotWidget(
            axisItems={"bottom": self.time_axis, "left": plotting.PercentAxis("left")}
        )
        self.plot.setLabel("left", "Health", units="%")
        self.time_axis.follow(self.plot.getPlotItem().getViewBox())
        self.plot.setYRange(0, 1.02, padding=0)
        self.plot.showGrid(x=True, y=True, alpha=0.15)
        self.plot.getPlotItem().setMouseEnabled(x=True, y=False)
        self.plot.getPlotItem().setClipToView(True)
        self.plot.getPlotItem().setDownsampling(auto=True, mode="peak")
        self.bands: dict[Status, pg.LinearRegionItem] = {}
        for status in (Status.CRITICAL, Status.WARNING, Status.HEALTHY):
            color = QColor(STATUS_STYLES[status].fill)
            color.setAlpha(38)
            band = pg.LinearRegionItem(
                orientation="horizontal", movable=False, brush=color, pen=pg.mkPen(None)
            )
            band.setZValue(-20)
            self.plot.addItem(band)
            self.bands[status] = band
        self._place_bands()
        self.region = pg.LinearRegionItem(
            brush=pg.mkBrush(30, 100, 200, 40), pen=pg.mkPen("#1565c0", width=1.5)
        )
        self.region.setZValue(-5)
        self.region.hide()
        self.plot.addItem(self.region)
        self.curves: dict[str, pg.PlotDataItem] = {}
        self.smoothed: dict[str, pg.PlotDataItem] = {}
        self.projections: dict[str, pg.PlotDataItem] = {}
        self.checks: dict[str, QCheckBox] = {}
        self.no_data = plotting.NoDataText(
            self.plot.getPlotItem(), "no health history yet: run a diagnosis (F5)"
        )
        self.readout = QLabel("Move the mouse over the plot to read time and health.")
        self.readout.setStyleSheet("color: #3c4650;")
        self.readout_cursor = plotting.CursorReadout(
            self.plot.scene(),
            lambda: [self.plot.getPlotItem()],
            lambda: [(cid, "%", c) for cid, c in self.curves.items() if c.isVisible()],
            self.readout,
            value_format=lambda name, v, _u: f"{name} {100 * v:.0f} %",
        )
        self.export_button = plotting.export_button(
            self, self.export_png, self.export_csv, "health trends"
        )
        self.check_row = QHBoxLayout()
        self.check_row.addWidget(QLabel("Show:"))
        self.check_row.addStretch(1)
        self.select_button = QPushButton("Select range")
        self.select_button.setCheckable(True)
        self.select_button.setToolTip("Show a range selector on the plot (drag its edges)")
        self.select_button.toggled.connect(self._on_select_toggled)
        self.diagnose_button = QPushButton("Diagnose range")
        self.diagnose_button.setEnabled(False)
        self.diagnose_button.setToolTip("Run the diagnosis on the selected time range")
        self.diagnose_button.clicked.connect(self._on_diagnose_clicked)
        self.check_row.addWidget(self.select_button)
        self.check_row.addWidget(self.diagnose_button)
        self.check_row.addWidget(self.export_button)
        self.trend_label = QLabel("")
        self.trend_label.setWordWrap(True)
        self.trend_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.trend_label.setStyleSheet("color: #3c4650;")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(self.check_row)
        layout.addWidget(self.readout)
        layout.addWidget(self.plot, 1)
        layout.addWidget(self.trend_label)
        self._span: tuple[float, float] | None = None

    def _place_bands(self) -> None:
        t = self.thresholds
        self.bands[Status.CRITICAL].setRegion((0.0, t.critical))
        self.bands[Status.WARNING].setRegion((t.critical, t.healthy))
        self.bands[Status.HEALTHY].setRegion((t.healthy, 1.02))

    def set_components(self, component_ids: list[str]) -> None:
        """Create one curve + projection per graded component (once per equipment)."""
        for cid in list(self.curves):
            self.plot.removeItem(self.curves.pop(cid))
            self.plot.removeItem(self.smoothed.pop(cid))
            self.plot.removeItem(self.projections.pop(cid))
            check = self.checks.pop(cid)
            self.check_row.removeWidget(check)
            check.deleteLater()
        for i, cid in enumerate(component_ids):
            color = series_color(i)
            faint = QColor(color)
            faint.setAlpha(90)
            # Every window's health, faint; a rolling median on top so the trend reads at once.
            curve = self.plot.plot(
                [],
                [],
                name=cid,
                pen=pg.mkPen(faint, width=1),
                symbol="o",
                symbolSize=3,
                symbolBrush=faint,
                symbolPen=None,
            )
            smooth = self.plot.plot([], [], pen=pg.mkPen(color, width=2.5))
            proj = self.plot.plot(
                [], [], pen=pg.mkPen(color, width=1.5, style=Qt.PenStyle.DashLine)
            )
            self.curves[cid] = curve
            self.smoothed[cid] = smooth
            self.projections[cid] = proj
            check = QCheckBox(cid)
            check.setChecked(True)
            check.setStyleSheet(f"QCheckBox {{ color: {color}; font-weight: bold; }}")
            check.toggled.connect(lambda on, c=cid: self._on_check_toggled(c, on))
            self.checks[cid] = check
            self.check_row.insertWidget(self.check_row.count() - 4, check)

    def set_history(
        self,
        history: Mapping[str, tuple[np.ndarray, ...]],
        diagnosis: Diagnosis | None,
    ) -> None:
        """New data: health points per component — (t, health) or (t, health, its rolling
        median, computed off the GUI thread: ``app.core.queries.health_series``) — and the
        trends of the diagnosis shown."""
        if diagnosis is not None:
            self.thresholds = diagnosis.thresholds
            self._place_bands()
        wanted = sorted(history) if history else []
        if diagnosis is not None:
            wanted = sorted(
                set(wanted) | {c.component_id for c in diagnosis.components if c.assessed}
            )
        if wanted != sorted(self.curves):
            self.set_components(wanted)
        lines: list[str] = []
        t_min, t_max = np.inf, -np.inf
        for cid, curve in self.curves.items():
            series = history.get(cid, (np.array([]), np.array([])))
            t, h = series[0], series[1]
            curve.setData(t, h)
            self.smoothed[cid].setData(t, series[2] if len(series) > 2 else rolling_median(h))
            px, py = np.array([]), np.array([])
            if len(t):
                t_min, t_max = min(t_min, float(t[0])), max(t_max, float(t[-1]))
            result = None
            if diagnosis is not None:
                try:
                    result = diagnosis.component(cid)
                except KeyError:
                    result = None
            trend = result.trend if result is not None else None
            if trend is not None and len(t):
                # Only a significant decline is projected (the engine gives it a time to
                # critical); noise is not extrapolated.
                if trend.enough_history and trend.rate_per_100h and trend.hours_to_critical:
                    # From the engine's fitted current health, so line and text agree.
                    h_now = (
                        self.thresholds.critical
                        + trend.rate_per_100h / 100.0 * trend.hours_to_critical
                    )
                    px, py = projection(
                        float(t[-1]), h_now, trend.rate_per_100h, self.thresholds.critical
                    )
                when = wording.threshold_text(result) if result is not None else "—"
                lines.append(
                    f"<b>{cid}</b>: {html.escape(wording.trend_text(trend))}"
                    + ("" if when == "—" else f"; {html.escape(when)}")
                )
            self.projections[cid].setData(px, py)
            if len(px):
                t_max = max(t_max, float(px[-1]))
        if any(
            len(p.getData()[0] if p.getData()[0] is not None else ())
            for p in self.projections.values()
        ):
            lines.append("Dashed: projection at the measured rate, assuming continuous operation.")
        self.trend_label.setText(
            "<br>".join(lines) if lines else "No health history yet: run a diagnosis."
        )
        self.no_data.show(not np.isfinite(t_min))
        if np.isfinite(t_min):
            t_hist = max(
                (
                    float(c.getData()[0][-1])
                    for c in self.curves.values()
                    if c.getData()[0] is not None and len(c.getData()[0])
                ),
                default=t_max,
            )
            self._span = (t_min, t_hist)
            # Show the history and a bounded look ahead; the user zooms out for the rest.
            ahead = min(t_max, t_hist + 0.5 * max(t_hist - t_min, 3600.0))
            self.plot.setXRange(t_min, ahead, padding=0.02)
            if not self.region.isVisible():
                self.region.setRegion((t_min + 0.6 * (t_hist - t_min), t_hist))
        self.diagnose_button.setEnabled(self.region.isVisible() and self._span is not None)

    def export_png(self, path: Path) -> None:
        self.plot.grab().save(str(path))

    def export_csv(self, path: Path) -> int:
        """Every component's health (in %) within the shown time range."""
        (lo, hi), _ = self.plot.getPlotItem().getViewBox().viewRange()
        series = {}
        for cid, curve in self.curves.items():
            t, h = curve.getOriginalDataset()
            if t is not None and len(t):
                series[cid] = (
                    np.asarray(t, dtype=np.float64),
                    100.0 * np.asarray(h, dtype=np.float64),
                )
        return write_series_csv(path, series, dict.fromkeys(series, "%"), float(lo), float(hi))

    def selected_range(self) -> tuple[datetime, datetime]:
        lo, hi = self.region.getRegion()
        return plotting.from_epoch(float(lo)), plotting.from_epoch(float(hi))

    def set_selected_range(self, start: datetime, end: datetime) -> None:
        self.region.setRegion((plotting.to_epoch(start), plotting.to_epoch(end)))
        self.select_button.setChecked(True)

    def _on_select_toggled(self, on: bool) -> None:
        self.region.setVisible(on)
        self.diagnose_button.setEnabled(on)

    def _on_check_toggled(self, component_id: str, on: bool) -> None:
        self.curves[component_id].setVisible(on)
        self.smoothed[component_id].setVisible(on)
        self.projections[component_id].setVisible(on)

    def _on_diagnose_clicked(self) -> None:
        start, end = self.selected_range()
        self.diagnoseRangeRequested.emit(start, end)


def main() -> int:
    from app.gui.views._standalone import run_standalone

    def build() -> QWidget:
        from app.core.queries import health_history
        from app.core.sample import sample_workspace_in_temp

        sample = sample_workspace_in_temp()
        panel = HealthTrendPanel()
        panel.set_history(health_history(sample.open(), sample.equipment_id), sample.diagnosis)
        return panel

    return run_standalone("Trends", build)


if __name__ == "__main__":
    raise SystemExit(main())
