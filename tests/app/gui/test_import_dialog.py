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


# -- importing like a logger user ------------------------------------------------------------

# A logger's ten columns: nine named as the user's profile describes its sensors (by
# description or alias), one a text column of condition labels.
_LOGGER_COLUMNS = {
    "Druck Pumpe [bar]": ("PS1", {"description": "Druck Pumpe"}),
    "Druck Ventil [bar]": ("PS2", {"description": "Druck Ventil"}),
    "P3 Lastventil [bar]": ("PS3", {"aliases": ("P3 Lastventil", "P3")}),
    "Motorleistung [kW]": ("EPS1", {"description": "Motorleistung [W]"}),
    "Durchfluss Kreis 1 [l/min]": ("FS1", {"aliases": ("Durchfluss Kreis 1",)}),
    "Öltemperatur Tank [°C]": ("TS1", {"description": "Öltemperatur Tank"}),
    "Kühler Eingang [°C]": ("TS2", {"description": "Kühler Eingang"}),
    "Heizung Ausgang [°C]": ("TS3", {"aliases": ("Heizung Ausgang",)}),
    "Schwingung Pumpe [mm/s]": ("VS1", {"description": "Schwingung Pumpe"}),
}


def _users_profile():  # type: ignore[no-untyped-def]
    """The shipped rig's profile with the user's own words for its sensors."""
    from app.core import queries

    rig = next(p for p in queries.shipped_profiles() if p.id == "zema-test-rig")
    words = {sensor: update for sensor, update in _LOGGER_COLUMNS.values()}
    sensors = tuple(s.model_copy(update=words.get(s.id, {})) for s in rig.sensors)
    return rig.model_copy(update={"sensors": sensors, "id": "my-rig", "name": "My rig"})


def _logger_file(path: Path, start_minute: int = 0, rows: int = 300) -> Path:
    headers = ["Zeit", *_LOGGER_COLUMNS, "Zustand"]
    lines = [";".join(headers)]
    for i in range(rows):
        t = start_minute * 60 + i
        values = ["150,5", "140,2", "20,1", "2,4", "12,5", "45,0", "38,5", "50,2", "0,8"]
        lines.append(
            f"30.11.2026 {8 + t // 3600:02d}:{t // 60 % 60:02d}:{t % 60:02d};"
            + ";".join(values)
            + (";Normalbetrieb" if i % 2 else ";Leckage Pumpe")
        )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_columns_match_the_profiles_descriptions_and_aliases(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from app.gui.dialogs.new_equipment import create_equipment

    store = open_workspace(tmp_path / "ws.duckdb")
    create_equipment(store, "press-7", "Press 7", _users_profile())
    dialog, runner = _dialog(qtbot, store, "press-7")
    assert dialog.set_file(_logger_file(tmp_path / "log1.csv"))
    mapping = dialog.current_mapping()
    assert {k: s for k, (s, _u) in mapping.items()} == {
        i + 1: sensor for i, (sensor, _) in enumerate(_LOGGER_COLUMNS.values())
    } | {10: None}
    # Each sensor's words and unit are in the list the user picks from.
    combo = dialog.mapping.cellWidget(0, 2)
    assert combo.currentText() == "PS1 · Druck Pumpe [bar]"
    assert dialog.mapping.item(0, 3).text() == "bar"
    # What Import leaves out is said before Import.
    assert dialog.mapping.cellWidget(3, 2).currentText() == "EPS1 · Motorleistung [W]"
    assert "--" not in dialog.detected.text(), dialog.detected.text()
    assert "1 of 10 columns will be skipped" in dialog.note.text()
    assert "'Zustand'" in dialog.note.text()
    dialog.set_mapping(1, None)
    assert "2 of 10 columns will be skipped" in dialog.note.text()
    dialog.set_mapping(1, "PS1")
    save_screenshot(dialog, "import-dialog-described-columns")
    with qtbot.waitSignal(dialog.imported, timeout=20000):
        dialog.start_import()
    qtbot.waitUntil(lambda: runner.active_count == 0, timeout=5000)
    details = dialog.summary_text.toPlainText()
    assert "column 11 ('Zustand') holds text" in details, details
    assert "Import condition labels" in details
    assert "1 skipped column(s) hold text" in dialog.headline.text()
    save_screenshot(dialog, "import-dialog-described-columns-summary")
    store.close()


def test_a_second_file_from_the_same_logger_needs_no_mapping(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The mapping chosen for the first file is remembered for the equipment."""
    store = open_workspace(tmp_path / "ws.duckdb")
    dialog, runner = _dialog(qtbot, store)
    first = _german_log(tmp_path / "export-1.csv")
    assert dialog.set_file(first)
    dialog.new_id.setText("press-7")
    dialog.set_mapping(1, "PS1")
    dialog.set_mapping(3, "EPS1")
    with qtbot.waitSignal(dialog.imported, timeout=20000):
        dialog.start_import()
    qtbot.waitUntil(lambda: runner.active_count == 0, timeout=5000)
    dialog.close()

    second = tmp_path / "export-2.csv"
    second.write_text(
        first.read_text(encoding="utf-8").replace("30.11.2026 08:", "30.11.2026 09:"),
        encoding="utf-8",
    )
    dialog2, runner2 = _dialog(qtbot, store, "press-7")
    assert dialog2.set_file(second)
    assert dialog2.current_mapping() == {
        1: ("PS1", "bar"),
        2: ("TS1", "°C"),
        3: ("EPS1", "kW"),
        4: (None, None),
    }
    assert dialog2.import_button.isEnabled(), dialog2.problem.text()
    with qtbot.waitSignal(dialog2.imported, timeout=20000):
        dialog2.start_import()
    qtbot.waitUntil(lambda: runner2.active_count == 0, timeout=5000)
    assert dialog2.summary is not None and sorted(dialog2.summary.sensors) == [
        "EPS1",
        "PS1",
        "TS1",
    ]
    store.close()


def test_binary_file_error_says_what_the_file_looks_like(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    store = open_workspace(None)
    dialog, _ = _dialog(qtbot, store)
    workbook = tmp_path / "export.xlsx"
    workbook.write_bytes(b"PK\x03\x04\x14\x00\x06\x00" + bytes(range(256)) * 8)
    assert not dialog.set_file(workbook)
    text = dialog.error_box.text()
    assert "Excel .xlsx workbook" in text and "b'" not in text and "\\x" not in text
    dialog.error_box.close()


def test_dialog_words_are_the_apps_not_command_line_flags(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A bad time zone and a file whose times are ambiguous: the sentences name the dialog's
    fields, never --tz or --map."""
    from app.gui.dialogs.errors import error_message
    from ingestion.csv_plan import CsvFormatError

    store = open_workspace(tmp_path / "ws.duckdb")
    dialog, runner = _dialog(qtbot, store)
    assert dialog.set_file(_german_log(tmp_path / "export.csv"))
    dialog.new_id.setText("press-7")
    dialog.tz.setText("Mars/Olympus")
    dialog.start_import()
    qtbot.waitUntil(lambda: runner.active_count == 0, timeout=10000)
    assert dialog.problem.text(), "a bad time zone must be refused"
    for text in (dialog.problem.text(), dialog.error_box.text()):
        assert "--" not in text, text
    dialog.error_box.close()
    clash = CsvFormatError(
        "x.csv: several columns match the same sensor (PS1: column 2, column 3). Say which one "
        "with --map COLUMN=SENSOR and leave the other out with --skip COLUMN."
    )
    assert "--" not in error_message(clash)
    store.close()
