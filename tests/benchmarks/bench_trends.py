"""Health-trend band: coverage under autocorrelated noise and cost, corrected vs Sen's i.i.d. band.

    .venv/bin/python tests/benchmarks/bench_trends.py [--reps 200]

1. Coverage: seeded AR(1) noise (phi 0, 0.5, 0.7, 0.9; innovation sd 0.01) on a health line
   falling 0.02 per operating hour, 60 s windows; the fraction of replications whose nominal
   95 % band contains the true rate, for the band fit_trend reports now (widened with the
   residuals' lag-1 autocorrelation) and for Sen's i.i.d. band of the same fit (before);
   median band widths in health per 100 h.
2. Time to the critical threshold: the fraction of the same replications whose reported band
   (low, high) contains the true time to the critical threshold on the noise-free line, for the
   band fit_trend reports now (the band's lines pivot on the middle of the data) and for the
   same slopes pivoted at the present health (before: treats the current level as exact).
3. Cost: fit_trend per component (the engine calls it once per graded component per
   diagnosis) at 150, 300 and 600 windows (600 = RECENT_POINTS, thinned to 300 for the pairs),
   corrected vs i.i.d. band.

Prints tables and writes tests/benchmarks/results/bench_trends.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

import gnn.trends as trends  # noqa: E402
from gnn.results import StatusThresholds  # noqa: E402

T0 = datetime(2026, 1, 1)
SLOPE = -0.02  # health per operating hour


def ar1(rng: np.random.Generator, n: int, phi: float, sd: float) -> np.ndarray:
    """Stationary AR(1) noise: e[t] = phi e[t-1] + N(0, sd²) (also used by tests/gnn/test_trends.py)."""
    shocks = rng.normal(0.0, sd, n)
    out = np.empty(n)
    out[0] = shocks[0] / np.sqrt(1.0 - phi**2)
    for t in range(1, n):
        out[t] = phi * out[t - 1] + shocks[t]
    return out


def _history(n: int, health: np.ndarray) -> trends.HealthHistory:
    starts = [T0 + timedelta(minutes=i) for i in range(n)]
    ends = [s + timedelta(minutes=1) for s in starts]
    return trends.make_history("C1", starts, ends, health)


def coverage(n: int, phi: float, reps: int) -> dict[str, Any]:
    rng = np.random.default_rng(20261130)
    hours = trends.operating_hours(
        [T0 + timedelta(minutes=i) for i in range(n)],
        [T0 + timedelta(minutes=i + 1) for i in range(n)],
    )
    hit = {"corrected": 0, "iid": 0}
    width: dict[str, list[float]] = {"corrected": [], "iid": []}
    n_eff = []
    for _ in range(reps):
        y = 0.9 + SLOPE * hours + ar1(rng, n, phi, 0.01)
        for kind, flag in (("corrected", True), ("iid", False)):
            fit = trends.fit_slope(hours, y, autocorrelation=flag)
            hit[kind] += fit.low <= SLOPE <= fit.high
            width[kind].append(100.0 * (fit.high - fit.low))
            if flag:
                n_eff.append(fit.n_eff)
    return {
        "n": n,
        "phi": phi,
        "reps": reps,
        "coverage_corrected": hit["corrected"] / reps,
        "coverage_iid": hit["iid"] / reps,
        "median_width_corrected_per_100h": float(np.median(width["corrected"])),
        "median_width_iid_per_100h": float(np.median(width["iid"])),
        "median_n_eff": float(np.median(n_eff)),
    }


def time_coverage(n: int, phi: float, reps: int) -> dict[str, Any]:
    rng = np.random.default_rng(20261201)
    starts = [T0 + timedelta(minutes=i) for i in range(n)]
    ends = [s + timedelta(minutes=1) for s in starts]
    hours = trends.operating_hours(starts, ends)
    critical = StatusThresholds().critical
    truth = (0.9 + SLOPE * hours[-1] - critical) / -SLOPE
    hit = {"centre": 0, "present": 0}
    width: dict[str, list[float]] = {"centre": [], "present": []}
    for _ in range(reps):
        y = 0.9 + SLOPE * hours + ar1(rng, n, phi, 0.01)
        trend = trends.fit_trend(trends.make_history("C1", starts, ends, y))
        fit = trends.fit_slope(hours, y)
        now = float(np.clip(fit.intercept + fit.slope * hours[-1], 0.0, 1.0))
        bands = {
            "centre": (trend.hours_to_critical_low, trend.hours_to_critical_high),
            "present": (
                trends._hours_to(critical, now, fit.low),
                trends._hours_to(critical, now, fit.high),
            ),
        }
        for kind, (low, high) in bands.items():
            upper = np.inf if high is None else high
            hit[kind] += (low if low is not None else np.inf) <= truth <= upper
            width[kind].append(upper - (low if low is not None else np.inf))
    return {
        "n": n,
        "phi": phi,
        "reps": reps,
        "true_hours_to_critical": float(truth),
        "coverage_centre_pivot": hit["centre"] / reps,
        "coverage_present_pivot": hit["present"] / reps,
        "median_width_centre_h": float(np.median(width["centre"])),
        "median_width_present_h": float(np.median(width["present"])),
    }


def cost(n: int, repeat: int) -> dict[str, Any]:
    rng = np.random.default_rng(1)
    history = _history(n, 0.9 + SLOPE * np.arange(n) / 60 + ar1(rng, n, 0.7, 0.01))
    out: dict[str, Any] = {"n": n}
    original = trends.fit_slope
    for kind, flag in (("corrected", True), ("iid", False)):

        def patched(x: Any, y: Any, *, z: float = trends.Z_95, autocorrelation: bool = flag) -> Any:
            return original(x, y, z=z, autocorrelation=autocorrelation)

        trends.fit_slope = patched  # type: ignore[assignment]
        try:
            trends.fit_trend(history)
            times = []
            for _ in range(repeat):
                t = time.perf_counter()
                trends.fit_trend(history)
                times.append((time.perf_counter() - t) * 1000)
        finally:
            trends.fit_slope = original  # type: ignore[assignment]
        out[f"{kind}_p50_ms"] = float(np.percentile(times, 50))
        out[f"{kind}_p95_ms"] = float(np.percentile(times, 95))
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()
    rows = [coverage(n, phi, args.reps) for n in (150, 600) for phi in (0.0, 0.5, 0.7, 0.9)]
    print("coverage of the true rate by the nominal 95 % band")
    print(f"{'n':>5} {'phi':>4} {'corrected':>10} {'iid':>6} {'width c':>8} {'width i':>8} n_eff")
    for r in rows:
        print(
            f"{r['n']:>5} {r['phi']:>4} {r['coverage_corrected']:>10.3f} {r['coverage_iid']:>6.3f}"
            f" {r['median_width_corrected_per_100h']:>8.3f} {r['median_width_iid_per_100h']:>8.3f}"
            f" {r['median_n_eff']:.0f}"
        )
    times = [time_coverage(n, phi, args.reps) for n in (150, 600) for phi in (0.0, 0.5, 0.7)]
    print("\ncoverage of the true time to critical by the reported band")
    print(f"{'n':>5} {'phi':>4} {'true h':>7} {'centre':>7} {'present':>8} {'width c':>8} width p")
    for r in times:
        print(
            f"{r['n']:>5} {r['phi']:>4} {r['true_hours_to_critical']:>7.1f}"
            f" {r['coverage_centre_pivot']:>7.3f} {r['coverage_present_pivot']:>8.3f}"
            f" {r['median_width_centre_h']:>8.1f} {r['median_width_present_h']:.1f}"
        )
    costs = [cost(n, args.repeat) for n in (150, 300, 600)]
    print("\nfit_trend per component (ms)")
    print(f"{'n':>5} {'corrected p50':>14} {'p95':>7} {'iid p50':>8} {'p95':>7}")
    for c in costs:
        print(
            f"{c['n']:>5} {c['corrected_p50_ms']:>14.3f} {c['corrected_p95_ms']:>7.3f}"
            f" {c['iid_p50_ms']:>8.3f} {c['iid_p95_ms']:>7.3f}"
        )
    results = REPO / "tests" / "benchmarks" / "results"
    results.mkdir(parents=True, exist_ok=True)
    path = results / "bench_trends.json"
    path.write_text(
        json.dumps({"coverage": rows, "time_to_critical": times, "cost": costs}, indent=2),
        encoding="utf-8",
    )
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
