"""What the window says matches what is true: F5 diagnoses the latest stretch and is named for
it; the headline never softens a current critical; an equipment no model fits cannot be
"diagnosed" and says why; a sensor load that found nothing does not say "Loaded"."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from app.core.presentation import STATUS_STYLES
from app.gui.dialogs.new_equipment import create_equipment
from gnn.graph import default_model_path
from gnn.results import Status
from ingestion.profiles import load_profile
from ingestion.workspace import open_workspace
from tests.app.gui.conftest import open_main_window, save_screenshot

pytestmark = [pytest.mark.gui, pytest.mark.slow]
RANK = {Status.CRITICAL: 0, Status.WARNING: 1, Status.INSUFFICIENT_DATA: 2, Status.HEALTHY: 3}


def test_f5_diagnoses_the_latest_stretch_and_the_headline_does_not_soften(
    qtbot, sample_workspace: Path
) -> None:  # type: ignore[no-untyped-def]
    if not default_model_path().exists():
        pytest.skip("no shipped model")
    window = open_main_window(qtbot, sample_workspace)
    before = window.diagnosis
    assert before is not None and before.overall_status is Status.CRITICAL
    badge_before = window.summary.badge.text()
    save_screenshot(window, "f5-demo-before")
    qtbot.waitUntil(lambda: window.readiness is not None, timeout=30000)
    assert window.acts.diagnose.text() == "&Diagnose last 30 min"
    assert window.acts.diagnose.isEnabled()
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=5000)
    qtbot.keyClick(window, Qt.Key.Key_F5)
    qtbot.waitUntil(
        lambda: window.diagnosis is not None and window.diagnosis.id != before.id, timeout=120000
    )
    after = window.diagnosis
    save_screenshot(window, "f5-demo-after")
    assert after.selection.startswith("last 30 min")
    assert after.window_end == before.window_end
    assert RANK[after.overall_status] <= RANK[before.overall_status]
    assert window.summary.badge.text() == badge_before == STATUS_STYLES[Status.CRITICAL].label
    assert "Accumulators A1-A4 critical" in window.summary.verdict.text()
    acc = [r for r in after.recommendations if r.component_id == "ACC"]
    assert acc and acc[0].priority.value == "urgent"
    assert "Current state: latest windows" in window.summary.span.text()
    window.close()


def test_no_model_for_the_profile_disables_f5_and_says_why(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "ws.duckdb"
    with open_workspace(path) as store:
        create_equipment(store, "digger", "Excavator 12", load_profile("tracked-excavator"))
    window = open_main_window(qtbot, path, "digger")
    qtbot.waitUntil(lambda: window.readiness is not None, timeout=30000)
    assert window.readiness is not None and not window.readiness.can_diagnose
    assert not window.acts.diagnose.isEnabled()
    tip = window.acts.diagnose.toolTip()
    assert tip.startswith("No model for this profile (tracked-excavator)")
    headline = window.summary.verdict.text()
    assert headline == tip and "press Diagnose" not in headline and "--" not in headline
    assert not window.acts.report.isEnabled() and "diagnosis first" in window.acts.report.toolTip()
    save_screenshot(window, "status-no-model")
    window.diagnose()  # even if called, nothing starts
    assert window.runner.active_count == 0
    # no data: the sensors tab does not say it loaded anything
    window.show_tab("sensors")
    qtbot.waitUntil(lambda: window.runner.active_count == 0, timeout=20000)
    assert not window.status_label.text().startswith("Loaded"), window.status_label.text()
    assert window.status_label.text().startswith("No data for")
    window.close()


def test_series_status_words() -> None:
    import numpy as np

    from app.gui.main_window import series_status

    empty = (np.array([]), np.array([]))
    some = (np.array([1.0]), np.array([2.0]))
    assert series_status({"ACC1": empty, "ACC2": empty}, "acc") == (
        "No data for ACC1, ACC2 of acc in the chosen range."
    )
    assert series_status({"PS1": some, "PS2": empty}, "rig") == "Loaded PS1. No data for PS2."
