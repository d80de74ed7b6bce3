"""The import dialog end to end on CSVs it has never seen: detection, mapping, import, errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtWidgets import QMessageBox

from app.gui.dialogs.import_dialog import ImportDialog
from app.gui.workers import TaskRunner
from ingestion.csv_plan import CsvOptions, CsvTable
from ingestion.workspace import open_workspace
from tests.app.gui.conftest import EQUIPMENT, save_screenshot

pytestmark = pytest.mark.gui


def _german_log(path: Path, rows: int = 600) -> Path:
    """A logger export in German conventions: ';' delimiter, decimal comma, dd.mm.yyyy times,
    a pressure column no profile sensor is called, power in kW and a comment column."""
    lines = ["Datum/Zeit;Druck Pumpe [bar];TS1 [°C];Leistung [kW];Kommentar"]
    for i in range(rows):
        lines.append(
            f"30.11.2026 08:{i // 60:02d}:{i % 60:02d};{150 + i % 7},{i % 10};40,5;2,{i % 9};ok"
        )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _dialog(qtbot, store, equipment_id=None):  # type: ignore[no-untyped-def]
    runner = TaskRunner()
    dialog = ImportDialog(store, runner, equipment_id=equipment_id)
    qtbot.addWidget(dialog)
    dialog.resize(1000, 680)
    dialog.show()
    return dialog, runner


def test_import_unseen_csv_with_mapping_and_units(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    store = open_workspace(tmp_path / "ws.duckdb")
    dialog, runner = _dialog(qtbot, store)
    assert dialog.set_file(_german_log(tmp_path / "export.csv"))
    # A new equipment gets the profile whose sensors the columns match (TS1 -> the rig).
    assert dialog.new_profile.currentData() == "zema-test-rig"
    plan = dialog.plan
    assert plan is not None
    assert (plan.delimiter, plan.decimal, plan.header_line, plan.data_start_line) == (
        ";",
        ",",
        1,
        2,
    )
    assert "dd.mm.yyyy" in dialog.detected.text()
    assert dialog.preview.item(0, 1).text() == "Druck Pumpe [bar]"
    # Auto-match found TS1 by name; the pressure and power columns need the user.
    assert dialog.current_mapping() == {
        1: (None, "bar"),
        2: ("TS1", "°C"),
        3: (None, "kW"),
        4: (None, None),
    }
    # New equipment needs an id before Import is allowed.
    assert dialog.equipment.currentData() == "__new__"
    assert not dialog.import_button.isEnabled()
    dialog.new_id.setText("press-7")
    dialog.set_mapping(1, "PS1")
    dialog.set_mapping(3, "EPS1")  # kW in the file, W in the profile: converted on import
    assert dialog.import_button.isEnabled(), dialog.problem.text()
    # Two columns for one sensor is refused with a sentence.
    dialog.set_mapping(4, "PS1")
    assert not dialog.import_button.isEnabled()
    assert "Column 2 and column 5 both feed PS1" in dialog.problem.text()
    dialog.set_mapping(4, None)
    save_screenshot(dialog, "import-dialog-mapping")
    with qtbot.waitSignal(dialog.imported, timeout=20000) as blocker:
        dialog.start_import()
    assert blocker.args == ["press-7"]
    qtbot.waitUntil(lambda: runner.active_count == 0, timeout=5000)
    summary = dialog.summary
    assert (
        summary is not None
        and summary.values == 1800
        and sorted(summary.sensors) == ["EPS1", "PS1", "TS1"]
    )
    assert "1,800 values" in dialog.summary_text.toPlainText()
    rows = dict(store.query("SELECT sensor_id, max(value) FROM measurements GROUP BY 1"))
    assert rows["EPS1"] == pytest.approx(2800.0)  # 2,8 kW
    assert rows["PS1"] == pytest.approx(156.9)
    save_screenshot(dialog, "import-dialog-summary")
    store.close()


def test_bad_file_shows_readable_error_dialog(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    store = open_workspace(None)
    dialog, _ = _dialog(qtbot, store)
    binary = tmp_path / "logger.bin"
    binary.write_bytes(bytes(range(256)) * 40)
    assert not dialog.set_file(binary)
    box = dialog.error_box
    assert isinstance(box, QMessageBox) and box.isVisible()
    assert str(binary) in box.text() and "Traceback" not in box.text()
    assert not dialog.import_button.isEnabled()
    missing = tmp_path / "nope.csv"
    assert not dialog.set_file(missing)
    assert "nope.csv" in dialog.error_box.text()
    box.close()


def test_cancelled_import_leaves_workspace_unchanged(
    qtbot, sample_workspace: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    store = open_workspace(sample_workspace)
    before = store.query("SELECT count(*) FROM measurements")[0][0]
    sources = store.query("SELECT count(*) FROM sources")[0][0]
    dialog, runner = _dialog(qtbot, store, EQUIPMENT)
    assert dialog.equipment.currentData() == EQUIPMENT
    assert dialog.set_file(_german_log(tmp_path / "big.csv", rows=3000))
    dialog.set_mapping(1, "PS1")
    task = dialog.start_import()
    assert task is not None
    task.cancel()  # before the worker reaches its first checkpoint
    qtbot.waitUntil(lambda: runner.active_count == 0, timeout=20000)
    if dialog.summary is None:  # cancelled in time: nothing written
        assert "cancelled" in dialog.status.text()
        assert store.query("SELECT count(*) FROM measurements")[0][0] == before
        assert store.query("SELECT count(*) FROM sources")[0][0] == sources
    else:  # the import won the race: then it is complete, never half-written
        assert dialog.summary.values == 3000 * 2
    store.close()


def test_long_file_maps_sensor_names(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A long export (one row per reading): names, not columns, are mapped."""
    store = open_workspace(None)
    dialog, runner = _dialog(qtbot, store)
    log = tmp_path / "long.csv"
    log.write_text(
        "timestamp;channel;value;unit\n"
        "2026-03-02 06:00:00;PS1;2175,5;psi\n"
        "2026-03-02 06:00:00;Tanktemp;50;°C\n"
        "2026-03-02 06:00:01;PS1;2176,0;psi\n"
        "2026-03-02 06:00:01;Tanktemp;50,5;°C\n",
        encoding="utf-8",
    )
    assert dialog.set_file(log)
    assert dialog.plan is not None and dialog.plan.layout == "long"
    assert dialog.current_mapping() == {"PS1": ("PS1", "psi"), "Tanktemp": (None, "°C")}
    dialog.set_mapping("Tanktemp", "TS1")
    dialog.new_id.setText("rig")
    with qtbot.waitSignal(dialog.imported, timeout=20000):
        dialog.start_import()
    qtbot.waitUntil(lambda: runner.active_count == 0, timeout=5000)
    assert dialog.summary is not None and sorted(dialog.summary.sensors) == ["PS1", "TS1"]
    rows = dict(store.query("SELECT sensor_id, max(value) FROM measurements GROUP BY 1"))
    assert rows["PS1"] == pytest.approx(2176.0 / 14.503773773, rel=1e-4)  # psi -> bar
    assert rows["TS1"] == pytest.approx(50.5)


