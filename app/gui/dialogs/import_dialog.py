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
    QHeaderView,
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
from app.gui.dialogs.errors import error_message, show_error
from app.gui.workers import Task, TaskContext, TaskRunner
from ingestion.catalog import ImportSummary
from ingestion.csv_columns import match_sensor, split_header
from ingestion.csv_import import ingest_csv
from ingestion.csv_plan import ColumnMap, CsvOptions, CsvPlan, CsvTable
from ingestion.csv_sniff import long_names, plan_table, preview_rows, sniff_table
from ingestion.errors import HydroDiagError
from ingestion.profiles import EquipmentProfile
from ingestion.units import conversion
from ingestion.workspace import Store

SKIP = "(skip)"
NEW_EQUIPMENT = "__new__"
MappingKey = int | str  # a column index (wide files) or a sensor name in the file (long files)


def _key_label(key: MappingKey) -> str:
    return f"column {key + 1}" if isinstance(key, int) else f"name {key!r}"


def build_options(
    plan: CsvPlan, mapping: dict[MappingKey, tuple[str | None, str | None]], tz: str | None
) -> CsvOptions:
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
        self._mapping_keys: list[MappingKey] = []
        self._mapping_names: list[str] = []  # the column's name in the file, per row
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
        self.mapping = QTableWidget(0, 4)
        self.mapping.setHorizontalHeaderLabels(["Column", "Unit in file", "Sensor", "Sensor unit"])
        self.mapping.verticalHeader().setVisible(False)
        self.mapping.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
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
        # -- result page
        self.summary_text = QPlainTextEdit()
        self.summary_text.setReadOnly(True)
        self.summary_text.setMaximumHeight(220)
        self.headline = QLabel("")
        self.headline.setWordWrap(True)
        self.headline.setStyleSheet("font-size: 15px; font-weight: bold; color: #1d6b3c;")
        result_page = QWidget()
        result_layout = QVBoxLayout(result_page)
        result_layout.addWidget(self.headline)
        result_layout.addWidget(QLabel("Details (select and copy as needed):"))
        result_layout.addWidget(self.summary_text)
        result_layout.addStretch(1)
        self.pages = QStackedWidget()
        self.pages.addWidget(setup)
        self.pages.addWidget(result_page)
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
        self._restore_mapping(kept)
        self._recall_mapping()
        return True

    def _fill_plan(self) -> None:
        plan = self.plan
        self.preview.clear()
        self.mapping.setRowCount(0)
        self._mapping_keys = []
        self._mapping_names = []
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
        mapping_rows: list[tuple[MappingKey, str, str | None, str | None]] = []
        if plan.layout == "long":  # (key, label, unit, sensor) per name in the file
            for sensor_name, name_unit in long_names(plan):
                mapping_rows.append(
                    (
                        sensor_name,
                        f"name {sensor_name!r}",
                        name_unit,
                        match_sensor(sensor_name, self.profile),
                    )
                )
                self._mapping_names.append(sensor_name)
            self.mapping.setHorizontalHeaderLabels(
                ["Sensor name in the file", "Unit in file", "Sensor", "Sensor unit"]
            )
        else:
            for col in plan.columns:
                if col.role in {"time", "date", "clock"}:
                    continue
                sensor = col.sensor if col.role == "value" and col.sensor else None
                mapping_rows.append((col.index, col.label(), col.unit, sensor))
                self._mapping_names.append(col.name)
            self.mapping.setHorizontalHeaderLabels(
                ["Column", "Unit in file", "Sensor (what it measures)", "Sensor unit"]
            )
        self.mapping.setRowCount(len(mapping_rows))
        self._mapping_keys = [key for key, _, _, _ in mapping_rows]
        for row, (_key, label, unit_text, sensor_id) in enumerate(mapping_rows):
            name = QTableWidgetItem(label)
            name.setFlags(name.flags() & ~Qt.ItemFlag.ItemIsEditable)
            self.mapping.setItem(row, 0, name)
            unit = QLineEdit(unit_text or "")
            unit.setPlaceholderText("as the sensor")
            unit.textChanged.connect(lambda _t: self._validate())
            self.mapping.setCellWidget(row, 1, unit)
            combo = self._sensor_combo()
            combo.setCurrentIndex(max(0, combo.findData(sensor_id or "")))
            combo.currentIndexChanged.connect(lambda _i, r=row: self._on_sensor_changed(r))
            self.mapping.setCellWidget(row, 2, combo)
            self.mapping.setItem(row, 3, QTableWidgetItem(""))
            self._on_sensor_changed(row, validate=False)
        self._validate()

    def _sensor_combo(self) -> QComboBox:
        """(skip) and the profile's sensors, each with what it measures and its unit (the id
        is the item's data)."""
        assert self.profile is not None
        combo = QComboBox()
        combo.addItem(SKIP, "")
        for sensor in self.profile.sensors:
            words = split_header(sensor.description)[0] or sensor.quantity.replace("_", " ")
            combo.addItem(f"{sensor.id} · {words} [{sensor.unit}]", sensor.id)
            combo.setItemData(
                combo.count() - 1,
                f"{sensor.id}: {words}, on {sensor.component}, in {sensor.unit}",
                Qt.ItemDataRole.ToolTipRole,
            )
        return combo

    def _on_sensor_changed(self, row: int, validate: bool = True) -> None:
        combo = self.mapping.cellWidget(row, 2)
        item = self.mapping.item(row, 3)
        if not isinstance(combo, QComboBox) or item is None or self.profile is None:
            return
        sensor = combo.currentData()
        item.setText(self.profile.sensor(sensor).unit if sensor else "")
        combo.setToolTip(combo.itemData(combo.currentIndex(), Qt.ItemDataRole.ToolTipRole) or "")
        item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
        if validate:
            self._validate()

    def _restore_mapping(self, kept: dict[MappingKey, tuple[str | None, str | None]]) -> None:
        if self.profile is None:
            return
        known = set(self.profile.sensor_ids)
        for key, (sensor, unit) in kept.items():
            if key in self._mapping_keys and (sensor is None or sensor in known):
                self.set_mapping(key, sensor, unit or "")

    def _recall_mapping(self) -> None:
        """Choose what was chosen for the same columns of this equipment's earlier imports."""
        equipment = self.equipment.currentData()
        if self.profile is None or not equipment or equipment == NEW_EQUIPMENT:
            return
        known = set(self.profile.sensor_ids)
        remembered = column_memory.recall(equipment)
        for row, (sensor, unit) in column_memory.recalled_for(
            self._mapping_names, remembered
        ).items():
            if sensor is None or sensor in known:
                self.set_mapping(self._mapping_keys[row], sensor, unit or "")

    def set_mapping(self, key: MappingKey, sensor: str | None, unit: str | None = None) -> None:
        """Map a column (0-based index; or a sensor name of a long file) to ``sensor``
        (None = skip), as a user would."""
        row = self._mapping_keys.index(key)
        combo = self.mapping.cellWidget(row, 2)
        assert isinstance(combo, QComboBox)
        combo.setCurrentIndex(max(0, combo.findData(sensor or "")))
        if unit is not None:
            edit = self.mapping.cellWidget(row, 1)
            assert isinstance(edit, QLineEdit)
            edit.setText(unit)

    def current_mapping(self) -> dict[MappingKey, tuple[str | None, str | None]]:
        out: dict[MappingKey, tuple[str | None, str | None]] = {}
        for row, index in enumerate(self._mapping_keys):
            combo = self.mapping.cellWidget(row, 2)
            unit = self.mapping.cellWidget(row, 1)
            if isinstance(combo, QComboBox) and isinstance(unit, QLineEdit):
                out[index] = (combo.currentData() or None, unit.text().strip() or None)
        return out

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
                        f"{_key_label(used[sensor]).capitalize()} and {_key_label(key)} both "
                        f"feed {sensor}; skip one."
                    )
                used[sensor] = key
                if unit:
                    try:
                        conversion(unit, self.profile.sensor(sensor).unit, where=_key_label(key))
                    except HydroDiagError as exc:
                        problems.append(str(exc))
            if not used:
                problems.append("Map at least one column to a sensor.")
        text = " ".join(p for p in problems if p) or self._failure
        if self.plan is not None or text:
            self.problem.setText(text)
        self.note.setText(self._skip_warning())
        ok = not [p for p in problems if p] and self.plan is not None
        self.import_button.setEnabled(ok and self.task is None)
        return ok

    def _skip_warning(self) -> str:
        if self.plan is None or not self._mapping_keys:
            return ""
        mapping = self.current_mapping()
        labels = [self._row_label(row) for row in range(len(self._mapping_keys))]
        kind = "names" if self.plan.layout == "long" else "columns"
        return column_memory.skip_warning(
            labels, [mapping[key][0] for key in self._mapping_keys], kind=kind
        )

    def _row_label(self, row: int) -> str:
        item = self.mapping.item(row, 0)
        return item.text() if item is not None else ""

    def _text_column_notes(self) -> list[str]:
        """Notes on the skipped columns that hold text (comments, condition labels)."""
        plan = self.plan
        if plan is None or plan.layout == "long":
            return []
        data = [cells for number, cells in preview_rows(plan) if number >= plan.data_start_line]
        skipped = [
            (self._row_label(row), [c[key] for c in data if len(c) > key])
            for row, key in enumerate(self._mapping_keys)
            if isinstance(key, int) and self.current_mapping()[key][0] is None
        ]
        return column_memory.text_column_notes(skipped, plan.decimal)

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
        mapping = self.current_mapping()
        self._choices = {
            name: mapping[key]
            for name, key in zip(self._mapping_names, self._mapping_keys, strict=True)
        }
        self._notes = self._text_column_notes()
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
