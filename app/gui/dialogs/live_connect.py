"""LiveConnectDialog: choose a Modbus TCP/RTU device (with its register map) or a growing CSV."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError
from PySide6.QtWidgets import (
    QCheckBox,
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
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.core.live_session import LiveConfig
from ingestion.errors import HydroDiagError
from ingestion.profiles import EquipmentProfile

DEFAULT_MAP = "Profile default (as the rig simulator serves it)"


class LiveConnectDialog(QDialog):
    def __init__(
        self,
        profile: EquipmentProfile | None,
        parent: QWidget | None = None,
        config: LiveConfig | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Connect a live feed")
        self.profile = profile
        self.config: LiveConfig | None = None
        c = config or LiveConfig()
        self.tabs = QTabWidget()
        # Modbus TCP
        tcp = QWidget()
        tcp_form = QFormLayout(tcp)
        self.host = QLineEdit(c.host)
        self.port = QSpinBox()
        self.port.setRange(1, 65535)
        self.port.setValue(c.port)
        tcp_form.addRow("Host / IP", self.host)
        tcp_form.addRow("Port", self.port)
        # Modbus RTU
        rtu = QWidget()
        rtu_form = QFormLayout(rtu)
        self.serial_port = QLineEdit(c.serial_port)
        self.serial_port.setPlaceholderText("/dev/ttyUSB0 or COM3")
        self.baud = QComboBox()
        self.baud.addItems(["9600", "19200", "38400", "57600", "115200"])
        self.baud.setCurrentText(str(c.baudrate))
        self.parity = QComboBox()
        self.parity.addItems(["N", "E", "O"])
        self.parity.setCurrentText(c.parity)
        rtu_form.addRow("Serial port", self.serial_port)
        rtu_form.addRow("Baud rate", self.baud)
        rtu_form.addRow("Parity", self.parity)
        # Growing CSV
        csv = QWidget()
        csv_form = QFormLayout(csv)
        self.csv_path = QLineEdit(c.csv_path)
        browse_csv = QPushButton("Browse…")
        browse_csv.clicked.connect(self._on_browse_csv_clicked)
        row = QHBoxLayout()
        row.addWidget(self.csv_path, 1)
        row.addWidget(browse_csv)
        self.ts_column = QLineEdit(c.timestamp_column or "")
        self.ts_column.setPlaceholderText("detected")
        self.from_end = QCheckBox("Skip what the file already holds")
        self.from_end.setChecked(c.from_end)
        csv_form.addRow("File", row)
        csv_form.addRow("Timestamp column", self.ts_column)
        csv_form.addRow("", self.from_end)
        self.tabs.addTab(tcp, "Modbus TCP")
        self.tabs.addTab(rtu, "Modbus RTU")
        self.tabs.addTab(csv, "Growing CSV")
        self.tabs.setCurrentIndex({"modbus_tcp": 0, "modbus_rtu": 1, "csv": 2}[c.kind])
        # Shared Modbus settings
        common = QFormLayout()
        self.map_choice = QComboBox()
        self.map_choice.addItem(DEFAULT_MAP, None)
        if c.map_path:
            self.map_choice.addItem(c.map_path, c.map_path)
            self.map_choice.setCurrentIndex(1)
        browse_map = QPushButton("Register map…")
        browse_map.clicked.connect(self._on_browse_map_clicked)
        map_row = QHBoxLayout()
        map_row.addWidget(self.map_choice, 1)
        map_row.addWidget(browse_map)
        self.device_id = QSpinBox()
        self.device_id.setRange(0, 247)
        self.device_id.setSpecialValueText("from the map")
        self.device_id.setValue(c.device_id if c.device_id is not None else 0)
        self.timeout = QDoubleSpinBox()
        self.timeout.setRange(0.1, 30.0)
        self.timeout.setValue(c.timeout_s)
        self.timeout.setSuffix(" s")
        self.diagnose_every = QSpinBox()
        self.diagnose_every.setRange(0, 3600)
        self.diagnose_every.setSpecialValueText("off")
        self.diagnose_every.setSuffix(" s")
        self.diagnose_every.setValue(int(c.diagnose_every_s or 0))
        self.diagnose_window = QSpinBox()
        self.diagnose_window.setRange(1, 240)
        self.diagnose_window.setSuffix(" min")
        self.diagnose_window.setValue(int(c.diagnose_window_s / 60))
        common.addRow("Register map", map_row)
        common.addRow("Device (unit) id", self.device_id)
        common.addRow("Response timeout", self.timeout)
        common.addRow("Rolling diagnosis every", self.diagnose_every)
        common.addRow("…over the last", self.diagnose_window)
        self.problem = QLabel("")
        self.problem.setWordWrap(True)
        self.problem.setStyleSheet("color: #c8322a;")
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Connect")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs)
        layout.addLayout(common)
        note = QLabel(
            "HydroDiag only reads (Modbus function codes 3 and 4); it never writes to a PLC."
        )
        note.setWordWrap(True)
        note.setStyleSheet("color: #5f6b76;")
        layout.addWidget(note)
        layout.addWidget(self.problem)
        layout.addWidget(self.buttons)
        for edit in (self.host, self.serial_port, self.csv_path):
            edit.textChanged.connect(lambda _t: self._validate())
        self.tabs.currentChanged.connect(lambda _i: self._validate())
        self._validate()

    def current(self) -> LiveConfig:
        kind = ("modbus_tcp", "modbus_rtu", "csv")[self.tabs.currentIndex()]
        values: dict[str, Any] = {
            "kind": kind,
            "host": self.host.text().strip(),
            "port": self.port.value(),
            "serial_port": self.serial_port.text().strip(),
            "baudrate": int(self.baud.currentText()),
            "parity": self.parity.currentText(),
            "device_id": self.device_id.value() or None,
            "timeout_s": self.timeout.value(),
            "map_path": self.map_choice.currentData(),
            "csv_path": self.csv_path.text().strip(),
            "timestamp_column": self.ts_column.text().strip() or None,
            "from_end": self.from_end.isChecked(),
            "diagnose_every_s": float(self.diagnose_every.value()) or None,
            "diagnose_window_s": self.diagnose_window.value() * 60.0,
        }
        return LiveConfig.model_validate(values)

    def _validate(self) -> bool:
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        try:
            config = self.current()
        except ValidationError as exc:
            self.problem.setText(
                "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())
            )
            ok.setEnabled(False)
            return False
        if config.kind != "csv" and config.map_path and not Path(config.map_path).exists():
            self.problem.setText(f"register map {config.map_path} does not exist")
            ok.setEnabled(False)
            return False
        self.problem.setText("")
        ok.setEnabled(True)
        return True

    def set_map_file(self, path: str) -> bool:
        """Check a register map against the equipment's sensors and select it."""
        from ingestion.modbus.registermap import load_register_map

        try:
            load_register_map(Path(path), self.profile.sensor_ids if self.profile else None)
        except HydroDiagError as exc:
            self.problem.setText(str(exc))
            return False
        self.map_choice.addItem(path, path)
        self.map_choice.setCurrentIndex(self.map_choice.count() - 1)
        return self._validate()

    def _on_browse_map_clicked(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Register map", "", "Register maps (*.yaml *.yml *.json)"
        )
        if path:
            self.set_map_file(path)

    def _on_browse_csv_clicked(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Growing CSV", "", "CSV (*.csv *.txt);;All files (*)"
        )
        if path:
            self.csv_path.setText(path)

    def accept(self) -> None:
        if not self._validate():
            return
        self.config = self.current()
        super().accept()
