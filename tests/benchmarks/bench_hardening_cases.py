"""The cases of issue 19, run for real against one or more checkouts: what each did before and
does now.

    .venv/bin/python tests/benchmarks/bench_hardening_cases.py --code before=/tmp/hd-main --code after=.
    (a checkout of main without a venv of its own: git archive main | tar -x -C /tmp/hd-main)

Every case runs `python -m app.cli ...` with that checkout first on PYTHONPATH (and its
resources), in a fresh folder, as the hostile or unlucky field engineer did; the permission
cases run as user 'nobody' when this runs as root. Each outcome is summarised (exit status,
the first line of the message, or the traceback's last line) and judged against what the issue
asks (✓ holds, ✗ does not). Prints a Markdown table and writes
tests/benchmarks/results/bench_hardening_cases.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

REPO = Path(__file__).resolve().parents[2]
UCI = REPO.parent / "shared" / "data" / "uci-hydraulic-1hz"
RIG_PROFILE = (REPO / "resources" / "profiles" / "zema-test-rig.yaml").read_text(encoding="utf-8")


@dataclass
class Outcome:
    ok: bool
    text: str


@dataclass
class Run:
    code: int
    out: str
    err: str
    seconds: float

    def summary(self) -> str:
        if "Traceback" in self.err:
            lines = [ln for ln in self.err.strip().splitlines() if ln.strip()]
            named = [ln for ln in lines if re.match(r"^[\w.]+(Error|Exception|Interrupt)\b", ln)]
            return f"traceback: {(named or lines)[-1][:110]}"
        # the message may follow a progress line on the same terminal line
        lines = self.err.splitlines()
        at = next((k for k, ln in enumerate(lines) if "error: " in ln), None)
        first = "" if at is None else lines[at][lines[at].index("error: ") :]
        if first.endswith(":") and at is not None and at + 1 < len(lines):
            first += " " + lines[at + 1].strip()  # the problem listed under it
        if self.code == 0:
            return "exit 0"
        return f"exit {self.code}: {first[:150]}" if first else f"exit {self.code}"


class Checkout:
    """Runs hydrodiag from one checkout's code in a folder of its own."""

    def __init__(self, label: str, code: Path, work: Path) -> None:
        self.label, self.code, self.work = label, code.resolve(), work
        self.prepared: Path | None = None

    def env(self, folder: Path) -> dict[str, str]:
        env = {
            **os.environ,
            "PYTHONPATH": str(self.code),
            "HYDRODIAG_RESOURCES": str(self.code / "resources"),
            "HYDRODIAG_DATA_DIR": str(folder / "data"),
            "PYTHONDONTWRITEBYTECODE": "1",
            "QT_QPA_PLATFORM": "offscreen",
        }
        env.pop("HYDRODIAG_WORKSPACE", None)
        return env

    def folder(self, name: str) -> Path:
        folder = self.work / self.label / name
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        folder.chmod(0o777)
        return folder

    def run(
        self, folder: Path, argv: list[str], *, timeout: float = 120, as_nobody: bool = False
    ) -> Run:
        extra: dict[str, Any] = {}
        if as_nobody and os.geteuid() == 0:
            extra = {"user": 65534, "group": 65534, "extra_groups": []}
        started = time.monotonic()
        try:
            proc = subprocess.run(
                [sys.executable, "-m", "app.cli", *argv],
                cwd=folder,
                env=self.env(folder),
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
                **extra,
            )
            return Run(proc.returncode, proc.stdout, proc.stderr, time.monotonic() - started)
        except subprocess.TimeoutExpired as exc:
            err = exc.stderr.decode() if isinstance(exc.stderr, bytes) else (exc.stderr or "")
            return Run(-9, "", err + f"\n(still running after {timeout:.0f} s: killed)", timeout)

    def diagnosed(self) -> Path:
        """A workspace with 60 real rig cycles and one diagnosis (made once per checkout)."""
        if self.prepared is None:
            folder = self.folder("prepared")
            uci = folder / "uci"
            uci.mkdir()
            for f in UCI.glob("*.txt"):
                rows = f.read_text().splitlines()
                (uci / f.name).write_text("\n".join(rows[i] for i in range(0, 1800, 30)) + "\n")
            ws = folder / "ws.duckdb"
            for argv in (
                ["ingest", "uci", str(uci), "--equipment", "rig"],
                ["diagnose", "--equipment", "rig"],
            ):
                run = self.run(folder, ["--workspace", str(ws), *argv], timeout=300)
                if run.code != 0:
                    raise RuntimeError(f"{self.label}: {argv[0]} failed: {run.err[-1500:]}")
            self.prepared = ws
        return self.prepared

    def copy_diagnosed(self, folder: Path) -> Path:
        ws = folder / "ws.duckdb"
        shutil.copy(self.diagnosed(), ws)
        ws.chmod(0o666)
        return ws


