"""Crash consistency: kill a writer (`ingest`, a live recording, `diagnose`, `report`) with
SIGKILL at random points, reopen the workspace as the next HydroDiag would, and check that it
is consistent: it opens, every import is there whole or not at all, a recording that died is
marked interrupted with counts that match what it stored (and holds a prefix of the followed
file, whole lines only), every diagnosis has all its rows, and a report is a whole PDF or
absent.

Used by ``tests/benchmarks/bench_crash.py`` (50 kills per writer, a table and JSON) and
``tests/test_crash_consistency.py`` (a few kills per writer, in the gate).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from tests.data import unpacked_uci

REPO = Path(__file__).resolve().parent.parent
UCI = unpacked_uci()  # the project's own copy (data/uci-hydraulic-1hz.tar.xz)
LIVE_SENSORS = ("PS1", "PS2", "TS1", "FS1")


def hydrodiag(argv: list[str], folder: Path, **popen: Any) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "HYDRODIAG_DATA_DIR": str(folder / "data"),
        "QT_QPA_PLATFORM": "offscreen",
    }
    env.pop("HYDRODIAG_WORKSPACE", None)
    return subprocess.Popen(
        [sys.executable, "-m", "app.cli", *argv],
        cwd=folder,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        **popen,
    )


def run_ok(argv: list[str], folder: Path) -> None:
    proc = hydrodiag(argv, folder)
    _, err = proc.communicate(timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"hydrodiag {' '.join(argv)} failed: {err.decode()[-2000:]}")


# -- the writers ----------------------------------------------------------------------------------


@dataclass
class Writer:
    """One kind of write: how to prepare its pristine workspace once, what to run, and how to
    check the workspace after a kill (a list of inconsistencies; empty = consistent)."""

    name: str
    prepare: Callable[[Path], None]
    argv: Callable[[Path], list[str]]
    check: Callable[[Path, Path], list[str]]
    during: Callable[[Path, threading.Event], None] | None = None  # e.g. a logger appending
    files: dict[str, Any] = field(default_factory=dict)


def _workspace_problems(ws: Path) -> tuple[list[str], duckdb.DuckDBPyConnection | None]:
    """Open as HydroDiag does (recovery included) and check what every workspace must hold."""
    from ingestion.workspace import open_workspace

    try:
        store = open_workspace(ws)
    except Exception as exc:
        return [f"does not open: {type(exc).__name__}: {exc}"], None
    con = store.con
    problems = []
    for (status,) in con.execute("SELECT DISTINCT status FROM sources").fetchall():
        if status not in {"complete", "interrupted"}:
            problems.append(f"a source left with status {status!r}")
    orphans = con.execute(
        "SELECT count(*) FROM measurements_long WHERE source_id NOT IN (SELECT id FROM sources)"
    ).fetchone()
    if orphans and orphans[0]:
        problems.append(f"{orphans[0]} measurements of no source")
    tables = {
        r[0]
        for r in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE table_name LIKE 'wide_%' "
            "AND table_name <> 'wide_tables'"
        ).fetchall()
    }
    registered = {r[0] for r in con.execute("SELECT table_name FROM wide_tables").fetchall()}
    if tables != registered:
        problems.append(f"wide tables {sorted(tables)} but registered {sorted(registered)}")
    try:
        con.execute("SELECT count(*) FROM measurements").fetchone()
    except duckdb.Error as exc:
        problems.append(f"the measurements view fails: {exc}")
    for source_id, values in con.execute(
        "SELECT id, value_count FROM sources WHERE kind IN ('csv', 'live_csv', 'uci')"
    ).fetchall():
        counted = con.execute(
            "SELECT count(*) FROM measurements WHERE source_id = ?", [source_id]
        ).fetchone()
        if counted is None or counted[0] != values:
            problems.append(f"source #{source_id}: value_count {values}, stored {counted}")
    return problems, con


def _prepare_ingest(base: Path, duration: str) -> None:
    run_ok(
        ["simulate", "--duration", duration, "--seed", "3", "--out", str(base / "log.csv")], base
    )
    (base / "seed.csv").write_text("time,PS1\n2015-01-01T00:00:00,1\n2015-01-01T00:00:01,2\n")
    run_ok(
        [
            "--workspace",
            str(base / "ws.duckdb"),
            "ingest",
            "csv",
            str(base / "seed.csv"),
            "--equipment",
            "rig",
            "--profile",
            "zema-test-rig",
        ],
        base,
    )
    # what a complete import of log.csv holds, measured once in a copy
    probe = base / "probe"
    probe.mkdir()
    shutil.copy(base / "ws.duckdb", probe / "ws.duckdb")
    run_ok(
        [
            "--workspace",
            str(probe / "ws.duckdb"),
            "ingest",
            "csv",
            str(base / "log.csv"),
            "--equipment",
            "rig",
        ],
        probe,
    )
    con = duckdb.connect(str(probe / "ws.duckdb"), read_only=True)
    row = con.execute(
        "SELECT row_count, value_count FROM sources WHERE uri LIKE '%log.csv'"
    ).fetchone()
    con.close()
    assert row is not None
    (base / "expected.json").write_text(json.dumps({"rows": row[0], "values": row[1]}))


def _check_ingest(ws: Path, base: Path) -> list[str]:
    problems, con = _workspace_problems(ws)
    if con is None:
        return problems
    expected = json.loads((base / "expected.json").read_text())
    rows = con.execute(
        "SELECT status, row_count, value_count FROM sources WHERE uri LIKE '%log.csv'"
    ).fetchall()
    if rows and rows != [("complete", expected["rows"], expected["values"])]:
        problems.append(f"the import is partial: {rows} (expected {expected})")
    seed = con.execute("SELECT count(*) FROM sources WHERE uri LIKE '%seed.csv'").fetchone()
    if not seed or seed[0] != 1:
        problems.append("the earlier import is gone")
    con.close()
    return problems


def _live_lines(n: int) -> list[str]:
    t0 = 1_772_431_200
    return [
        f"{t0 + k * 0.1:.1f}," + ",".join(f"{k + j / 10:.1f}" for j in range(len(LIVE_SENSORS)))
        for k in range(n)
    ]


def _prepare_live(base: Path) -> None:
    (base / "seed.csv").write_text("time,PS1\n2015-01-01T00:00:00,1\n")
    run_ok(
        [
            "--workspace",
            str(base / "ws.duckdb"),
            "ingest",
            "csv",
            str(base / "seed.csv"),
            "--equipment",
            "rig",
            "--profile",
            "zema-test-rig",
        ],
        base,
    )


def _append_live(folder: Path, stop: threading.Event) -> None:
    """A logger: header, then 20 lines every 20 ms, until stopped."""
    lines = _live_lines(20_000)
    path = folder / "growing.csv"
    with path.open("w") as fh:
        fh.write("timestamp," + ",".join(LIVE_SENSORS) + "\n")
        fh.flush()
        k = 0
        while not stop.is_set() and k < len(lines):
            fh.write("\n".join(lines[k : k + 20]) + "\n")
            fh.flush()
            k += 20
            stop.wait(0.02)


def _check_live(ws: Path, base: Path) -> list[str]:
    problems, con = _workspace_problems(ws)
    if con is None:
        return problems
    rows = con.execute(
        "SELECT id, status, row_count, value_count FROM sources WHERE kind = 'live_csv'"
    ).fetchall()
    for source_id, status, row_count, value_count in rows:
        if status == "live":
            problems.append(f"recording #{source_id} still 'live' after the restart")
        stored = con.execute(
            "SELECT count(*), count(DISTINCT ts) FROM measurements_long WHERE source_id = ?",
            [source_id],
        ).fetchone()
        assert stored is not None
        if (value_count, row_count) != (stored[0], stored[1]):
            problems.append(
                f"recording #{source_id}: counts {row_count} rows / {value_count} values, "
                f"stored {stored[1]} / {stored[0]}"
            )
        torn = con.execute(
            "SELECT count(*) FROM (SELECT ts FROM measurements_long WHERE source_id = ? "
            "GROUP BY ts HAVING count(*) <> ?)",
            [source_id, len(LIVE_SENSORS)],
        ).fetchone()
        if torn and torn[0]:
            problems.append(f"recording #{source_id}: {torn[0]} lines stored in part")
        # a prefix of the file: the first K lines, none missing in between
        span = con.execute(
            "SELECT count(DISTINCT ts), min(epoch_ms(ts)), max(epoch_ms(ts)) "
            "FROM measurements_long WHERE source_id = ?",
            [source_id],
        ).fetchone()
        if span and span[0]:
            expected = round((span[2] - 1_772_431_200_000) / 100) + 1
            if span[1] != 1_772_431_200_000 or span[0] != expected:
                problems.append(f"recording #{source_id}: lines missing ({span[0]} of {expected})")
    con.close()
    return problems


def _prepare_diagnose(base: Path, cycles: int = 300) -> None:
    folder = base / "uci"
    folder.mkdir()
    for f in UCI.glob("*.txt"):  # real cycles of the rig
        (folder / f.name).write_text("\n".join(f.read_text().splitlines()[:cycles]) + "\n")
    run_ok(
        [
            "--workspace",
            str(base / "ws.duckdb"),
            "ingest",
            "uci",
            str(folder),
            "--equipment",
            "rig",
        ],
        base,
    )


def _check_diagnose(ws: Path, base: Path) -> list[str]:
    problems, con = _workspace_problems(ws)
    if con is None:
        return problems
    for diagnosis_id, body in con.execute("SELECT id, body FROM diagnoses").fetchall():
        try:
            json.loads(body)
        except ValueError:
            problems.append(f"diagnosis #{diagnosis_id}: its body is not JSON")
        health = con.execute(
            "SELECT count(*) FROM health_history WHERE diagnosis_id = ?", [diagnosis_id]
        ).fetchone()
        if not health or not health[0]:
            problems.append(f"diagnosis #{diagnosis_id} without its health rows")
    for table in ("health_history", "recommendations"):
        orphan = con.execute(
            f"SELECT count(*) FROM {table} WHERE diagnosis_id NOT IN (SELECT id FROM diagnoses)"
        ).fetchone()
        if orphan and orphan[0]:
            problems.append(f"{orphan[0]} {table} rows of no diagnosis")
    con.close()
    return problems


def _prepare_report(base: Path) -> None:
    _prepare_diagnose(base, 60)
    run_ok(
        [
            "--workspace",
            str(base / "ws.duckdb"),
            "diagnose",
            "--equipment",
            "rig",
            "--cycles",
            "1:60",
        ],
        base,
    )


def _check_report(ws: Path, base: Path) -> list[str]:
    problems, con = _workspace_problems(ws)
    if con is None:
        return problems
    dangling = con.execute(
        "SELECT count(*) FROM diagnoses WHERE inspection_id IS NOT NULL "
        "AND inspection_id NOT IN (SELECT id FROM inspections)"
    ).fetchone()
    if dangling and dangling[0]:
        problems.append("a diagnosis points at an inspection that does not exist")
    con.close()
    pdf = ws.parent / "report.pdf"
    if pdf.exists():
        data = pdf.read_bytes()
        if not data.startswith(b"%PDF") or b"%%EOF" not in data[-64:]:
            problems.append(f"report.pdf is incomplete ({len(data)} bytes)")
    return problems


def writers(small: bool = False) -> dict[str, Writer]:
    """The four writers; ``small`` for the gate (a shorter log, fewer cycles)."""
    cycles = 120 if small else 300
    return {
        "ingest": Writer(
            "ingest",
            lambda base: _prepare_ingest(base, "20m" if small else "2h"),
            lambda f: [
                "--workspace",
                str(f / "ws.duckdb"),
                "ingest",
                "csv",
                str(f.parent / "log.csv"),
                "--equipment",
                "rig",
            ],
            _check_ingest,
        ),
        "live recording": Writer(
            "live recording",
            _prepare_live,
            lambda f: [
                "--workspace",
                str(f / "ws.duckdb"),
                "live",
                "csv",
                "--equipment",
                "rig",
                "--file",
                str(f / "growing.csv"),
                "--flush-interval",
                "0.2",
                "--poll",
                "0.05",
                "--duration",
                "20s",
                "--quiet",
            ],
            _check_live,
            during=_append_live,
        ),
        "diagnose": Writer(
            "diagnose",
            lambda base: _prepare_diagnose(base, cycles),
            lambda f: [
                "--workspace",
                str(f / "ws.duckdb"),
                "diagnose",
                "--equipment",
                "rig",
                "--cycles",
                "1:600",
            ],
            _check_diagnose,
        ),
        "report": Writer(
            "report",
            _prepare_report,
            lambda f: [
                "--workspace",
                str(f / "ws.duckdb"),
                "report",
                "--equipment",
                "rig",
                "--out",
                str(f / "report.pdf"),
                "--customer",
                "ACME",
            ],
            _check_report,
        ),
    }


# -- the harness ----------------------------------------------------------------------------------


@dataclass
class Result:
    writer: str
    kills: int = 0  # SIGKILLs that hit a running writer
    finished_first: int = 0  # runs that ended before their kill time (not counted as kills)
    inconsistent: int = 0
    problems: list[str] = field(default_factory=list)
    run_s: float = 0.0  # an uninterrupted run
    first_write_s: float = 0.0  # when it first wrote (the journal appeared)
    kill_times_s: list[float] = field(default_factory=list)

    def row(self) -> dict[str, Any]:
        return {
            "writer": self.writer,
            "kills": self.kills,
            "finished before the kill": self.finished_first,
            "inconsistent workspaces": self.inconsistent,
            "uninterrupted run s": round(self.run_s, 2),
            "first write at s": round(self.first_write_s, 2),
            "kill times s (min/median/max)": (
                [
                    round(min(self.kill_times_s), 2),
                    round(sorted(self.kill_times_s)[len(self.kill_times_s) // 2], 2),
                    round(max(self.kill_times_s), 2),
                ]
                if self.kill_times_s
                else []
            ),
            "problems": self.problems[:10],
        }


def _run_once(
    writer: Writer, base: Path, folder: Path, kill_at: float | None
) -> tuple[bool, float, float]:
    """Run the writer in ``folder`` (a fresh copy of the pristine workspace); kill it at
    ``kill_at`` s (None: let it finish). Returns (killed, seconds run, first write at)."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    shutil.copy(base / "ws.duckdb", folder / "ws.duckdb")
    stop = threading.Event()
    helper = None
    if writer.during is not None:
        helper = threading.Thread(target=writer.during, args=(folder, stop), daemon=True)
        helper.start()
        time.sleep(0.05)
    started = time.monotonic()
    proc = hydrodiag(writer.argv(folder), folder)
    wal = folder / "ws.duckdb.wal"
    first_write = 0.0
    killed = False
    while proc.poll() is None:
        now = time.monotonic() - started
        if not first_write and wal.exists():
            first_write = now
        if kill_at is not None and now >= kill_at:
            proc.send_signal(signal.SIGKILL)
            killed = True
            break
        time.sleep(0.005)
    proc.wait()
    elapsed = time.monotonic() - started
    stop.set()
    if helper is not None:
        helper.join()
    if kill_at is None and proc.returncode != 0:
        err = proc.stderr.read().decode() if proc.stderr else ""
        raise RuntimeError(f"{writer.name}: the uninterrupted run failed: {err[-2000:]}")
    if proc.stderr:
        proc.stderr.close()
    return killed, elapsed, first_write


