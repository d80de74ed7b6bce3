"""The hidden pump-rig benchmark's protocol on its proxy: learn normal from each log's first
400 samples, diagnose the whole log, score point by point — `hydrodiag fit` beside Hotelling
T² and PCA T²+Q fitted on the same samples.

    .venv/bin/python tests/benchmarks/bench_anomaly_proxy.py [--family pump|simulator] [--linear]

The logs are the seeded proxy of ``tests/pump_rig_proxy.py`` (34 logs of ~20 min at 1 Hz, 8 sensors,
valve closures and other faults as long segments; see its docstring for what it imitates and
how it was tuned). Each log goes through the product as a new user's would: a workspace, `ingest
csv --label-column anomaly`, `fit --to <sample 400>` (the first 400 samples: 300 to learn
from, 100 held out to calibrate), `evaluate anomalies` — through the same Python API the CLI
calls. Figures are pooled over all logs (the benchmark's usual point-wise protocol: every
sample of every log, the fit samples included). Also reported: the same model without its
network (the closed-form linear part alone, ``--epochs 0``), and the baselines' figures with
the same smoothing and debounce as the model's score (so that the comparison is of the
detectors, not of the post-processing).

``--family simulator``: a second, independent family — 22 logs of 20 minutes of the reference
rig from its simulator (17 sensors, 60 s load cycles) with injected closure-like restrictions,
level shifts of one sensor and leaks after the first 400 samples (``simulated_log``).

Prints a table and writes tests/benchmarks/results/bench_anomaly_proxy_<family>.json. A proxy:
its figures say how the method behaves on data built to resemble the hidden benchmark, not
what it scores there.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from statistics import NormalDist
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from gnn.anomaly import alarm_runs, moving_median  # noqa: E402
from gnn.anomaly_eval import PointFigures, evaluate_anomalies, point_figures, pooled  # noqa: E402
from ingestion.csv_import import ingest_csv  # noqa: E402
from ingestion.csv_plan import CsvOptions  # noqa: E402
from ingestion.profiles import load_profile, parse_profile_text  # noqa: E402
from ingestion.workspace import open_workspace  # noqa: E402
from tests.pump_rig_proxy import (  # noqa: E402
    FIT_SAMPLES,
    PROFILE_YAML,
    SIM_KINDS,
    START,
    ProxyLog,
    make_log,
    simulated_log,
    write_log,
    write_simulated_log,
)
from training.normal import FitOptions, FitSelection, fit_normal, register_fit  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def hotelling(log: ProxyLog, *, pca: bool, alpha: float = 0.01) -> np.ndarray:
    """T² (or PCA T² + Q) per sample with the control limit fitted on the first 400 samples."""
    x = np.stack([log.values[s] for s in sorted(log.values)], axis=1)
    train = x[:FIT_SAMPLES]
    mu, sd = train.mean(axis=0), train.std(axis=0) + 1e-12
    z, zt = (x - mu) / sd, (train - mu) / sd
    if not pca:
        inv = np.linalg.pinv(np.cov(zt.T))
        t2 = np.einsum("ij,jk,ik->i", z, inv, z)
        t2_train = np.einsum("ij,jk,ik->i", zt, inv, zt)
        return np.asarray(t2 > np.quantile(t2_train, 1 - alpha))
    values, vectors = np.linalg.eigh(np.cov(zt.T))
    order = np.argsort(values)[::-1]
    values, vectors = values[order], vectors[:, order]
    k = int(np.searchsorted(np.cumsum(values) / values.sum(), 0.9) + 1)
    p = vectors[:, :k]

    def stats(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        scores = a @ p
        t2 = (scores**2 / values[:k]).sum(axis=1)
        q = ((a - scores @ p.T) ** 2).sum(axis=1)
        return t2, q

    t2, q = stats(z)
    t2t, qt = stats(zt)
    return np.asarray((t2 > np.quantile(t2t, 1 - alpha)) | (q > np.quantile(qt, 1 - alpha)))


def smoothed(flag: np.ndarray, k: int = 15, debounce: int = 10) -> np.ndarray:
    """A baseline's alarms through the model's post-processing: the share of alarmed samples
    over a centred stretch of ``k`` above one half, then the debounce."""
    share = moving_median(flag.astype(float), k)
    mask = np.zeros(flag.size, dtype=bool)
    for a, b in alarm_runs(share * 2.0, debounce=debounce, gap=debounce):
        mask[a:b] = True
    return mask


def fit_and_score(
    log: ProxyLog, folder: Path, options: FitOptions, family: str
) -> tuple[dict[str, Any], float]:
    ws = folder / f"log{log.index}.duckdb"
    if family == "pump":
        csv = write_log(log, folder / f"log{log.index}.csv")
        profile = parse_profile_text(PROFILE_YAML, "pump-test-rig.yaml")
        csv_options = CsvOptions(label_column="anomaly", skip=("changepoint",))
    else:
        csv = write_simulated_log(log, folder / f"log{log.index}.csv")
        profile = load_profile("zema-test-rig")
        csv_options = CsvOptions(label_column="anomaly")
    with open_workspace(ws) as store:
        ingest_csv(store, csv, equipment_id="rig", profile=profile, options=csv_options)
    t0 = time.perf_counter()
    with open_workspace(ws, read_only=True) as store:
        result = fit_normal(
            store, "rig", FitSelection(end=START + timedelta(seconds=FIT_SAMPLES)), options
        )
    fit_s = time.perf_counter() - t0
    with open_workspace(ws) as store:
        register_fit(store, result, activate=True)
        evaluation = evaluate_anomalies(store, "rig")
    return evaluation.model_dump(mode="json"), fit_s


def _row(name: str, p: PointFigures) -> dict[str, Any]:
    return {
        "method": name,
        "f1": p.f1,
        "precision": p.precision,
        "recall": p.recall,
        "false_alarm_rate": p.false_alarm_rate,
        "missed_alarm_rate": p.missed_alarm_rate,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logs", type=int, default=None, help="default: 34 (pump), 22 (simulator)")
    parser.add_argument(
        "--family",
        choices=("pump", "simulator"),
        default="pump",
        help="pump: the 8-sensor pump-rig proxy; simulator: the reference rig's simulator with "
        "injected closures, level shifts and leaks (a second, independent family)",
    )
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--linear", action="store_true", help="also run the linear part alone")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    count = args.logs or (34 if args.family == "pump" else len(SIM_KINDS))
    logs = [make_log(i) if args.family == "pump" else simulated_log(i) for i in range(count)]
    args.json = args.json or RESULTS / f"bench_anomaly_proxy_{args.family}.json"
    methods: dict[str, FitOptions] = {"hydrodiag fit (GNN)": FitOptions(epochs=args.epochs)}
    if args.linear:
        methods["its linear part alone"] = FitOptions(epochs=0)
    table: list[dict[str, Any]] = []
    per_log: dict[str, list[dict[str, Any]]] = {}
    fit_times: dict[str, list[float]] = {}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for name, options in methods.items():
            evaluations = []
            for log in logs:
                report, fit_s = fit_and_score(
                    log, Path(tmp) / name.split()[0], options, args.family
                )
                evaluations.append(report)
                fit_times.setdefault(name, []).append(fit_s)
                p = report["points"]
                print(
                    f"{name} log {log.index:2d} ({log.kind:9s}) F1 {p['f1'] or 0:.3f} "
                    f"FAR {100 * (p['false_alarm_rate'] or 0):5.1f} % fit {fit_s:.1f} s",
                    flush=True,
                )
            per_log[name] = evaluations
            from gnn.anomaly_eval import AnomalyEvaluation

            table.append(
                _row(name, pooled([AnomalyEvaluation.model_validate(e) for e in evaluations]))
            )
    for name, pca in (("Hotelling T²", False), ("PCA T²+Q", True)):
        flags = [hotelling(log, pca=pca) for log in logs]
        truth = [log.label.astype(np.int8) for log in logs]
        raw = point_figures(np.concatenate(flags), np.concatenate(truth))
        post = point_figures(np.concatenate([smoothed(f) for f in flags]), np.concatenate(truth))
        table.append(_row(f"{name} (per sample, 99 % limit)", raw))
        table.append(_row(f"{name} + the model's smoothing and debounce", post))
    print()
    print(f"{'method':52s} {'F1':>6s} {'prec':>6s} {'recall':>6s} {'FAR':>7s} {'MAR':>7s}")
    for row in table:
        print(
            f"{row['method']:52s} {row['f1']:6.3f} {row['precision']:6.3f} {row['recall']:6.3f} "
            f"{100 * row['false_alarm_rate']:6.1f}% {100 * row['missed_alarm_rate']:6.1f}%"
        )
    for name, times in fit_times.items():
        print(f"{name}: fit {np.median(times):.1f} s median, {max(times):.1f} s max per log")
    report = {
        "what": "proxy of the hidden pump-rig benchmark (tests/pump_rig_proxy.py): "
        "fit on each log's first 400 samples, score every sample of every log, pooled",
        "family": args.family,
        "logs": count,
        "table": table,
        "fit_seconds": {
            k: {"median": float(np.median(v)), "max": max(v)} for k, v in fit_times.items()
        },
        "per_log": per_log,
        "seconds": time.perf_counter() - started,
        "z_99": NormalDist().inv_cdf(0.99),
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