def count(ws: Path, sql: str) -> Any:
    con = duckdb.connect(str(ws), read_only=True)
    try:
        row = con.execute(sql).fetchone()
        return row[0] if row else None
    finally:
        con.close()


def _csv(folder: Path, name: str, data: str | bytes) -> Path:
    path = folder / name
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    path.chmod(0o666)
    return path


def _ingest(c: Checkout, folder: Path, path: Path, *extra: str, ws: Path | None = None) -> Run:
    ws = ws or folder / "ws.duckdb"
    return c.run(
        folder,
        [
            "--workspace",
            str(ws),
            "ingest",
            "csv",
            str(path),
            "--equipment",
            "rig",
            "--profile",
            "zema-test-rig",
            *extra,
        ],
    )


def sentence(run: Run, *needles: str) -> Outcome:
    """Held when it ended in a one-sentence error holding every needle (no traceback)."""
    ok = run.code == 1 and "Traceback" not in run.err and all(n in run.err for n in needles)
    return Outcome(ok, run.summary())


# -- the cases --------------------------------------------------------------------------------------

Case = Callable[[Checkout], Outcome]
CASES: list[tuple[str, str, Case]] = []


def case(group: str, name: str) -> Callable[[Case], Case]:
    def register(fn: Case) -> Case:
        CASES.append((group, name, fn))
        return fn

    return register


@case("1 data", "live csv: file truncated and refilled past its old size between two polls")
def _live_truncate(c: Checkout) -> Outcome:
    folder = c.folder("live-truncate")
    log = _csv(
        folder,
        "growing.csv",
        "timestamp,PS1,TS1\n" + "".join(f"{1772431200 + s},{s}.0,40\n" for s in range(10)),
    )
    ws = folder / "ws.duckdb"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "app.cli",
            "--workspace",
            str(ws),
            "live",
            "csv",
            "--equipment",
            "rig",
            "--profile",
            "zema-test-rig",
            "--file",
            str(log),
            "--poll",
            "0.5",
            "--flush-interval",
            "0.5",
            "--duration",
            "6s",
        ],
        cwd=folder,
        env=c.env(folder),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    err_lines: list[str] = []
    seen = threading.Event()

    def read() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            err_lines.append(line)
            if "stored 20 values" in line:
                seen.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    seen.wait(20)
    log.write_text(
        "timestamp,PS1,TS1\n" + "".join(f"{1772431300 + s},{s}.0,41\n" for s in range(30))
    )
    proc.wait(60)
    reader.join(5)
    rows = count(ws, "SELECT count(DISTINCT ts) FROM measurements_long")
    gaps = count(ws, "SELECT count(*) FROM gaps")
    warned = sum("timestamp" in ln or "time stamp" in ln for ln in err_lines)
    return Outcome(
        rows == 40 and gaps >= 1,
        f"{rows} of 40 lines stored, {gaps} gap(s), {warned} time stamp warning(s)",
    )


FALL = "time,PS1\n" + "".join(
    f"2026-10-25 {t}:00,{k}\n"
    for k, t in enumerate(["01:30", "02:00", "02:30", "02:59", "02:00", "02:30", "03:00"])
)


