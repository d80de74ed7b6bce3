"""What the import dialog remembers per equipment and says about skipped columns (Qt-free)."""

from __future__ import annotations

from pathlib import Path

from app.core import column_memory as cm


def test_remembered_choices_round_trip_per_equipment(tmp_path: Path) -> None:
    file = tmp_path / "maps.json"
    cm.remember("press-7", {"Druck Pumpe": ("PS1", "bar"), "Kommentar": (None, None)}, path=file)
    cm.remember("press-8", {"Druck Pumpe": ("PS2", None)}, path=file)
    cm.remember("press-7", {"druck_pumpe": ("PS3", "bar")}, path=file)  # same column, later
    assert cm.recall("press-7", path=file) == {
        "druckpumpe": ("PS3", "bar"),
        "kommentar": (None, None),
    }
    assert cm.recall("press-8", path=file) == {"druckpumpe": ("PS2", None)}
    assert cm.recall("other", path=file) == {}
    rows = cm.recalled_for(["Zeit", "DRUCK PUMPE", "Kommentar"], cm.recall("press-7", path=file))
    assert rows == {1: ("PS3", "bar"), 2: (None, None)}


def test_a_corrupt_memory_file_is_started_afresh(tmp_path: Path) -> None:
    file = tmp_path / "maps.json"
    file.write_text("{not json", encoding="utf-8")
    assert cm.recall("press-7", path=file) == {}
    cm.remember("press-7", {"A": ("PS1", None)}, path=file)
    assert cm.recall("press-7", path=file) == {"a": ("PS1", None)}


def test_skip_warning_counts_and_names_the_skipped() -> None:
    labels = [f"column {i}" for i in range(2, 12)]
    sensors: list[str | None] = [None] * 9 + ["PS1"]
    text = cm.skip_warning(labels, sensors, kind="columns")
    assert text.startswith("▲ 9 of 10 columns will be skipped")
    assert "column 2, column 3" in text and "and 3 more" in text
    assert cm.skip_warning(["a"], ["PS1"], kind="columns") == ""


def test_text_columns_are_told_from_numbers() -> None:
    assert cm.is_text_column(["ok", "Leckage", "", "ok"], ",")
    assert not cm.is_text_column(["1,5", "2,0", "n/a"], ",")
    assert not cm.is_text_column(["", " "], ".")
    notes = cm.text_column_notes([("column 5 ('Kommentar')", ["ok", "ok"]), ("c", ["1"])], ".")
    assert len(notes) == 1 and "column 5 ('Kommentar') holds text" in notes[0]
