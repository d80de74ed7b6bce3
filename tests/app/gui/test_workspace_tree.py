"""The workspace tree as a fleet view, with housekeeping from its context menu and the Edit
menu; F1 opens the guide shipped with the app."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QApplication

from app.core import housekeeping
from app.core.presentation import STATUS_STYLES
from gnn.results import Status
from tests.app.gui.conftest import EQUIPMENT, save_screenshot

pytestmark = pytest.mark.gui


def _item(tree, kind: str):  # type: ignore[no-untyped-def]
    from app.gui.views.workspace import ROLE_KIND

    found = []

    def walk(item) -> None:  # type: ignore[no-untyped-def]
        if item.data(0, ROLE_KIND) == kind:
            found.append(item)
        for i in range(item.childCount()):
            walk(item.child(i))

    for i in range(tree.topLevelItemCount()):
        walk(tree.topLevelItem(i))
    return found


def test_fleet_view_shows_status_colour_and_time(window) -> None:  # type: ignore[no-untyped-def]
    from app.gui.views.workspace import status_icon
    from gnn.wording import health_text

    top = window.workspace_panel.tree.topLevelItem(0)
    style = STATUS_STYLES[Status.CRITICAL]
    name, line = top.text(0).split("\n")
    assert name == f"Demo rig (simulated) ({EQUIPMENT})"
    health = health_text(window.diagnosis.overall_health)  # the model's figure, not a constant
    assert line == f"{style.word} · {health} · 30 Nov 09:00 UTC"  # the latest diagnosis, shown zone
    assert top.icon(0).cacheKey() == status_icon(Status.CRITICAL).cacheKey()
    assert top.toolTip(0).endswith(window.diagnosis.verdict)
    diagnoses = top.child(2)
    assert diagnoses.child(0).text(0).endswith(f"CRITICAL {health}")
    # nothing in the tree is wider than the panel: no text is cut off or hidden to the right
    tree = window.workspace_panel.tree
    assert tree.header().sectionSize(0) <= tree.viewport().width(), tree.header().sectionSize(0)
    save_screenshot(window, "workspace-fleet")


def test_delete_and_rename_from_the_tree(window, qtbot) -> None:  # type: ignore[no-untyped-def]
    tree = window.workspace_panel.tree
    window.confirm_answer = True  # the user says yes to the confirmation
    # nothing deletable selected: the Edit menu's actions say why they are off
    tree.setCurrentItem(tree.topLevelItem(0).child(0))  # the "Inspections" group
    assert not window.acts.delete.isEnabled()
    assert window.acts.delete.toolTip().startswith("Select an equipment, inspection")
    # the context menu of a diagnosis offers Show and Delete
    newest = _item(tree, "diagnosis")[0]
    rect = tree.visualItemRect(newest)
    tree.customContextMenuRequested.emit(QPoint(rect.x() + 5, rect.y() + 5))
    menu = window.workspace_panel.context_menu
    assert [a.text() for a in menu.actions()] == ["Show", "Delete diagnosis…"]
    save_screenshot(window, "workspace-context-menu")
    menu.close()
    deleted_id = window.diagnosis.id
    menu.actions()[1].trigger()
    qtbot.waitUntil(lambda: window.runner.busy_count == 0, timeout=15000)
    assert window.status_label.text() == f"Deleted diagnosis #{deleted_id}."
    assert window.diagnosis is not None and window.diagnosis.id != deleted_id
    assert tree.topLevelItem(0).child(2).text(0) == "Diagnoses (7)"
    assert {k: v for k, v in housekeeping.orphan_counts(window.store).items() if v} == {}
    # rename the equipment from the Edit menu (its id stays)
    tree.setCurrentItem(tree.topLevelItem(0))
    assert window.acts.rename.isEnabled()
    from PySide6.QtWidgets import QInputDialog

    def answer(*_args, **_kwargs):  # type: ignore[no-untyped-def]
        return "Test rig, hall 2", True

    original = QInputDialog.getText
    QInputDialog.getText = answer  # type: ignore[method-assign]
    try:
        window.acts.rename.trigger()
    finally:
        QInputDialog.getText = original  # type: ignore[method-assign]
    assert tree.topLevelItem(0).text(0).startswith(f"Test rig, hall 2 ({EQUIPMENT})\n")
    assert window.summary.equipment.text() == "Test rig, hall 2"
    # delete the whole equipment: the window falls back to an empty workspace
    tree.setCurrentItem(tree.topLevelItem(0))
    window.acts.delete.trigger()
    qtbot.waitUntil(lambda: window.runner.busy_count == 0, timeout=15000)
    assert window.equipment_id is None and window.diagnosis is None
    assert {k: v for k, v in housekeeping.orphan_counts(window.store).items() if v} == {}
    assert window.store.query("SELECT count(*) FROM measurements")[0][0] == 0
    save_screenshot(window, "workspace-after-delete")


def test_a_declined_confirmation_deletes_nothing(window, qtbot) -> None:  # type: ignore[no-untyped-def]
    window.confirm_answer = False
    before = window.store.query("SELECT count(*) FROM sources")[0][0]
    window.delete_item("source", _item(window.workspace_panel.tree, "source")[0].data(0, 257))
    qtbot.wait(50)
    assert window.store.query("SELECT count(*) FROM sources")[0][0] == before


def test_f1_opens_the_guide(window, qtbot) -> None:  # type: ignore[no-untyped-def]
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=5000)
    qtbot.keyClick(window, Qt.Key.Key_F1)
    from app.gui.dialogs.help import HelpWindow

    help_window = window.findChild(HelpWindow)
    assert help_window is not None and help_window.isVisible()
    assert help_window.pages[0].title == "The desktop app"
    assert "Import dialog" in help_window.browser.toPlainText()
    help_window.show_page("report")
    assert "PDF diagnosis reports" in help_window.browser.toPlainText()
    save_screenshot(help_window, "help-window")
    help_window.close()
