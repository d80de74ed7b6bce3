"""Which files are HydroDiag workspaces: foreign and newer databases are refused untouched, an
older workspace (a v2 file written by the code before schema v3) is migrated, and a recording
whose process was killed is marked interrupted on the next open."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pytest

from ingestion.catalog import list_sources
from ingestion.recovery import INTERRUPTED
from ingestion.schema import APPLICATION_ID, SCHEMA_VERSION
from ingestion.workspace import WorkspaceError, open_workspace
from ingestion.workspace_info import workspace_info

FIXTURE = Path(__file__).parent / "data" / "workspace-v2.duckdb.gz"
REPO = Path(__file__).resolve().parents[2]


def _digest(folder: Path) -> dict[str, str]:
    """Every file in ``folder`` with its sha256: a refused file must leave all of them as
    they were (and no journal beside them)."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_workspace_made_by_the_code_before_v3_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    with gzip.open(FIXTURE, "rb") as src, path.open("wb") as dst:
        shutil.copyfileobj(src, dst)
    with open_workspace(path, read_only=True) as store:  # read-only: looked at, not migrated
        assert store.schema_version == 2
    with open_workspace(path) as store:
        assert store.schema_version == SCHEMA_VERSION
        assert store.query("SELECT value FROM meta WHERE key = 'application_id'") == [
            (APPLICATION_ID,)
        ]
        sources = list_sources(store.con)
        assert [(s.kind, s.status, s.row_count, s.value_count) for s in sources] == [
            ("uci", "complete", 3, 3060),
            ("csv", "complete", 30, 60),
        ]
        info = workspace_info(store)
        assert info.measurements == 3120 and [e.id for e in info.equipment] == ["rig"]
        assert info.equipment[0].problem is None
    before = _digest(tmp_path)
    open_workspace(path).close()  # a current workspace: opening changes nothing
    assert _digest(tmp_path) == before


def test_foreign_duckdb_file_is_refused_and_left_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "erp.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE orders (id INTEGER, customer VARCHAR)")
    con.execute("INSERT INTO orders VALUES (1, 'ACME')")
    con.close()
    before = _digest(tmp_path)
    for read_only in (False, True):
        with pytest.raises(WorkspaceError, match=r"another program.*orders.*unchanged"):
            open_workspace(path, read_only=read_only)
    assert _digest(tmp_path) == before


def test_foreign_file_with_a_meta_table_of_its_own_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL)")
    con.execute("INSERT INTO meta VALUES ('application_id', 'grafana'), ('schema_version', '1')")
    con.close()
    before = _digest(tmp_path)
    with pytest.raises(WorkspaceError, match="application id 'grafana'"):
        open_workspace(path)
    assert _digest(tmp_path) == before


def test_newer_workspace_is_refused_and_left_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "ws.duckdb"
    open_workspace(path).close()
    con = duckdb.connect(str(path))
    con.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    con.close()
    before = _digest(tmp_path)
    for read_only in (False, True):
        with pytest.raises(WorkspaceError, match=r"version 99 is newer.*not changed"):
            open_workspace(path, read_only=read_only)
    assert _digest(tmp_path) == before


