"""SettingsDialog: workspace path, status thresholds, display units and provider preference."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.core.settings import Settings
from app.core.timefmt import local_zone_name as timefmt_zone_name
from ingestion.resources import default_workspace_path


class SettingsDialog(QDialog):
    def __init__(self, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.original = settings
        self.result_settings: Settings | None = None
        self.workspace = QLineEdit(settings.workspace_path or "")
        self.workspace.setPlaceholderText(str(default_workspace_path()))
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._on_browse_clicked)
        row = QHBoxLayout()
        row.addWidget(self.workspace, 1)
        row.addWidget(browse)
        self.healthy = QDoubleSpinBox()
        self.critical = QDoubleSpinBox()
        for spin, value in (
            (self.healthy, settings.healthy_threshold),
            (self.critical, settings.critical_threshold),
        ):
            spin.setRange(0.01, 1.0)
            spin.setSingleStep(0.05)
            spin.setDecimals(2)
            spin.setValue(value)
            spin.valueChanged.connect(lambda _v: self._validate())
        self.pressure = QComboBox()
        self.pressure.addItems(["bar", "psi", "MPa"])
        self.pressure.setCurrentText(settings.pressure_unit)
        self.temperature = QComboBox()
        self.temperature.addItems(["°C", "°F"])
        self.temperature.setCurrentText(settings.temperature_unit)
        self.provider = QComboBox()
        self.provider.addItem("Automatic (GPU when available)", "auto")
        self.provider.addItem("GPU (CUDA)", "cuda")
        self.provider.addItem("CPU", "cpu")
        self.provider.setCurrentIndex(max(0, self.provider.findData(settings.provider)))
        self.last_minutes = QSpinBox()
        self.last_minutes.setRange(1, 7 * 24 * 60)
        self.last_minutes.setSuffix(" min")
        self.last_minutes.setValue(settings.diagnose_last_minutes)
        self.last_minutes.setToolTip(
            "How much of the latest data Diagnose (F5) looks at; the headline is the state at "
            "its end"
        )
        self.time_zone = QComboBox()
        self.time_zone.addItem(f"Local time ({timefmt_zone_name()})", "local")
        self.time_zone.addItem("UTC", "UTC")
        self.time_zone.setCurrentIndex(max(0, self.time_zone.findData(settings.time_zone)))
        self.problem = QLabel("")
        self.problem.setStyleSheet("color: #c8322a;")
        self.problem.setWordWrap(True)
        form = QFormLayout()
        form.addRow("Workspace file", row)
        form.addRow("Healthy at or above", self.healthy)
        form.addRow("Critical below", self.critical)
        form.addRow("Pressure unit", self.pressure)
        form.addRow("Temperature unit", self.temperature)
        form.addRow("Inference", self.provider)
        form.addRow("Diagnose (F5) the last", self.last_minutes)
        form.addRow("Show times in", self.time_zone)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        note = QLabel(
            "Thresholds apply to new diagnoses; stored ones keep the thresholds they were made with."
        )
        note.setWordWrap(True)
        note.setStyleSheet("color: #5f6b76;")
        layout.addWidget(note)
        layout.addWidget(self.problem)
        layout.addWidget(self.buttons)
        self._validate()

    def current(self) -> Settings:
        """The edited settings (raises pydantic's ValidationError when inconsistent)."""
        path = self.workspace.text().strip()
        return Settings.model_validate(
            {
                **self.original.model_dump(),
                "workspace_path": path or None,
                "healthy_threshold": self.healthy.value(),
                "critical_threshold": self.critical.value(),
                "pressure_unit": self.pressure.currentText(),
                "temperature_unit": self.temperature.currentText(),
                "provider": self.provider.currentData(),
                "diagnose_last_minutes": self.last_minutes.value(),
                "time_zone": self.time_zone.currentData(),
            }
        )

    def _validate(self) -> bool:
        ok_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        try:
            self.current()
        except ValidationError as exc:
            message = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())
            self.problem.setText(message)
            ok_button.setEnabled(False)
            return False
        path = self.workspace.text().strip()
        if path and Path(path).is_dir():
            self.problem.setText(
                "The workspace must be a file (e.g. …/workspace.duckdb), not a folder."
            )
            ok_button.setEnabled(False)
            return False
        self.problem.setText("")
        ok_button.setEnabled(True)
        return True

    def accept(self) -> None:
        if not self._validate():
            return
        self.result_settings = self.current()
        super().accept()

    def _on_browse_clicked(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self,
            "Workspace file",
            self.workspace.text() or str(default_workspace_path()),
            "HydroDiag workspace (*.duckdb)",
            options=QFileDialog.Option.DontConfirmOverwrite,
        )
        if path:
            self.workspace.setText(path)
            self._validate()
