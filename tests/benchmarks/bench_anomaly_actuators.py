"""Learned normal on a machine HydroDiag has never seen: six real rotary actuators
(../shared/data/hydraulic-actuators, two of them damaged). Learn normal from three healthy
units, score the fourth (healthy, never seen) against the gear-damaged and the seal-defect
unit, rotating which healthy unit is held out; beside Hotelling T² fitted on the same files.

    .venv/bin/python tests/benchmarks/bench_anomaly_actuators.py [--epochs 30] [--rate 10]

As a new user would: a profile written for the stand (below), each unit's recordings joined
into one logger CSV and imported with `ingest csv`; the three training units into one
equipment (each a source), `fit` on all of it, the model activated on each scored unit.
Recording times: the files of a unit follow each other 12 s apart (their names' clock), and
the 3000 samples of a file are taken as 250 Hz (12 s; the data set does not state its rate);
the model reads ``--rate`` Hz. Sensors: the data set's own baseline set (Accel_1-3, Angle,
Temp_1, Temp_2, PG_1, PG_2, Lim_2), all samples of every file.

Per recording (one file = one operation of the actuator): its score is the 90th percentile
over its samples of the calibrated machine score (the model) or of the per-sample T² over its
limit (the 99 % quantile on the training files) — an operation is flagged when a tenth of it
lies above the threshold; ROC-AUC of gear-damaged / seal-defect recordings against the
held-out healthy unit's, F1 of the flags, and the share of the healthy unit's recordings
flagged. Prints a table and writes tests/benchmarks/results/bench_anomaly_actuators.json.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tarfile
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from gnn.anomaly import EQUIPMENT, Series, assess_series, calibration_of, read_series  # noqa: E402
from gnn.quality import check_quality  # noqa: E402
from gnn.registry import activate, load_entry  # noqa: E402
from ingestion.catalog import equipment_profile  # noqa: E402
from ingestion.csv_import import ingest_csv  # noqa: E402
from ingestion.profiles import parse_profile_text  # noqa: E402
from ingestion.workspace import open_workspace  # noqa: E402
from tests.benchmarks.bench_anomaly_uci import auc, f1  # noqa: E402
from training.normal import FitOptions, FitSelection, fit_normal, register_fit  # noqa: E402

DATA = REPO.parent / "shared" / "data" / "hydraulic-actuators" / "actuators.tar.gz"
RESULTS = Path(__file__).resolve().parent / "results"
SENSORS = ("Accel_1", "Accel_2", "Accel_3", "Angle", "Temp_1", "Temp_2", "PG_1", "PG_2", "Lim_2")
FILE_RATE = 250.0  # assumed: 3000 samples in the ~12 s between a unit's recordings
HEALTHY = ("Act_1", "Act_2", "Act_5", "Act_6")
DAMAGED = {"gear damage": "Act_3 (Gear Damage)", "seal defect": "Act_4 (Seal Defect)"}

PROFILE = """\
id: rotary-actuator-stand
name: Rotary actuator test stand (eCBM sensor node)
kind: test stand
components:
  - {id: VB, type: control_valve_block, name: Directional valve block}
  - {id: ACT, type: hydraulic_motor, name: Rotary actuator}
  - {id: T, type: tank, name: Tank}
sensors:
  - {id: PG_1, quantity: pressure, unit: count, component: VB, rate_hz: 250, min: 0, max: 65535}
  - {id: PG_2, quantity: pressure, unit: count, component: VB, rate_hz: 250, min: 0, max: 65535}
  - {id: Accel_1, quantity: vibration_acceleration, unit: count, component: ACT, rate_hz: 250, min: 0, max: 65535}
  - {id: Accel_2, quantity: vibration_acceleration, unit: count, component: ACT, rate_hz: 250, min: 0, max: 65535}
  - {id: Accel_3, quantity: vibration_acceleration, unit: count, component: ACT, rate_hz: 250, min: 0, max: 65535}
  - {id: Angle, quantity: position, unit: count, component: ACT, rate_hz: 250, min: 0, max: 65535}
  - {id: Lim_2, quantity: virtual, unit: count, component: ACT, rate_hz: 250, min: 0, max: 65535}
  - {id: Temp_1, quantity: temperature, unit: count, component: ACT, rate_hz: 250, min: 0, max: 65535}
  - {id: Temp_2, quantity: temperature, unit: count, component: ACT, rate_hz: 250, min: 0, max: 65535}
