"""The growing-CSV follower knows its file by identity and content: truncated, truncated and
refilled past its old size, rotated or replaced between two looks, no appended line is lost
and the time nobody could read is recorded as a gap. Files that cannot be followed are refused
before a recording begins."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from app.cli import main
from ingestion.csv_follower import CsvFollower, FollowError
from ingestion.workspace import open_workspace

T0 = 1_772_431_200  # 2026-03-02T06:00:00Z


def lines(first: int, count: int) -> str:
    return "".join(f"{T0 + s},{s}.0,{40 + s / 10}\n" for s in range(first, first + count))


def rows_of(follower: CsvFollower) -> list[int]:
    """Seconds (from T0) of every row one poll returns."""
    out: list[int] = []
    for sensors, ts, values in follower.poll():
        assert sensors == ("PS1", "TS1")
        assert np.array_equal(values[:, 0], (ts // 1_000_000 - T0).astype(float))
        out += [int(t) // 1_000_000 - T0 for t in ts]
    return out


@pytest.fixture
def log(tmp_path: Path) -> Path:
    path = tmp_path / "growing.csv"
    path.write_text("timestamp,PS1,TS1\n" + lines(0, 10))
    return path


def test_truncated_and_refilled_past_its_old_size_between_two_looks(log: Path) -> None:
    warnings: list[str] = []
    follower = CsvFollower(log, ["PS1", "TS1"], warn=warnings.append)
    assert rows_of(follower) == list(range(10))
    old_size = log.stat().st_size
    log.write_text("timestamp,PS1,TS1\n" + lines(20, 30))  # same inode, larger than before
    assert log.stat().st_size > old_size
    assert rows_of(follower) == list(range(20, 50))
    (gap,) = follower.gaps
    assert (gap[0] // 1_000_000 - T0, gap[1] // 1_000_000 - T0) == (9, 20)
    assert "rewritten" in gap[2] and "could not be read" in gap[2]
    assert not any("not a time stamp" in w for w in warnings)
    with log.open("a") as fh:  # and it keeps following the new content
        fh.write(lines(50, 2))
    assert rows_of(follower) == [50, 51]


def test_truncated_to_less_reads_again_from_the_start(log: Path) -> None:
    follower = CsvFollower(log, ["PS1", "TS1"], warn=lambda _: None)
    assert len(rows_of(follower)) == 10
    log.write_text("timestamp,PS1,TS1\n" + lines(12, 2))
    assert rows_of(follower) == [12, 13]
    assert follower.truncations == 1 and len(follower.gaps) == 1


def test_rotated_file_is_read_to_its_end_then_the_new_one(log: Path, tmp_path: Path) -> None:
    follower = CsvFollower(log, ["PS1", "TS1"], warn=lambda _: None)
    assert len(rows_of(follower)) == 10
    with log.open("a") as fh:
        fh.write(lines(10, 3))
    os.rename(log, tmp_path / "growing.csv.1")
    log.write_text("timestamp,PS1,TS1\n" + lines(15, 2))
    assert rows_of(follower) == [10, 11, 12, 15, 16]
    assert follower.rotations == 1 and len(follower.gaps) == 1


def test_partial_line_waits_for_its_end(log: Path) -> None:
    follower = CsvFollower(log, ["PS1", "TS1"], warn=lambda _: None)
    rows_of(follower)
    with log.open("a") as fh:
        fh.write(f"{T0 + 10},10.0,")
    assert rows_of(follower) == []
    with log.open("a") as fh:
        fh.write("41.0\n")
    assert rows_of(follower) == [10]
    assert not follower.gaps


def test_appending_never_loses_a_line(log: Path) -> None:
    follower = CsvFollower(log, ["PS1", "TS1"], warn=lambda _: None)
    seen = rows_of(follower)
    for first in range(10, 200, 7):
        with log.open("a") as fh:
            fh.write(lines(first, 7))
        seen += rows_of(follower)
    assert seen == list(range(0, 206))


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: None, "no such file. Start the logger first"),
        (lambda p: p.mkdir(), "is a folder"),
        (lambda p: p.write_bytes(b"\x00\x01\x02PK" * 100), "binary file"),
        (lambda p: p.write_text("timestamp,Speed,Torque\n1,2,3\n"), "no column of the header"),
        (lambda p: p.write_text("timestamp,PS1\nyesterday,2\n"), ":2: 'yesterday'"),
    ],
    ids=["missing", "folder", "binary", "no-sensor", "bad-time"],
)
def test_files_that_cannot_be_followed_are_refused_before_recording(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], make: object, message: str
) -> None:
    path = tmp_path / "feed.csv"
    make(path)  # type: ignore[operator]
    with pytest.raises(FollowError, match=message):
        CsvFollower(path, ["PS1", "TS1"]).check()
    ws = tmp_path / "ws.duckdb"
    open_workspace(ws).close()
    code = main(
        ["--workspace", str(ws), "live", "csv", "--equipment", "rig", "--profile",
         "zema-test-rig", "--file", str(path), "--duration", "1s"]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code == 1 and message.split(".")[0] in err and "Traceback" not in err
    with open_workspace(ws, read_only=True) as store:
        assert store.query("SELECT count(*) FROM sources") == [(0,)]
        assert store.query("SELECT count(*) FROM equipment") == [(0,)]


def test_rejected_register_map_of_a_known_equipment_leaves_no_source(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], log: Path
) -> None:
    ws = tmp_path / "ws.duckdb"
    args = ["--workspace", str(ws), "live", "csv", "--equipment", "rig", "--profile"]
    assert main([*args, "zema-test-rig", "--file", str(log), "--duration", "1s", "--quiet"]) == 0
    bad = tmp_path / "map.yaml"
    bad.write_text("registers:\n  - {sensor: NOPE, address: 0}\n")
    code = main(
        ["--workspace", str(ws), "live", "modbus", "--equipment", "rig", "--map", str(bad),
         "--host", "127.0.0.1", "--port", "1", "--duration", "1s"]
    )  # fmt: skip
    assert code == 1 and "'NOPE' is not in the equipment's profile" in capsys.readouterr().err
    with open_workspace(ws, read_only=True) as store:
        assert store.query("SELECT kind, status FROM sources") == [("live_csv", "complete")]