def crash_test(writer: Writer, work: Path, kills: int, rng: random.Random) -> Result:
    """Kill ``writer`` ``kills`` times at random points of its writing and check every time."""
    base = work / writer.name.replace(" ", "-")
    base.mkdir(parents=True, exist_ok=True)
    writer.prepare(base)
    result = Result(writer.name)
    if writer.name == "live recording":
        # a recording runs until stopped: kill it anywhere in its first seconds of recording
        _, _, first = _run_once(writer, base, base / "calibrate", kill_at=4.0)
        result.run_s, result.first_write_s = 4.0, first or 1.0
        window = (result.first_write_s * 0.8, result.first_write_s + 2.5)
    else:
        # random points of the whole run, start-up excepted (nothing is open before it)
        _, result.run_s, result.first_write_s = _run_once(writer, base, base / "calibrate", None)
        window = (result.run_s * 0.3, result.run_s * 1.02)
    attempts = 0
    while result.kills < kills and attempts < kills * 3:
        attempts += 1
        kill_at = rng.uniform(*window)
        folder = base / "run"
        killed, _, _ = _run_once(writer, base, folder, kill_at)
        if not killed:
            result.finished_first += 1
        else:
            result.kills += 1
            result.kill_times_s.append(kill_at)
        problems = writer.check(folder / "ws.duckdb", base)
        if problems:
            result.inconsistent += 1
            result.problems += [f"kill at {kill_at:.2f} s: {p}" for p in problems]
    return result
