"""The retraining tab's pieces: the time overview, the loss curves, the comparison table and
the model list (pyqtgraph and Qt widgets; the logic is in app.core.retrain)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import QDateTime, Qt, QTimeZone, Signal
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem

from app.core.queries import LabelRow, SourceRow
from app.core.retrain import RegistryRow
from app.gui.views.plotting import configure, from_epoch, to_epoch, utc_axis
from gnn.persist import DiagnosisSummary

UTC_ZONE = QTimeZone(QTimeZone.Initialization.UTC)
ANOMALY_BRUSH = (214, 69, 65, 90)
NORMAL_LABEL_BRUSH = (46, 125, 50, 40)
SOURCE_PEN = pg.mkPen("#52606d", width=6)


class TimeOverview(pg.PlotWidget):  # type: ignore[misc]  # pyqtgraph is untyped
    """The equipment's data on one time axis: imports (grey bars), labels (red: faults or a
    log's anomalous ranges; green: labelled normal), earlier diagnoses (dots), and the chosen
    stretch (a draggable region)."""

    rangeChanged = Signal(object, object)  # start, end (naive UTC)

    def __init__(self) -> None:
        configure()
        super().__init__(axisItems={"bottom": utc_axis()})
        self.setMouseEnabled(x=True, y=False)
        self.hideAxis("left")
        self.setYRange(-0.5, 2.5, padding=0)
        self.getPlotItem().setTitle("Data, labels and diagnoses", size="9pt")
        self.region = pg.LinearRegionItem(brush=(40, 100, 200, 40))
        self.region.setZValue(10)
        self.region.sigRegionChangeFinished.connect(self._emit_range)
        self._items: list[Any] = []

    def show_equipment(
        self,
        sources: Sequence[SourceRow],
        labels: Sequence[LabelRow],
        diagnoses: Sequence[DiagnosisSummary],
    ) -> None:
        for item in self._items:
            self.removeItem(item)
        self._items = []
        spans = [(s.first_ts, s.last_ts) for s in sources if s.first_ts and s.last_ts]
        for a, b in spans:
            self._add(pg.PlotDataItem([to_epoch(a), to_epoch(b)], [0, 0], pen=SOURCE_PEN))
        for label in labels:
            brush = ANOMALY_BRUSH if label.grade > 0 else NORMAL_LABEL_BRUSH
            x0, x1 = to_epoch(label.start), to_epoch(label.end)
            bar = pg.BarGraphItem(x0=[x0], x1=[x1], y0=[0.6], y1=[1.4], brush=brush, pen=None)
            self._add(bar)
        if diagnoses:
            xs = [to_epoch(d.window_start) for d in diagnoses]
            self._add(pg.ScatterPlotItem(xs, [2] * len(xs), size=7, brush="#1f2933"))
        for y, text in ((0, "imports"), (1, "labels"), (2, "diagnoses")):
            caption = pg.TextItem(text, color="#52606d", anchor=(0, 0.5))
            caption.setPos(to_epoch(spans[0][0]) if spans else 0, y + 0.3)
            self._add(caption)
        if spans:
            lo, hi = min(a for a, _ in spans), max(b for _, b in spans)
            self.setXRange(to_epoch(lo), to_epoch(hi), padding=0.02)
            if self.region.scene() is None:
                self.addItem(self.region)
            self.region.setRegion((to_epoch(lo), to_epoch(hi)))

    def set_range(self, start: datetime, end: datetime) -> None:
        self.region.blockSignals(True)
        self.region.setRegion((to_epoch(start), to_epoch(end)))
        self.region.blockSignals(False)

    def _add(self, item: Any) -> None:
        self.addItem(item)
        self._items.append(item)

    def _emit_range(self) -> None:
        a, b = self.region.getRegion()
        self.rangeChanged.emit(from_epoch(float(a)), from_epoch(float(b)))


class LossCurves(pg.PlotWidget):  # type: ignore[misc]  # pyqtgraph is untyped
    """Training and validation loss per epoch, drawn as the epochs arrive."""

    def __init__(self) -> None:
        configure()
        super().__init__()
        item = self.getPlotItem()
        item.setTitle("Loss per epoch", size="9pt")
        item.setLabel("bottom", "epoch")
        item.addLegend(offset=(-10, 10))
        item.showGrid(x=True, y=True, alpha=0.2)
        self.train = item.plot([], [], pen=pg.mkPen("#1565c0", width=2), name="training")
        self.val = item.plot(
            [], [], pen=pg.mkPen("#e65100", width=2, style=Qt.PenStyle.DashLine), name="validation"
        )
        self.epochs: list[int] = []
        self.losses: list[float] = []
        self.val_losses: list[tuple[int, float]] = []

    def clear_curves(self) -> None:
        self.epochs, self.losses, self.val_losses = [], [], []
        self.train.setData([], [])
        self.val.setData([], [])

    def add(self, epoch: int, loss: float | None, val_loss: float | None) -> None:
        if loss is not None:
            self.epochs.append(epoch)
            self.losses.append(loss)
            self.train.setData(self.epochs, self.losses)
        if val_loss is not None:
            self.val_losses.append((epoch, val_loss))
            self.val.setData([e for e, _ in self.val_losses], [v for _, v in self.val_losses])


def _pct(value: Any) -> str:
    return "—" if value is None else f"{100 * float(value):.1f} %"


def _num(value: Any) -> str:
    return "—" if value is None else f"{float(value):.3f}"


COMPARISON_ROWS: tuple[tuple[str, str], ...] = (
    ("held-out samples flagged (false alarms on normal data)", "held_out_flagged"),
    ("alarm episodes per hour, held out", "held_out_episodes_per_hour"),
    ("F1 against the log's labels", "f1"),
    ("false-alarm rate against the labels", "false_alarm_rate"),
    ("missed-alarm rate against the labels", "missed_alarm_rate"),
    ("events detected", "events"),
)


class ComparisonTable(QTableWidget):
    """The new model beside the active one on the same held-out windows."""

    def __init__(self) -> None:
        super().__init__(len(COMPARISON_ROWS), 2)
        self.setVerticalHeaderLabels([label for label, _ in COMPARISON_ROWS])
        self.setHorizontalHeaderLabels(["new model", "active model"])
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.verticalHeader().setDefaultSectionSize(24)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setFixedHeight(
            24 * len(COMPARISON_ROWS) + self.horizontalHeader().sizeHint().height() + 4
        )

    def show_comparison(self, comparison: dict[str, Any]) -> None:
        models = {m["role"]: m for m in comparison.get("models", [])}
        graded = "validation_windows" in comparison
        components = sorted({c for m in models.values() for c in m.get("accuracy", {})})
        labels = (
            [
                f"grade accuracy, {c} ({comparison['validation_windows']} validation windows)"
                for c in components
            ]
            if graded
            else [label for label, _ in COMPARISON_ROWS]
        )
        self.setRowCount(len(labels))
        self.setVerticalHeaderLabels(labels)
        self.setFixedHeight(24 * len(labels) + self.horizontalHeader().sizeHint().height() + 4)
        for col, role in enumerate(("new", "active")):
            model = models.get(role)
            header = f"{role} model" if model is None else f"{role}: {model['key']}"
            self.setHorizontalHeaderItem(col, QTableWidgetItem(header))
            for row in range(len(labels)):
                if graded:
                    text = _graded_cell(model, components[row], role, first=row == 0)
                else:
                    text = _cell(model, COMPARISON_ROWS[row][1], role)
                self.setItem(row, col, QTableWidgetItem(text))


def _graded_cell(model: dict[str, Any] | None, component: str, role: str, *, first: bool) -> str:
    if model is None:
        return "none in use" if role == "active" else "—"
    if "note" in model:
        return model["note"] if first else "—"
    value = model.get("accuracy", {}).get(component)
    return "not graded" if value is None else f"{100 * value:.1f} %"


def _cell(model: dict[str, Any] | None, key: str, role: str) -> str:
    if model is None:
        return "none in use" if role == "active" else "—"
    if "note" in model:
        return model["note"] if key == "held_out_flagged" else "—"
    labels = model.get("labels")
    if key == "held_out_flagged":
        return _pct(model.get(key))
    if key == "held_out_episodes_per_hour":
        return _num(model.get(key))
    if labels is None:
        return "no labels"
    if key == "events":
        return f"{labels['events_detected']} of {labels['events']}"
    return _num(labels[key]) if key == "f1" else _pct(labels[key])


class ModelList(QTableWidget):
    """The models that fit the equipment, the one in use marked."""

    HEADERS = ("model", "kind", "created (UTC)", "in use")

    def __init__(self) -> None:
        super().__init__(0, len(self.HEADERS))
        self.setHorizontalHeaderLabels(list(self.HEADERS))
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.verticalHeader().setVisible(False)
        header = self.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for i in range(1, len(self.HEADERS)):
            header.setSectionResizeMode(i, QHeaderView.ResizeMode.ResizeToContents)

    def show_rows(self, rows: Sequence[RegistryRow]) -> None:
        self.setRowCount(len(rows))
        for i, r in enumerate(rows):
            cells = (
                r.key,
                r.kind,
                f"{r.created:%Y-%m-%d %H:%M}",
                "● active" if r.active else "",
            )
            for j, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(r.origin + (f": {r.note}" if r.note else ""))
                self.setItem(i, j, item)

    def selected_key(self) -> str | None:
        rows = self.selectionModel().selectedRows()
        if not rows:
            return None
        item = self.item(rows[0].row(), 0)
        return item.text() if item is not None else None


def eta_text(seconds: float | None) -> str:
    if seconds is None:
        return "ETA —"
    s = round(seconds)
    return f"ETA {s // 60}:{s % 60:02d}"


def to_qt(value: datetime) -> QDateTime:
    return QDateTime.fromSecsSinceEpoch(round(to_epoch(value)), UTC_ZONE)


def from_qt(value: QDateTime) -> datetime:
    return from_epoch(float(value.toSecsSinceEpoch()))
