"""The live writer and the growing-CSV follower.

Writer: one transaction per flush; when the workspace is locked by another process or the
disk is full, samples stay in memory and the next flush stores them (no loss, no duplicates,
the user warned); memory stays bounded, and what had to be dropped is recorded as a gap.
Follower: partial last lines, truncation and rotation.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from app.cli import main
from ingestion.catalog import begin_live_source, ensure_equipment
from ingestion.csv_follower import CsvFollower
from ingestion.live_writer import Gap, LiveWriter, PathSink, StoreSink
from ingestion.profiles import load_profile
from ingestion.workspace import Store, open_workspace

pytestmark = pytest.mark.timeout(60)
T0 = 1_767_600_000_000_000  # 2026-01-05 in µs


def _workspace(path: Path) -> int:
    with open_workspace(path) as store:
        with store.transaction() as con:
            ensure_equipment(con, "rig", load_profile("zema-test-rig"))
        return begin_live_source(
            store, equipment_id="rig", kind="modbus", uri="t", options={}
        ).source_id


def _fill(writer: LiveWriter, start: int, n: int) -> None:
    for i in range(start, start + n):
        writer.add(("PS1", "PS2"), T0 + i * 10_000, [float(i), float(-i)])


def _counts(path: Path) -> tuple[int, int, int]:
    with open_workspace(path, read_only=True) as store:
        row = store.query(
            "SELECT count(*), count(DISTINCT (sensor_id, ts)), count(DISTINCT ts) FROM measurements"
        )[0]
    return int(row[0]), int(row[1]), int(row[2])


def test_flush_writes_everything_once(tmp_path: Path) -> None:
    path = tmp_path / "ws.duckdb"
    source_id = _workspace(path)
    with open_workspace(path) as store:
        writer = LiveWriter(StoreSink(store), equipment_id="rig", source_id=source_id)
        _fill(writer, 0, 500)
        writer.add(("TS1",), T0, [float("nan")])
        writer.add_gap(Gap(T0 + 1, T0 + 2, "test"))
        assert writer.flush()
        assert writer.flush()  # nothing new: a no-op
        assert writer.stats.flushes == 1 and writer.stats.values_written == 1001
        value_count = store.query("SELECT value_count FROM sources WHERE id = ?", [source_id])
        nulls = store.query("SELECT count(*) FROM measurements WHERE value IS NULL")
        assert value_count[0][0] == 1001 and nulls[0][0] == 1
        assert store.query("SELECT count(*) FROM gaps")[0][0] == 1


HOLDER = textwrap.dedent(
    """
    import sys, time, duckdb
    con = duckdb.connect(sys.argv[1])
    print("locked", flush=True)
    time.sleep(float(sys.argv[2]))
    con.close()
    """
)


def test_database_locked_by_another_process_keeps_data_and_retries(tmp_path: Path) -> None:
    path = tmp_path / "ws.duckdb"
    source_id = _workspace(path)
    warnings: list[str] = []
    writer = LiveWriter(
        PathSink(path), equipment_id="rig", source_id=source_id, warn=warnings.append
    )
    _fill(writer, 0, 100)
    assert writer.flush()
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path), "1.5"], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    _fill(writer, 100, 100)
    assert not writer.flush()  # the other process holds the lock
    _fill(writer, 200, 100)
    assert not writer.flush()
    assert writer.pending_values == 400
    assert any("keeping it in memory" in w for w in warnings)
    holder.wait(timeout=10)
    deadline = time.monotonic() + 10
    while not writer.flush():
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert any("works again" in w for w in warnings)
    assert writer.pending_values == 0
    assert _counts(path) == (600, 600, 300)  # everything once, nothing twice


class DiskFullSink:
    """A real DuckDB sink behind a volume that is full for the first ``failures`` writes.

    DuckDB cannot be pointed at a full disk portably without root; the failure it would raise
    is the OSError reproduced here, everything else is the real write path."""

    def __init__(self, store: Store, failures: int) -> None:
        self.inner = StoreSink(store)
        self.failures = failures

    def write(
        self, table: pa.Table, gaps: Sequence[Gap], *, equipment_id: str, source_id: int
    ) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "ws.duckdb.wal")
        self.inner.write(table, gaps, equipment_id=equipment_id, source_id=source_id)


def test_disk_full_keeps_data_in_bounded_memory_and_records_what_was_dropped(
    tmp_path: Path,
) -> None:
    path = tmp_path / "ws.duckdb"
    source_id = _workspace(path)
    warnings: list[str] = []
    with open_workspace(path) as store:
        writer = LiveWriter(
            DiskFullSink(store, failures=4),
            equipment_id="rig",
            source_id=source_id,
            max_pending_values=500,
            warn=warnings.append,
        )
        for k in range(4):  # 4 failing flushes of 200 values each
            _fill(writer, k * 100, 100)
            assert not writer.flush()
            assert writer.pending_values <= 500
        _fill(writer, 400, 100)
        assert writer.flush()
        assert writer.stats.values_dropped > 0
        assert writer.stats.max_pending_values <= 500 + 200
        stored = store.query("SELECT count(*), count(DISTINCT (sensor_id, ts)) FROM measurements")[
            0
        ]
        gaps = store.query("SELECT start_ts, end_ts, reason FROM gaps")
    assert stored[0] == stored[1] == 1000 - writer.stats.values_dropped
    assert len(gaps) >= 1 and "live buffer was full" in gaps[0][2]
    assert any("No space left on device" in w for w in warnings)
    assert any("dropped" in w for w in warnings)


FULL_DISK = textwrap.dedent(
    """
    import json, os, resource, signal, sys
    from pathlib import Path
    from ingestion.live_writer import LiveWriter, PathSink, StoreSink
    from ingestion.workspace import open_workspace

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
    path, mode, source_id = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    store = open_workspace(path)
    sink = StoreSink(store) if mode == "store" else PathSink(path)
    if mode == "path":
        store.close()
    warnings = []
    writer = LiveWriter(sink, equipment_id="rig", source_id=source_id, warn=warnings.append)
    t0, n, results = 1_767_600_000_000_000, 0, []
    # the volume fills up: no file may grow more than 200 kB past its current size
    resource.setrlimit(resource.RLIMIT_FSIZE, (path.stat().st_size + 200_000, resource.RLIM_INFINITY))
    for _ in range(10):
        for _ in range(20_000):
            writer.add(("PS1", "PS2"), t0 + n * 1000, [float(n), 1.0])
            n += 1
        results.append(writer.flush())
        if not results[-1]:
            break
    pending = writer.pending_values
    resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    recovered = writer.flush()
    if mode == "store":
        store.close()
    print(json.dumps({"results": results, "pending": pending, "recovered": recovered,
                      "acquired": 2 * n, "warnings": warnings}))
    """
)


@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_FSIZE is POSIX")
@pytest.mark.parametrize("mode", ["store", "path"])
def test_real_write_failure_when_the_disk_fills_up(tmp_path: Path, mode: str) -> None:
    """A genuine OS write error inside DuckDB (file size limit, as on a full disk)."""
    import json

    path = tmp_path / "ws.duckdb"
    source_id = _workspace(path)
    out = subprocess.run(
        [sys.executable, "-c", FULL_DISK, str(path), mode, str(source_id)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["results"][-1] is False  # the flush that hit the full disk
    assert report["pending"] > 0 and report["recovered"] is True
    assert any("File too large" in w or "No space" in w for w in report["warnings"])
    assert _counts(path)[:2] == (report["acquired"], report["acquired"])  # all, once


# -- growing CSV ------------------------------------------------------------------------------


def _rows(follower: CsvFollower) -> list[tuple[int, list[float]]]:
    out = []
    for sensors, ts, values in follower.poll():
        assert sensors == ("PS1", "TS1")
        out += [(int(t), list(v)) for t, v in zip(ts, values, strict=True)]
    return out


def test_follower_waits_for_partial_lines_and_survives_truncation_and_rotation(
    tmp_path: Path,
) -> None:
    log = tmp_path / "logger.csv"
    warnings: list[str] = []
    follower = CsvFollower(log, ["PS1", "TS1", "FS1"], warn=warnings.append)
    assert _rows(follower) == []  # no file yet: nothing, no error
    log.write_text(
        "timestamp;PS1;TS1;extra\n2026-01-05T06:00:00;150,5;45,1;x\n2026-01-05T06:00:01;15"
    )
    first = _rows(follower)
    assert len(first) == 1 and first[0][1] == [150.5, 45.1]
    assert any("extra" in w for w in warnings)
    with log.open("a") as fh:
        fh.write("1,0;45,2\n")  # completes the partial line
    second = _rows(follower)
    assert second[0][1] == [151.0, 45.2]
    # truncated and restarted by the logger
    log.write_text("timestamp;PS1;TS1\n2026-01-05T07:00:00;160;46\n")
    third = _rows(follower)
    assert [v for _, v in third] == [[160.0, 46.0]]
    assert follower.truncations == 1
    # rotated: the old file gets its last line, then a new file appears under the name
    with log.open("a") as fh:
        fh.write("2026-01-05T07:00:01;161;46\n")
    log.rename(tmp_path / "logger.csv.1")
    log.write_text("timestamp;PS1;TS1\n2026-01-05T07:00:02;162;47\n")
    fourth = _rows(follower)
    assert [v[0] for _, v in fourth] == [161.0, 162.0]
    assert follower.rotations == 1
    follower.close()


def test_follower_reads_epoch_timestamps_and_skips_bad_lines(tmp_path: Path) -> None:
    log = tmp_path / "epoch.csv"
    log.write_text("time,PS1,TS1\n1767600000,1,2\nnot-a-time,3,4\n1767600001500,5,6\n")
    warnings: list[str] = []
    follower = CsvFollower(log, ["PS1", "TS1"], warn=warnings.append)
    rows = _rows(follower)
    assert [t for t, _ in rows] == [1_767_600_000_000_000, 1_767_600_001_500_000]
    assert follower.bad_lines == 1 and any(":3:" in w for w in warnings)
    follower.close()


def test_cli_live_csv_follows_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "growing.csv"
    t = np.arange(5)
    log.write_text(
        "timestamp,PS1,TS1\n"
        + "".join(f"2026-01-05T06:00:0{i},{150 + i},45\n" for i in t)
        + "2026-01-05T06:00:05,15"  # partial: never completed, never stored
    )
    workspace = tmp_path / "csv.duckdb"
    code = main(
        ["--workspace", str(workspace), "live", "csv", "--equipment", "rig", "--profile",
         "zema-test-rig", "--file", str(log), "--duration", "1", "--quiet", "--poll", "0.1"]
    )  # fmt: skip
    assert code == 0
    with open_workspace(workspace, read_only=True) as ws:
        assert ws.query("SELECT count(*) FROM measurements WHERE sensor_id = 'PS1'")[0][0] == 5
        assert ws.query("SELECT kind, status FROM sources")[0] == ("live_csv", "complete")
    assert "10 values stored" in capsys.readouterr().out
