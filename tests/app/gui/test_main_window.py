"""The main window as a user meets it: start without torch, shortcuts, layout memory, errors,
closing mid-task without losing data, diagnosing through the real engine."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QMessageBox

from app.core.settings import load_settings
from app.gui.main_window import TAB_NAMES, MainWindow
from app.gui.workers import TaskContext
from ingestion.workspace import open_workspace
from tests.app.gui.conftest import EQUIPMENT, REPO, save_screenshot

pytestmark = pytest.mark.gui


def test_gui_start_does_not_import_torch(sample_workspace: Path, tmp_path: Path) -> None:
    code = (
        "import os, sys; os.environ['QT_QPA_PLATFORM'] = 'offscreen'\n"
        "from app.commands.gui import _application\n"
        "app = _application()\n"
        "from app.gui.main_window import MainWindow\n"
        f"w = MainWindow(workspace={str(sample_workspace)!r})\n"
        f"w.open_workspace({str(sample_workspace)!r}, {EQUIPMENT!r}); w.show(); app.processEvents()\n"
        "w.runner.wait_all(10); app.processEvents()\n"
        "print('TORCH' if 'torch' in sys.modules else 'NO-TORCH', w.diagnosis is not None)\n"
        "w.close()\n"
    )
    env = {**__import__("os").environ, "HYDRODIAG_DATA_DIR": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, env=env, timeout=120
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["NO-TORCH", "True"]


def test_shortcuts_switch_tabs_and_actions_exist(window, qtbot) -> None:  # type: ignore[no-untyped-def]
    for i, name in enumerate(TAB_NAMES):
        qtbot.keyClick(window, getattr(Qt.Key, f"Key_{i + 1}"), Qt.KeyboardModifier.ControlModifier)
        assert window.tabs.currentIndex() == i, name
    shortcuts = {a.text(): a.shortcut().toString() for a in window.actions()}
    assert shortcuts["&Diagnose last 30 min"] == "F5"
    assert shortcuts["&Import log…"] == "Ctrl+I"
    assert shortcuts["&Connect live feed…"] == "Ctrl+L"


def test_layout_is_remembered(window, qtbot, sample_workspace: Path) -> None:  # type: ignore[no-untyped-def]
    window.resize(1200, 700)
    window.tabs.setCurrentIndex(3)
    window.workspace_dock.hide()
    window.close()
    saved = load_settings()
    assert saved.last_tab == 3 and saved.window_geometry and saved.last_equipment == EQUIPMENT
    again = MainWindow(workspace=sample_workspace)
    qtbot.addWidget(again)
    again.show()
    assert again.tabs.currentIndex() == 3
    assert (again.width(), again.height()) == (1200, 700)
    assert not again.workspace_dock.isVisible()
    again.close_policy = "cancel"
    again.close()


def test_small_screen_1366x768_fits(window) -> None:  # type: ignore[no-untyped-def]
    hint = window.minimumSizeHint()
    assert window.minimumWidth() <= 1366 and hint.width() <= 1366 and hint.height() <= 768
    assert (window.width(), window.height()) == (1366, 768)


def test_not_a_workspace_gives_a_readable_dialog(window, qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "not-a-workspace.duckdb"
    bad.write_bytes(b"garbage" * 1000)
    window._pending_open = (bad, None)
    window._open_pending()
    boxes = [
        w for w in QApplication.topLevelWidgets() if isinstance(w, QMessageBox) and w.isVisible()
    ]
    assert boxes, "no error dialog"
    text = boxes[-1].text()
    assert (
        "not-a-workspace.duckdb" in text
        and "not a valid DuckDB" in text
        and "Traceback" not in text
    )
    boxes[-1].close()
    assert window.store is not None and window.equipment_id == EQUIPMENT  # the old one stays open


def test_closing_mid_task_rolls_back_and_keeps_data(qtbot, sample_workspace: Path) -> None:  # type: ignore[no-untyped-def]
    win = MainWindow(workspace=sample_workspace)
    qtbot.addWidget(win)
    win.open_workspace(sample_workspace, EQUIPMENT)
    qtbot.waitUntil(lambda: win.runner.active_count == 0, timeout=10000)
    store = win.store
    assert store is not None
    before = store.query("SELECT count(*) FROM measurements")[0][0]
    inside = []

    def half_written(ctx: TaskContext) -> None:
        from app.core.queries import thread_store

        local = thread_store(store)
        with local.transaction() as con:
            con.execute("DELETE FROM measurements_long WHERE sensor_id = 'PS1'")
            inside.append(True)
            while True:  # a long import: stops only when cancelled
                ctx.check()
                time.sleep(0.01)

    win.tasks.start("Long import", half_written, lambda _r: None)
    qtbot.waitUntil(lambda: bool(inside), timeout=5000)
    win.close_policy = "cancel"
    win.close()
    assert win.store is None and win.runner.active_count in (0, 1)
    with open_workspace(sample_workspace, read_only=True) as check:
        assert check.query("SELECT count(*) FROM measurements")[0][0] == before


def test_diagnose_runs_the_engine_off_the_gui_thread(window, qtbot) -> None:  # type: ignore[no-untyped-def]
    from gnn.graph import default_model_path

    n_before = len(window.workspace_panel.tree.topLevelItem(0).child(2).text(0))
    window.diagnose()
    assert window.runner.active_count == 1  # returned at once; the work runs in the pool
    qtbot.waitUntil(lambda: window.runner.active_count == 0, timeout=120000)
    if default_model_path().exists():
        assert window.diagnosis is not None and window.diagnosis.id is not None
        assert window.diagnosis.id > 1 and "Diagnosis #" in window.status_label.text()
        assert window.diagnosis.provider.endswith("ExecutionProvider")
    else:  # no model shipped in this checkout: a sentence, not a traceback
        boxes = [
            w
            for w in QApplication.topLevelWidgets()
            if isinstance(w, QMessageBox) and w.isVisible()
        ]
        assert boxes and "model" in boxes[-1].text().lower() and "Traceback" not in boxes[-1].text()
        boxes[-1].close()
    assert n_before > 0


def test_every_tab_screenshot(window) -> None:  # type: ignore[no-untyped-def]
    for i, name in enumerate(TAB_NAMES):
        window.tabs.setCurrentIndex(i)
        QApplication.processEvents()
        path = save_screenshot(window, f"main-{i + 1}-{name.lower()}")
        assert path.stat().st_size > 10_000
    info = {"tabs": list(TAB_NAMES)}
    assert json.dumps(info)


def test_hydrodiag_without_arguments_opens_the_default_workspace(tmp_path: Path) -> None:
    import os

    env = {**os.environ, "HYDRODIAG_DATA_DIR": str(tmp_path), "HYDRODIAG_GUI_SMOKE": "0.5"}
    env.pop("HYDRODIAG_WORKSPACE", None)
    out = subprocess.run(
        [sys.executable, "-m", "app.cli"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert f"on {tmp_path / 'workspace.duckdb'}, equipment None" in out.stdout
    assert (tmp_path / "workspace.duckdb").exists()


def test_dropping_a_file_opens_the_import_dialog_with_it(window, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from PySide6.QtCore import QMimeData, QPointF, QUrl
    from PySide6.QtGui import QDropEvent

    log = tmp_path / "drop.csv"
    log.write_text(
        "time,PS1\n2026-11-30T08:00:00,150.0\n2026-11-30T08:00:01,151.0\n", encoding="utf-8"
    )
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(log))])
    event = QDropEvent(
        QPointF(200, 200),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    window.dropEvent(event)
    dialogs = [
        w
        for w in QApplication.topLevelWidgets()
        if type(w).__name__ == "ImportDialog" and w.isVisible()
    ]
    assert dialogs and dialogs[-1].path.text() == str(log)
    assert dialogs[-1].plan is not None and dialogs[-1].current_mapping()[1][0] == "PS1"
    dialogs[-1].reject()


def test_report_button_opens_the_report_dialog(window, qtbot) -> None:  # type: ignore[no-untyped-def]
    window.show_tab("recommendations")
    window.recommendations.report_button.click()
    dialogs = [
        w
        for w in QApplication.topLevelWidgets()
        if type(w).__name__ == "ReportDialog" and w.isVisible()
    ]
    assert dialogs, "no report dialog"
    assert dialogs[-1].diagnosis_id == window.diagnosis.id
    dialogs[-1].reject()


def test_high_dpi_150_percent_renders_at_device_resolution(
    sample_workspace: Path, tmp_path: Path
) -> None:
    import os

    shot = REPO / "test-output" / "screenshots" / "main-hidpi-150.png"
    code = (
        "from app.commands.gui import _application\n"
        "app = _application()\n"
        "from app.gui.main_window import MainWindow\n"
        f"w = MainWindow(workspace={str(sample_workspace)!r})\n"
        f"w.open_workspace({str(sample_workspace)!r}, {EQUIPMENT!r}); w.resize(1366, 768); w.show()\n"
        "w.show_tab('sensors'); w.runner.wait_all(10)\n"
        "for _ in range(5): app.processEvents()\n"
        "img = w.grab()\n"
        f"img.save({str(shot)!r})\n"
        "print(img.width(), img.height(), w.devicePixelRatioF())\n"
        "w.close()\n"
    )
    env = {**os.environ, "HYDRODIAG_DATA_DIR": str(tmp_path), "QT_SCALE_FACTOR": "1.5"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, env=env, timeout=120
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[-3:] == ["2049", "1152", "1.5"]


def test_hydrodiag_demo_opens_the_demo_in_the_app(tmp_path: Path) -> None:
    """The README's run command (`python3 dev.py demo` = `hydrodiag demo`) ends in this window."""
    import os

    env = {**os.environ, "HYDRODIAG_DATA_DIR": str(tmp_path), "HYDRODIAG_GUI_SMOKE": "1.0"}
    env.pop("HYDRODIAG_NO_GUI", None)
    out = subprocess.run(
        [sys.executable, "-m", "app.cli", "demo"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert f"on {tmp_path / 'demo.duckdb'}, equipment demo-rig" in out.stdout


def test_closing_during_a_read_does_not_ask(
    qtbot, sample_workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    win = MainWindow(workspace=sample_workspace)
    qtbot.addWidget(win)
    win.open_workspace(sample_workspace, EQUIPMENT)
    started = []

    def slow_read(ctx: TaskContext) -> None:
        started.append(True)
        while True:
            ctx.check()
            time.sleep(0.01)

    def no_question(*_args: object) -> int:
        raise AssertionError("asked before closing during a read")

    monkeypatch.setattr(QMessageBox, "exec", no_question)
    win.tasks.start("Loading sensor data", slow_read, lambda _r: None, writes=False)
    qtbot.waitUntil(lambda: bool(started), timeout=5000)
    win.close_policy = "ask"
    win.close()
    assert win.store is None


def test_settings_apply_units_and_workspace(window, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    sensors = window.show_tab("sensors")
    other = tmp_path / "other.duckdb"
    window.apply_settings(
        window.settings.model_copy(update={"pressure_unit": "psi", "workspace_path": str(other)})
    )
    assert load_settings().pressure_unit == "psi"
    assert sensors.plots["bar"].getAxis("left").labelText == "psi"
    assert window.store is not None and window.store.path == other  # switched workspace
    assert window.equipment_id is None  # the new one is empty