@case("2 data", "ingest csv --tz Europe/Berlin, autumn: the first pass through 02:00-02:59")
def _fall(c: Checkout) -> Outcome:
    folder = c.folder("fall")
    run = _ingest(c, folder, _csv(folder, "fall.csv", FALL), "--tz", "Europe/Berlin")
    if run.code != 0:
        return Outcome(False, run.summary())
    first = count(
        folder / "ws.duckdb", "SELECT strftime(ts, '%H:%M') FROM measurements WHERE value = 1"
    )
    second = count(
        folder / "ws.duckdb", "SELECT strftime(ts, '%H:%M') FROM measurements WHERE value = 4"
    )
    note = (
        "note on the repeated hour"
        if "repeats" in run.out
        else "warnings: "
        + ", ".join(
            w.split(";")[0].split("(")[0].strip()[:40] for w in run.out.split("warning: ")[1:]
        )
    )
    return Outcome(
        (first, second) == ("00:00", "01:00") and "repeats" in run.out,
        f"02:00 (1st pass) stored as {first} UTC, 02:00 (2nd) as {second} UTC; {note}",
    )


@case("2 data", "ingest csv --tz Europe/Berlin, spring: 02:30 does not exist")
def _spring(c: Checkout) -> Outcome:
    folder = c.folder("spring")
    path = _csv(folder, "spring.csv", "time,PS1\n2026-03-29 01:59:00,1\n2026-03-29 02:30:00,2\n")
    run = _ingest(c, folder, path, "--tz", "Europe/Berlin")
    if run.code == 0:
        stored = count(
            folder / "ws.duckdb", "SELECT strftime(ts, '%H:%M') FROM measurements WHERE value = 2"
        )
        return Outcome(False, f"exit 0: stored as {stored} UTC without a word")
    return sentence(run, "line 3", "does not exist")


def _profile(folder: Path, old: str, new: str) -> Path:
    path = folder / "mine.yaml"
    path.write_text(RIG_PROFILE.replace(old, new, 1), encoding="utf-8")
    path.chmod(0o666)
    return path


@case("3 data", "profile with max: .inf: validate, ingest, then workspace info")
def _inf(c: Checkout) -> Outcome:
    folder = c.folder("inf")
    profile = _profile(folder, "max: 250,", "max: .inf,")
    validate = c.run(folder, ["profile", "validate", str(profile)])
    log = _csv(folder, "a.csv", "time,PS1\n2026-01-01T00:00:00,1\n")
    ws = folder / "ws.duckdb"
    ingest = c.run(
        folder,
        [
            "--workspace",
            str(ws),
            "ingest",
            "csv",
            str(log),
            "--equipment",
            "rig",
            "--profile",
            str(profile),
        ],
    )
    info = c.run(folder, ["--workspace", str(ws), "workspace", "info"]) if ws.exists() else None
    text = f"validate {validate.summary()}; ingest {ingest.summary()}"
    if info is not None:
        text += f"; workspace info {info.summary()}"
    ok = validate.code == 1 and ingest.code == 1 and "finite" in validate.err
    return Outcome(ok and (info is None or info.code == 0), text)


@case("3 data", "profile with min: .nan: ingest")
def _nan(c: Checkout) -> Outcome:
    folder = c.folder("nan")
    profile = _profile(folder, "min: 0,", "min: .nan,")
    log = _csv(folder, "a.csv", "time,PS1\n2026-01-01T00:00:00,1\n")
    run = c.run(
        folder,
        [
            "--workspace",
            str(folder / "ws.duckdb"),
            "ingest",
            "csv",
            str(log),
            "--equipment",
            "rig",
            "--profile",
            str(profile),
        ],
    )
    return sentence(run, "sensors[0].min")


