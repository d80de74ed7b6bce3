"""Dialogs validate what the user types; settings persist; errors read as sentences."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PySide6.QtWidgets import QDialogButtonBox, QMessageBox

from app.core.settings import Settings, load_settings, save_settings, settings_path
from app.gui.dialogs.about import AboutDialog
from app.gui.dialogs.errors import error_message, show_error
from app.gui.dialogs.live_connect import LiveConnectDialog
from app.gui.dialogs.new_equipment import NewEquipmentDialog
from app.gui.dialogs.settings_dialog import SettingsDialog
from gnn.graph import default_model_path
from ingestion.errors import HydroDiagError
from ingestion.profiles import load_profile
from ingestion.workspace import open_workspace
from tests.app.gui.conftest import save_screenshot

pytestmark = pytest.mark.gui


def test_settings_dialog_validates_thresholds_and_workspace(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    dialog = SettingsDialog(Settings())
    qtbot.addWidget(dialog)
    ok = dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)
    assert ok.isEnabled()
    dialog.critical.setValue(0.8)  # above healthy (0.7)
    assert not ok.isEnabled() and "critical threshold" in dialog.problem.text()
    dialog.critical.setValue(0.4)
    dialog.workspace.setText(str(tmp_path))  # a folder, not a file
    dialog._validate()
    assert not ok.isEnabled() and "file" in dialog.problem.text()
    dialog.workspace.setText(str(tmp_path / "ws.duckdb"))
    dialog.pressure.setCurrentText("psi")
    dialog.provider.setCurrentIndex(2)
    dialog.accept()
    result = dialog.result_settings
    assert result is not None
    assert (result.critical_threshold, result.pressure_unit, result.provider) == (0.4, "psi", "cpu")
    save_screenshot(dialog, "settings-dialog")


def test_settings_file_round_trip_in_tmp_data_dir(tmp_path: Path) -> None:
    path = settings_path()
    assert str(path).startswith(str(Path(__import__("os").environ["HYDRODIAG_DATA_DIR"])))
    save_settings(Settings(pressure_unit="MPa").with_recent("/a.duckdb"))
    loaded = load_settings()
    assert loaded.pressure_unit == "MPa" and loaded.recent_workspaces == ("/a.duckdb",)
    path.write_text("{not json", encoding="utf-8")
    assert load_settings() == Settings()  # corrupt: defaults, no crash
    path.write_text('{"version": 99}', encoding="utf-8")
    assert load_settings() == Settings()  # newer: defaults


def test_new_equipment_dialog_validates_and_creates(qtbot) -> None:  # type: ignore[no-untyped-def]
    store = open_workspace(None)
    dialog = NewEquipmentDialog(store)
    qtbot.addWidget(dialog)
    ok = dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)
    assert not ok.isEnabled()
    dialog.equipment_id.setText("press 7")
    assert not ok.isEnabled() and "no spaces" in dialog.problem.text()
    dialog.equipment_id.setText("press-7")
    dialog.name.setText("Press 7")
    dialog.profile.setCurrentIndex(dialog.profile.findData("zema-test-rig"))
    assert ok.isEnabled()
    dialog.accept()
    assert dialog.created == "press-7"
    assert store.query("SELECT id, name, profile_id FROM equipment") == [
        ("press-7", "Press 7", "zema-test-rig")
    ]
    again = NewEquipmentDialog(store)
    qtbot.addWidget(again)
    again.equipment_id.setText("press-7")
    again.accept()
    assert again.created is None and "already exists" in again.problem.text()


def test_live_connect_dialog_validates(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    dialog = LiveConnectDialog(load_profile("zema-test-rig"))
    qtbot.addWidget(dialog)
    ok = dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)
    assert ok.isEnabled()  # Modbus TCP on 127.0.0.1:502 with the profile's map
    dialog.host.setText("")
    assert not ok.isEnabled() and "host" in dialog.problem.text()
    dialog.tabs.setCurrentIndex(2)  # growing CSV without a file
    assert not ok.isEnabled() and "file" in dialog.problem.text()
    dialog.csv_path.setText(str(tmp_path / "log.csv"))
    assert ok.isEnabled()
    bad_map = tmp_path / "map.yaml"
    bad_map.write_text("device_id: 1\nregisters: [{sensor: NOPE, address: 0}]\n", encoding="utf-8")
    assert not dialog.set_map_file(str(bad_map))
    assert "map.yaml" in dialog.problem.text()
    dialog.tabs.setCurrentIndex(0)
    dialog.host.setText("127.0.0.1")
    dialog.port.setValue(5020)
    dialog.accept()
    assert (
        dialog.config is not None
        and dialog.config.port == 5020
        and dialog.config.kind == "modbus_tcp"
    )
    save_screenshot(dialog, "live-connect-dialog")


def test_about_dialog_names_versions_and_providers(qtbot) -> None:  # type: ignore[no-untyped-def]
    dialog = AboutDialog(model_text="zema-rig-gatv2-lstm v1.0.0", provider="CPUExecutionProvider")
    qtbot.addWidget(dialog)
    facts = dict(dialog.facts)
    assert facts["Model of this diagnosis"] == "zema-rig-gatv2-lstm v1.0.0"
    # the installed model, by its card: version and accuracy per component (1.6.0: blocked CV)
    card = json.loads(default_model_path().with_name("card.json").read_text(encoding="utf-8"))
    assert facts["Default model"].startswith(f"zema-rig-gatv2-lstm {card['model_version']} — ")
    quoted = card["metrics"].get("runs_cv") or card["metrics"]["blocked_cv"]
    assert f"ACC {100 * quoted['ACC']['accuracy']:.1f} %" in facts["Default model"]
    assert facts["ONNX Runtime"][0].isdigit()
    assert "CPUExecutionProvider" in facts["Providers available"]
    save_screenshot(dialog, "about-dialog")


def test_error_dialog_is_a_sentence(qtbot) -> None:  # type: ignore[no-untyped-def]
    box = show_error(
        None, HydroDiagError("log.csv, line 4, column 2: 'abc' is not a number"), "Import"
    )
    qtbot.addWidget(box)
    assert isinstance(box, QMessageBox)
    assert box.text() == "Import: log.csv, line 4, column 2: 'abc' is not a number"
    box.close()
    bug = error_message(ZeroDivisionError("division by zero"))
    assert "internal error" in bug and "Traceback" not in bug and "hydrodiag-gui.log" in bug


def test_about_dialog_quotes_the_accuracy_on_new_runs_first(
    qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """A card with both validations: the figure shown is the one on held-out runs."""
    card = {
        "model_id": "m",
        "model_version": "9.9",
        "metrics": {
            "blocked_cv": {"ACC": {"accuracy": 0.9734}},
            "runs_cv": {"ACC": {"accuracy": 0.821}},
        },
    }
    (tmp_path / "card.json").write_text(json.dumps(card), encoding="utf-8")
    monkeypatch.setenv("HYDRODIAG_MODEL", str(tmp_path / "model.onnx"))
    dialog = AboutDialog()
    qtbot.addWidget(dialog)
    shown = dict(dialog.facts)["Default model"]
    assert shown == "m 9.9 — grade accuracy on new runs (leave-one-run-out) ACC 82.1 %"
    dialog.grab().save("/tmp/acc2/about.png")
