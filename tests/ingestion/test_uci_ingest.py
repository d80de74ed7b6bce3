"""UCI folders into the workspace: measurements, cycles, labels, re-import, and nothing kept on error."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ingestion.errors import HydroDiagError
from ingestion.profiles import load_profile
from ingestion.uci import UCI_EPOCH, UCI_SENSORS
from ingestion.uci_import import ingest_uci
from ingestion.workspace import Store, open_workspace
from ingestion.workspace_info import workspace_info
from tests.ingestion.test_csv_ingest import snapshot
from tests.ingestion.test_uci_read import write_uci_folder


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return open_workspace(tmp_path / "ws.duckdb")


def test_full_uci_import(uci_dir: Path, store: Store) -> None:
    summary = ingest_uci(store, uci_dir, equipment_id="rig")
    assert summary.cycles == 1805 and summary.values == 1805 * 60 * 17
    assert summary.elapsed_s < 20  # ~1 s measured
    info = workspace_info(store)
    (eq,) = info.equipment
    assert eq.profile_id == "zema-test-rig" and eq.cycles == 1805
    assert {s.sensor_id for s in eq.sensors} == set(UCI_SENSORS)
    assert all(s.rows == 1805 * 60 for s in eq.sensors)
    assert {lab.component_id for lab in eq.labels} == {"C1", "V10", "MP1", "ACC"}
    (src,) = info.sources
    assert src.kind == "uci" and src.status == "complete" and src.sha256 is not None
    assert src.row_count == 1805 and src.value_count == summary.values
    # cycle 2205 (last) starts (2205 - 1) * 60 s after the epoch
    last = store.query("SELECT max(start_ts), max(end_ts) FROM cycles")[0]
    assert np.datetime64(last[0], "us") == UCI_EPOCH + np.timedelta64(2204 * 60, "s")
    assert np.datetime64(last[1], "us") == UCI_EPOCH + np.timedelta64(2205 * 60, "s")


def test_labels_cover_cycle_ranges(tmp_path: Path, store: Store) -> None:
    folder = write_uci_folder(tmp_path / "u", n_cycles=4, cycles=[1, 2, 3, 10])
    ingest_uci(store, folder, equipment_id="rig")
    rows = store.query(
        "SELECT grade, fault_type, raw_value, start_ts, end_ts, origin FROM labels "
        "WHERE component_id = 'MP1' ORDER BY start_ts"
    )
    grades = [r[0] for r in rows]
    assert grades == [0, 1, 2, 2]  # the last two share a grade but not consecutive cycles
    assert rows[0][1] is None and rows[1][1] == "pump_internal_leakage"
    assert rows[1][2] == "1" and rows[0][5] == "dataset"
    stable = store.query("SELECT cycle_no, stable FROM cycles ORDER BY cycle_no")
    assert stable == [(1, True), (2, False), (3, True), (10, True)]


def test_reimport_noop_force_and_conflicts(tmp_path: Path, store: Store) -> None:
    folder = write_uci_folder(tmp_path / "u")
    first = ingest_uci(store, folder, equipment_id="rig")
    before = snapshot(store)
    again = ingest_uci(store, folder, equipment_id="rig")
    assert again.skipped and "already imported" in again.describe()
    assert snapshot(store) == before
    forced = ingest_uci(store, folder, equipment_id="rig", force=True)
    assert forced.replaced_source_id == first.source_id
    after = snapshot(store)
    assert {k: after[k] for k in ("measurements", "cycles", "labels", "sources")} == {
        k: before[k] for k in ("measurements", "cycles", "labels", "sources")
    }
    # a different folder with the same cycle numbers would collide
    other = write_uci_folder(tmp_path / "v", n_cycles=2)
    (other / "PS1.txt").write_text((other / "PS1.txt").read_text().replace("0.0", "0.5", 1))
    with pytest.raises(HydroDiagError, match="already has 2 of these cycles"):
        ingest_uci(store, other, equipment_id="rig")
    assert snapshot(store) == after
    # ... but not under another equipment id
    ingest_uci(store, other, equipment_id="rig-2")


@pytest.mark.parametrize(
    "damage",
    ["rows", "ragged", "text", "missing", "labels"],
)
def test_bad_folder_leaves_workspace_unchanged(tmp_path: Path, store: Store, damage: str) -> None:
    ingest_uci(store, write_uci_folder(tmp_path / "good"), equipment_id="rig")
    before = snapshot(store)
    folder = write_uci_folder(tmp_path / "bad", cycles=[11, 12, 13, 14])
    target = folder / "TS2.txt"
    lines = target.read_text().splitlines()
    if damage == "rows":
        target.write_text("\n".join(lines[:-1]) + "\n")
    elif damage == "ragged":
        lines[1] = lines[1].rsplit("\t", 1)[0]
        target.write_text("\n".join(lines) + "\n")
    elif damage == "text":
        target.write_text("\n".join(lines).replace("\t", "\tx", 1) + "\n")
    elif damage == "missing":
        target.unlink()
    else:
        (folder / "profile.txt").write_text("3\t100\t0\t131\t0\n" * 4)
    with pytest.raises(HydroDiagError) as info:
        ingest_uci(store, folder, equipment_id="rig")
    assert "TS2.txt" in str(info.value) or "profile.txt" in str(info.value)
    assert snapshot(store) == before


def test_profile_mismatch_is_refused(tmp_path: Path, store: Store) -> None:
    ingest_uci(store, write_uci_folder(tmp_path / "u"), equipment_id="rig")
    with pytest.raises(HydroDiagError, match="uses profile 'zema-test-rig'"):
        ingest_uci(
            store,
            write_uci_folder(tmp_path / "v", cycles=[50, 51, 52, 53]),
            equipment_id="rig",
            profile=load_profile("tracked-excavator"),
        )


def test_out_of_range_values_are_flagged(tmp_path: Path, store: Store) -> None:
    folder = write_uci_folder(tmp_path / "u")
    # VS1 (index 13) holds 13000+ in the synthetic folder: far above its 0..20 mm/s range
    summary = ingest_uci(store, folder, equipment_id="rig")
    text = "\n".join(summary.warnings)
    assert "VS1:" in text and "outside the physical range 0..20 mm/s" in text
    assert "cycle 1 sample 1" in text