class GarbageServer:
    """Accepts every connection and answers every request with a malformed frame."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            self.connections += 1
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        conn.settimeout(0.5)
        with conn:  # a malformed frame, then the device hangs up
            try:
                if conn.recv(256):
                    conn.sendall(b"\x00\x01\x00\x00\x00\x03\x01\x84")
            except OSError:
                return


@case("4 resources", "live modbus against a device answering malformed frames, 6 s")
def _storm(c: Checkout) -> Outcome:
    folder = c.folder("storm")
    server = GarbageServer()
    map_file = folder / "map.yaml"
    map_file.write_text(
        "groups:\n  - {name: fast, period_s: 0.01}\nregisters:\n"
        "  - {sensor: PS1, table: input, address: 0, type: float32, group: fast}\n"
    )
    run = c.run(
        folder,
        [
            "--workspace",
            str(folder / "ws.duckdb"),
            "live",
            "modbus",
            "--equipment",
            "rig",
            "--profile",
            "zema-test-rig",
            "--map",
            str(map_file),
            "--host",
            "127.0.0.1",
            "--port",
            str(server.port),
            "--duration",
            "6s",
            "--timeout",
            "0.2",
            "--quiet",
        ],
        timeout=60,
    )
    server.stop.set()
    return Outcome(
        server.connections <= 20, f"{server.connections} connections in 6 s ({run.summary()})"
    )


@case("5 traceback", "ingest csv of an unreadable file (permission denied)")
def _unreadable(c: Checkout) -> Outcome:
    folder = c.folder("unreadable")
    log = _csv(folder, "secret.csv", "time,PS1\n2026-01-01T00:00:00,1\n")
    log.chmod(0o000)
    run = c.run(
        folder,
        [
            "--workspace",
            str(folder / "ws.duckdb"),
            "ingest",
            "csv",
            str(log),
            "--equipment",
            "rig",
            "--profile",
            "zema-test-rig",
        ],
        as_nobody=True,
    )
    return sentence(run, "permission denied")


def _read_only_folder(c: Checkout, name: str, argv: list[str]) -> Outcome:
    folder = c.folder(name)
    locked = folder / "locked"
    locked.mkdir()
    ws = c.copy_diagnosed(locked)
    log = _csv(folder, "a.csv", "time,PS1\n2026-01-01T00:00:00,1\n")
    locked.chmod(0o555)
    try:
        run = c.run(
            folder,
            ["--workspace", str(ws), *[a.replace("LOG", str(log)) for a in argv]],
            as_nobody=True,
        )
    finally:
        locked.chmod(0o777)
    return sentence(run, "read-only")


@case("5 traceback", "ingest into a workspace in a read-only folder (no WAL possible)")
def _ro_ingest(c: Checkout) -> Outcome:
    return _read_only_folder(c, "ro-ingest", ["ingest", "csv", "LOG", "--equipment", "rig"])


@case("5 traceback", "diagnose a workspace in a read-only folder")
def _ro_diagnose(c: Checkout) -> Outcome:
    return _read_only_folder(c, "ro-diagnose", ["diagnose", "--equipment", "rig"])


def _foreign(folder: Path) -> Path:
    path = folder / "erp.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE invoices (id INTEGER, customer VARCHAR)")
    con.close()
    path.chmod(0o666)
    return path


@case("5 traceback", "workspace info on another program's DuckDB file")
def _foreign_info(c: Checkout) -> Outcome:
    folder = c.folder("foreign-info")
    run = c.run(folder, ["--workspace", str(_foreign(folder)), "workspace", "info"])
    return sentence(run, "not a HydroDiag workspace")


@case("5 traceback", "ingest into another program's DuckDB file")
def _foreign_ingest(c: Checkout) -> Outcome:
    folder = c.folder("foreign-ingest")
    path = _foreign(folder)
    log = _csv(folder, "a.csv", "time,PS1\n2026-01-01T00:00:00,1\n")
    run = _ingest(c, folder, log, ws=path)
    tables = count(path, "SELECT count(*) FROM duckdb_tables()")
    result = sentence(run, "not a HydroDiag workspace")
    return Outcome(result.ok and tables == 1, f"{result.text}; the file now has {tables} table(s)")


@case("5 traceback", "diagnose --last 99999999999d")
def _last(c: Checkout) -> Outcome:
    folder = c.folder("last")
    ws = c.copy_diagnosed(folder)
    run = c.run(
        folder, ["--workspace", str(ws), "diagnose", "--equipment", "rig", "--last", "99999999999d"]
    )
    return sentence(run, "--last")


@case("5 traceback", "simulate --duration 99999999999d")
def _sim_duration(c: Checkout) -> Outcome:
    folder = c.folder("sim-duration")
    run = c.run(folder, ["simulate", "--duration", "99999999999d", "--out", str(folder / "s.csv")])
    return sentence(run, "99999999999d")


@case("5 traceback", "simulate --out into a missing folder")
def _sim_out(c: Checkout) -> Outcome:
    folder = c.folder("sim-out")
    run = c.run(folder, ["simulate", "--duration", "2m", "--out", str(folder / "no" / "s.csv")])
    return sentence(run, "does not exist")


def _live_csv(c: Checkout, folder: Path, file: Path, *, timeout: float = 30) -> tuple[Run, Any]:
    ws = folder / "ws.duckdb"
    shutil.copy(c.diagnosed(), ws)
    before = count(ws, "SELECT count(*) FROM sources")
    run = c.run(
        folder,
        [
            "--workspace",
            str(ws),
            "live",
            "csv",
            "--equipment",
            "rig",
            "--file",
            str(file),
            "--duration",
            "3s",
            "--quiet",
        ],
        timeout=timeout,
    )
    after = count(ws, "SELECT count(*) FROM sources")
    return run, after - before


@case("5 traceback", "live csv on a binary file")
def _live_binary(c: Checkout) -> Outcome:
    folder = c.folder("live-binary")
    run, added = _live_csv(c, folder, _csv(folder, "bin.csv", bytes(range(256)) * 16))
    result = sentence(run, "binary")
    return Outcome(result.ok and added == 0, f"{result.text}; sources +{added}")


@case("5 traceback", "live csv on a folder")
def _live_folder(c: Checkout) -> Outcome:
    folder = c.folder("live-folder")
    (folder / "sub").mkdir()
    run, added = _live_csv(c, folder, folder / "sub")
    result = sentence(run, "folder")
    return Outcome(result.ok and added == 0, f"{result.text}; sources +{added}")


@case("5 traceback", "ingest csv --skip-rows -1")
def _skip_rows(c: Checkout) -> Outcome:
    folder = c.folder("skip-rows")
    run = _ingest(
        c, folder, _csv(folder, "a.csv", "time,PS1\n2026-01-01T00:00:00,1\n"), "--skip-rows", "-1"
    )
    return sentence(run, "--skip-rows")


@case("5 traceback", "ingest csv --delimiter xyz")
def _delimiter(c: Checkout) -> Outcome:
    folder = c.folder("delimiter")
    run = _ingest(
        c, folder, _csv(folder, "a.csv", "time,PS1\n2026-01-01T00:00:00,1\n"), "--delimiter", "xyz"
    )
    return sentence(run, "--delimiter")


@case("5 traceback", "workspace info --json | head -c 100 (output larger than the pipe)")
def _pipe(c: Checkout) -> Outcome:
    folder = c.folder("pipe")
    ws = c.copy_diagnosed(folder)
    bad = 0
    for _ in range(5):  # whether the reader is gone before the last write is a race: 5 tries
        proc = subprocess.run(
            f"{sys.executable} -m app.cli --workspace {ws} workspace info --json | head -c 100",
            shell=True,
            cwd=folder,
            env=c.env(folder),
            capture_output=True,
            text=True,
            timeout=60,
        )
        bad += "Traceback" in proc.stderr or "BrokenPipe" in proc.stderr
    return Outcome(
        bad == 0, f"BrokenPipeError in {bad} of 5 runs" if bad else "quiet in 5 of 5 runs"
    )


@case("6 records", "live modbus with a rejected register map (equipment known, no --profile)")
def _map_rejected(c: Checkout) -> Outcome:
    folder = c.folder("map-rejected")
    ws = c.copy_diagnosed(folder)
    bad = folder / "map.yaml"
    bad.write_text("registers:\n  - {sensor: NOPE, address: 0}\n")
    before = count(ws, "SELECT count(*) FROM sources")
    run = c.run(
        folder,
        [
            "--workspace",
            str(ws),
            "live",
            "modbus",
            "--equipment",
            "rig",
            "--map",
            str(bad),
            "--host",
            "127.0.0.1",
            "--port",
            "1",
            "--duration",
            "2s",
        ],
    )
    added = count(ws, "SELECT count(*) FROM sources") - before
    result = sentence(run, "NOPE")
    return Outcome(result.ok and added == 0, f"{result.text}; sources +{added}")


@case("6 records", "kill -9 during a live recording, then open the workspace")
def _killed_recording(c: Checkout) -> Outcome:
    folder = c.folder("killed")
    ws = c.copy_diagnosed(folder)
    log = _csv(
        folder,
        "growing.csv",
        "timestamp,PS1,TS1\n" + "".join(f"{1772431200 + s},{s}.0,40\n" for s in range(50)),
    )
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "app.cli",
            "--workspace",
            str(ws),
            "live",
            "csv",
            "--equipment",
            "rig",
            "--file",
            str(log),
            "--flush-interval",
            "0.3",
            "--quiet",
        ],
        cwd=folder,
        env=c.env(folder),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(4.0)
    proc.kill()
    proc.wait()
    c.run(folder, ["--workspace", str(ws), "workspace", "info"])  # the next HydroDiag opens it
    con = duckdb.connect(str(ws), read_only=True)
    status, rows, values = con.execute(
        "SELECT status, row_count, value_count FROM sources WHERE kind = 'live_csv'"
    ).fetchone()  # type: ignore[misc]
    stored = con.execute(
        "SELECT count(*), count(DISTINCT ts) FROM measurements_long m JOIN sources s "
        "ON s.id = m.source_id WHERE s.kind = 'live_csv'"
    ).fetchone()
    con.close()
    assert stored is not None
    if count(ws, "SELECT count(*) FROM sources WHERE status = 'live'"):
        # main's `workspace info` opens read-only: give it the write open it would need
        pass
    ok = status == "interrupted" and (rows, values) == (stored[1], stored[0])
    return Outcome(
        ok,
        f"status {status!r}, counts {rows} rows / {values} values, stored {stored[1]} / {stored[0]}",
    )


@case("6 records", "report --out to a folder")
def _report_folder(c: Checkout) -> Outcome:
    folder = c.folder("report-folder")
    ws = c.copy_diagnosed(folder)
    before = count(ws, "SELECT count(*) FROM inspections")
    run = c.run(
        folder,
        [
            "--workspace",
            str(ws),
            "report",
            "--equipment",
            "rig",
            "--out",
            str(folder),
            "--customer",
            "ACME",
        ],
    )
    added = count(ws, "SELECT count(*) FROM inspections") - before
    result = sentence(run, "folder")
    return Outcome(result.ok and added == 0, f"{result.text}; inspections +{added}")


@case("6 records", "report --out into a read-only folder")
def _report_ro(c: Checkout) -> Outcome:
    folder = c.folder("report-ro")
    ws = c.copy_diagnosed(folder)
    locked = folder / "locked"
    locked.mkdir(mode=0o555)
    locked.chmod(0o555)
    before = count(ws, "SELECT count(*) FROM inspections")
    run = c.run(
        folder,
        [
            "--workspace",
            str(ws),
            "report",
            "--equipment",
            "rig",
            "--out",
            str(locked / "r.pdf"),
            "--customer",
            "ACME",
        ],
        as_nobody=True,
    )
    added = count(ws, "SELECT count(*) FROM inspections") - before
    result = sentence(run, "read-only")
    return Outcome(result.ok and added == 0, f"{result.text}; inspections +{added}")


@case("7 message", "one 200 MB line without a newline")
def _long_line(c: Checkout) -> Outcome:
    folder = c.folder("long-line")
    path = folder / "long.csv"
    with path.open("wb") as fh:
        fh.write(b"time,PS1,")
        for _ in range(200):
            fh.write(b"x" * (1 << 20))
    run = _ingest(c, folder, path)
    path.unlink()
    return sentence(run, "line 1")


@case("7 message", "a 200 MB cell")
def _big_cell(c: Checkout) -> Outcome:
    folder = c.folder("big-cell")
    path = folder / "cell.csv"
    with path.open("wb") as fh:
        fh.write(b"time,PS1\n2026-03-02T06:00:00,1\n2026-03-02T06:00:01,")
        for _ in range(200):
            fh.write(b"9" * (1 << 20))
        fh.write(b"\n2026-03-02T06:00:02,3\n")
    run = _ingest(c, folder, path)
    path.unlink()
    return sentence(run, "line 3")


@case("7 message", "epoch seconds and milliseconds mixed")
def _epoch(c: Checkout) -> Outcome:
    folder = c.folder("epoch")
    run = _ingest(
        c, folder, _csv(folder, "e.csv", "time,PS1\n1772431200,1\n1772431201,2\n1772431202000,3\n")
    )
    if run.code != 0:
        return Outcome(False, run.summary())
    last = count(
        folder / "ws.duckdb", "SELECT strftime(max(ts), '%Y-%m-%d %H:%M:%S') FROM measurements"
    )
    return Outcome(last == "2026-03-02 06:00:02", f"exit 0, last time {last} UTC")


@case("7 message", "a date written in another format on line 4")
def _mixed(c: Checkout) -> Outcome:
    folder = c.folder("mixed")
    path = _csv(
        folder,
        "m.csv",
        "time,PS1\n2026-03-02T06:00:00,1\n2026-03-02T06:00:01,2\n02.03.2026 06:00:02,3\n",
    )
    return sentence(_ingest(c, folder, path), "line 4")


@case("7 message", "diagnose --from after --to")
def _from_to(c: Checkout) -> Outcome:
    folder = c.folder("from-to")
    ws = c.copy_diagnosed(folder)
    run = c.run(
        folder,
        [
            "--workspace",
            str(ws),
            "diagnose",
            "--equipment",
            "rig",
            "--from",
            "2015-01-02",
            "--to",
            "2015-01-01",
        ],
    )
    result = sentence(run, "not before")
    return Outcome(result.ok and "[type=" not in run.err, result.text)


@case("7 message", "export-onnx of a .pt holding pickled code")
def _evil_pt(c: Checkout) -> Outcome:
    folder = c.folder("evil-pt")
    evil = folder / "evil.pt"
    subprocess.run(
        [
            sys.executable,
            "-c",
            "import os, torch\nclass E:\n def __reduce__(self):\n"
            "  return (os.system, ('echo pwned',))\ntorch.save({'x': E()}, 'evil.pt')",
        ],
        cwd=folder,
        check=True,
        capture_output=True,
    )
    run = c.run(folder, ["export-onnx", str(evil), "--out", str(folder / "m.onnx")])
    ok = run.code == 1 and "weights_only" not in run.err and "pwned" not in run.out
    return Outcome(
        ok,
        run.summary() + ("" if "weights_only" not in run.err else " (advises weights_only=False)"),
    )


@case("7 message", "live csv on a missing file")
def _live_missing(c: Checkout) -> Outcome:
    folder = c.folder("live-missing")
    run, added = _live_csv(c, folder, folder / "nope.csv", timeout=15)
    result = sentence(run, "no such file")
    return Outcome(result.ok and added == 0, f"{result.text}; sources +{added}")


@case("7 message", "UTF-16 without a byte-order mark")
def _utf16(c: Checkout) -> Outcome:
    folder = c.folder("utf16")
    path = _csv(
        folder,
        "u.csv",
        "time,PS1\n2026-03-02T06:00:00,1\n2026-03-02T06:00:01,2\n".encode("utf-16-le"),
    )
    run = _ingest(c, folder, path)
    return Outcome(run.code == 0, run.summary())


@case("8 also", "a closed loop of pressure lines in the topology")
def _loop(c: Checkout) -> Outcome:
    folder = c.folder("loop")
    profile = _profile(
        folder,
        "connections:\n",
        "connections:\n  - {source: ACC, target: V10, kind: pressure_line}\n",
    )
    return sentence(c.run(folder, ["profile", "validate", str(profile)]), "closed loop")


@case("8 also", "a pressure sensor in amps")
def _amps(c: Checkout) -> Outcome:
    folder = c.folder("amps")
    profile = _profile(folder, "unit: bar", "unit: amps")
    return sentence(c.run(folder, ["profile", "validate", str(profile)]), "measures current")


@case("8 also", "a pressure sensor in L/min")
def _lmin(c: Checkout) -> Outcome:
    folder = c.folder("lmin")
    profile = _profile(folder, "unit: bar", "unit: L/min")
    return sentence(c.run(folder, ["profile", "validate", str(profile)]), "measures flow")


@case("8 also", "report --customer with an emoji and U+202E (the report must call the sanitiser)")
def _report_text(c: Checkout) -> Outcome:
    folder = c.folder("report-text")
    ws = c.copy_diagnosed(folder)
    pdf = folder / "r.pdf"
    typed = "ACME \u202ekooL\u202c \U0001f527"
    run = c.run(
        folder,
        [
            "--workspace",
            str(ws),
            "report",
            "--equipment",
            "rig",
            "--out",
            str(pdf),
            "--customer",
            typed,
        ],
    )
    if run.code != 0:
        return Outcome(False, run.summary())
    from pypdf import PdfReader

    text = PdfReader(str(pdf)).pages[0].extract_text()
    box = "\x00" in text[text.find("ACME") : text.find("ACME") + 30]
    if not (c.code / "app" / "core" / "text.py").exists():
        return Outcome(
            not box, f"emoji printed as {'an empty box' if box else 'text'}; no sanitiser"
        )
    sanitiser = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from app.core.text import printable_text; "
            "print(repr(printable_text(sys.argv[1])))",
            typed,
        ],
        env=c.env(folder),
        capture_output=True,
        text=True,
        check=False,
    )
    made = sanitiser.stdout.strip() if sanitiser.returncode == 0 else "no sanitiser"
    return Outcome(
        not box,
        f"emoji printed as {'an empty box' if box else 'text'}; printable_text: {made}",
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--code", action="append", required=True, metavar="LABEL=DIR")
    parser.add_argument("--only", help="run only the cases whose name holds this text")
    parser.add_argument(
        "--json", type=Path, default=REPO / "tests/benchmarks/results/bench_hardening_cases.json"
    )
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="hydrodiag-cases-"))
    work.chmod(0o777)
    checkouts = []
    for spec in args.code:
        label, _, directory = spec.partition("=")
        checkouts.append(Checkout(label, Path(directory), work))
    results: list[dict[str, Any]] = []
    try:
        for group, name, fn in CASES:
            if args.only and args.only not in name:
                continue
            row: dict[str, Any] = {"group": group, "case": name}
            for checkout in checkouts:
                started = time.monotonic()
                try:
                    outcome = fn(checkout)
                except Exception as exc:  # the harness itself failed: say so in the table
                    outcome = Outcome(
                        False, f"(case failed to run: {type(exc).__name__}: {exc})"[:200]
                    )
                row[checkout.label] = {
                    "ok": outcome.ok,
                    "text": outcome.text,
                    "s": round(time.monotonic() - started, 1),
                }
                print(
                    f"{name[:60]:<60} {checkout.label:>7}: {'✓' if outcome.ok else '✗'} {outcome.text}",
                    flush=True,
                )
            results.append(row)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    labels = [c.label for c in checkouts]
    print()
    print("| # | case | " + " | ".join(labels) + " |")
    print("|---|---|" + "---|" * len(labels))
    for row in results:
        cells = [f"{'✓' if row[lb]['ok'] else '✗'} {row[lb]['text']}" for lb in labels]
        print(f"| {row['group']} | {row['case']} | " + " | ".join(cells) + " |")
    for label in labels:
        held = sum(1 for r in results if r[label]["ok"])
        print(f"{label}: {held} of {len(results)} hold")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2, ensure_ascii=False))
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
