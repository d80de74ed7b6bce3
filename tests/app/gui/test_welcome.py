"""The first start: an empty workspace shows the demo and the first steps as buttons; the
steps that cannot work yet are disabled with the reason as their tooltip; the demo button
builds the demo (the same code as ``hydrodiag demo``) and opens it."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from app.gui.main_window import MainWindow
from ingestion.demo import DEMO_EQUIPMENT
from ingestion.resources import demo_workspace_path
from tests.app.gui.conftest import open_empty_window, save_screenshot

pytestmark = [pytest.mark.gui]


def test_empty_workspace_offers_the_first_steps_as_buttons(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    win = open_empty_window(qtbot, tmp_path / "empty.duckdb")
    assert win.pages.currentWidget() is win.welcome
    buttons = win.welcome.buttons
    assert {"demo", "new", "import", "diagnose", "report", "open", "help"} <= set(buttons)
    for name in ("demo", "new", "import", "open", "help"):
        assert buttons[name].isEnabled(), name
    for name in ("diagnose", "report"):
        assert not buttons[name].isEnabled(), name
        assert "first" in buttons[name].toolTip(), buttons[name].toolTip()  # the reason
    assert buttons["diagnose"].toolTip() == win.acts.diagnose.toolTip()
    assert win.welcome.intro.text().startswith("This workspace has no equipment yet")
    assert not win.acts.connect_live.isEnabled() and "first" in win.acts.connect_live.toolTip()
    save_screenshot(win, "welcome_empty_workspace")

    opened: list[str] = []
    win.new_equipment = lambda: opened.append("new")  # type: ignore[method-assign]
    win._on_welcome_action_requested("new")
    assert opened == ["new"]
    win.close()


def test_the_demo_button_builds_and_opens_the_demo(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    win = open_empty_window(qtbot, tmp_path / "empty.duckdb")
    assert not demo_workspace_path().exists()
    qtbot.mouseClick(win.welcome.buttons["demo"], Qt.MouseButton.LeftButton)
    assert not win.welcome.buttons["demo"].isEnabled()  # building; not twice
    assert "being built" in win.welcome.buttons["demo"].toolTip()
    # The Help menu's entry too: a second build would write the same file.
    assert not win.acts.demo.isEnabled()
    building = win.runner.active_count
    win.open_demo()
    assert win.runner.active_count == building
    assert "being built" in win.status_label.text()
    qtbot.waitUntil(lambda: win.equipment_id == DEMO_EQUIPMENT, timeout=180_000)
    assert demo_workspace_path().exists()
    assert win.pages.currentWidget() is not win.welcome
    assert win.diagnosis is not None  # diagnosed every half hour, the latest shown
    assert win.acts.report.isEnabled()
    qtbot.waitUntil(win.acts.demo.isEnabled, timeout=5_000)  # after the build's task ends
    assert win.welcome.buttons["demo"].isEnabled()
    qtbot.waitUntil(lambda: win.runner.active_count == 0, timeout=15_000)
    save_screenshot(win, "welcome_demo_opened")

    # A second time it opens the demo already built, without building it again.
    built = demo_workspace_path().stat().st_mtime_ns
    win.open_workspace(tmp_path / "empty.duckdb")
    assert win.pages.currentWidget() is win.welcome
    win.open_demo()
    assert win.equipment_id == DEMO_EQUIPMENT
    assert demo_workspace_path().stat().st_mtime_ns == built
    win.close()


def test_a_workspace_that_cannot_open_leaves_the_welcome_page(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """At start with a file that is no workspace: the error, then the welcome page with the
    demo and "Open another workspace…"; the steps that need a workspace say so."""
    from PySide6.QtWidgets import QApplication, QMessageBox

    bad = tmp_path / "not-a-workspace.duckdb"
    bad.write_bytes(b"garbage" * 1000)
    win = MainWindow(workspace=bad)
    win.close_policy = "cancel"
    qtbot.addWidget(win)
    win.resize(1366, 768)
    win.show()
    qtbot.waitUntil(lambda: win._pending_open is None, timeout=5000)
    boxes = [
        w for w in QApplication.topLevelWidgets() if isinstance(w, QMessageBox) and w.isVisible()
    ]
    assert boxes and "not-a-workspace.duckdb" in boxes[-1].text()
    boxes[-1].close()
    assert win.store is None
    assert win.pages.currentWidget() is win.welcome
    buttons = win.welcome.buttons
    assert buttons["demo"].isEnabled() and buttons["open"].isEnabled()
    for name in ("new", "import"):
        assert not buttons[name].isEnabled()
        assert "Open or create a workspace first" in buttons[name].toolTip()
    assert win.welcome.intro.text().startswith("No workspace is open")
    assert not win.workspace_panel.new_button.isEnabled()
    save_screenshot(win, "welcome_no_workspace")
    win.close()
