"""A new user's first session, driven through the main window: empty workspace, import a
logger CSV the app has never seen (drag and drop), map its columns, diagnose (F5), click the
worst component, look at its sensors, write nothing half-done."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QApplication

from app.gui.main_window import MainWindow
from gnn.graph import MODEL_ENV, default_model_path
from tests.app.gui.conftest import save_screenshot

pytestmark = [pytest.mark.gui, pytest.mark.slow]


def _drop(window: MainWindow, path: Path) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    window.dropEvent(
        QDropEvent(
            QPointF(300, 300),
            Qt.DropAction.CopyAction,
            mime,
            Qt.MouseButton.LeftButton,
            Qt.KeyboardModifier.NoModifier,
        )
    )


def test_first_session_import_diagnose_inspect(
    qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    from ingestion.simulator import get_scenario, write_simulated_csv

    if not default_model_path().exists():
        from tests.app.cli.test_demo import _stand_in_model

        monkeypatch.setenv(MODEL_ENV, str(_stand_in_model(tmp_path / "model")))
    # A logger export: the simulated rig for 10 minutes at 1 Hz, then renamed/reshaped by hand
    # the way a different logger would write it (';', decimal comma, other column names).
    raw = tmp_path / "raw.csv"
    write_simulated_csv(
        raw, get_scenario("healthy"), 600, start=datetime(2026, 11, 2, 8, 0), rate_hz=1.0
    )
    lines = raw.read_text(encoding="utf-8").splitlines()
    header = lines[0].replace('"', "").split(",")
    renamed = [
        "Zeitstempel" if h == "timestamp" else ("Druck_Pumpe" if h == "PS1" else h) for h in header
    ]
    body = [line.replace('"', "").replace(",", ";").replace(".", ",") for line in lines[1:]]
    log = tmp_path / "logger-export.csv"
    log.write_text(";".join(renamed) + "\n" + "\n".join(body) + "\n", encoding="utf-8")

    window = MainWindow(workspace=tmp_path / "workspace.duckdb")
    window.close_policy = "cancel"
    qtbot.addWidget(window)
    window.resize(1366, 768)
    window.show()
    qtbot.waitExposed(window)
    qtbot.waitUntil(lambda: window.store is not None, timeout=5000)
    assert window.equipment_id is None and "Create an equipment" in window.status_label.text()

    _drop(window, log)
    dialog = next(
        w
        for w in QApplication.topLevelWidgets()
        if type(w).__name__ == "ImportDialog" and w.isVisible()
    )
    assert dialog.plan is not None and dialog.plan.delimiter == ";" and dialog.plan.decimal == ","
    assert dialog.new_profile.currentData() == "zema-test-rig"
    mapping = dialog.current_mapping()
    pump_column = next(i for i, c in enumerate(dialog.plan.columns) if c.header == "Druck_Pumpe")
    assert mapping[pump_column][0] is None  # unknown name: the user maps it
    dialog.set_mapping(pump_column, "PS1")
    dialog.new_id.setText("rig-hall-2")
    save_screenshot(dialog, "new-user-import")
    with qtbot.waitSignal(dialog.imported, timeout=60000):
        dialog.start_import()
    dialog.accept()
    qtbot.waitUntil(lambda: window.equipment_id == "rig-hall-2", timeout=5000)

    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=5000)
    qtbot.keyClick(window, Qt.Key.Key_F5)
    qtbot.waitUntil(lambda: window.diagnosis is not None, timeout=120000)
    diagnosis = window.diagnosis
    assert diagnosis.equipment_id == "rig-hall-2" and diagnosis.n_windows >= 1
    assert window.summary.verdict.text() == diagnosis.verdict

    graded = [c for c in diagnosis.components if c.health is not None]
    worst = min(graded, key=lambda c: c.health or 1.0)
    graph = window.overview.graph
    point = graph.mapFromScene(graph.nodes[worst.component_id].scenePos())
    qtbot.mouseClick(graph.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(point.x(), point.y()))
    assert window.overview.details.component_id == worst.component_id
    save_screenshot(window, "new-user-diagnosed")
    sensors = window.show_tab("sensors")
    expected = [s.id for s in window.profile.sensors_of(worst.component_id)]
    if expected:
        assert sensors.checked_sensors() == expected
        qtbot.waitUntil(lambda: set(expected) <= sensors.loaded, timeout=20000)
    qtbot.waitUntil(lambda: window.runner.active_count == 0, timeout=20000)
    assert sensors.loaded  # whatever is checked has its data
    save_screenshot(window, "new-user-sensors")
    window.close()