def test_a_chosen_file_is_sniffed_once_for_every_profile(  # type: ignore[no-untyped-def]
    qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """For a new equipment every shipped profile is tried on one sniff of the file, and a
    change of profile re-plans that sniff instead of reading the file again."""
    from app.gui.dialogs import import_dialog
    from ingestion.csv_sniff import sniff_table

    sniffed: list[Path] = []

    def counted(path: Path, options: CsvOptions | None = None) -> CsvTable:
        sniffed.append(path)
        return sniff_table(path, options)

    monkeypatch.setattr(import_dialog, "sniff_table", counted)
    store = open_workspace(None)
    dialog, _ = _dialog(qtbot, store)
    assert len(dialog.shipped) > 1
    assert dialog.set_file(_german_log(tmp_path / "export.csv"))
    assert dialog.new_profile.currentData() == "zema-test-rig"
    rig = dialog.new_profile.currentIndex()
    other = next(i for i, p in enumerate(dialog.shipped) if p.id != "zema-test-rig")
    dialog.new_profile.setCurrentIndex(other)  # none of its sensors is in the file
    assert dialog.plan is None and dialog.detected.text() == "Could not read the file."
    dialog.new_profile.setCurrentIndex(rig)
    assert dialog.plan is not None and dialog.profile is dialog.shipped[rig]
    assert len(sniffed) == 1
    store.close()


def _error_boxes() -> list[QMessageBox]:
    from PySide6.QtWidgets import QApplication

    return [
        w
        for w in QApplication.topLevelWidgets()
        if isinstance(w, QMessageBox) and w.objectName() == "ErrorDialog" and w.isVisible()
    ]


def test_clicking_around_after_a_drop_keeps_the_mapping(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The path field used to re-read the file whenever it lost focus: after a drop, the first
    click on a sensor combo destroyed that combo, and a chosen mapping reset to (skip) when the
    user clicked the time-zone field."""
    from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
    from PySide6.QtGui import QDropEvent
    from PySide6.QtWidgets import QApplication, QComboBox
    from shiboken6 import isValid

    store = open_workspace(None)
    dialog, _ = _dialog(qtbot, store)
    dialog.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is dialog, timeout=5000)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(_german_log(tmp_path / "export.csv")))])
    dialog.dropEvent(
        QDropEvent(QPointF(50, 50), Qt.DropAction.CopyAction, mime,
                   Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    )  # fmt: skip
    assert dialog.plan is not None
    dialog.path.setFocus()  # where a user's cursor often is after dropping or browsing
    qtbot.waitUntil(dialog.path.hasFocus, timeout=2000)
    combo = dialog.mapping.cellWidget(0, 2)
    assert isinstance(combo, QComboBox)
    qtbot.mouseClick(combo, Qt.MouseButton.LeftButton)  # focus leaves the path field
    QApplication.processEvents()
    assert isValid(combo) and dialog.mapping.cellWidget(0, 2) is combo
    combo.hidePopup()
    dialog.set_mapping(1, "PS1")
    dialog.set_mapping(3, "EPS1")
    chosen = dialog.current_mapping()
    dialog.path.setFocus()
    qtbot.mouseClick(dialog.tz, Qt.MouseButton.LeftButton)  # the time-zone field
    qtbot.keyClicks(dialog.tz, "Europe/Berlin")
    QApplication.processEvents()
    assert dialog.current_mapping() == chosen
    # a typed path is read on Enter, not on leaving the field
    other = _german_log(tmp_path / "second.csv", rows=60)
    dialog.path.setText(str(other))
    qtbot.mouseClick(dialog.tz, Qt.MouseButton.LeftButton)
    assert dialog.current_mapping() == chosen
    qtbot.keyClick(dialog.path, Qt.Key.Key_Return)
    assert dialog.plan is not None and dialog.plan.path == other
    store.close()


def test_a_bad_file_shows_its_error_once(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The error box appeared twice for a bad file, the second time after the dialog closed."""
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QApplication

    store = open_workspace(None)
    dialog, _ = _dialog(qtbot, store)
    dialog.activateWindow()
    bad = tmp_path / "logger.bin"
    bad.write_bytes(bytes(range(256)) * 40)
    dialog.path.setFocus()
    assert not dialog.set_file(bad)
    QApplication.processEvents()
    assert len(_error_boxes()) == 1
    qtbot.mouseClick(dialog.tz, Qt.MouseButton.LeftButton)  # focus moves on
    QApplication.processEvents()
    assert len(_error_boxes()) == 1
    for box in _error_boxes():
        box.close()
    dialog.reject()
    QApplication.processEvents()
    assert _error_boxes() == []
    store.close()
