"""How long `hydrodiag fit` takes, end to end, on this machine.

    .venv/bin/python tests/benchmarks/bench_fit_speed.py [--skip-long]

Cases (each a fresh workspace; the import is not timed, the fit is: `hydrodiag fit` as a
process, so interpreter and torch start-up, reading the stretch, the closed-form part, the
network, the ONNX export with its parity check, the calibration and the registration all
count):

- 8 h of 1 Hz data on the 17-sensor reference-rig profile (the rig simulator, healthy):
  target ≤ 5 min;
- a 20-minute log on the same profile: target ≤ 30 s;
- a 20-minute log of the 8-sensor pump rig (tests/pump_rig_proxy.py): target ≤ 30 s.

Prints a table and writes tests/benchmarks/results/bench_fit_speed.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from ingestion.simulator import get_scenario, write_simulated_csv  # noqa: E402
from tests.pump_rig_proxy import PROFILE_YAML, make_log, write_log  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
HYDRODIAG = REPO / ".venv" / "bin" / "hydrodiag"


def _run(*args: str) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(
        [str(HYDRODIAG), *args], capture_output=True, text=True, env=dict(os.environ), check=False
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"hydrodiag {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return seconds, done.stdout


def case(name: str, folder: Path, csv: Path, profile: str, target_s: float) -> dict[str, Any]:
    ws = folder / f"{name}.duckdb"
    _run(
        "--workspace",
        str(ws),
        "ingest",
        "csv",
        str(csv),
        "--equipment",
        "m",
        "--profile",
        profile,
        "--ignore-unknown",
    )
    seconds, _ = _run(
        "--workspace", str(ws), "fit", "-e", "m", "--json", str(folder / f"{name}.json")
    )
    report = json.loads((folder / f"{name}.json").read_text())
    card = report["card"]
    return {
        "case": name,
        "samples": card["data"]["train_samples"] + card["data"]["held_out_samples"],
        "sensors": len(card["calibration"]["learned_ranges"]),
        "window_s": card["window"]["length_s"],
        "train_windows": card["data"]["train_windows"],
        "epochs": card["training"]["epochs_run"],
        "stopped": card["training"]["stopped"],
        "fit_inside_s": card["training"]["seconds"],
        "wall_s": round(seconds, 1),
        "target_s": target_s,
        "met": seconds <= target_s,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-long", action="store_true", help="leave the 8 h case out")
    parser.add_argument("--json", type=Path, default=RESULTS / "bench_fit_speed.json")
    args = parser.parse_args()
    rows = []
    start = datetime(2026, 3, 2, 6, 0, 0)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        profile = folder / "pump.yaml"
        profile.write_text(PROFILE_YAML, encoding="utf-8")
        pump = write_log(make_log(5), folder / "pump.csv")
        short = folder / "rig20.csv"
        write_simulated_csv(short, get_scenario("healthy"), 20 * 60, start=start, seed=1, rate_hz=1)
        cases = [
            ("20 min, pump rig, 8 sensors", pump, str(profile), 30.0),
            ("20 min, reference rig, 17 sensors", short, "zema-test-rig", 30.0),
        ]
        if not args.skip_long:
            long = folder / "rig8h.csv"
            write_simulated_csv(
                long, get_scenario("healthy"), 8 * 3600, start=start, seed=2, rate_hz=1
            )
            cases.append(("8 h, reference rig, 17 sensors", long, "zema-test-rig", 300.0))
        for name, csv, prof, target in cases:
            row = case(
                name.split(",")[0].replace(" ", "") + str(len(rows)), folder, csv, prof, target
            )
            row["case"] = name
            rows.append(row)
            print(json.dumps(row), flush=True)
    print()
    print(
        f"{'case':36s} {'samples':>8s} {'window':>7s} {'windows':>8s} {'epochs':>6s} {'wall s':>7s} {'target':>7s}"
    )
    for r in rows:
        print(
            f"{r['case']:36s} {r['samples']:>8,d} {r['window_s']:>6g}s {r['train_windows']:>8d} "
            f"{r['epochs']:>6d} {r['wall_s']:>7.1f} {'≤ ' + str(int(r['target_s'])):>7s}"
            f" {'met' if r['met'] else 'MISSED'}"
        )
    load = os.getloadavg()
    print(f"load average during the run: {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps({"cases": rows, "load_average": load, "cpu_count": os.cpu_count()}, indent=2),
        encoding="utf-8",
    )
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
