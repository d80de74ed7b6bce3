"""The retraining tab: choose an equipment, a stretch of its data and a mode, train in a separate
process with live loss curves, progress and Cancel, then compare the new model with the active
one and activate it or keep the current one; the registry list with one-click rollback.

The work is in :mod:`app.core.retrain` (Qt-free); the worker runs as a :class:`QProcess`
(``python -m training.worker``), so torch never loads in the app and the window stays
responsive. The workspace is written once per run, after the worker succeeded (registration).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from PySide6.QtCore import QProcess, Qt
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QDateTimeEdit,
    QDoubleSpinBox,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QScrollArea,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from app.core import queries
from app.core.queries import thread_store
from app.core.retrain import (
    MODES,
    PreparedJob,
    activate_model,
    discard,
    prepare_job,
    register_result,
    registry_rows,
    roll_back,
    training_unavailable,
    worker_command,
)
from app.gui.views.retrain_parts import (
    UTC_ZONE,
    ComparisonTable,
    LossCurves,
    ModelList,
    TimeOverview,
    eta_text,
    from_qt,
    to_qt,
)
from app.gui.workers import TaskContext, TaskRunner
from ingestion.errors import HydroDiagError
from ingestion.workspace import Store
from training.jobs import parse_event
from training.normal import FitSelection

Context = Callable[[], tuple[Store | None, str | None]]


class RetrainPanel(QWidget):
    """The tab. ``context()`` gives the main window's workspace and equipment;
    ``on_models_changed()`` runs after an activation or a rollback."""

    def __init__(self, context: Context, on_models_changed: Callable[[], None] | None = None):
        super().__init__()
        self._context = context
        self._on_models_changed = on_models_changed or (lambda: None)
        self.store: Store | None = None
        self.job: PreparedJob | None = None
        self.process: QProcess | None = None
        self.new_key: str | None = None
        self._buffer = b""
        self._events: list[dict[str, Any]] = []
        self._error: str | None = None
        self._cancelled = False
        self._preparing = False
        self.runner = TaskRunner(self)
        self._build()

    # -- layout ------------------------------------------------------------------------------

    def _build(self) -> None:
        left = QWidget()
        form_box = QVBoxLayout(left)
        self.equipment = QComboBox()
        self.equipment.currentIndexChanged.connect(lambda _i: self._load_equipment())
        form_box.addWidget(QLabel("Equipment"))
        form_box.addWidget(self.equipment)
        form_box.addWidget(self._data_group())
        form_box.addWidget(self._mode_group())
        form_box.addWidget(self._budget_group())
        form_box.addWidget(self._registry_group(), 1)
        scroll = QScrollArea()  # scrolls rather than squeezing the form on a small screen
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(left)

        right = QWidget()
        right_box = QVBoxLayout(right)
        right_box.setContentsMargins(0, 0, 0, 0)
        self.overview = TimeOverview()
        self.overview.setMinimumHeight(130)
        self.overview.rangeChanged.connect(self._on_region)
        right_box.addWidget(self.overview, 1)
        self.curves = LossCurves()
        self.curves.setMinimumHeight(140)
        right_box.addWidget(self.curves, 1)
        right_box.addWidget(self._result_group())

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(scroll)
        splitter.addWidget(right)
        splitter.setSizes([460, 900])
        layout = QVBoxLayout(self)
        layout.addLayout(self._run_bar())
        self.progress_label = QLabel("Choose the data and press Start training.")
        self.progress_label.setWordWrap(True)
        layout.addWidget(self.progress_label)
        layout.addWidget(splitter, 1)
        self.unavailable = training_unavailable()
        if self.unavailable:  # the bundle, or a Python install without the [train] extra
            self.start_button.setEnabled(False)
            self.start_button.setToolTip(self.unavailable)
            self.progress_label.setText(self.unavailable)

    def _run_bar(self) -> QHBoxLayout:
        bar = QHBoxLayout()
        self.start_button = QPushButton("Start training")
        self.start_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        bar.addWidget(self.start_button)
        bar.addWidget(self.cancel_button)
        bar.addWidget(self.progress, 1)
        return bar

    def _data_group(self) -> QGroupBox:
        box = QGroupBox("Data known to be normal")
        self.data_box = box
        form = QFormLayout(box)
        self.data_kind = QButtonGroup(self)
        self.radio_all = QRadioButton("All data")
        self.radio_range = QRadioButton("Time range (drag on the overview)")
        self.radio_before = QRadioButton("Everything before")
        self.radio_sources = QRadioButton("Some imports")
        for i, radio in enumerate(
            (self.radio_all, self.radio_range, self.radio_before, self.radio_sources)
        ):
            self.data_kind.addButton(radio, i)
        self.radio_range.setChecked(True)
        self.start_edit, self.end_edit, self.before_edit = (QDateTimeEdit() for _ in range(3))
        for edit in (self.start_edit, self.end_edit, self.before_edit):
            edit.setTimeZone(UTC_ZONE)
            edit.setDisplayFormat("yyyy-MM-dd HH:mm:ss 'UTC'")
        self.end_edit.dateTimeChanged.connect(lambda _v: self._sync_region())
        self.start_edit.dateTimeChanged.connect(lambda _v: self._sync_region())
        self.sources = QListWidget()
        self.sources.setMaximumHeight(70)
        form.addRow(self.radio_all)
        form.addRow(self.radio_range)
        form.addRow("from", self.start_edit)
        form.addRow("to", self.end_edit)
        form.addRow(self.radio_before, self.before_edit)
        form.addRow(self.radio_sources)
        form.addRow(self.sources)
        return box

    def _mode_group(self) -> QGroupBox:
        box = QGroupBox("Mode")
        layout = QVBoxLayout(box)
        self.modes: dict[str, QRadioButton] = {}
        for mode, text in MODES.items():
            radio = QRadioButton(text)
            if mode == "scratch":
                radio.setToolTip(
                    "A graded model trained on this equipment's labelled data, as `hydrodiag "
                    "train --equipment` does; the epochs bound it, not the time budget."
                )
            if mode == "finetune":
                radio.setToolTip(
                    "The graded model this equipment uses, adapted to its labelled ranges (e.g. "
                    "after a sensor was replaced), as `hydrodiag train --finetune-from` does: its "
                    "weights and normalisation, its reference data replayed so it keeps what it "
                    "knew; the epochs bound it."
                )
            if mode in ("scratch", "finetune"):
                radio.toggled.connect(self._on_graded_toggled)
            self.modes[mode] = radio
            layout.addWidget(radio)
        self.modes["normal"].setChecked(True)
        return box

    def _on_graded_toggled(self, _on: bool) -> None:
        """A graded model learns from all the equipment's labelled windows, for its epochs."""
        on = self.modes["scratch"].isChecked() or self.modes["finetune"].isChecked()
        for widget in (self.time_budget, self.false_alarms, self.data_box):
            widget.setEnabled(not on)
        self.data_box.setTitle(
            "Data: all of the equipment's labelled windows" if on else "Data known to be normal"
        )

    def _budget_group(self) -> QGroupBox:
        box = QGroupBox("Budget")
        form = QFormLayout(box)
        self.time_budget = QSpinBox()
        self.time_budget.setRange(0, 600)
        self.time_budget.setValue(5)
        self.time_budget.setSuffix(" min")
        self.time_budget.setSpecialValueText("no limit")
        self.false_alarms = QDoubleSpinBox()
        self.false_alarms.setRange(0.1, 20.0)
        self.false_alarms.setValue(1.0)
        self.false_alarms.setSuffix(" %")
        self.epochs = QSpinBox()
        self.epochs.setRange(0, 500)
        self.epochs.setValue(30)
        form.addRow("time budget", self.time_budget)
        form.addRow("false-alarm budget", self.false_alarms)
        form.addRow("epochs", self.epochs)
        return box

    def _registry_group(self) -> QGroupBox:
        box = QGroupBox("Models for this equipment")
        layout = QVBoxLayout(box)
        self.models = ModelList()
        self.models.setMinimumHeight(110)
        layout.addWidget(self.models, 1)
        row = QHBoxLayout()
        self.activate_selected = QPushButton("Activate selected")
        self.activate_selected.clicked.connect(self._activate_selected)
        self.rollback_button = QPushButton("Roll back")
        self.rollback_button.setToolTip("Back to the model this equipment used before")
        self.rollback_button.clicked.connect(self._roll_back)
        row.addWidget(self.activate_selected)
        row.addWidget(self.rollback_button)
        layout.addLayout(row)
        self.registry_label = QLabel("")
        self.registry_label.setWordWrap(True)
        layout.addWidget(self.registry_label)
        return box

    def _result_group(self) -> QGroupBox:
        box = QGroupBox("New model beside the active one, on the same held-out windows")
        layout = QVBoxLayout(box)
        self.comparison = ComparisonTable()
        layout.addWidget(self.comparison)
        self.result_label = QLabel("")
        self.result_label.setWordWrap(True)
        layout.addWidget(self.result_label)
        row = QHBoxLayout()
        self.activate_button = QPushButton("Activate the new model")
        self.activate_button.clicked.connect(self._activate_new)
        self.keep_button = QPushButton("Keep current")
        self.keep_button.clicked.connect(self._keep_current)
        row.addWidget(self.activate_button)
        row.addWidget(self.keep_button)
        row.addStretch(1)
        layout.addLayout(row)
        self._set_result_buttons(False)
        return box

    # -- the workspace and equipment ---------------------------------------------------------

    def refresh(self) -> None:
        """Re-read the main window's workspace and equipment (when the tab is shown)."""
        store, current = self._context()
        self.store = store
        self.equipment.blockSignals(True)
        self.equipment.clear()
        if store is not None:
            for row in queries.list_equipment(store):
                self.equipment.addItem(f"{row.id} ({row.profile_id})", row.id)
        index = self.equipment.findData(current)
        self.equipment.setCurrentIndex(max(index, 0))
        self.equipment.blockSignals(False)
        self._load_equipment()

    @property
    def equipment_id(self) -> str | None:
        data = self.equipment.currentData()
        return str(data) if data is not None else None

    def _load_equipment(self) -> None:
        store, eq = self.store, self.equipment_id
        self.sources.clear()
        if store is None or eq is None:
            self.models.show_rows([])
            return
        sources = [s for s in queries.list_sources(store, eq) if s.first_ts is not None]
        for s in sources:
            item = QListWidgetItem(f"#{s.id} {Path(s.uri).name} ({s.first_ts:%Y-%m-%d %H:%M})")
            item.setData(Qt.ItemDataRole.UserRole, s.id)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Unchecked)
            self.sources.addItem(item)
        self.overview.show_equipment(
            sources, queries.list_labels(store, eq), queries.list_diagnoses(store, eq)
        )
        span = queries.data_range(store, eq)
        if span is not None:
            self.start_edit.setDateTime(to_qt(span[0]))
            self.end_edit.setDateTime(to_qt(span[1] + timedelta(seconds=1)))
            self.before_edit.setDateTime(to_qt(span[1]))
        self._refresh_models()

    def _refresh_models(self) -> None:
        if self.store is not None and self.equipment_id is not None:
            self.models.show_rows(registry_rows(self.store, self.equipment_id))

    def _on_region(self, start: datetime, end: datetime) -> None:
        self.radio_range.setChecked(True)
        for edit, value in ((self.start_edit, start), (self.end_edit, end)):
            edit.blockSignals(True)
            edit.setDateTime(to_qt(value))
            edit.blockSignals(False)

    def _sync_region(self) -> None:
        self.overview.set_range(
            from_qt(self.start_edit.dateTime()), from_qt(self.end_edit.dateTime())
        )

    def selection(self) -> FitSelection:
        kind = self.data_kind.checkedId()
        if kind == 1:
            return FitSelection(
                start=from_qt(self.start_edit.dateTime()), end=from_qt(self.end_edit.dateTime())
            )
        if kind == 2:
            return FitSelection(before=from_qt(self.before_edit.dateTime()))
        if kind == 3:
            ids = [
                int(self.sources.item(i).data(Qt.ItemDataRole.UserRole))
                for i in range(self.sources.count())
                if self.sources.item(i).checkState() == Qt.CheckState.Checked
            ]
            if not ids:
                raise HydroDiagError("tick at least one import in the list, or choose other data.")
            return FitSelection(sources=tuple(ids))
        return FitSelection()

    # -- a run -------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._preparing or self.process is not None

    def start(self) -> None:
        """Copy the equipment's data for the worker (off the GUI thread), then start it."""
        if self.running or self.store is None or self.equipment_id is None:
            return
        mode = next(m for m, radio in self.modes.items() if radio.isChecked())
        try:
            selection = self.selection()
        except (HydroDiagError, ValueError) as exc:
            self.progress_label.setText(f"Not started: {exc}")
            return
        store, equipment = self.store, self.equipment_id
        budget = 60.0 * self.time_budget.value() or None
        alarms, epochs = self.false_alarms.value() / 100, self.epochs.value()

        def work(_ctx: TaskContext) -> PreparedJob:
            return prepare_job(
                thread_store(store),
                equipment,
                selection,
                mode=mode,  # type: ignore[arg-type]
                time_budget_s=budget,
                false_alarm_budget=alarms,
                epochs=epochs,
            )

        self.curves.clear_curves()
        self.comparison.clearContents()
        self._set_result_buttons(False)
        self.result_label.setText("")
        self.new_key, self._error, self._cancelled = None, None, False
        self._buffer, self._events = b"", []
        self._preparing = True
        self._set_running(True)
        self.progress.setValue(0)
        self.progress_label.setText("Copying the equipment's data for the training process…")
        self.runner.start(
            work,
            name="preparing the training job",
            key="retrain-prepare",
            on_result=self._launch,
            on_error=self._not_started,
            writes=False,
        )

    def _not_started(self, exc: BaseException) -> None:
        self._preparing = False
        self._set_running(False)
        self.progress_label.setText(f"Not started: {exc}")

    def _launch(self, job: PreparedJob) -> None:
        self._preparing = False
        self.job = job
        if self._cancelled:  # cancelled while the data was copied
            discard(job.folder)
            self.job = None
            self._set_running(False)
            self.progress_label.setText("Cancelled: nothing was kept; the models are unchanged.")
            return
        command = worker_command(job.folder)
        process = QProcess(self)
        process.setProgram(command[0])
        process.setArguments(command[1:])
        # the worker's stderr (library warnings, a traceback) goes to the app's log
        process.setProcessChannelMode(QProcess.ProcessChannelMode.ForwardedErrorChannel)
        process.readyReadStandardOutput.connect(self._read_stdout)
        process.finished.connect(self._finished)
        self.process = process
        self.progress_label.setText(
            f"Starting the training process ({job.rows_copied:,} values copied)…"
        )
        process.start()

    def cancel(self) -> None:
        """Kill the worker; the finished handler discards its folder. Nothing was registered."""
        self._cancelled = True
        if self.process is not None:
            self.process.kill()

    def shutdown(self) -> None:
        """When the window closes: kill a run and wait for it (and for a copy in progress)."""
        self.cancel()
        if self.process is not None:
            self.process.waitForFinished(5000)
        self.runner.wait_all(120.0)

    def _read_stdout(self) -> None:
        assert self.process is not None
        self._buffer += bytes(self.process.readAllStandardOutput().data())
        *lines, self._buffer = self._buffer.split(b"\n")
        for line in lines:
            event = parse_event(line)
            if event is not None:
                self._events.append(event)
                self._on_event(event)

    def _on_event(self, event: dict[str, Any]) -> None:
        kind = event["event"]
        if kind == "stage":
            self.progress_label.setText(str(event["text"]).capitalize() + "…")
        elif kind == "progress" and event.get("total"):
            self.progress.setValue(int(1000 * (event["done"] or 0) / event["total"]))
            self.progress_label.setText(
                f"{event['stage'].capitalize()}: {event['done']:,} of {event['total']:,} "
                f"batches · {eta_text(event.get('eta_s'))}"
            )
        elif kind == "epoch":
            self.curves.add(event["epoch"], event.get("loss"), event.get("val_loss"))
            of = f" of {event['epochs']}" if event.get("epochs") else ""
            val = event.get("val_loss")
            self.progress_label.setText(
                f"Epoch {event['epoch']}{of}: loss {event['loss']:.4f}"
                + (f", validation {val:.4f}" if val is not None else "")
                + f" · {eta_text(event.get('eta_s'))}"
            )
        elif kind == "result":
            self.new_key = f"{event['model_id']}@{event['model_version']}"
            warnings = "; ".join(event.get("warnings") or [])
            self.result_label.setText(
                f"Fitted {self.new_key} in {event['seconds']:.0f} s ({event['stopped']})."
                + (f" Warnings: {warnings}" if warnings else "")
            )
        elif kind == "comparison":
            self.comparison.show_comparison(event)
            self.comparison.setToolTip(
                "Both graded models on the validation windows the new one did not train on (an "
                "older model may have trained on them)."
                if "validation_windows" in event
                else "The held-out windows are the end of the new model's fit stretch, where "
                "its thresholds were set: its false alarms there are low by construction. The "
                "figures against the log's labels leave each model's own fit stretch out."
            )
        elif kind == "error":
            self._error = str(event["message"])

    def _finished(self, code: int, status: QProcess.ExitStatus) -> None:
        self._read_stdout()
        job, self.process = self.job, None
        self._set_running(False)
        assert job is not None
        try:
            if self._context()[0] is not self.store:
                self.progress_label.setText(
                    "The workspace was closed during training: nothing was stored."
                )
            elif self._cancelled:
                self.progress_label.setText(
                    "Cancelled: nothing was kept; the models are unchanged."
                )
            elif code != 0 or status != QProcess.ExitStatus.NormalExit or self.new_key is None:
                reason = self._error or f"the training process stopped (exit status {code})"
                self.progress_label.setText(f"Training failed: {reason}")
            else:
                assert self.store is not None
                entry = register_result(self.store, job.folder)
                self.new_key = str(entry.key)
                self.progress.setValue(1000)
                self.progress_label.setText(
                    f"Done: {self.new_key} is stored. Compare it below, then activate it or keep "
                    "the current model."
                )
                self._set_result_buttons(True)
                self._refresh_models()
        except HydroDiagError as exc:
            self.progress_label.setText(f"Training failed: {exc}")
        finally:
            discard(job.folder)
            self.job = None

    def _set_running(self, running: bool) -> None:
        self.start_button.setEnabled(not running and not self.unavailable)
        self.cancel_button.setEnabled(running)
        self.equipment.setEnabled(not running)

    def _set_result_buttons(self, enabled: bool) -> None:
        self.activate_button.setEnabled(enabled)
        self.keep_button.setEnabled(enabled)

    # -- the registry ------------------------------------------------------------------------

    def _registry_action(self, action: Callable[[Store, str], str]) -> None:
        if self.store is None or self.equipment_id is None:
            return
        try:
            self.registry_label.setText(action(self.store, self.equipment_id))
        except HydroDiagError as exc:
            self.registry_label.setText(str(exc))
            return
        self._refresh_models()
        self._on_models_changed()

    def _activate_new(self) -> None:
        key = self.new_key
        if key is None:
            return

        def act(store: Store, eq: str) -> str:
            activate_model(store, eq, key)
            return f"{eq} now uses {key}."

        self._registry_action(act)
        self._set_result_buttons(False)

    def _keep_current(self) -> None:
        self.registry_label.setText(
            f"Kept the current model; {self.new_key} stays in the list, not in use."
        )
        self._set_result_buttons(False)

    def _activate_selected(self) -> None:
        key = self.models.selected_key()
        if key is None:
            self.registry_label.setText("Select a model in the list first.")
            return

        def act(store: Store, eq: str) -> str:
            activate_model(store, eq, key)
            return f"{eq} now uses {key}."

        self._registry_action(act)

    def _roll_back(self) -> None:
        self._registry_action(roll_back)


def main() -> int:
    from app.gui.views._standalone import run_standalone

    def build() -> QWidget:
        from app.core.sample import SAMPLE_EQUIPMENT, sample_workspace_in_temp

        store = sample_workspace_in_temp().open()
        panel = RetrainPanel(lambda: (store, SAMPLE_EQUIPMENT))
        panel.refresh()
        return panel

    return run_standalone("Retraining", build)


if __name__ == "__main__":
    raise SystemExit(main())
