"""Label import speed: `import_labels` on a large file, and its Arrow insert against executemany.

    .venv/bin/python tests/benchmarks/bench_labels_import.py [--ranges-per-component 5000]

A file of 11 components (the zema-test-rig's) × N one-minute ranges is imported into a fresh
workspace holding a 20-minute CSV log (end to end: read, validate, convert times, checks,
insert), then re-imported with ``replace=True``. The insert step alone is timed both ways on
the same rows: the registered Arrow table ``import_labels`` uses, and ``executemany`` of the
prepared rows (the alternative the house style rules out for bulk data).

Prints a table and writes tests/benchmarks/results/bench_labels_import.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from ingestion.csv_import import ingest_csv  # noqa: E402
from ingestion.labels import import_labels  # noqa: E402
from ingestion.profiles import load_profile  # noqa: E402
from ingestion.workspace import Store, open_workspace  # noqa: E402

COMPONENTS = ("M1", "MP1", "RV1", "V10", "ACC", "LV", "T", "H1", "MP2", "F1", "C1")
T0 = np.datetime64("2026-03-03T08:00:00", "s")


def _label_file(path: Path, per_component: int) -> Path:
    lines = ["component,start,end,grade,fault_type,raw_value"]
    for comp in COMPONENTS:
        for i in range(per_component):
            a = T0 + np.timedelta64(60 * i, "s")
            lines.append(f"{comp},{a},{a + np.timedelta64(60, 's')},{i % 4},,{i}")
    path.write_text("\n".join(lines) + "\n")
    return path


def _workspace(folder: Path) -> Store:
    log = folder / "log.csv"
    rows = [f"{T0 + np.timedelta64(i, 's')},{100 + i % 7}" for i in range(1200)]
    log.write_text("time,PS1\n" + "\n".join(rows) + "\n")
    store = open_workspace(folder / "ws.duckdb")
    ingest_csv(store, log, equipment_id="rig", profile=load_profile("zema-test-rig"))
    return store


def _insert_rows(n: int) -> list[tuple[object, ...]]:
    starts = T0 + np.arange(n).astype("timedelta64[s]") * 60
    return [
        ("rig", COMPONENTS[i % 11], s.item(), (s + np.timedelta64(60, "s")).item(), i % 4, None)
        for i, s in enumerate(starts)
    ]


def _time_insert(store: Store, rows: list[tuple[object, ...]], how: str) -> float:
    con = store.con
    started = time.perf_counter()
    with store.transaction():
        if how == "arrow":
            table = pa.table(
                {
                    "component_id": [r[1] for r in rows],
                    "start_ts": pa.array([r[2] for r in rows], pa.timestamp("us")),
                    "end_ts": pa.array([r[3] for r in rows], pa.timestamp("us")),
                    "grade": pa.array([r[4] for r in rows], pa.int16()),
                    "raw_value": pa.array([r[5] for r in rows], pa.string()),
                }
            )
            con.register("_bench_rows", table)
            con.execute(
                "INSERT INTO labels (equipment_id, component_id, start_ts, end_ts, grade, "
                "raw_value, origin) SELECT 'rig', component_id, start_ts, end_ts, grade, "
                "raw_value, 'file' FROM _bench_rows"
            )
            con.unregister("_bench_rows")
        else:
            con.executemany(
                "INSERT INTO labels (equipment_id, component_id, start_ts, end_ts, grade, "
                "raw_value, origin) VALUES (?, ?, ?, ?, ?, ?, 'file')",
                rows,
            )
        elapsed = time.perf_counter() - started
        con.execute("DELETE FROM labels WHERE source_id IS NULL")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ranges-per-component", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    per = args.ranges_per_component
    n = per * len(COMPONENTS)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = _label_file(folder / "labels.csv", per)
        store = _workspace(folder)
        full, again = [], []
        for _ in range(args.repeats):
            store.query("DELETE FROM labels")
            store.query("DELETE FROM sources WHERE kind = 'labels'")
            started = time.perf_counter()
            import_labels(store, path, equipment_id="rig")
            full.append(time.perf_counter() - started)
            started = time.perf_counter()
            import_labels(store, path, equipment_id="rig", replace=True)
            again.append(time.perf_counter() - started)
        store.query("DELETE FROM labels")
        rows = _insert_rows(n)
        arrow = [_time_insert(store, rows, "arrow") for _ in range(args.repeats)]
        many = [_time_insert(store, rows, "executemany") for _ in range(1)]
        store.close()
    result = {
        "ranges": n,
        "import_labels_s": statistics.median(full),
        "import_labels_replace_s": statistics.median(again),
        "insert_arrow_s": statistics.median(arrow),
        "insert_executemany_s": statistics.median(many),
    }
    print(f"{n:,} label ranges (median of {args.repeats}; executemany once)")
    print(f"{'step':<34} {'seconds':>9}")
    for key, value in result.items():
        if key != "ranges":
            print(f"{key:<34} {value:>9.3f}")
    out = REPO / "tests" / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench_labels_import.json").write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