@pytest.mark.parametrize(
    "content", [b"", b"time,PS1\n2026-01-01,1\n", os.urandom(9000)], ids=["empty", "csv", "random"]
)
def test_file_that_is_no_database_is_refused_unchanged(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "ws.duckdb"
    path.write_bytes(content)
    before = _digest(tmp_path)
    with pytest.raises(WorkspaceError, match="not a HydroDiag workspace"):
        open_workspace(path)
    assert _digest(tmp_path) == before


def test_empty_duckdb_file_becomes_a_workspace(tmp_path: Path) -> None:
    path = tmp_path / "new.duckdb"
    duckdb.connect(str(path)).close()
    with open_workspace(path) as store:
        assert store.schema_version == SCHEMA_VERSION


def test_folder_and_missing_file_are_refused_with_a_sentence(tmp_path: Path) -> None:
    with pytest.raises(WorkspaceError, match="is a folder"):
        open_workspace(tmp_path)
    with pytest.raises(WorkspaceError, match="no workspace there"):
        open_workspace(tmp_path / "missing.duckdb", read_only=True)
    assert not (tmp_path / "missing.duckdb").exists()


def test_workspace_held_by_another_process_names_it(tmp_path: Path) -> None:
    path = tmp_path / "ws.duckdb"
    open_workspace(path).close()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb, time; c = duckdb.connect({str(path)!r}); print('held', flush=True); "
            "time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(WorkspaceError, match=rf"in use by another program .*PID {holder.pid}"):
            open_workspace(path)
    finally:
        holder.kill()
        holder.wait()


RECORDER = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    from ingestion.catalog import begin_live_source
    from ingestion.live_writer import LiveWriter, StoreSink
    from ingestion.profiles import load_profile
    from ingestion.workspace import open_workspace

    store = open_workspace(sys.argv[1])
    source = begin_live_source(store, equipment_id="rig", kind="live_csv", uri="feed.csv",
                               options={}, profile=load_profile("zema-test-rig"))
    writer = LiveWriter(StoreSink(store), equipment_id="rig", source_id=source.source_id)
    t0 = 1_767_225_600_000_000
    for flush in range(3):
        ts = t0 + np.arange(flush * 10, flush * 10 + 10, dtype=np.int64) * 1_000_000
        writer.add_many(("PS1", "TS1"), ts, np.ones((10, 2)))
        assert writer.flush()
    writer.add_many(("PS1", "TS1"), t0 + np.arange(30, 40, dtype=np.int64) * 1_000_000,
                    np.ones((10, 2)))  # buffered, never flushed
    print(source.source_id, flush=True)
    time.sleep(60)
    """
)


def test_recording_killed_between_flushes_is_marked_interrupted_with_its_counts(
    tmp_path: Path,
) -> None:
    path = tmp_path / "ws.duckdb"
    recorder = subprocess.Popen(
        [sys.executable, "-c", RECORDER, str(path)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert recorder.stdout is not None
    source_id = int(recorder.stdout.readline())
    recorder.send_signal(signal.SIGKILL)
    recorder.wait()
    time.sleep(0.1)
    with open_workspace(path, read_only=True) as store:  # a reader (workspace info) is enough
        assert store.query("SELECT status FROM sources") == [(INTERRUPTED,)]
    with open_workspace(path) as store:
        (source,) = list_sources(store.con)
        stored = store.query(
            "SELECT count(*), count(DISTINCT ts) FROM measurements_long WHERE source_id = ?",
            [source_id],
        )[0]
        error = store.query("SELECT error FROM sources")[0][0]
    assert source.status == INTERRUPTED and error
    assert (source.row_count, source.value_count) == (30, 60) == (stored[1], stored[0])
    assert source.first_ts is not None and source.last_ts is not None
    assert (source.last_ts - source.first_ts).total_seconds() == 29
    assert "without being closed" in source.warnings[-1]
    assert json.loads(json.dumps(source.options))["recorder"]["pid"] == recorder.pid


def test_recording_whose_recorder_runs_stays_live(tmp_path: Path) -> None:
    """--release-between-flushes: the recorder holds the file only while it flushes, so others
    open it in between; its source must stay 'live' for them."""
    from ingestion.catalog import begin_live_source
    from ingestion.profiles import load_profile

    path = tmp_path / "ws.duckdb"
    source = begin_live_source(
        path,
        equipment_id="rig",
        kind="modbus",
        uri="modbus-tcp://127.0.0.1:5020/1",
        options={},
        profile=load_profile("zema-test-rig"),
    )
    with open_workspace(path) as store:
        assert store.query("SELECT status FROM sources") == [("live",)]
    source.complete(rows=0, warnings=[])
    with open_workspace(path) as store:
        assert store.query("SELECT status FROM sources") == [("complete",)]


def test_equipment_whose_stored_profile_is_broken_does_not_hide_the_workspace(
    tmp_path: Path,
) -> None:
    """An older HydroDiag stored `max: .inf` as null; `workspace info` then failed for the
    whole workspace. Now that equipment says why, and the rest is listed."""
    from ingestion.catalog import ensure_equipment
    from ingestion.profiles import load_profile

    path = tmp_path / "ws.duckdb"
    with open_workspace(path) as store:
        with store.transaction() as con:
            ensure_equipment(con, "rig", load_profile("zema-test-rig"))
            ensure_equipment(con, "exc", load_profile("tracked-excavator"))
        body = json.loads(store.query("SELECT body FROM profiles WHERE id = 'zema-test-rig'")[0][0])
        body["sensors"][0]["max"] = None  # what json.dumps made of inf
        store.con.execute(
            "UPDATE profiles SET body = ? WHERE id = 'zema-test-rig'", [json.dumps(body)]
        )
        info = workspace_info(store)
    by_id = {e.id: e for e in info.equipment}
    assert by_id["exc"].problem is None
    assert by_id["rig"].problem is not None and "sensors[0].max" in by_id["rig"].problem
