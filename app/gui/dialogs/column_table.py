"""ColumnTable: the import dialog's column → sensor table.

One row per value column of a wide file (or per sensor name of a long file): the column, the
unit in the file (editable), the sensor it feeds — each sensor listed with what it measures and
its unit — and the sensor's unit. It also recalls what was chosen for the same columns of the
equipment's earlier imports (:mod:`app.core.column_memory`), and says what Import will skip.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QHeaderView, QLineEdit, QTableWidget, QTableWidgetItem

from app.core import column_memory
from ingestion.csv_columns import match_sensor, split_header
from ingestion.csv_plan import CsvPlan
from ingestion.csv_sniff import long_names, preview_rows
from ingestion.profiles import EquipmentProfile

SKIP = "(skip)"
MappingKey = int | str  # a column index (wide files) or a sensor name in the file (long files)
Mapping = dict[MappingKey, tuple[str | None, str | None]]  # key -> (sensor or None, unit)


def key_label(key: MappingKey) -> str:
    return f"column {key + 1}" if isinstance(key, int) else f"name {key!r}"


class ColumnTable(QTableWidget):
    """Emits ``edited`` whenever the user changes a sensor or a unit."""

    edited = Signal()

    def __init__(self) -> None:
        super().__init__(0, 4)
        self.setHorizontalHeaderLabels(["Column", "Unit in file", "Sensor", "Sensor unit"])
        self.verticalHeader().setVisible(False)
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.keys: list[MappingKey] = []
        self.names: list[str] = []  # each row's column name in the file (what is remembered)
        self.profile: EquipmentProfile | None = None
        self.long = False

    def clear_rows(self) -> None:
        self.setRowCount(0)
        self.keys, self.names = [], []

    def fill(self, plan: CsvPlan, profile: EquipmentProfile) -> None:
        """A row per column (or name) of ``plan``, the matched ones mapped."""
        self.clear_rows()
        self.profile, self.long = profile, plan.layout == "long"
        rows: list[tuple[MappingKey, str, str | None, str | None]] = []
        if self.long:  # (key, label, unit, sensor) per name in the file
            for in_file, its_unit in long_names(plan):
                rows.append(
                    (in_file, f"name {in_file!r}", its_unit, match_sensor(in_file, profile))
                )
                self.names.append(in_file)
            first = "Sensor name in the file"
        else:
            for col in plan.columns:
                if col.role in {"time", "date", "clock"}:
                    continue
                sensor = col.sensor if col.role == "value" and col.sensor else None
                rows.append((col.index, col.label(), col.unit, sensor))
                self.names.append(col.name)
            first = "Column"
        self.setHorizontalHeaderLabels(
            [first, "Unit in file", "Sensor (what it measures)", "Sensor unit"]
        )
        self.setRowCount(len(rows))
        self.keys = [key for key, _, _, _ in rows]
        for row, (_key, label, unit_text, sensor_id) in enumerate(rows):
            name = QTableWidgetItem(label)
            name.setFlags(name.flags() & ~Qt.ItemFlag.ItemIsEditable)
            self.setItem(row, 0, name)
            unit = QLineEdit(unit_text or "")
            unit.setPlaceholderText("as the sensor")
            unit.textChanged.connect(lambda _t: self.edited.emit())
            self.setCellWidget(row, 1, unit)
            combo = self._sensor_combo(profile)
            combo.setCurrentIndex(max(0, combo.findData(sensor_id or "")))
            combo.currentIndexChanged.connect(lambda _i, r=row: self._on_sensor_changed(r))
            self.setCellWidget(row, 2, combo)
            self.setItem(row, 3, QTableWidgetItem(""))
            self._on_sensor_changed(row, notify=False)

    @staticmethod
    def _sensor_combo(profile: EquipmentProfile) -> QComboBox:
        """(skip) and the profile's sensors, each with what it measures and its unit (the id
        is the item's data)."""
        combo = QComboBox()
        combo.addItem(SKIP, "")
        for sensor in profile.sensors:
            words = split_header(sensor.description)[0] or sensor.quantity.replace("_", " ")
            combo.addItem(f"{sensor.id} · {words} [{sensor.unit}]", sensor.id)
            combo.setItemData(
                combo.count() - 1,
                f"{sensor.id}: {words}, on {sensor.component}, in {sensor.unit}",
                Qt.ItemDataRole.ToolTipRole,
            )
        return combo

    def _on_sensor_changed(self, row: int, notify: bool = True) -> None:
        combo = self.cellWidget(row, 2)
        item = self.item(row, 3)
        if not isinstance(combo, QComboBox) or item is None or self.profile is None:
            return
        sensor = combo.currentData()
        item.setText(self.profile.sensor(sensor).unit if sensor else "")
        combo.setToolTip(combo.itemData(combo.currentIndex(), Qt.ItemDataRole.ToolTipRole) or "")
        item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
        if notify:
            self.edited.emit()

    def set_mapping(self, key: MappingKey, sensor: str | None, unit: str | None = None) -> None:
        """Map a column (0-based index; or a sensor name of a long file) to ``sensor``
        (None = skip), as a user would."""
        row = self.keys.index(key)
        combo = self.cellWidget(row, 2)
        assert isinstance(combo, QComboBox)
        combo.setCurrentIndex(max(0, combo.findData(sensor or "")))
        if unit is not None:
            edit = self.cellWidget(row, 1)
            assert isinstance(edit, QLineEdit)
            edit.setText(unit)

    def mapping(self) -> Mapping:
        out: Mapping = {}
        for row, key in enumerate(self.keys):
            combo = self.cellWidget(row, 2)
            unit = self.cellWidget(row, 1)
            if isinstance(combo, QComboBox) and isinstance(unit, QLineEdit):
                out[key] = (combo.currentData() or None, unit.text().strip() or None)
        return out

    def restore(self, kept: Mapping) -> None:
        """Choose again what was chosen for the same keys (a re-plan for another profile)."""
        known = set(self.profile.sensor_ids) if self.profile else set()
        for key, (sensor, unit) in kept.items():
            if key in self.keys and (sensor is None or sensor in known):
                self.set_mapping(key, sensor, unit or "")

    def recall(self, equipment_id: str) -> None:
        """Choose what was chosen for the same columns of the equipment's earlier imports."""
        known = set(self.profile.sensor_ids) if self.profile else set()
        remembered = column_memory.recall(equipment_id)
        for row, (sensor, unit) in column_memory.recalled_for(self.names, remembered).items():
            if sensor is None or sensor in known:
                self.set_mapping(self.keys[row], sensor, unit or "")

    def choices(self) -> dict[str, column_memory.Choice]:
        """Column name in the file -> choice, as remembered after an import."""
        mapping = self.mapping()
        return {name: mapping[key] for name, key in zip(self.names, self.keys, strict=True)}

    def row_label(self, row: int) -> str:
        item = self.item(row, 0)
        return item.text() if item is not None else ""

    def skip_warning(self) -> str:
        """'▲ 9 of 10 columns will be skipped …' or ''."""
        if not self.keys:
            return ""
        mapping = self.mapping()
        return column_memory.skip_warning(
            [self.row_label(row) for row in range(len(self.keys))],
            [mapping[key][0] for key in self.keys],
            kind="names" if self.long else "columns",
        )

    def text_column_notes(self, plan: CsvPlan) -> list[str]:
        """Notes on the skipped columns that hold text (comments, condition labels)."""
        if self.long:
            return []
        data = [cells for number, cells in preview_rows(plan) if number >= plan.data_start_line]
        mapping = self.mapping()
        skipped = [
            (self.row_label(row), [cells[key] for cells in data if len(cells) > key])
            for row, key in enumerate(self.keys)
            if isinstance(key, int) and mapping[key][0] is None
        ]
        return column_memory.text_column_notes(skipped, plan.decimal)
