"""ImportDialog: import a CSV log — pick or drop a file, check the preview and the detected
format, map columns to sensors (auto-matched), import with progress and cancel, read the summary.

Detection is ``ingestion.csv_sniff``'s and the import ``ingestion.csv_import``'s (the same code
as ``hydrodiag ingest csv``); the dialog only shows the plan and turns the user's mapping into
:class:`CsvOptions`. The file is sniffed once when it is chosen; a change of equipment or
profile re-plans that sniff for the new profile without reading the file again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QDragEnterEvent, QDropEvent, QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.core import column_memory, queries
from app.core.gui_words import for_gui
from app.gui.dialogs.column_table import ColumnTable, Mapping, MappingKey, key_label
from app.gui.dialogs.errors import error_message, show_error
from app.gui.workers import Task, TaskContext, TaskRunner
from ingestion.catalog import ImportSummary
from ingestion.csv_columns import match_sensor
from ingestion.csv_import import ingest_csv
from ingestion.csv_plan import ColumnMap, CsvOptions, CsvPlan, CsvTable
from ingestion.csv_sniff import long_names, plan_table, preview_rows, sniff_table
from ingestion.errors import HydroDiagError
from ingestion.profiles import EquipmentProfile
from ingestion.units import conversion
from ingestion.workspace import Store

NEW_EQUIPMENT = "__new__"


def build_options(plan: CsvPlan, mapping: Mapping, tz: str | None) -> CsvOptions:
    """CsvOptions from the user's mapping: key -> (sensor or None to skip, unit)."""
    maps: dict[str, ColumnMap] = {}
    skip: list[str] = []
    for key, (sensor, unit) in mapping.items():
        if isinstance(key, str):  # long file: names are mapped; unmapped names are left out
            if sensor is not None:
                maps[key] = ColumnMap(sensor=sensor, unit=unit or None)
            continue
        ref = str(key + 1)  # 1-based position: unambiguous even with duplicate headers
        if sensor is None:
            skip.append(ref)
        else:
            maps[ref] = ColumnMap(sensor=sensor, unit=unit or None)
    return CsvOptions(
        delimiter=plan.delimiter,
        decimal=plan.decimal if plan.decimal in (".", ",") else None,  # type: ignore[arg-type]
        maps=maps,
        skip=tuple(skip),
        tz=tz or None,
        ignore_unknown=True,
    )


