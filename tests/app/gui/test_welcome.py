"""The first start: an empty workspace shows the demo and the first steps as buttons; the
steps that cannot work yet are disabled with the reason as their tooltip; the demo button
builds the demo (the same code as ``hydrodiag demo``) and opens it."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt

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
    assert win.acts.demo.isEnabled() and win.welcome.buttons["demo"].isEnabled()
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
