"""The walkthrough a new user makes, driven through the real main window offscreen at
1366×768 with a screenshot after every step (under build/walkthrough/, not committed: look at
them after a change to a window): an empty workspace (the welcome page), the demo built and
opened from it, F5, every tab, the report dialog and a bad file.

Run it on its own with
``QT_QPA_PLATFORM=offscreen .venv/bin/python -m pytest -q tests/app/gui/test_walkthrough.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QMessageBox, QTreeWidget, QWidget

from app.gui.dialogs.import_dialog import ImportDialog
from app.gui.main_window import TAB_NAMES, MainWindow
from gnn.results import Status
from ingestion.demo import DEMO_EQUIPMENT
from tests.app.gui.conftest import REPO, open_empty_window

pytestmark = [pytest.mark.gui, pytest.mark.slow]

SHOTS = REPO / "build" / "walkthrough"


def _shot(widget: QWidget, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    for _ in range(3):  # deferred layouts settle
        QApplication.processEvents()
    path = SHOTS / f"{name}.png"
    assert widget.grab().save(str(path)), path
    return path


def _assert_names_whole(tree: QTreeWidget, column: int = 0) -> None:
    """Every item of ``tree`` is shown whole ("RV1 — Pressure-relief valve RV" and "V10 —
    Switching valve V10 (4" were cut off at 1366×768, and so were diagnosis status words)."""
    metrics = tree.fontMetrics()
    items = [tree.topLevelItem(i) for i in range(tree.topLevelItemCount())]
    while items:
        item = items.pop()
        items.extend(item.child(i) for i in range(item.childCount()))
        rect = tree.visualItemRect(item)
        if rect.isEmpty():
            continue  # collapsed
        right = min(rect.right(), tree.viewport().width())
        icon = tree.iconSize().width() + 4 if not item.icon(column).isNull() else 0
        room = right - rect.left() - icon - (tree.indentation() if item.parent() is None else 0)
        for line in item.text(column).splitlines():
            need = metrics.horizontalAdvance(line) + 6
            assert room >= need, f"{line!r}: {room} px shown of {need} px"


def _idle(qtbot, window: MainWindow) -> None:  # type: ignore[no-untyped-def]
    qtbot.waitUntil(lambda: window.runner.active_count == 0, timeout=180_000)


def test_walkthrough_of_a_new_user(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # 1. An empty workspace: the welcome page, Diagnose and Report disabled with the reason.
    win = open_empty_window(qtbot, tmp_path / "mine.duckdb")
    assert win.pages.currentWidget() is win.welcome
    assert not win.acts.diagnose.isEnabled() and "first" in win.acts.diagnose.toolTip()
    assert not win.welcome.buttons["report"].isEnabled()
    _shot(win, "01-welcome")

    # 2. The demo, built and opened from the welcome page: the accumulator is critical.
    qtbot.mouseClick(win.welcome.buttons["demo"], Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: win.equipment_id == DEMO_EQUIPMENT, timeout=180_000)
    _idle(qtbot, win)
    assert win.diagnosis is not None
    before = win.diagnosis
    assert before.overall_status is Status.CRITICAL, before.verdict
    assert "CRITICAL" in win.summary.verdict.text()
    _shot(win, "02-demo")

    # 3. F5 diagnoses the latest stretch; the headline does not soften.
    assert win.acts.diagnose.isEnabled(), win.acts.diagnose.toolTip()
    assert win.acts.diagnose.text().replace("&", "") == "Diagnose last 30 min"
    win.acts.diagnose.trigger()
    _idle(qtbot, win)
    after = win.diagnosis
    assert after is not None and after.id != before.id
    assert after.overall_status is Status.CRITICAL, after.verdict
    assert "CRITICAL" in win.summary.verdict.text()
    _shot(win, "03-after-f5")

    # 4. Every tab, each built and filled.
    for i, name in enumerate(TAB_NAMES):
        panel = win.show_tab(name.lower())
        qtbot.waitUntil(panel.isVisible, timeout=10_000)  # a built panel shows on the next turn
        _idle(qtbot, win)
        assert win.tabs.currentIndex() == i, name
        _shot(win, f"04-tab-{i + 1}-{name.lower()}")
        if name == "Sensors":
            _assert_names_whole(panel.tree)  # type: ignore[attr-defined]
    _shot(win.workspace_dock, "04-workspace-tree")
    _assert_names_whole(win.workspace_panel.tree)

    # 5. The report dialog, its preview built from the shown diagnosis.
    report = win.open_report()
    assert report is not None and report.diagnosis_id == after.id
    qtbot.waitUntil(lambda: report.page_count > 0, timeout=60_000)
    _shot(report, "05-report-dialog")
    report.reject()
    _idle(qtbot, win)

    # 6. A bad file: one sentence saying what the file is, the workspace unchanged.
    workbook = tmp_path / "logger-export.xlsx"
    workbook.write_bytes(b"PK\x03\x04\x14\x00\x06\x00" + bytes(range(256)) * 16)
    dialog = win.import_log(str(workbook))
    assert isinstance(dialog, ImportDialog)
    box = dialog.error_box
    assert isinstance(box, QMessageBox) and box.isVisible()
    assert "Excel .xlsx workbook" in box.text() and "Traceback" not in box.text()
    assert "b'" not in box.text()
    _shot(dialog, "06-bad-file-dialog")
    _shot(box, "06-bad-file-error")
    box.close()
    dialog.reject()
    assert win.diagnosis is not None and win.diagnosis.id == after.id
    win.close()
