"""NewEquipmentDialog: create an equipment in the workspace from a shipped or a user's profile."""

from __future__ import annotations

import re

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.core import queries
from ingestion.catalog import ensure_equipment, equipment_exists
from ingestion.errors import HydroDiagError
from ingestion.profiles import EquipmentProfile, load_profile_file
from ingestion.workspace import Store

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")


def create_equipment(store: Store, equipment_id: str, name: str, profile: EquipmentProfile) -> None:
    """Create the equipment (one transaction); refuses an id that exists."""
    if not _ID.match(equipment_id):
        raise HydroDiagError(
            f"equipment id {equipment_id!r}: use letters, digits, '.', '_' or '-' and start "
            "with a letter or digit."
        )
    with store.transaction() as con:
        if equipment_exists(con, equipment_id):
            raise HydroDiagError(f"equipment {equipment_id!r} already exists; choose another id.")
        ensure_equipment(con, equipment_id, profile, name=name or equipment_id)


class NewEquipmentDialog(QDialog):
    def __init__(self, store: Store, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("New equipment")
        self.store = store
        self.created: str | None = None
        self.profiles: list[EquipmentProfile] = queries.shipped_profiles()
        self.equipment_id = QLineEdit()
        self.equipment_id.setPlaceholderText("e.g. press-7")
        self.name = QLineEdit()
        self.name.setPlaceholderText("e.g. Press 7, hall 2")
        self.profile = QComboBox()
        for p in self.profiles:
            self.profile.addItem(f"{p.name} ({p.id})", p.id)
        browse = QPushButton("Profile from file…")
        browse.clicked.connect(self._on_browse_clicked)
        self.problem = QLabel("")
        self.problem.setStyleSheet("color: #c8322a;")
        self.problem.setWordWrap(True)
        form = QFormLayout()
        form.addRow("Equipment id", self.equipment_id)
        form.addRow("Name", self.name)
        form.addRow("Profile", self.profile)
        form.addRow("", browse)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.equipment_id.textChanged.connect(lambda _t: self._validate())
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.problem)
        layout.addWidget(self.buttons)
        self._validate()

    def selected_profile(self) -> EquipmentProfile:
        return self.profiles[self.profile.currentIndex()]

    def _validate(self) -> bool:
        text = self.equipment_id.text().strip()
        ok = bool(text) and bool(_ID.match(text)) and self.profile.count() > 0
        self.problem.setText(
            "" if ok or not text else "Use letters, digits, '.', '_' or '-' (no spaces)."
        )
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(ok)
        return ok

    def _on_browse_clicked(self) -> None:
        from pathlib import Path

        path, _ = QFileDialog.getOpenFileName(
            self, "Equipment profile", "", "Profiles (*.yaml *.yml *.json)"
        )
        if not path:
            return
        try:
            profile = load_profile_file(Path(path))
        except HydroDiagError as exc:
            self.problem.setText(str(exc))
            return
        self.profiles.append(profile)
        self.profile.addItem(f"{profile.name} ({path})", profile.id)
        self.profile.setCurrentIndex(self.profile.count() - 1)

    def accept(self) -> None:
        if not self._validate():
            return
        equipment_id = self.equipment_id.text().strip()
        try:
            create_equipment(
                self.store, equipment_id, self.name.text().strip(), self.selected_profile()
            )
        except HydroDiagError as exc:
            self.problem.setText(str(exc))
            return
        self.created = equipment_id
        super().accept()
