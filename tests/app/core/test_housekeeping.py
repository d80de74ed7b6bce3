"""Deleting and renaming in a workspace leaves nothing behind that points at what went."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from app.core import housekeeping as hk
from app.core.sample import SAMPLE_EQUIPMENT, SampleWorkspace
from ingestion.csv_import import ingest_csv
from ingestion.profiles import load_profile
from ingestion.workspace import Store, open_workspace


def _csv(path: Path, rows: int = 120) -> Path:
    lines = ["timestamp,PS1,TS1"] + [
        f"2026-12-01 08:{i // 60:02d}:{i % 60:02d},{150 + i % 5},{45.0}" for i in range(rows)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def store(sample_template: SampleWorkspace, tmp_path: Path) -> Store:
    path = tmp_path / "ws.duckdb"
    shutil.copyfile(sample_template.path, path)
    ws = open_workspace(path)
    rig = load_profile("zema-test-rig")
    ingest_csv(ws, _csv(tmp_path / "a.csv"), equipment_id=SAMPLE_EQUIPMENT, profile=rig)
    ingest_csv(ws, _csv(tmp_path / "b.csv", 60), equipment_id="press-7", profile=rig)
    return ws


def _clean(store: Store) -> None:
    assert {k: v for k, v in hk.orphan_counts(store).items() if v} == {}


def _rows(store: Store, sql: str, params: list[object] | None = None) -> int:
    return int(store.query(sql, params or [])[0][0])


def test_delete_an_import_with_everything_it_brought(store: Store) -> None:
    (source_id,) = store.query("SELECT id FROM sources WHERE equipment_id = 'press-7'")[0]
    what = hk.describe_deletion(store, "source", source_id)
    assert what.sentence() == (
        "Delete the csv import 'b.csv' with its 120 values? Diagnoses made from it stay in "
        "the workspace. This cannot be undone."
    )
    hk.delete(store, "source", source_id)
    assert _rows(store, "SELECT count(*) FROM measurements WHERE equipment_id = 'press-7'") == 0
    assert _rows(store, "SELECT count(*) FROM wide_tables WHERE source_id = ?", [source_id]) == 0
    _clean(store)


def test_delete_a_diagnosis_and_an_inspection(store: Store) -> None:
    (diagnosis_id,) = store.query("SELECT max(id) FROM diagnoses")[0]
    hk.delete(store, "diagnosis", diagnosis_id)
    for table in ("health_history", "recommendations", "diagnoses"):
        column = "id" if table == "diagnoses" else "diagnosis_id"
        assert _rows(store, f"SELECT count(*) FROM {table} WHERE {column} = ?", [diagnosis_id]) == 0
    _clean(store)
    (inspection_id,) = store.query("SELECT id FROM inspections")[0]
    hk.rename_inspection(store, inspection_id, "Hall 3, line 2")
    assert store.query("SELECT site FROM inspections")[0][0] == "Hall 3, line 2"
    sentence = hk.describe_deletion(store, "inspection", inspection_id).sentence()
    assert sentence.startswith("Delete the inspection of 2026-11-30 at Hall 3, line 2 with its")
    assert "1 import and 7 diagnoses stay in the workspace" in sentence
    diagnoses = _rows(store, "SELECT count(*) FROM diagnoses")
    hk.delete(store, "inspection", inspection_id)
    assert _rows(store, "SELECT count(*) FROM inspections") == 0
    assert _rows(store, "SELECT count(*) FROM diagnoses") == diagnoses  # kept, unlinked
    _clean(store)


def test_delete_and_rename_an_equipment(store: Store) -> None:
    hk.rename_equipment(store, SAMPLE_EQUIPMENT, "Test rig, hall 2")
    assert store.query("SELECT name FROM equipment WHERE id = ?", [SAMPLE_EQUIPMENT])[0][0] == (
        "Test rig, hall 2"
    )
    with pytest.raises(hk.HousekeepingError, match="may not be empty"):
        hk.rename_equipment(store, SAMPLE_EQUIPMENT, "  ")
    sentence = hk.describe_deletion(store, "equipment", SAMPLE_EQUIPMENT).sentence()
    assert sentence.startswith("Delete equipment 'Test rig, hall 2' (demo-rig) with 2 imports (")
    assert "8 diagnoses and 1 inspection?" in sentence
    hk.delete(store, "equipment", SAMPLE_EQUIPMENT)
    for table in ("equipment", "sources", "measurements", "cycles", "labels", "gaps", "diagnoses",
                  "health_history", "recommendations", "inspections", "wide_tables"):  # fmt: skip
        column = "id" if table == "equipment" else "equipment_id"
        assert (
            _rows(store, f"SELECT count(*) FROM {table} WHERE {column} = ?", [SAMPLE_EQUIPMENT])
            == 0
        ), table
    _clean(store)
    # the other equipment, on the same profile, keeps its data and its profile copy
    assert _rows(store, "SELECT count(*) FROM measurements WHERE equipment_id = 'press-7'") == 120
    assert _rows(store, "SELECT count(*) FROM profiles") == 1
    hk.delete(store, "equipment", "press-7")
    assert _rows(store, "SELECT count(*) FROM profiles") == 0
    assert (
        store.query(
            "SELECT table_name FROM duckdb_tables() WHERE regexp_matches(table_name, '^wide_[0-9]+$')"
        )
        == []
    )
    _clean(store)
    with pytest.raises(hk.HousekeepingError, match="no equipment 'press-7'"):
        hk.delete(store, "equipment", "press-7")
