"""Scale benchmark: how import, viewing and diagnosis grow with the length of a 100 Hz log.

For each size in ``--hours`` (default 1,8) it writes a synthetic logger CSV (DuckDB ``COPY``
streams it to disk: the log is never held in memory) of 20 value columns at 100 Hz: the 17
sensors of the reference rig (``zema-test-rig``, so that the shipped model can diagnose it)
with a 60 s load cycle, slow drifts and noise under each sensor's warning limit, plus 3 auxiliary
channels the import is told to skip (``--skip``: a logger records more than the profile knows).
Then, each step in a fresh process (peak RSS is that process's own, from ``wait4``):

  bare      DuckDB ``CREATE TABLE AS SELECT * FROM read_csv(file)`` into a new database file:
            the ceiling an import is measured against (values/s, MB per million values)
  import    ``ingestion.csv_import.ingest_csv`` into a new workspace (sniffing, hashing,
            checks, the wide table and its view pyramid)
  diagnose  the shipped model over the whole log, one hour at a time
            (``gnn.engine.diagnose_slices``: each slice's windows are read, run and stored
            before the next), windows/s and RSS
  app       the main window opened offscreen on the workspace, Sensors tab, every sensor
            checked, "all data": time until the plots are loaded and painted, RSS, then the
            median frame time of zooms and pans at four zoom levels with every curve visible
            (what is loaded, redrawn), and the time until the view's reload for a zoom level
            (150 ms debounce, the read, the paint) is painted

Prints a table and writes JSON to tests/benchmarks/results/bench_scale.json.

    nice -n 10 .venv/bin/python tests/benchmarks/bench_scale.py --hours 1,8,24
    .venv/bin/python tests/benchmarks/bench_scale.py --hours 0.1 --steps bare,import  # quick

A 168 h log is 7.9 GB of CSV (47 MB per hour) plus the workspace: check ``df`` first.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_ingest import CEILING, run_child

REPO = Path(__file__).resolve().parents[2]
RESULTS = Path(__file__).resolve().parent / "results"
RATE_HZ = 100
AUX = ("AUX1", "AUX2", "AUX3")
STEPS = ("bare", "import", "diagnose", "app")
START = "2026-03-02 06:00:00"


def rig_sensors() -> list[tuple[str, float, float]]:
    """(id, min, top) of the reference rig's sensors: ``top`` keeps a healthy machine under
    its warning limits (a log in alarm all week would be a different benchmark)."""
    from ingestion.profiles import load_profile

    out = []
    for s in load_profile("zema-test-rig").sensors:
        top = s.min + 0.6 * (s.max - s.min)
        warning = s.limits.warning_high if s.limits is not None else None
        out.append((s.id, s.min, min(top, 0.9 * warning) if warning is not None else top))
    return out


def generate_csv(path: Path, hours: float) -> int:
    """Write the log with DuckDB's COPY (streamed); returns the data rows."""
    import duckdb

    rows = int(hours * 3600 * RATE_HZ)
    # a 60 s load cycle in three steps (the rig's), a slow drift and noise, up to ``top``
    cycle = "(CASE WHEN i % 6000 < 2000 THEN 1.0 WHEN i % 6000 < 4000 THEN 0.5 ELSE 0.1 END)"
    cols = []
    for k, (sensor, lo, top) in enumerate(rig_sensors()):
        base = lo + 0.1 * (top - lo)
        swing = top - base
        cols.append(
            f"round({base!r} + {0.85 * swing!r} * {cycle} "
            f"+ {0.05 * swing!r} * (1 + sin(i / {360_000 + 7919 * k}.0)) "
            f"+ {0.05 * swing!r} * random(), 3) AS {sensor}"
        )
    cols += [f"round(random() * 10, 3) AS {a}" for a in AUX]
    con = duckdb.connect()
    con.execute("SELECT setseed(0.42)")
    con.execute(
        f"COPY (SELECT strftime(TIMESTAMP '{START}' + to_microseconds(i * 10000), "
        f"'%Y-%m-%dT%H:%M:%S.%g') AS timestamp, {', '.join(cols)} FROM range({rows}) t(i)) "
        f"TO '{path}' (HEADER, DELIMITER ',')"
    )
    con.close()
    return rows


IMPORT = """
import json, sys, time
from pathlib import Path
from ingestion.csv_import import ingest_csv
from ingestion.csv_plan import CsvOptions
from ingestion.profiles import load_profile
from ingestion.workspace import open_workspace
csv, db = Path(sys.argv[1]), Path(sys.argv[2])
store = open_workspace(db)
t = time.perf_counter()
summary = ingest_csv(store, csv, equipment_id="rig", profile=load_profile("zema-test-rig"),
                     options=CsvOptions(skip=tuple(sys.argv[3].split(","))))
seconds = time.perf_counter() - t
values = store.query("SELECT value_count FROM sources ORDER BY id DESC LIMIT 1")[0][0]
store.close()
print("RESULT " + json.dumps({"seconds": seconds, "values": int(values)}))
"""

