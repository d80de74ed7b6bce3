"""AttentionPanel: how much each component's verdict drew on each neighbour.

The matrix shows, per receiving component (row), the attention it paid to each sender
(column) — GATv2 normalises attention over a node's incoming edges, so a row reads as "what
this verdict listened to". Below, the same per edge over the diagnosis windows; on the right,
the graph with edge widths for the selected window.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QSlider,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from app.gui.views import plotting
from app.gui.views.component_graph import ComponentGraphView
from gnn.results import Diagnosis
from ingestion.profiles import EquipmentProfile


def attention_matrix(
    diagnosis: Diagnosis, component_ids: list[str], window: int | None
) -> np.ndarray:
    """[target, source] attention for one window (or the diagnosis mean); NaN where no edge."""
    index = {cid: i for i, cid in enumerate(component_ids)}
    matrix = np.full((len(component_ids), len(component_ids)), np.nan)
    if (
        window is not None
        and 0 <= window < len(diagnosis.windows)
        and diagnosis.windows[window].attention
    ):
        values = list(diagnosis.windows[window].attention)
    else:
        values = [e.combined for e in diagnosis.edges]
    for edge, value in zip(diagnosis.edges, values, strict=False):
        if edge.source in index and edge.target in index:
            t, s = index[edge.target], index[edge.source]
            matrix[t, s] = (0.0 if np.isnan(matrix[t, s]) else matrix[t, s]) + float(value)
    return matrix


def attention_over_time(diagnosis: Diagnosis) -> tuple[list[str], np.ndarray]:
    """Connection labels and a [connection, window] matrix of attention (both directions
    summed, self-loops left out: one readable row per line of the schematic)."""
    pairs: dict[tuple[str, str], list[int]] = {}
    for i, e in enumerate(diagnosis.edges):
        if e.source != e.target:
            a, b = sorted((e.source, e.target))
            pairs.setdefault((a, b), []).append(i)
    labels = [f"{a}–{b}" for a, b in pairs]
    data = np.full((len(pairs), len(diagnosis.windows)), np.nan)
    for w, window in enumerate(diagnosis.windows):
        if window.attention:
            att = np.asarray(window.attention)
            for row, idx in enumerate(pairs.values()):
                data[row, w] = float(att[idx].sum())
    return labels, data


def _ticks(labels: list[str], *, thin: bool = False) -> list[list[tuple[float, str]]]:
    """A tick per row; ``thin``: every other row's label always and the rest only where
    pyqtgraph finds room (13 connections at 1366×768 drew their names over each other)."""
    rows = [(i + 0.5, label) for i, label in enumerate(labels)]
    return [rows[::2], rows[1::2]] if thin else [rows]


class AttentionPanel(QWidget):
    windowSelected = Signal(int)  # -1 = mean over all windows

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        plotting.configure()
        self.diagnosis: Diagnosis | None = None
        self.component_ids: list[str] = []
        self.window_index: int | None = None
        cmap = pg.colormap.get("viridis")
        self.matrix_plot = pg.PlotWidget()
        self.matrix_plot.setTitle("Attention: row listens to column")
        self.matrix_plot.setLabel("left", "receiving component")
        self.matrix_plot.setLabel("bottom", "sending component")
        self.matrix_plot.invertY(True)
        self.matrix_plot.setMouseEnabled(False, False)
        self.matrix_plot.setAspectLocked(True)
        self.matrix_image = pg.ImageItem(axisOrder="row-major")
        self.matrix_image.setColorMap(cmap)
        self.matrix_plot.addItem(self.matrix_image)
        self.matrix_bar = pg.ColorBarItem(colorMap=cmap, values=(0, 1), interactive=False, width=12)
        self.matrix_bar.setImageItem(self.matrix_image, insert_in=self.matrix_plot.getPlotItem())
        self.time_plot = pg.PlotWidget()
        self.time_plot.setTitle(
            "Attention per connection (both directions) over the diagnosis windows"
        )
        self.time_plot.setLabel("bottom", "window")
        self.time_plot.invertY(True)
        self.time_plot.getPlotItem().setMouseEnabled(x=True, y=False)
        self.time_image = pg.ImageItem(axisOrder="row-major")
        self.time_image.setColorMap(cmap)
        self.time_plot.addItem(self.time_image)
        self.time_cursor = pg.InfiniteLine(
            angle=90, movable=False, pen=pg.mkPen("#ff4081", width=2)
        )
        self.time_plot.addItem(self.time_cursor)
        self.time_plot.scene().sigMouseClicked.connect(self._on_time_plot_clicked)
        self.graph = ComponentGraphView()
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setMinimum(0)
        self.slider.valueChanged.connect(self._on_slider_value_changed)
        self.mean_check = QCheckBox("Mean over all windows")
        self.mean_check.setChecked(True)
        self.mean_check.toggled.connect(self._on_mean_toggled)
        self.window_label = QLabel("")
        self.window_label.setMinimumWidth(260)
        controls = QHBoxLayout()
        controls.addWidget(self.mean_check)
        controls.addWidget(QLabel("Window:"))
        controls.addWidget(self.slider, 1)
        controls.addWidget(self.window_label)
        top = QSplitter(Qt.Orientation.Horizontal)
        top.addWidget(self.matrix_plot)
        top.addWidget(self.graph)
        top.setSizes([640, 620])
        vertical = QSplitter(Qt.Orientation.Vertical)
        vertical.addWidget(top)
        vertical.addWidget(self.time_plot)
        vertical.setSizes([430, 260])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(controls)
        layout.addWidget(vertical, 1)

    def set_profile(self, profile: EquipmentProfile) -> None:
        self.component_ids = list(profile.component_ids)
        self.graph.set_profile(profile)
        ticks = _ticks(self.component_ids)
        small = QFont()
        small.setPointSizeF(7.5)
        for side in ("left", "bottom"):
            axis = self.matrix_plot.getAxis(side)
            axis.setTicks(ticks)
            axis.setStyle(tickFont=small)

    def set_diagnosis(self, diagnosis: Diagnosis | None) -> None:
        self.diagnosis = diagnosis
        n = len(diagnosis.windows) if diagnosis is not None else 0
        self.slider.blockSignals(True)
        self.slider.setMaximum(max(n - 1, 0))
        self.slider.setValue(max(n - 1, 0))
        self.slider.blockSignals(False)
        self.slider.setEnabled(n > 0 and not self.mean_check.isChecked())
        if diagnosis is None:
            self.matrix_image.clear()
            self.time_image.clear()
            self.graph.set_diagnosis(None)
            self.window_label.setText("no diagnosis")
            return
        labels, data = attention_over_time(diagnosis)
        if data.size:
            top = float(np.nanmax(data)) if np.isfinite(data).any() else 1.0
            self.time_image.setImage(np.nan_to_num(data, nan=0.0), levels=(0.0, top or 1.0))
            self.time_image.setRect(0, 0, data.shape[1], data.shape[0])
        self.time_plot.getAxis("left").setTicks(_ticks(labels, thin=True))
        n = len(diagnosis.windows)
        step = max(1, n // 15)
        self.time_plot.getAxis("bottom").setTicks(
            [[(w + 0.5, str(w + 1)) for w in range(0, n, step)]]
        )
        self.time_plot.setXRange(0, max(data.shape[1], 1), padding=0)
        self.time_plot.setYRange(0, max(len(labels), 1), padding=0)
        self._show_window(None if self.mean_check.isChecked() else self.slider.value())

    def show_window(self, window: int | None) -> None:
        """Select one window (or None for the mean) from outside, e.g. a trend click."""
        self.mean_check.setChecked(window is None)
        if window is not None:
            self.slider.setValue(window)
        self._show_window(window)

    def _show_window(self, window: int | None) -> None:
        self.window_index = window
        diagnosis = self.diagnosis
        if diagnosis is None:
            return
        matrix = attention_matrix(diagnosis, self.component_ids, window)
        finite = matrix[np.isfinite(matrix)]
        top = float(finite.max()) if finite.size else 1.0
        # No edge = NaN, drawn transparent (the plot background), unlike a weak edge.
        self.matrix_image.setImage(matrix, levels=(0.0, top or 1.0))
        self.matrix_image.setRect(0, 0, len(self.component_ids), len(self.component_ids))
        self.matrix_bar.setLevels((0.0, top or 1.0))
        self.graph.set_diagnosis(diagnosis, window)
        if window is None:
            self.window_label.setText(f"mean of {len(diagnosis.windows)} windows")
            self.time_cursor.hide()
        else:
            w = diagnosis.windows[window]
            cycle = f" (cycle {w.cycle})" if w.cycle is not None else ""
            valid = "" if w.valid else " — not valid"
            self.window_label.setText(f"#{window + 1}{cycle}: {w.start:%m-%d %H:%M:%S}{valid}")
            self.time_cursor.setValue(window + 0.5)
            self.time_cursor.show()
        self.windowSelected.emit(-1 if window is None else window)

    def _on_slider_value_changed(self, value: int) -> None:
        if not self.mean_check.isChecked():
            self._show_window(value)

    def _on_mean_toggled(self, on: bool) -> None:
        self.slider.setEnabled(not on)
        self._show_window(None if on else self.slider.value())

    def _on_time_plot_clicked(self, event: object) -> None:
        if self.diagnosis is None or not self.diagnosis.windows:
            return
        pos = event.scenePos()  # type: ignore[attr-defined]
        vb = self.time_plot.getPlotItem().getViewBox()
        if not vb.sceneBoundingRect().contains(pos):
            return
        x = vb.mapSceneToView(pos).x()
        window = int(np.clip(np.floor(x), 0, len(self.diagnosis.windows) - 1))
        self.show_window(window)


def main() -> int:
    from app.gui.views._standalone import run_standalone

    def build() -> QWidget:
        from app.core.sample import SAMPLE_PROFILE, sample_diagnosis
        from ingestion.profiles import load_profile

        panel = AttentionPanel()
        panel.set_profile(load_profile(SAMPLE_PROFILE))
        panel.set_diagnosis(sample_diagnosis())
        return panel

    return run_standalone("Attention", build)


if __name__ == "__main__":
    raise SystemExit(main())
