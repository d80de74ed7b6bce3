"""Learned normal on the reference rig (the shared UCI data): fitted on its healthy cycles only,
scored on the cycles of the other blocks, per component, beside Hotelling T² and PCA T²+Q
fitted on the same cycles.

    .venv/bin/python tests/benchmarks/bench_anomaly_uci.py [--epochs 30]

The shared data (1805 cycles of 60 s at 1 Hz) holds 21 cycles with every component in optimal
condition, in blocks 14 and 15 of 100 (cycles 1365-1374, 1457, 1488-1497). `hydrodiag fit`
learns from exactly those: the stretch is cycles 1365-1497, and its labelled faults (every
other cycle there) are left out, as `--labelled-faults exclude` does; the last quarter of the
stretch (10 healthy cycles) is held out to calibrate. Scored: every cycle outside blocks 14-15
(1605 cycles, contiguous blocks, never a random split).

Per component with sensors (C1 cooler, V10 valve, MP1 pump): ROC-AUC of the cycle's score for
"this component is degraded" (grade > 0) against "it is at grade 0" (the other components in
any condition: degraded neighbours move a component's sensors too, which is what a learned
normal cannot tell apart), and F1 of the model's own alarm (the cycle's median score above its
calibrated threshold). The cycle's score: the median over its samples of the component's
calibrated score (model) or of the per-sample statistic on the component's sensors (baselines,
fitted on the same 21 cycles' samples, limit at their 99 % quantile). The accumulator has no
sensor: the model does not assess it; the machine-wide score's AUC for it is given for
information. Prints a table and writes tests/benchmarks/results/bench_anomaly_uci.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from gnn.anomaly import EQUIPMENT, Series, assess_series, calibration_of, read_series  # noqa: E402
from gnn.quality import check_quality  # noqa: E402
from gnn.registry import load_entry  # noqa: E402
from ingestion.catalog import equipment_profile  # noqa: E402
from ingestion.uci import read_uci_folder  # noqa: E402
from ingestion.uci_import import ingest_uci  # noqa: E402
from ingestion.workspace import open_workspace  # noqa: E402
from training.normal import FitOptions, FitSelection, fit_normal, register_fit  # noqa: E402

UCI = REPO.parent / "shared" / "data" / "uci-hydraulic-1hz"
RESULTS = Path(__file__).resolve().parent / "results"
COMPONENTS = {
    "C1": ("cooler", ["TS2", "TS4", "CE", "CP"]),
    "V10": ("valve", ["PS2"]),
    "MP1": ("pump", ["PS1", "FS1", "VS1", "SE"]),
    "ACC": ("accumulator", []),
}
FIT_BLOCKS = (13, 14)  # 0-based blocks of 100 cycles (cycle numbers 1301-1500)


def auc(scores: np.ndarray, positive: np.ndarray) -> float | None:
    """ROC-AUC by ranks (ties count half)."""
    pos, neg = scores[positive], scores[~positive]
    if not pos.size or not neg.size:
        return None
    order = np.argsort(np.concatenate([pos, neg]), kind="stable")
    ranks = np.empty(order.size)
    values = np.concatenate([pos, neg])[order]
    i = 0
    while i < len(values):
        j = i
        while j + 1 < len(values) and values[j + 1] == values[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return float((ranks[: pos.size].sum() - pos.size * (pos.size + 1) / 2) / (pos.size * neg.size))


def f1(flag: np.ndarray, positive: np.ndarray) -> float:
    tp = int((flag & positive).sum())
    fp = int((flag & ~positive).sum())
    fn = int((~flag & positive).sum())
    return 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0


def baseline_scores(train: np.ndarray, test: np.ndarray, *, pca: bool) -> tuple[np.ndarray, float]:
    """Per-sample T² (or PCA T²+Q, both normalised by their limits and the larger taken) on
    ``test`` rows, fitted on ``train`` rows; and the limit (1.0 after normalising)."""
    mu, sd = train.mean(axis=0), train.std(axis=0) + 1e-9
    zt, z = (train - mu) / sd, (test - mu) / sd
    if not pca or zt.shape[1] == 1:
        inv = np.linalg.pinv(np.atleast_2d(np.cov(zt.T)))
        t2t = np.einsum("ij,jk,ik->i", zt, inv, zt)
        t2 = np.einsum("ij,jk,ik->i", z, inv, z)
        limit = float(np.quantile(t2t, 0.99))
        return t2 / limit, 1.0
    values, vectors = np.linalg.eigh(np.cov(zt.T))
    order = np.argsort(values)[::-1]
    values, vectors = values[order], vectors[:, order]
    k = int(np.searchsorted(np.cumsum(values) / values.sum(), 0.9) + 1)
    p = vectors[:, :k]

    def stats(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        s = a @ p
        return (s**2 / values[:k]).sum(axis=1), ((a - s @ p.T) ** 2).sum(axis=1)

    t2t, qt = stats(zt)
    t2, q = stats(z)
    return np.maximum(t2 / np.quantile(t2t, 0.99), q / np.quantile(qt, 0.99)), 1.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--json", type=Path, default=RESULTS / "bench_anomaly_uci.json")
    args = parser.parse_args()
    started = time.perf_counter()
    data = read_uci_folder(UCI)
    grades = data.grades()
    cycles = np.asarray(data.cycle_numbers)
    healthy = np.all([grades[c] == 0 for c in ("C1", "V10", "MP1", "ACC")], axis=0)
    block = np.arange(len(cycles)) // 100
    in_fit_blocks = np.isin(block, FIT_BLOCKS)
    fit_cycles = cycles[healthy & in_fit_blocks]
    scored = ~in_fit_blocks
    with tempfile.TemporaryDirectory() as tmp:
        ws = Path(tmp) / "uci.duckdb"
        with open_workspace(ws) as store:
            ingest_uci(store, UCI, equipment_id="rig")
            rows = store.query(
                "SELECT cycle_no, start_ts, end_ts FROM cycles WHERE equipment_id = 'rig' "
                "ORDER BY cycle_no"
            )
        times = {int(r[0]): (r[1], r[2]) for r in rows}
        stretch = FitSelection(
            start=times[int(fit_cycles[0])][0], end=times[int(fit_cycles[-1])][1]
        )
        t0 = time.perf_counter()
        with open_workspace(ws, read_only=True) as store:
            result = fit_normal(store, "rig", stretch, FitOptions(epochs=args.epochs))
        fit_s = time.perf_counter() - t0
        print(
            f"fitted on {result.card['data']['train_samples']} + "
            f"{result.card['data']['held_out_samples']} samples in {fit_s:.0f} s; "
            f"window {result.card['window']['length_s']:g} s ({result.card['window']['how']})"
        )
        with open_workspace(ws) as store:
            entry = register_fit(store, result, activate=True).entry
            model = load_entry(store, entry, provider="cpu")
            calibration = calibration_of(model)
            assert calibration is not None
            profile = equipment_profile(store.cursor(), "rig")
            first, last = times[int(cycles[0])][0], times[int(cycles[-1])][1]
            series = read_series(
                store, "rig", model.graph_spec.sensor_ids, start=first, end=last, rate_hz=1.0
            )
        quality = check_quality(
            {k: v[None, :] for k, v in series.values.items()},
            starts=[series.start],
            ends=[series.time(series.length)],
            rate_hz=1.0,
            profile=profile,
            spec=model.graph_spec,
            min_window_valid=0.0,
        )
        cleaned = Series(series.start, 1.0, {k: v[0] for k, v in quality.values.items()})
        assessed = assess_series(
            lambda x, m: model.run(x, m).forecast, model.graph_spec, calibration, cleaned
        )
    index = np.asarray([series.index(times[int(c)][0]) for c in cycles])
    per_cycle = np.arange(60)[None, :] + index[:, None]

    def cycle_median(a: np.ndarray) -> np.ndarray:
        return np.nanmedian(a[per_cycle], axis=1)

    fit_rows = np.concatenate([per_cycle[i] for i in np.flatnonzero(healthy & in_fit_blocks)])
    table: list[dict[str, Any]] = []
    learned_cooler = grades["C1"][scored] == 0  # the operating point of the fit's cycles
    for comp, (what, sensors) in COMPONENTS.items():
        positive = grades[comp][scored] > 0
        entry_row: dict[str, Any] = {
            "component": f"{comp} ({what})",
            "degraded_cycles": int(positive.sum()),
            "healthy_cycles": int((~positive).sum()),
        }
        key = comp if sensors else EQUIPMENT
        model_score = cycle_median(assessed.ratios[key])[scored]
        entry_row["gnn_auc"] = auc(model_score, positive)
        entry_row["gnn_f1"] = f1(model_score > 1.0, positive)
        if comp != "C1":
            entry_row["gnn_auc_at_learned_cooler"] = auc(
                model_score[learned_cooler], positive[learned_cooler]
            )
        entry_row["gnn_scope"] = "component" if sensors else "machine (not assessed)"
        columns = sensors or list(model.graph_spec.sensor_ids)
        x = np.stack([series.values[s] for s in columns], axis=1).astype(np.float64)
        train = x[fit_rows]
        train = train[np.isfinite(train).all(axis=1)]
        test_rows = np.isfinite(x).all(axis=1)
        for name, pca in (("t2", False), ("pca", True)):
            stat = np.full(len(x), np.nan)
            stat[test_rows], limit = baseline_scores(train, x[test_rows], pca=pca)
            score = cycle_median(stat)[scored]
            entry_row[f"{name}_auc"] = auc(score, positive)
            entry_row[f"{name}_f1"] = f1(score > limit, positive)
            if comp != "C1":
                entry_row[f"{name}_auc_at_learned_cooler"] = auc(
                    score[learned_cooler], positive[learned_cooler]
                )
        table.append(entry_row)
    print()
    print(
        f"{'component':18s} {'degraded':>8s} {'ok':>5s} | {'GNN AUC':>8s} {'F1':>5s} | "
        f"{'T² AUC':>7s} {'F1':>5s} | {'PCA AUC':>8s} {'F1':>5s}"
    )
    for r in table:

        def fmt(v: float | None) -> str:
            return "—" if v is None else f"{v:.3f}"

        print(
            f"{r['component']:18s} {r['degraded_cycles']:>8d} {r['healthy_cycles']:>5d} | "
            f"{fmt(r['gnn_auc']):>8s} {fmt(r['gnn_f1']):>5s} | {fmt(r['t2_auc']):>7s} "
            f"{fmt(r['t2_f1']):>5s} | {fmt(r['pca_auc']):>8s} {fmt(r['pca_f1']):>5s}"
            + ("   (machine score; ACC is not assessed)" if r["gnn_scope"] != "component" else "")
        )
    print()
    print("ROC-AUC within the cycles at the fit's cooler condition (100 %: 405 cycles), where the")
    print("others lie outside the learned operating range:")
    for r in table:
        if "gnn_auc_at_learned_cooler" in r:
            print(
                f"  {r['component']:18s} GNN {r['gnn_auc_at_learned_cooler']:.3f}  "
                f"T² {r['t2_auc_at_learned_cooler']:.3f}  PCA {r['pca_auc_at_learned_cooler']:.3f}"
            )
    report = {
        "what": __doc__.split("\n\n")[2] if __doc__ else "",
        "fit_cycles": [int(c) for c in fit_cycles],
        "fit_seconds": fit_s,
        "window_s": result.card["window"]["length_s"],
        "table": table,
        "seconds": time.perf_counter() - started,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2), encoding="utf-8")
    print(f"wrote {args.json} ({report['seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