class ImportDialog(QDialog):
    """Non-blocking (``open()``); emits ``imported(equipment_id)`` after a successful import."""

    imported = Signal(str)

    def __init__(
        self,
        store: Store,
        runner: TaskRunner,
        parent: QWidget | None = None,
        *,
        equipment_id: str | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Import a CSV log")
        self.setAcceptDrops(True)
        self.resize(1000, 680)
        self.store = store
        self.runner = runner
        self.plan: CsvPlan | None = None
        self._table: tuple[str, CsvTable] | None = None  # (path text, its sniff)
        self.profile: EquipmentProfile | None = None
        self.summary: ImportSummary | None = None
        self.task: Task | None = None
        self.error_box: Any = None
        self.shipped = queries.shipped_profiles()
        # -- file and equipment
        self.path = QLineEdit()
        self.path.setPlaceholderText("Choose a file or drop it here")
        # Enter reads a typed path; leaving the field does not (a click on a sensor after a
        # drop must not read the file again and rebuild the table under the mouse).
        self.path.returnPressed.connect(self._on_path_entered)
        self._loaded_path = ""  # the path text the preview and mapping are of
        self._choices: dict[str, column_memory.Choice] = {}  # of the running import
        self._notes: list[str] = []  # on its skipped text columns
        self._failure = ""  # why the last import failed, shown until the next try
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._on_browse_clicked)
        file_row = QHBoxLayout()
        file_row.addWidget(self.path, 1)
        file_row.addWidget(browse)
        self.equipment = QComboBox()
        for eq in queries.list_equipment(store):
            self.equipment.addItem(f"{eq.name} ({eq.id})", eq.id)
        self.equipment.addItem("New equipment…", NEW_EQUIPMENT)
        if equipment_id is not None:
            self.equipment.setCurrentIndex(max(0, self.equipment.findData(equipment_id)))
        self.new_id = QLineEdit()
        self.new_id.setPlaceholderText("new equipment id, e.g. press-7")
        self.new_profile = QComboBox()
        for p in self.shipped:
            self.new_profile.addItem(f"{p.name} ({p.id})", p.id)
        new_row = QHBoxLayout()
        new_row.addWidget(self.new_id, 1)
        new_row.addWidget(self.new_profile, 1)
        self.new_widget = QWidget()
        self.new_widget.setLayout(new_row)
        new_row.setContentsMargins(0, 0, 0, 0)
        self.tz = QLineEdit()
        self.tz.setPlaceholderText("UTC (or e.g. Europe/Berlin for local logger time)")
        form = QFormLayout()
        form.addRow("File", file_row)
        form.addRow("Equipment", self.equipment)
        form.addRow("", self.new_widget)
        form.addRow("Time zone of the log", self.tz)
        self.equipment.currentIndexChanged.connect(self._on_equipment_changed)
        self.new_profile.currentIndexChanged.connect(lambda _i: self._resniff())
        self.new_id.textChanged.connect(lambda _t: self._validate())
        # -- preview, detection, mapping
        self.detected = QLabel("No file yet.")
        self.detected.setWordWrap(True)
        self.detected.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.preview = QTableWidget(0, 0)
        self.preview.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.preview.verticalHeader().setDefaultSectionSize(20)
        self.mapping = ColumnTable()
        self.mapping.edited.connect(self._validate)
        preview_box = QGroupBox("Preview (first lines as the import splits them)")
        QVBoxLayout(preview_box).addWidget(self.preview)
        mapping_box = QGroupBox("Columns → sensors (auto-matched; change or skip)")
        QVBoxLayout(mapping_box).addWidget(self.mapping)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(preview_box)
        splitter.addWidget(mapping_box)
        self.problem = QLabel("")
        self.problem.setWordWrap(True)
        self.problem.setStyleSheet("color: #c8322a;")
        self.problem.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.note = QLabel("")  # what Import will leave out, said before it does
        self.note.setWordWrap(True)
        self.note.setStyleSheet("color: #8a5a00;")
        setup = QWidget()
        setup_layout = QVBoxLayout(setup)
        setup_layout.setContentsMargins(0, 0, 0, 0)
        setup_layout.addLayout(form)
        setup_layout.addWidget(self.detected)
        setup_layout.addWidget(splitter, 1)
        setup_layout.addWidget(self.problem)
        setup_layout.addWidget(self.note)
        self.pages = QStackedWidget()
        self.pages.addWidget(setup)
        self.pages.addWidget(self._result_page())
        # -- buttons and progress
        self.progress = QProgressBar()
        self.progress.hide()
        self.status = QLabel("")
        self.import_button = QPushButton("Import")
        self.import_button.setDefault(True)
        self.import_button.clicked.connect(self.start_import)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self._on_cancel_clicked)
        buttons = QHBoxLayout()
        buttons.addWidget(self.status, 1)
        buttons.addWidget(self.progress)
        buttons.addWidget(self.import_button)
        buttons.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.pages, 1)
        layout.addLayout(buttons)
        self._on_equipment_changed()

    def _result_page(self) -> QWidget:
        """What the import did: a headline and the details to copy."""
        self.summary_text = QPlainTextEdit()
        self.summary_text.setReadOnly(True)
        self.summary_text.setMaximumHeight(220)
        self.headline = QLabel("")
        self.headline.setWordWrap(True)
        self.headline.setStyleSheet("font-size: 15px; font-weight: bold; color: #1d6b3c;")
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.addWidget(self.headline)
        layout.addWidget(QLabel("Details (select and copy as needed):"))
        layout.addWidget(self.summary_text)
        layout.addStretch(1)
        return page

    # -- file and detection -------------------------------------------------------------

    def _current_profile(self) -> EquipmentProfile | None:
        data = self.equipment.currentData()
        if data == NEW_EQUIPMENT:
            index = self.new_profile.currentIndex()
            return self.shipped[index] if index >= 0 else None
        if data is None:
            return None
        try:
            return queries.equipment_profile(self.store, str(data))
        except (HydroDiagError, duckdb.Error) as exc:  # e.g. the workspace was closed meanwhile
            self.problem.setText(error_message(exc))
            return None

    def equipment_id(self) -> str | None:
        data = self.equipment.currentData()
        if data == NEW_EQUIPMENT:
            return self.new_id.text().strip() or None
        return None if data is None else str(data)

    def _on_equipment_changed(self, _index: int = 0) -> None:
        self.new_widget.setVisible(self.equipment.currentData() == NEW_EQUIPMENT)
        self._resniff()

    def set_file(self, path: str | Path) -> bool:
        """Load and analyse ``path``; False (with an error dialog) when it cannot be read."""
        text = str(path).strip()
        if self.path.text() != text:
            self.path.setText(text)
        self._loaded_path = text
        self._table = None  # chosen (again): read it afresh
        self._failure = ""
        self.plan = None  # and map it afresh
        if self.equipment.currentData() == NEW_EQUIPMENT and text:
            self._choose_best_profile(text)
        return self._resniff(show_dialog=True)

    def _sniffed(self, text: str) -> CsvTable:
        """The file's sniff, read once per file; raises what sniffing raises."""
        if self._table is None or self._table[0] != text:
            self._table = (text, sniff_table(Path(text), CsvOptions(ignore_unknown=True)))
        return self._table[1]

    def _choose_best_profile(self, text: str) -> None:
        """For a new equipment, preselect the shipped profile whose sensors match most columns."""
        try:
            table = self._sniffed(text)
        except (HydroDiagError, OSError, UnicodeError):
            return  # _resniff says why
        names: list[tuple[str, str | None]] | None = None  # of a long file: one read for all
        best, best_count = -1, 0
        for index, profile in enumerate(self.shipped):
            try:
                plan = plan_table(table, profile)
            except (HydroDiagError, OSError, UnicodeError):
                continue
            if plan.layout == "long":
                names = long_names(plan) if names is None else names
                count = sum(match_sensor(n, profile) is not None for n, _ in names)
            else:
                count = len(plan.value_columns())
            if count > best_count:
                best, best_count = index, count
        if best >= 0:
            self.new_profile.blockSignals(True)
            self.new_profile.setCurrentIndex(best)
            self.new_profile.blockSignals(False)

    def _on_path_entered(self) -> None:
        text = self.path.text().strip()
        if text and text != self._loaded_path:
            self.set_file(text)

    def _resniff(self, show_dialog: bool = False) -> bool:
        """Plan the file for the current profile (sniffing it if it is not yet); the mapping
        the user chose is kept for the sensors the new profile also has."""
        kept = self.current_mapping() if self.plan is not None else {}
        self.plan = None
        self.profile = self._current_profile()
        text = self.path.text().strip()
        if not text or self.profile is None:
            self._fill_plan()
            return False
        try:
            plan = plan_table(self._sniffed(text), self.profile)
        except (HydroDiagError, OSError, UnicodeError) as exc:
            self.problem.setText(error_message(exc))
            self.detected.setText("Could not read the file.")
            self._fill_plan()
            if show_dialog:
                self.error_box = show_error(self, exc, "Reading the file")
            return False
        self.plan = plan
        self.problem.setText("")
        self._fill_plan()
        self.mapping.restore(kept)
        self._recall_mapping()
        return True

    def _fill_plan(self) -> None:
        plan = self.plan
        self.preview.clear()
        self.mapping.clear_rows()
        if plan is None:
            self.preview.setRowCount(0)
            self.preview.setColumnCount(0)
            self._validate()
            return
        time_cols = ", ".join(c.header or c.label() for c in plan.time_columns())
        self.detected.setText(
            f"<b>Detected:</b> {plan.layout} layout · delimiter {plan.delimiter!r} · decimal "
            f"{plan.decimal!r} · encoding {plan.encoding} · header on line {plan.header_line or '—'}"
            f" · units line {plan.units_line or '—'} · data from line {plan.data_start_line}<br>"
            f"<b>Time:</b> {time_cols} as {plan.time_spec.description} "
            + ("".join(f"<br>note: {for_gui(n)}" for n in plan.notes))
        )
        self.detected.setTextFormat(Qt.TextFormat.RichText)
        rows = preview_rows(plan)
        width = max((len(cells) for _, cells in rows), default=0)
        self.preview.setRowCount(len(rows))
        self.preview.setColumnCount(width)
        self.preview.setHorizontalHeaderLabels([str(i + 1) for i in range(width)])
        self.preview.setVerticalHeaderLabels([str(n) for n, _ in rows])
        bold = QFont()
        bold.setBold(True)
        for r, (number, cells) in enumerate(rows):
            for c, cell in enumerate(cells):
                item = QTableWidgetItem(cell)
                if number == plan.header_line or number == plan.units_line:
                    item.setFont(bold)
                    item.setBackground(QColor("#e8eef5"))
                elif number < plan.data_start_line:
                    item.setForeground(QColor("#8a96a3"))
                self.preview.setItem(r, c, item)
        self.preview.resizeColumnsToContents()
        assert self.profile is not None
        self.mapping.fill(plan, self.profile)
        self._validate()

    def _recall_mapping(self) -> None:
        equipment = self.equipment.currentData()
        if self.profile is not None and equipment and equipment != NEW_EQUIPMENT:
            self.mapping.recall(equipment)

    def set_mapping(self, key: MappingKey, sensor: str | None, unit: str | None = None) -> None:
        """Map a column (0-based index; or a sensor name of a long file) to ``sensor``
        (None = skip), as a user would."""
        self.mapping.set_mapping(key, sensor, unit)

    def current_mapping(self) -> Mapping:
        return self.mapping.mapping()

    def _validate(self) -> bool:
        problems: list[str] = []
        if self.plan is None:
            problems.append("" if self.problem.text() else "Choose a CSV file.")
        if self.equipment.currentData() == NEW_EQUIPMENT:
            text = self.new_id.text().strip()
            if not text:
                problems.append("Give the new equipment an id.")
            elif text in {self.equipment.itemData(i) for i in range(self.equipment.count())}:
                problems.append(f"Equipment {text!r} already exists; pick it from the list.")
        if self.plan is not None and self.profile is not None:
            mapping = self.current_mapping()
            used: dict[str, MappingKey] = {}
            for key, (sensor, unit) in mapping.items():
                if sensor is None:
                    continue
                if sensor in used:
                    problems.append(
                        f"{key_label(used[sensor]).capitalize()} and {key_label(key)} both "
                        f"feed {sensor}; skip one."
                    )
                used[sensor] = key
                if unit:
                    try:
                        conversion(unit, self.profile.sensor(sensor).unit, where=key_label(key))
                    except HydroDiagError as exc:
                        problems.append(str(exc))
            if not used:
                problems.append("Map at least one column to a sensor.")
        text = " ".join(p for p in problems if p) or self._failure
        if self.plan is not None or text:
            self.problem.setText(text)
        self.note.setText(self.mapping.skip_warning() if self.plan is not None else "")
        ok = not [p for p in problems if p] and self.plan is not None
        self.import_button.setEnabled(ok and self.task is None)
        return ok

    # -- import ---------------------------------------------------------------------------

    def start_import(self) -> Task | None:
        if self.path.text().strip() != self._loaded_path:  # typed, never entered: read it
            self.set_file(self.path.text())
            return None
        if not self._validate() or self.plan is None or self.profile is None:
            return None
        equipment = self.equipment_id()
        assert equipment is not None
        options = build_options(self.plan, self.current_mapping(), self.tz.text().strip())
        self._failure = ""
        self._choices = self.mapping.choices()
        self._notes = self.mapping.text_column_notes(self.plan)
        path, profile, store = self.plan.path, self.profile, self.store

        def work(ctx: TaskContext) -> ImportSummary:
            return ingest_csv(
                queries.thread_store(store),
                path,
                equipment_id=equipment,
                profile=profile,
                options=options,
                progress=ctx,
            )

        self.progress.setRange(0, 0)
        self.progress.show()
        self.import_button.setEnabled(False)
        self.pages.setEnabled(False)
        self.status.setText("Importing…")
        self.task = self.runner.start(
            work,
            name=f"Importing {path.name}",
            key="import",
            on_result=self._on_import_succeeded,
            on_error=self._on_import_failed,
            on_progress=self._on_import_progress,
            on_cancelled=self._on_import_cancelled,
            on_finished=self._on_import_finished,
        )
        return self.task

    def _on_import_progress(self, fraction: float, message: str) -> None:
        if fraction < 0:
            self.progress.setRange(0, 0)
        else:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(fraction * 1000))
        self.status.setText(message)

    def _on_import_succeeded(self, summary: ImportSummary) -> None:
        self.summary = summary
        if not summary.skipped:
            column_memory.remember(summary.equipment_id, self._choices)
        notes = [] if summary.skipped else self._notes
        self.summary_text.setPlainText(for_gui("\n".join([summary.describe(), *notes])))
        if summary.skipped:
            self.headline.setText(
                f"✔ {Path(summary.uri).name} was already imported — nothing to do."
            )
        else:
            span = (
                f", {summary.first_ts:%Y-%m-%d %H:%M} – {summary.last_ts:%Y-%m-%d %H:%M} UTC"
                if summary.first_ts and summary.last_ts
                else ""
            )
            self.headline.setText(
                f"✔ Imported {summary.values:,} values of {len(summary.sensors)} sensor(s) from "
                f"{Path(summary.uri).name} into {summary.equipment_id}{span}."
                + (
                    f"\n▲ {len(summary.warnings)} warning(s): see below."
                    if summary.warnings
                    else ""
                )
                + (f"\nℹ {len(notes)} skipped column(s) hold text: see below." if notes else "")
            )
        self.pages.setCurrentIndex(1)
        self.status.setText(
            "Already imported — nothing to do."
            if summary.skipped
            else f"Imported {summary.values:,} values"
            + (f" with {len(summary.warnings)} warning(s)." if summary.warnings else ".")
        )
        self.cancel_button.setText("Close")
        self.import_button.hide()
        self.imported.emit(summary.equipment_id)

    def _on_import_failed(self, exc: BaseException) -> None:
        self.status.setText("Import failed; the workspace is unchanged.")
        self._failure = error_message(exc)
        self.problem.setText(self._failure)
        self.error_box = show_error(self, exc, "Import")

    def _on_import_cancelled(self) -> None:
        self.status.setText("Import cancelled; the workspace is unchanged.")

    def _on_import_finished(self) -> None:
        self.task = None
        self.progress.hide()
        self.pages.setEnabled(True)
        self._validate()

    def _on_cancel_clicked(self) -> None:
        if self.task is not None:
            self.task.cancel()
            self.status.setText("Cancelling…")
            return
        if self.summary is not None:
            self.accept()
        else:
            self.reject()

    def done(self, result: int) -> None:
        if self.task is not None:  # closing the dialog cancels the import (it rolls back)
            self.task.cancel()
        self.equipment.blockSignals(True)  # no re-detection while the dialog is torn down
        self.new_profile.blockSignals(True)
        super().done(result)

    # -- file picking ---------------------------------------------------------------------

    def _on_browse_clicked(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "CSV log", "", "CSV logs (*.csv *.txt *.tsv *.dat);;All files (*)"
        )
        if path:
            self.set_file(path)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        urls = event.mimeData().urls()
        if urls:
            self.set_file(urls[0].toLocalFile())
