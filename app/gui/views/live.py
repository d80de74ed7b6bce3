"""LivePanel: live values, rolling plots and health, recording, connection status and gaps."""

from __future__ import annotations

import time

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.core.live_session import LiveConfig, LiveSession, LiveSnapshot, rolling_diagnosis
from app.core.presentation import STATUS_STYLES, series_color
from app.gui.dialogs.live_connect import LiveConnectDialog
from app.gui.views import plotting
from gnn.results import Status
from ingestion.errors import HydroDiagError
from ingestion.profiles import EquipmentProfile
from ingestion.workspace import Store

STATE_STYLE = {
    "connected": ("#2f9e5b", "● connected"),
    "connecting": ("#f0a202", "◌ connecting…"),
    "waiting": ("#f0a202", "◌ waiting for data"),
    "reconnecting": ("#e36c0a", "▲ connection lost — reconnecting"),
    "stopped": ("#8c8c8c", "■ disconnected"),
    "failed": ("#c8322a", "✖ failed"),
}
PLOTTED = 4
IDLE_TITLE = "Not connected — Connect… (Ctrl+L) to a Modbus device or a growing CSV log"
LIVE_TITLE = "Last minutes of the feed"


def break_at_gaps(
    t: np.ndarray, v: np.ndarray, factor: float = 5.0
) -> tuple[np.ndarray, np.ndarray]:
    """Insert a NaN where samples are ``factor`` × the usual spacing apart, so the line stops
    at an outage instead of drawing a straight bridge across it."""
    if len(t) < 3:
        return t, v
    dt = np.diff(t)
    usual = float(np.median(dt)) or 1e-9
    cut = np.nonzero(dt > factor * usual)[0]
    if not len(cut):
        return t, v
    t_out = np.insert(t, cut + 1, t[cut] + usual)
    v_out = np.insert(v.astype(np.float64), cut + 1, np.nan)
    return t_out, v_out


def _format_value(value: float) -> str:
    if not np.isfinite(value):
        return "—"
    return f"{value:.0f}" if abs(value) >= 1000 else f"{value:.2f}"


