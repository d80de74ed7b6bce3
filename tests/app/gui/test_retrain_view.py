"""The retraining tab offscreen, driving real runs of the worker process on a tiny workspace:
live curves and progress, the comparison, Activate, rollback, Cancel keeping nothing; and the
tab in the main window."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from app.core.retrain import registry_rows
from gnn.registry import builtin_models
from ingestion.workspace import Store, open_workspace
from tests.app.gui.conftest import SCREENSHOTS, open_main_window
from tests.gnn.test_engine import base  # noqa: F401  (module fixture: 40 UCI cycles)
from tests.pump_rig_proxy import proxy_workspace


@pytest.fixture
def store(tmp_path: Path):  # type: ignore[no-untyped-def]
    with open_workspace(proxy_workspace(tmp_path, {"p7": 7})) as s:
        yield s


def _panel(qtbot, store: Store):  # type: ignore[no-untyped-def]
    from app.gui.views.retrain import RetrainPanel, to_qt

    changed: list[bool] = []
    panel = RetrainPanel(lambda: (store, "p7"), lambda: changed.append(True))
    qtbot.addWidget(panel)
    panel.resize(1366, 768)
    panel.show()
    panel.refresh()
    panel.start_edit.setDateTime(to_qt(datetime(2026, 3, 2, 9, 0, 0)))
    panel.end_edit.setDateTime(to_qt(datetime(2026, 3, 2, 9, 6, 40)))
    return panel, changed


@pytest.mark.slow
def test_a_run_from_start_to_activate_and_roll_back(qtbot, store: Store) -> None:  # type: ignore[no-untyped-def]
    panel, changed = _panel(qtbot, store)
    assert panel.equipment_id == "p7" and panel.sources.count() == 1
    assert all(radio.isEnabled() for radio in panel.modes.values())
    assert panel.modes["normal"].isChecked()
    panel.epochs.setValue(4)
    panel.start()
    assert panel.running and panel.cancel_button.isEnabled()
    qtbot.waitUntil(lambda: not panel.running, timeout=180_000)
    assert panel.progress_label.text().startswith("Done: p7-normal@1.0.0 is stored"), (
        panel.progress_label.text()
    )
    assert panel.curves.epochs == [1, 2, 3, 4] and len(panel.curves.val_losses) == 4
    assert panel.comparison.horizontalHeaderItem(0).text() == "new: p7-normal@1.0.0"
    assert panel.comparison.item(5, 0).text() == "1 of 1"  # the log's one event detected
    assert panel.comparison.item(0, 1).text() == "none in use"
    assert panel.activate_button.isEnabled()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    panel.grab().save(str(SCREENSHOTS / "retrain-done.png"))
    (row,) = registry_rows(store, "p7")
    assert not row.active
    panel._activate_new()
    assert registry_rows(store, "p7")[0].active and changed == [True]
    assert panel.models.item(0, 3).text() == "● active"
    panel._roll_back()  # nothing before it and no built-in model for this profile: a sentence
    assert "nothing to roll back to" in panel.registry_label.text()
    assert registry_rows(store, "p7")[0].active


@pytest.mark.slow
def test_cancel_keeps_nothing(qtbot, store: Store) -> None:  # type: ignore[no-untyped-def]
    panel, _ = _panel(qtbot, store)
    panel.epochs.setValue(400)
    panel.time_budget.setValue(0)
    panel.start()
    qtbot.waitUntil(lambda: panel.job is not None, timeout=60_000)
    folder = panel.job.folder
    qtbot.waitUntil(lambda: len(panel.curves.epochs) >= 1, timeout=120_000)
    panel.cancel()
    qtbot.waitUntil(lambda: not panel.running, timeout=30_000)
    assert panel.progress_label.text().startswith("Cancelled: nothing was kept")
    assert not folder.exists()
    assert registry_rows(store, "p7") == []
    assert not panel.activate_button.isEnabled()


def test_bad_choice_is_a_sentence_and_nothing_starts(qtbot, store: Store) -> None:  # type: ignore[no-untyped-def]
    panel, _ = _panel(qtbot, store)
    panel.radio_sources.setChecked(True)  # but no import ticked
    panel.start()
    assert not panel.running
    assert panel.progress_label.text() == (
        "Not started: tick at least one import in the list, or choose other data."
    )


def test_the_main_window_has_the_tab(qtbot, sample_workspace: Path) -> None:  # type: ignore[no-untyped-def]
    win = open_main_window(qtbot, sample_workspace)
    titles = [win.tabs.tabText(i) for i in range(win.tabs.count())]
    assert titles[-1] == "Retraining"
    win.tabs.setCurrentIndex(win.tabs.count() - 1)
    panel = win.retrain_tab.panel
    assert panel is not None and panel.equipment_id == win.equipment_id
    assert any(r.active for r in registry_rows(win.store, win.equipment_id))
    qtbot.waitUntil(panel.isVisible)  # a widget added to a shown parent is shown by the loop
    qtbot.wait(50)
    win.grab().save(str(SCREENSHOTS / "retrain-tab-main-window.png"))


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["scratch", "finetune"])
def test_graded_runs_show_both_graded_models(qtbot, base: tuple[Path, Path], mode: str) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    from app.gui.views.retrain import RetrainPanel

    with open_workspace(base[0]) as store:
        panel = RetrainPanel(lambda: (store, "rig"))
        qtbot.addWidget(panel)
        panel.resize(1366, 768)
        panel.show()
        panel.refresh()
        panel.radio_all.setChecked(True)
        panel.modes[mode].setChecked(True)
        assert not panel.time_budget.isEnabled()  # epochs bound a graded run
        assert not panel.data_box.isEnabled()  # it learns from all labelled windows
        panel.epochs.setValue(2)
        panel.start()
        qtbot.waitUntil(lambda: not panel.running, timeout=180_000)
        assert panel.progress_label.text().startswith(
            "Done: rig-gatv2-lstm@1.0."
        )  # shared workspace
        assert panel.comparison.rowCount() == 4
        assert panel.comparison.verticalHeaderItem(0).text().startswith("grade accuracy, ACC")
        shipped = builtin_models()[0].key  # the built-in model the rig uses, whatever version
        assert panel.comparison.horizontalHeaderItem(1).text() == f"active: {shipped}"
        assert panel.comparison.item(0, 1).text().endswith("%")
        panel.grab().save(str(SCREENSHOTS / f"retrain-{mode}-done.png"))
        trained = [r for r in registry_rows(store, "rig") if r.origin == "trained"]
        row = max(trained, key=lambda r: r.created)  # this run's
        assert row.kind == "graded" and not row.active
        assert ("fine-tuned" in row.note) == (mode == "finetune")


def test_an_installation_that_cannot_train_says_why_instead_of_failing() -> None:
    from app.core.retrain import training_unavailable

    assert training_unavailable(frozen=False, has_torch=True) == ""
    bundle = training_unavailable(frozen=True)
    assert "bundle" in bundle and "hydrodiag[train]" in bundle and "import" in bundle
    assert "PyTorch" in training_unavailable(frozen=False, has_torch=False)


def test_the_bundle_disables_start_with_the_reason(qtbot, store: Store, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import app.gui.views.retrain as view
    from app.core.retrain import training_unavailable

    monkeypatch.setattr(view, "training_unavailable", lambda: training_unavailable(frozen=True))
    panel, _ = _panel(qtbot, store)
    assert not panel.start_button.isEnabled()
    assert "bundle" in panel.start_button.toolTip() and "bundle" in panel.progress_label.text()


def test_graded_modes_learn_from_all_labelled_windows(qtbot, store: Store) -> None:  # type: ignore[no-untyped-def]
    panel, _ = _panel(qtbot, store)
    for mode in ("finetune", "scratch"):
        panel.modes[mode].setChecked(True)
        assert not panel.data_box.isEnabled() and not panel.time_budget.isEnabled(), mode
        assert panel.data_box.title().startswith("Data: all of the equipment's labelled")
    panel.modes["normal"].setChecked(True)
    assert panel.data_box.isEnabled() and panel.time_budget.isEnabled()
    panel.modes["finetune"].setChecked(True)
    panel.start()  # p7 uses no graded model: a sentence, nothing starts
    qtbot.waitUntil(lambda: not panel.running, timeout=30_000)
    assert "Activate a graded model" in panel.progress_label.text()
    assert registry_rows(store, "p7") == []  # nothing stored