connections:
  - {source: VB, target: ACT, kind: pressure_line}
  - {source: ACT, target: VB, kind: return_line}
  - {source: VB, target: T, kind: return_line}
  - {source: T, target: VB, kind: suction_line}
"""

_STAMP = re.compile(r"_(\d+)-(\d+)-(\d{4})-(\d+)-(\d+)-(\d+) (AM|PM)\.txt$")


def _stamp(name: str) -> datetime:
    m = _STAMP.search(name)
    if m is None:
        raise ValueError(f"{name}: no recording time in the name")
    month, day, year, hour, minute, second, half = m.groups()
    h = int(hour) % 12 + (12 if half == "PM" else 0)
    return datetime(int(year), int(month), int(day), h, int(minute), int(second))


def unit_csv(
    root: Path, unit: str, out: Path, base: datetime
) -> tuple[Path, list[tuple[datetime, datetime]]]:
    """One CSV of a unit's recordings, moved to start at ``base``; each recording's span."""
    files = sorted((root / unit).glob("*.txt"), key=lambda p: _stamp(p.name))
    first = _stamp(files[0].name)
    spans = []
    with out.open("w", encoding="utf-8") as fh:
        fh.write("time," + ",".join(SENSORS) + "\n")
        for f in files:
            table = np.genfromtxt(f, delimiter="\t", names=True, usecols=range(15))
            start = base + (_stamp(f.name) - first)
            offsets = np.arange(len(table)) / FILE_RATE
            stamps = [start + timedelta(seconds=float(o)) for o in offsets]
            cols = np.stack([table[s] for s in SENSORS], axis=1)
            for ts, row in zip(stamps, cols, strict=True):
                fh.write(
                    ts.isoformat(timespec="microseconds")
                    + ","
                    + ",".join(f"{v:g}" for v in row)
                    + "\n"
                )
            spans.append((start, stamps[-1] + timedelta(seconds=1 / FILE_RATE)))
    return out, spans


def t2_scores(train: np.ndarray, test: np.ndarray) -> np.ndarray:
    mu, sd = train.mean(axis=0), train.std(axis=0) + 1e-9
    zt, z = (train - mu) / sd, (test - mu) / sd
    inv = np.linalg.pinv(np.cov(zt.T))
    limit = np.quantile(np.einsum("ij,jk,ik->i", zt, inv, zt), 0.99)
    return np.asarray(np.einsum("ij,jk,ik->i", z, inv, z) / limit)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--rate", type=float, default=10.0)
    parser.add_argument("--folds", default="1,2,3,4", help="which held-out healthy units, 1-4")
    parser.add_argument("--json", type=Path, default=RESULTS / "bench_anomaly_actuators.json")
    args = parser.parse_args()
    started = time.perf_counter()
    profile = parse_profile_text(PROFILE, "rotary-actuator-stand.yaml")
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        with tarfile.open(DATA) as tar:
            tar.extractall(folder, filter="data")
        root = folder / "Data"
        csvs: dict[str, tuple[Path, list[tuple[datetime, datetime]]]] = {}
        for k, unit in enumerate([*HEALTHY, *DAMAGED.values()]):
            base = datetime(2020, 1, 1 + 2 * k)
            csvs[unit] = unit_csv(root, unit, folder / f"unit{k}.csv", base)
        print(f"wrote the units' CSVs ({time.perf_counter() - started:.0f} s)", flush=True)
        for fold in (int(f) for f in args.folds.split(",")):
            held = HEALTHY[fold - 1]
            train_units = [u for u in HEALTHY if u != held]
            ws = folder / f"fold{fold}.duckdb"
            with open_workspace(ws) as store:
                for u in train_units:  # one source each: `fit --sources` would name them
                    ingest_csv(store, csvs[u][0], equipment_id="fleet", profile=profile)
                for name, u in [("healthy", held), *DAMAGED.items()]:
                    ingest_csv(
                        store, csvs[u][0], equipment_id=name.replace(" ", "-"), profile=profile
                    )
            t0 = time.perf_counter()
            with open_workspace(ws, read_only=True) as store:
                result = fit_normal(
                    store,
                    "fleet",
                    FitSelection(),
                    FitOptions(epochs=args.epochs, rate_hz=args.rate),
                )
            fit_s = time.perf_counter() - t0
            print(
                f"fold {fold}: held out {held}; fitted in {fit_s:.0f} s, window "
                f"{result.card['window']['length_s']:g} s ({result.card['window']['how']})",
                flush=True,
            )
            scores: dict[str, dict[str, np.ndarray]] = {}
            with open_workspace(ws) as store:
                entry = register_fit(store, result).entry
                model = load_entry(store, entry, provider="cpu")
                calibration = calibration_of(model)
                assert calibration is not None
                train_x = []
                for u in train_units:
                    s = read_series(
                        store,
                        "fleet",
                        SENSORS,
                        start=csvs[u][1][0][0],
                        end=csvs[u][1][-1][1],
                        rate_hz=args.rate,
                    )
                    train_x.append(np.stack([s.values[c] for c in SENSORS], axis=1))
                train = np.concatenate(train_x)
                train = train[np.isfinite(train).all(axis=1)]
                for name, u in [("healthy", held), *DAMAGED.items()]:
                    eq = name.replace(" ", "-")
                    activate(store, eq, entry.key)
                    spans = csvs[u][1]
                    series = read_series(
                        store,
                        eq,
                        model.graph_spec.sensor_ids,
                        start=spans[0][0],
                        end=spans[-1][1],
                        rate_hz=args.rate,
                    )
                    quality = check_quality(
                        {k: v[None, :] for k, v in series.values.items()},
                        starts=[series.start],
                        ends=[series.time(series.length)],
                        rate_hz=args.rate,
                        profile=equipment_profile(store.cursor(), eq),
                        spec=model.graph_spec,
                        min_window_valid=0.0,
                    )
                    cleaned = Series(
                        series.start, args.rate, {k: v[0] for k, v in quality.values.items()}
                    )
                    assessed = assess_series(
                        lambda x, m, model=model: model.run(x, m).forecast,
                        model.graph_spec,
                        calibration,
                        cleaned,
                    )
                    x = np.stack([series.values[c] for c in SENSORS], axis=1).astype(np.float64)
                    ok = np.isfinite(x).all(axis=1)
                    t2 = np.full(len(x), np.nan)
                    t2[ok] = t2_scores(train, x[ok])
                    per_file = {"gnn": [], "t2": []}
                    for a, b in spans:
                        lo, hi = series.index(a), series.index(b)
                        per_file["gnn"].append(
                            float(np.nanquantile(assessed.ratios[EQUIPMENT][lo:hi], 0.9))
                        )
                        per_file["t2"].append(float(np.nanquantile(t2[lo:hi], 0.9)))
                    scores[name] = {k: np.asarray(v) for k, v in per_file.items()}
            for damage in DAMAGED:
                row: dict[str, Any] = {
                    "fold": fold,
                    "held_out": held,
                    "damage": damage,
                    "fit_seconds": round(fit_s, 1),
                }
                for method in ("gnn", "t2"):
                    neg, pos = scores["healthy"][method], scores[damage][method]
                    values = np.concatenate([neg, pos])
                    truth = np.concatenate([np.zeros(neg.size, bool), np.ones(pos.size, bool)])
                    row[f"{method}_auc"] = auc(values, truth)
                    row[f"{method}_f1"] = f1(values > 1.0, truth)
                    row[f"{method}_healthy_flagged"] = float((neg > 1.0).mean())
                rows.append(row)
                print(json.dumps(row), flush=True)
    print()
    print(
        f"{'held out':10s} {'damage':12s} | {'GNN AUC':>8s} {'F1':>5s} {'healthy flagged':>15s} | "
        f"{'T² AUC':>7s} {'F1':>5s} {'healthy flagged':>15s}"
    )
    for r in rows:
        print(
            f"{r['held_out']:10s} {r['damage']:12s} | {r['gnn_auc']:8.3f} {r['gnn_f1']:5.3f} "
            f"{100 * r['gnn_healthy_flagged']:14.0f}% | {r['t2_auc']:7.3f} {r['t2_f1']:5.3f} "
            f"{100 * r['t2_healthy_flagged']:14.0f}%"
        )
    for damage in DAMAGED:
        sel = [r for r in rows if r["damage"] == damage]
        print(
            f"mean over folds, {damage:12s}: GNN AUC {np.mean([r['gnn_auc'] for r in sel]):.3f} "
            f"F1 {np.mean([r['gnn_f1'] for r in sel]):.3f} | T² AUC "
            f"{np.mean([r['t2_auc'] for r in sel]):.3f} F1 {np.mean([r['t2_f1'] for r in sel]):.3f}"
        )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps(
            {"rows": rows, "rate_hz": args.rate, "seconds": time.perf_counter() - started}, indent=2
        ),
        encoding="utf-8",
    )
    print(f"wrote {args.json} ({time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