DIAGNOSE = """
import json, sys, time
from datetime import timedelta
from gnn.engine import diagnose_slices
from ingestion import queries
from ingestion.workspace import open_workspace
store = open_workspace(sys.argv[1])
first, last = queries.equipment_time_range(store, "rig")
first, last = first.astype("datetime64[us]").item(), last.astype("datetime64[us]").item()
t = time.perf_counter()
windows = slices = 0
for _, _, d in diagnose_slices(store, "rig", start=first, end=last + timedelta(milliseconds=10),
                               every=timedelta(hours=1)):
    windows += d.n_windows
    slices += 1
seconds = time.perf_counter() - t
print("RESULT " + json.dumps({"seconds": seconds, "windows": windows, "slices": slices}))
"""

APP = r"""
import json, os, statistics, sys, time
import psutil
from app.commands.gui import _application
app = _application()
from app.gui.main_window import MainWindow
db = sys.argv[1]
proc = psutil.Process()
window = MainWindow(workspace=os.path.join(os.path.dirname(db), "empty.duckdb"))
window.close_policy = "cancel"
window.resize(1366, 768)
window.show()
app.processEvents()
def settle():
    while window.runner.active_count:
        app.processEvents()
        time.sleep(0.002)
    app.processEvents()
t = time.perf_counter()
window.open_workspace(db, "rig")
window.tabs.show_view("sensors")
app.processEvents()
panel = window.sensors
panel.set_range_key("all")
panel.set_checked(list(panel.items))
settle()
window.repaint()
first_paint = time.perf_counter() - t
rss_open = proc.memory_info().rss
plot = next(iter(panel.plots.values()))
x0, x1 = plot.getViewBox().viewRange()[0]
span = x1 - x0
frames, reload = {}, {}
for level in (1.0, 0.1, 0.01, 0.0005):
    times = []
    width = span * level
    for k in range(8):
        lo = x0 + (span - width) * ((k * 0.137) % 1.0)
        s = time.perf_counter()
        plot.setXRange(lo, lo + width, padding=0)
        settle()
        panel.graphics.viewport().repaint()
        times.append((time.perf_counter() - s) * 1000)
    frames[str(level)] = statistics.median(times)
    # then the view's own reload for this zoom (after its 150 ms debounce), until painted
    s = time.perf_counter()
    plot.setXRange(x0 + (span - width) / 2, x0 + (span + width) / 2, padding=0)
    timer = getattr(panel, "_view_timer", None)
    app.processEvents()
    while timer is not None and timer.isActive():
        app.processEvents()
        time.sleep(0.002)
    settle()
    panel.graphics.viewport().repaint()
    reload[str(level)] = (time.perf_counter() - s) * 1000
    if os.environ.get("BENCH_SCALE_SHOTS"):
        panel.grab().save(os.path.join(os.environ["BENCH_SCALE_SHOTS"], f"zoom-{level}.png"))
samples = sum(c.getData()[0].size for c in panel.curves.values() if c.getData()[0] is not None)
print("RESULT " + json.dumps({"first_paint_s": first_paint, "rss_open_mb": rss_open / 2**20,
      "frame_ms": frames, "reload_ms": reload, "curves": sum(c.isVisible() for c in panel.curves.values()),
      "points_held_at_last_zoom": int(samples), "rss_end_mb": proc.memory_info().rss / 2**20}))
window.close()
"""


def _result(stdout: str) -> dict[str, Any]:
    line = next((ln for ln in stdout.splitlines() if ln.startswith("RESULT ")), None)
    if line is None:
        raise RuntimeError(f"no result in:\n{stdout[-2000:]}")
    out: dict[str, Any] = json.loads(line[7:])
    return out


def _db_bytes(db: Path) -> int:
    return sum(p.stat().st_size for p in (db, db.with_name(db.name + ".wal")) if p.exists())


def _child(argv: list[str], env: dict[str, str]) -> tuple[float, float, dict[str, Any]]:
    try:
        wall, peak, out = run_child(argv, env)
    except SystemExit as exc:  # run_child ends the run on a failed child: report it instead
        return 0.0, 0.0, {"error": str(exc)[-600:]}
    return wall, peak, _result(out)