class LivePanel(QWidget):
    errorOccurred = Signal(object)
    recordingChanged = Signal(bool)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        plotting.configure()
        self.store: Store | None = None
        self.profile: EquipmentProfile | None = None
        self.equipment_id: str | None = None
        self.session: LiveSession | None = None
        self.last_config: LiveConfig | None = None
        self.connect_button = QPushButton("Connect…")
        self.connect_button.clicked.connect(self._on_connect_clicked)
        self.record_button = QPushButton("● Record")
        self.record_button.setCheckable(True)
        self.record_button.setEnabled(False)
        self.record_button.setToolTip("Store the live data in the workspace while pressed")
        self.record_button.toggled.connect(self._on_record_toggled)
        self.state_label = QLabel()
        self.counters = QLabel("")
        self.counters.setStyleSheet("color: #3c4650;")
        self.health_label = QLabel("Rolling health: — (record with rolling diagnosis on)")
        self.health_label.setStyleSheet("font-weight: bold;")
        top = QHBoxLayout()
        top.addWidget(self.connect_button)
        top.addWidget(self.record_button)
        top.addWidget(self.state_label)
        top.addWidget(self.counters, 1)
        top.addWidget(self.health_label)
        self.table = QTableWidget(0, 4)
        self.table.setHorizontalHeaderLabels(["Sensor", "Value", "Unit", "Age"])
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(22)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.setMinimumWidth(260)
        self.table.setMaximumWidth(360)
        self.plot = pg.PlotWidget(axisItems={"bottom": plotting.utc_axis()})
        self.plot.setTitle(IDLE_TITLE)
        self.plot.showGrid(x=True, y=True, alpha=0.15)
        self.plot.addLegend(offset=(-10, 5))
        self.plot.getPlotItem().setClipToView(True)
        self.plot.getPlotItem().setDownsampling(auto=True, mode="peak")
        self.no_data = plotting.NoDataText(self.plot.getPlotItem(), "no data yet")
        self._show_axes(False)
        self.curves: dict[str, pg.PlotDataItem] = {}
        self.health_plot = pg.PlotWidget(axisItems={"bottom": plotting.utc_axis()})
        self.health_plot.setTitle(
            "Rolling overall health (while recording, with rolling diagnosis on)"
        )
        self.health_plot.setYRange(0, 1.02)
        self.health_plot.setXLink(self.plot)  # health sits under the data it judged
        for status, (lo, hi) in (
            (Status.CRITICAL, (0.0, 0.5)),
            (Status.WARNING, (0.5, 0.7)),
            (Status.HEALTHY, (0.7, 1.02)),
        ):
            color = QColor(STATUS_STYLES[status].fill)
            color.setAlpha(38)
            band = pg.LinearRegionItem(
                values=(lo, hi),
                orientation="horizontal",
                movable=False,
                brush=color,
                pen=pg.mkPen(None),
            )
            band.setZValue(-20)
            self.health_plot.addItem(band)
        self.health_curve = self.health_plot.plot(
            [], [], pen=pg.mkPen("#0072b2", width=2), symbol="o", symbolSize=5
        )
        self.gaps_label = QLabel("Gaps: none")
        self.gaps_label.setWordWrap(True)
        self._gap_items: list[pg.LinearRegionItem] = []
        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(self.plot)
        right.addWidget(self.health_plot)
        right.setSizes([420, 200])
        self.health_plot.hide()  # shown with the first rolling diagnosis
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.table)
        splitter.addWidget(right)
        splitter.setStretchFactor(1, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(top)
        layout.addWidget(splitter, 1)
        layout.addWidget(self.gaps_label)
        self.timer = QTimer(self)
        self.timer.setInterval(250)
        self.timer.timeout.connect(self.refresh)
        self._rows: dict[str, int] = {}
        self._set_state("stopped", "")

    # -- new data --------------------------------------------------------------------

    def set_profile(self, profile: EquipmentProfile, equipment_id: str, store: Store) -> None:
        if self.session is not None and equipment_id != self.equipment_id:
            self.disconnect_feed()
        self.profile, self.equipment_id, self.store = profile, equipment_id, store
        self.table.setRowCount(len(profile.sensors))
        self._rows = {}
        for row, sensor in enumerate(profile.sensors):
            self._rows[sensor.id] = row
            for col, text in enumerate((sensor.id, "—", sensor.unit, "")):
                item = QTableWidgetItem(text)
                if col == 1:
                    item.setTextAlignment(
                        Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
                    )
                self.table.setItem(row, col, item)
        for curve in self.curves.values():
            self.plot.removeItem(curve)
        self.curves = {}
        fast = [s for s in profile.sensors if s.rate_hz >= 10][:PLOTTED] or list(
            profile.sensors[:PLOTTED]
        )
        for i, sensor in enumerate(fast):
            curve = self.plot.plot(
                [], [], name=f"{sensor.id} [{sensor.unit}]", pen=pg.mkPen(series_color(i), width=1)
            )
            self.curves[sensor.id] = curve

    # -- connection ------------------------------------------------------------------

    def open_connect_dialog(self) -> LiveConnectDialog:
        dialog = LiveConnectDialog(self.profile, self, self.last_config)
        dialog.accepted.connect(lambda: self.connect_feed(dialog.config) if dialog.config else None)
        dialog.open()
        return dialog

    def connect_feed(self, config: LiveConfig) -> bool:
        if self.store is None or self.profile is None or self.equipment_id is None:
            self.errorOccurred.emit(
                HydroDiagError("Select an equipment before connecting a live feed.")
            )
            return False
        self.disconnect_feed()
        self.last_config = config
        session = LiveSession(
            self.store, self.equipment_id, self.profile, config, diagnose=rolling_diagnosis
        )
        try:
            session.start()
        except HydroDiagError as exc:
            self._set_state("failed", str(exc))
            self.errorOccurred.emit(exc)
            return False
        self.session = session
        self.plot.setTitle(LIVE_TITLE)
        self.connect_button.setText("Disconnect")
        self.record_button.setEnabled(True)
        self.timer.start()
        self.refresh()
        return True

    def disconnect_feed(self) -> None:
        session, self.session = self.session, None
        if session is None:
            return
        self.timer.stop()
        was_recording = session.writer.recording
        session.stop()
        self.record_button.blockSignals(True)
        self.record_button.setChecked(False)
        self.record_button.blockSignals(False)
        self.record_button.setEnabled(False)
        self.connect_button.setText("Connect…")
        self.plot.setTitle(IDLE_TITLE)
        self._show(session.snapshot())
        if was_recording:
            self.recordingChanged.emit(False)

    def shutdown(self) -> None:
        """Called when the window closes: stop, flushing anything being recorded."""
        self.disconnect_feed()

    def _on_connect_clicked(self) -> None:
        if self.session is not None:
            self.disconnect_feed()
        else:
            self.open_connect_dialog()

    def _on_record_toggled(self, on: bool) -> None:
        if self.session is None:
            return
        try:
            if on:
                self.session.start_recording()
            else:
                self.session.stop_recording()
        except HydroDiagError as exc:
            self.errorOccurred.emit(exc)
            return
        self.record_button.setText("■ Stop recording" if on else "● Record")
        self.recordingChanged.emit(on)

    # -- display -----------------------------------------------------------------------

    def refresh(self) -> None:
        if self.session is None:
            return
        snap = self.session.snapshot()
        self._show(snap)
        series = self.session.writer.series()
        for sid, curve in self.curves.items():
            if sid in series:
                t, v = break_at_gaps(*series[sid])
                curve.setData(t, v, connect="finite")
        self._show_axes(any(len(series[sid][0]) for sid in self.curves if sid in series))
        if snap.health:
            t = np.array([h[0] for h in snap.health])
            v = np.array([np.nan if h[1] is None else h[1] for h in snap.health])
            self.health_curve.setData(t, v)
            self.health_plot.show()
        if snap.state == "failed":
            error = HydroDiagError(snap.error or "the live feed stopped")
            self.disconnect_feed()
            self.errorOccurred.emit(error)

    def _show_axes(self, has_data: bool) -> None:
        """Axes with numbers only over data: an empty plot says 'no data yet' instead of a
        0–1 value axis and '00.100' times."""
        self.no_data.show(not has_data)
        for name in ("left", "bottom"):
            self.plot.getAxis(name).setStyle(showValues=has_data)

    def _set_state(self, state: str, detail: str) -> None:
        color, text = STATE_STYLE.get(state, ("#8c8c8c", state))
        self.state_label.setText(text)
        self.state_label.setStyleSheet(f"color: {color}; font-weight: bold;")
        self.state_label.setToolTip(detail)

    def _show(self, snap: LiveSnapshot) -> None:
        self._set_state(snap.state, snap.detail)
        now = time.time()
        for sid, (ts, value) in snap.latest.items():
            row = self._rows.get(sid)
            if row is None:
                continue
            value_item, age_item = self.table.item(row, 1), self.table.item(row, 3)
            if value_item is None or age_item is None:
                continue
            value_item.setText(_format_value(value))
            age = now - ts
            age_item.setText(f"{age:.1f} s")
            age_item.setForeground(QColor("#c8322a" if age > 5 else "#3c4650"))
        rec = "recording" if snap.recording else "not recording"
        self.counters.setText(
            f"{snap.acquisitions:,} acquisitions · {snap.values_written:,} values stored · "
            f"{snap.pending_values:,} pending · {rec}"
        )
        if snap.diagnosis is not None:
            d = snap.diagnosis
            health = "—" if d.overall_health is None else f"{d.overall_health * 100:.0f} %"
            self.health_label.setText(f"Rolling health: {health} ({d.overall_status.label})")
        if snap.gaps:
            last = snap.gaps[-1]
            seconds = (last.end_us - last.start_us) / 1e6
            self.gaps_label.setText(f"Gaps: {len(snap.gaps)} — last {seconds:.1f} s: {last.reason}")
            self._show_gaps(snap)
        else:
            self.gaps_label.setText("Gaps: none")

    def _show_gaps(self, snap: LiveSnapshot) -> None:
        for item in self._gap_items:
            self.plot.removeItem(item)
        self._gap_items = []
        for gap in snap.gaps[-20:]:
            region = pg.LinearRegionItem(
                values=(gap.start_us / 1e6, gap.end_us / 1e6),
                movable=False,
                brush=pg.mkBrush(120, 120, 120, 70),
                pen=pg.mkPen(None),
            )
            region.setToolTip(gap.reason)
            self.plot.addItem(region, ignoreBounds=True)
            self._gap_items.append(region)


def main() -> int:
    from app.gui.views._standalone import run_standalone

    def build() -> QWidget:
        from app.core.queries import equipment_profile
        from app.core.sample import sample_workspace_in_temp

        sample = sample_workspace_in_temp()
        store, equipment = sample.open(), sample.equipment_id
        panel = LivePanel()
        panel.set_profile(equipment_profile(store, equipment), equipment, store)
        return panel

    return run_standalone("Live", build)


if __name__ == "__main__":
    raise SystemExit(main())
