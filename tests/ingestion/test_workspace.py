"""The workspace file: schema version, transactions, equipment/profile bookkeeping, progress output."""

from __future__ import annotations

import io
import time
from pathlib import Path

import duckdb
import pytest

from ingestion.catalog import (
    begin_live_source,
    ensure_equipment,
    equipment_profile,
    importing_source,
    profile_digest,
)
from ingestion.digests import file_sha256, files_sha256
from ingestion.errors import HydroDiagError
from ingestion.profiles import load_profile
from ingestion.progress import NO_PROGRESS, CancelledError, TerminalProgress, check_cancelled
from ingestion.schema import SCHEMA_VERSION
from ingestion.workspace import WorkspaceError, open_workspace
from ingestion.workspace_info import workspace_info


def test_new_workspace_has_current_schema_and_utc(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "ws.duckdb"
    with open_workspace(path) as store:
        assert store.schema_version == SCHEMA_VERSION
        assert store.query("SELECT current_setting('TimeZone')")[0][0] == "UTC"
    with open_workspace(path, read_only=True) as store:  # reopening migrates nothing
        assert store.schema_version == SCHEMA_VERSION
        info = workspace_info(store)
        assert info.equipment == [] and info.sources == [] and info.measurements == 0


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ws.duckdb"
    open_workspace(path).close()
    con = duckdb.connect(str(path))
    con.execute("UPDATE meta SET value = '999' WHERE key = 'schema_version'")
    con.close()
    with pytest.raises(WorkspaceError, match="newer than this HydroDiag"):
        open_workspace(path)


def test_transaction_rolls_back_everything(tmp_path: Path) -> None:
    store = open_workspace(tmp_path / "ws.duckdb")
    rig = load_profile("zema-test-rig")

    def failing_import() -> None:
        with store.transaction() as con:
            ensure_equipment(con, "rig", rig)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        failing_import()
    assert store.query("SELECT count(*) FROM equipment")[0][0] == 0
    assert store.query("SELECT count(*) FROM profiles")[0][0] == 0


def test_equipment_keeps_its_profile(tmp_path: Path) -> None:
    store = open_workspace(tmp_path / "ws.duckdb")
    rig = load_profile("zema-test-rig")
    with store.transaction() as con:
        profile, notes = ensure_equipment(con, "rig", None, default_profile="zema-test-rig")
        assert profile == rig and "uses profile 'zema-test-rig'" in notes[0]
        again, notes = ensure_equipment(con, "rig", None)
        assert again == rig and notes == []
        edited = rig.model_copy(update={"description": "edited on site"})
        _, notes = ensure_equipment(con, "rig", edited)
        assert "edited profile" in notes[0]
        assert equipment_profile(con, "rig").description == "edited on site"
        with pytest.raises(HydroDiagError, match="uses profile 'zema-test-rig'"):
            ensure_equipment(con, "rig", load_profile("tracked-excavator"))
        with pytest.raises(HydroDiagError, match="--profile"):
            ensure_equipment(con, "new", None)
    with pytest.raises(HydroDiagError, match=r"no equipment 'x'.*known: rig"):
        equipment_profile(store.con, "x")
    assert profile_digest(rig) != profile_digest(edited)


def test_digests(tmp_path: Path) -> None:
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("1\n")
    b.write_text("2\n")
    assert len(file_sha256(a)) == 64
    assert files_sha256([a, b]) == files_sha256([b, a])
    before = files_sha256([a, b])
    a.write_text("1 \n")
    assert files_sha256([a, b]) != before


def test_terminal_progress_is_quiet_then_shows_rate_and_eta() -> None:
    out = io.StringIO()
    progress = TerminalProgress(out, delay_s=0.05, interval_s=0.0)
    progress.start("importing log.csv", 1000, "rows")
    progress.update(10)
    assert out.getvalue() == ""  # under the delay: nothing
    time.sleep(0.06)
    progress.update(500)
    progress.finish()
    text = out.getvalue()
    assert "importing log.csv: 500/1.0k rows (50 %)" in text
    assert "rows/s" in text and "ETA" in text and text.endswith("\n")


def test_cancel() -> None:
    check_cancelled(NO_PROGRESS)
    progress = TerminalProgress(io.StringIO())
    progress.cancelled = True
    with pytest.raises(CancelledError, match="unchanged"):
        check_cancelled(progress)


def test_an_import_left_without_completing_its_source_writes_nothing(tmp_path: Path) -> None:
    rig = load_profile("zema-test-rig")
    with open_workspace(tmp_path / "ws.duckdb") as store:
        with (
            pytest.raises(RuntimeError, match="without completing its source"),
            importing_source(
                store, equipment_id="rig", kind="csv", uri="x", options={}, digest="ab", profile=rig
            ),
        ):
            pass
        assert store.query("SELECT count(*) FROM sources")[0][0] == 0
        assert store.query("SELECT count(*) FROM equipment")[0][0] == 0


def test_a_recording_is_begun_live_and_completed_later_through_the_file(tmp_path: Path) -> None:
    path = tmp_path / "ws.duckdb"
    source = begin_live_source(
        path,
        equipment_id="rig",
        kind="modbus",
        uri="u",
        options={},
        profile=load_profile("zema-test-rig"),
    )
    with open_workspace(path) as store:  # the file is not held open in between
        assert store.query("SELECT status FROM sources") == [("live",)]
    source.complete(rows=3, warnings=["two flushes failed and were retried"])
    with open_workspace(path) as store:
        assert store.query("SELECT status, row_count, value_count, warnings FROM sources") == [
            ("complete", 3, 0, '["two flushes failed and were retried"]')
        ]