def measure(hours: float, steps: set[str], tmp: Path) -> dict[str, Any]:
    python = sys.executable
    env = dict(os.environ, PYTHONPATH=str(REPO), HYDRODIAG_DATA_DIR=str(tmp / "data"))
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    csv = tmp / f"log-{hours:g}h.csv"
    t = time.perf_counter()
    rows = generate_csv(csv, hours)
    row: dict[str, Any] = {
        "hours": hours,
        "rows": rows,
        "csv_mb": round(csv.stat().st_size / 1e6, 1),
        "generate_s": round(time.perf_counter() - t, 1),
    }
    print(f"{hours:g} h: {csv} {row['csv_mb']} MB in {row['generate_s']} s", flush=True)
    if "bare" in steps:
        db = tmp / "bare.duckdb"
        _, peak, out = run_child([python, "-c", CEILING, str(csv), str(db)])
        seconds = float(out.split()[0])
        values = rows * (len(rig_sensors()) + len(AUX))
        row["bare"] = {
            "seconds": round(seconds, 2),
            "values_per_s": round(values / seconds),
            "peak_rss_mb": round(peak, 1),
            "mb_per_million_values": round(_db_bytes(db) / values, 3),
        }
        db.unlink()
        print(f"  bare read_csv: {row['bare']}", flush=True)
    db = tmp / "ws.duckdb"
    if steps & {"import", "diagnose", "app"}:
        _, peak, res = _child([python, "-c", IMPORT, str(csv), str(db), ",".join(AUX)], env)
        if "error" not in res:
            res = {
                "seconds": round(res["seconds"], 2),
                "values": res["values"],
                "values_per_s": round(res["values"] / res["seconds"]),
                "peak_rss_mb": round(peak, 1),
                "mb_per_million_values": round(_db_bytes(db) / res["values"], 3),
            }
            if "bare" in row:
                # per CSV cell parsed: the bare table has the 3 skipped columns too
                cells = rows * (len(rig_sensors()) + len(AUX))
                res["ratio_to_bare"] = round(
                    (cells / res["seconds"]) / row["bare"]["values_per_s"], 3
                )
        row["import"] = res
        print(f"  import: {res}", flush=True)
    csv.unlink()
    if "diagnose" in steps and "error" not in row.get("import", {}):
        _, peak, res = _child([python, "-c", DIAGNOSE, str(db)], env)
        if "error" not in res:
            res["windows_per_s"] = round(res["windows"] / res["seconds"], 1)
            res["seconds"] = round(res["seconds"], 1)
            res["peak_rss_mb"] = round(peak, 1)
        row["diagnose"] = res
        print(f"  diagnose: {res}", flush=True)
    if "app" in steps and "error" not in row.get("import", {}):
        _, peak, res = _child([python, "-c", APP, str(db)], env)
        if "error" not in res:
            res["peak_rss_mb"] = round(peak, 1)
        row["app"] = res
        print(f"  app: {res}", flush=True)
    for p in tmp.glob("ws.duckdb*"):
        p.unlink()
    return row


def _cell(row: dict[str, Any], step: str, key: str) -> str:
    value = row.get(step, {}).get(key)
    if value is None:
        return "fail" if "error" in row.get(step, {}) else "-"
    if isinstance(value, dict):
        return "/".join(f"{v:.0f}" for v in value.values())
    return f"{value:,.3g}" if isinstance(value, float) and value < 100 else f"{value:,}"


def print_table(rows: list[dict[str, Any]]) -> None:
    columns = [
        ("h", None, "hours"),
        ("CSV MB", None, "csv_mb"),
        ("bare s", "bare", "seconds"),
        ("bare MiB", "bare", "peak_rss_mb"),
        ("bare MB/Mv", "bare", "mb_per_million_values"),
        ("import s", "import", "seconds"),
        ("ratio", "import", "ratio_to_bare"),
        ("import MiB", "import", "peak_rss_mb"),
        ("ws MB/Mv", "import", "mb_per_million_values"),
        ("diag s", "diagnose", "seconds"),
        ("win/s", "diagnose", "windows_per_s"),
        ("diag MiB", "diagnose", "peak_rss_mb"),
        ("open s", "app", "first_paint_s"),
        ("app MiB", "app", "peak_rss_mb"),
        ("frame ms 1/.1/.01/.0005", "app", "frame_ms"),
        ("reload ms", "app", "reload_ms"),
    ]
    widths = [max(len(title), 10) for title, _, _ in columns]
    print("  ".join(t.rjust(w) for (t, _, _), w in zip(columns, widths, strict=True)))
    for row in rows:
        cells = [
            str(row[key]) if step is None else _cell(row, step, key) for _, step, key in columns
        ]
        print("  ".join(c.rjust(w) for c, w in zip(cells, widths, strict=True)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", default="1,8", help="comma-separated log lengths (h)")
    parser.add_argument("--steps", default=",".join(STEPS), help=f"subset of {','.join(STEPS)}")
    parser.add_argument("--out", type=Path, default=RESULTS / "bench_scale.json")
    args = parser.parse_args()
    sizes = [float(h) for h in args.hours.split(",")]
    steps = set(args.steps.split(","))
    tmp = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    free = shutil.disk_usage(tmp).free
    need = max(sizes) * 3600 * RATE_HZ * 170 * 1.6  # CSV (~170 B a row) + workspace + bare
    if need > free:
        print(f"warning: {max(sizes):g} h needs about {need / 1e9:.0f} GB, {free / 1e9:.0f} free")
    rows = []
    try:
        for hours in sizes:
            rows.append(measure(hours, steps, tmp))
            print_table(rows)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "benchmark": "scale",
        "rate_hz": RATE_HZ,
        "csv_columns": len(rig_sensors()) + len(AUX),
        "sensors_imported": len(rig_sensors()),
        "rows": rows,
        "machine": f"{platform.platform()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}, load {os.getloadavg()[0]:.1f} at the end",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    args.out.write_text(json.dumps(report, indent=2))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
