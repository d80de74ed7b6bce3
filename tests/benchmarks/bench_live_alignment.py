"""Rolling diagnosis of a live feed that starts mid-cycle: fixed-clock windows vs windows aligned
to detected load cycles (``ingestion.cycles``), through the real live path.

For every single-component condition of the reference rig (the other three optimal), a
simulated feed that starts ``--offset`` seconds into a load cycle is written through
:class:`ingestion.live_writer.LiveWriter` into a workspace, ``--window`` seconds at a time; after each
chunk the rolling diagnosis of the live command (``app.commands.live.diagnose_recent``) runs
twice over the last ``--window`` seconds with the shipped model: on the engine's fixed windows
(what ``hydrodiag live`` did before) and aligned to the detected cycles. Accuracy = share of the
diagnosed windows whose grade of the varied component equals the simulated condition's grade.
Also measured: detected cycle starts against the simulated ones.

    .venv/bin/python tests/benchmarks/bench_live_alignment.py [--offset 30] [--cycles 30]
        [--rate profile|1]

Prints a table, writes tests/benchmarks/results/live_alignment_offset<N>_rate<R>.json.
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
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from gnn.engine import diagnose_recent  # noqa: E402
from gnn.graph import default_model_path  # noqa: E402
from gnn.model_cache import cached_model  # noqa: E402
from ingestion.catalog import begin_live_source, ensure_equipment  # noqa: E402
from ingestion.cycle_detection import MIN_SCORE, detect_cycles, profile_template  # noqa: E402
from ingestion.cycles import UNALIGNED_WARNING  # noqa: E402
from ingestion.live_writer import LiveWriter, StoreSink  # noqa: E402
from ingestion.profiles import EquipmentProfile, load_profile  # noqa: E402
from ingestion.simulator import (  # noqa: E402
    CYCLE_SECONDS,
    FACTOR_COMPONENT,
    FACTORS,
    GRADE_LEVELS,
    Conditions,
    RigSimulator,
)
from ingestion.workspace import Store, open_workspace  # noqa: E402
from tests.data import unpacked_uci  # noqa: E402

T0_US = 1_767_600_000_000_000  # 2026-01-05 00:00 UTC: the first simulated cycle starts here
UCI_DIR = unpacked_uci()  # the vendored data/uci-hydraulic-1hz.tar.xz

Feed = list[tuple[tuple[str, ...], np.ndarray, np.ndarray]]  # (sensors, ts_us [n], values [n, k])


def simulated_feed(
    simulator: RigSimulator,
    conditions: Conditions,
    cycles: int,
    offset_s: float,
    duration_s: float | None = None,
) -> Feed:
    """``cycles`` consecutive cycles starting at T0, as a live feed that begins ``offset_s``
    into the first (and lasts ``duration_s`` if given): (sensors, ts_us [n], values [n, k])
    per sampling rate, in time order."""
    per_cycle = [simulator.upsample(simulator.next_cycle(conditions)) for _ in range(cycles)]
    by_rate: dict[float, list[str]] = {}
    for sensor, rate in simulator.rates.items():
        by_rate.setdefault(rate, []).append(sensor)
    out = []
    for rate, sensors in sorted(by_rate.items()):
        n = round(CYCLE_SECONDS * rate)
        ts = T0_US + np.round(np.arange(n * cycles) * 1e6 / rate).astype(np.int64)
        values = np.stack([np.concatenate([c[s] for c in per_cycle]) for s in sensors], axis=1)
        keep = ts >= T0_US + round(offset_s * 1e6)
        if duration_s is not None:
            keep &= ts < T0_US + round((offset_s + duration_s) * 1e6)
        out.append((tuple(sensors), ts[keep], values[keep]))
    return out


def live_rig_writer(
    store: Store, *, kind: str = "bench", profile: EquipmentProfile | None = None
) -> LiveWriter:
    """Equipment ``rig`` in ``store`` (the reference rig's profile unless ``profile``) and a
    live writer into it, through a live source of ``kind``: the path ``hydrodiag live`` takes."""
    with store.transaction() as con:
        ensure_equipment(con, "rig", profile or load_profile("zema-test-rig"))
    source = begin_live_source(
        store, equipment_id="rig", kind=kind, uri="sim", options={}
    ).source_id
    return LiveWriter(StoreSink(store), equipment_id="rig", source_id=source)


def live_workspace(
    path: Path, feed: Feed, *, kind: str = "test", profile: EquipmentProfile | None = None
) -> Store:
    """A workspace at ``path`` holding ``feed`` as equipment ``rig``, written through the live
    path (so without a cycle table: a continuous log)."""
    store = open_workspace(path)
    writer = live_rig_writer(store, kind=kind, profile=profile)
    for sensors, ts, values in feed:
        writer.add_many(sensors, ts, values)
    if not writer.flush():
        raise RuntimeError(f"{path}: the live writer could not flush the feed")
    return store


def run_condition(
    path: Path,
    model: Any,
    factor: str,
    level: float,
    *,
    cycles: int,
    offset_s: float,
    window_s: float,
    rate_hz: float | None,
    seed: int,
) -> dict[str, Any]:
    conditions = Conditions(**{factor: level})
    component = FACTOR_COMPONENT[factor]
    truth_grade = conditions.grades()[component]
    simulator = RigSimulator(seed, rate_hz=rate_hz)
    # the feed starts and ends offset_s into a cycle: every rolling window ends mid-cycle
    feed = simulated_feed(simulator, conditions, cycles + 1, offset_s, cycles * CYCLE_SECONDS)
    feed_start = T0_US + round(offset_s * 1e6)
    true_starts = T0_US + np.arange(1, cycles + 1) * CYCLE_SECONDS * 1_000_000
    out: dict[str, Any] = {"grade": truth_grade, "fixed": [], "aligned": [], "start_errors_s": []}
    with open_workspace(path) as store:
        writer = live_rig_writer(store)
        end = feed_start
        last = max(ts[-1] for _, ts, _ in feed)
        while end < last:
            end = min(end + round(window_s * 1e6), last + 1)
            for sensors, ts, values in feed:
                sel = (ts >= end - round(window_s * 1e6)) & (ts < end)
                if sel.any():
                    writer.add_many(sensors, ts[sel], values[sel])
            writer.flush()
            if end - feed_start < window_s * 1e6:
                continue
            for kind, align in (("fixed", False), ("aligned", True)):
                t = time.perf_counter()
                d = diagnose_recent(store, "rig", window_s, save=False, model=model, align=align)
                out.setdefault(f"{kind}_ms", []).append((time.perf_counter() - t) * 1000)
                grades = [w.grade[component] for w in d.windows if component in w.grade]
                unaligned = any(w.kind == UNALIGNED_WARNING for w in d.data_quality)
                out[kind].append(
                    {"grades": grades, "unaligned": unaligned, "selection": d.selection}
                )
                if align and not unaligned:
                    starts = np.array([w.start for w in d.windows], dtype="datetime64[us]")
                    errors = starts.astype(np.int64)[:, None] - true_starts[None, :]
                    nearest = np.abs(errors).min(axis=1) / 1e6
                    out["start_errors_s"] += [round(float(e), 3) for e in nearest]
    for kind in ("fixed", "aligned"):
        grades = [g for d in out[kind] for g in d["grades"]]
        out[f"{kind}_accuracy"] = float(np.mean(np.equal(grades, truth_grade))) if grades else None
        out[f"{kind}_windows"] = len(grades)
        out[f"{kind}_unaligned_diagnoses"] = sum(d["unaligned"] for d in out[kind])
    return out


def real_cycle_scores(uci_dir: Path = UCI_DIR) -> dict[str, float] | None:
    """How well every whole real rig cycle matches the profile's template (what "a cycle"
    scores), if the shared data is here."""
    template = profile_template("zema-test-rig")
    if template is None or not uci_dir.exists():
        return None
    x = np.stack([np.loadtxt(uci_dir / f"{s}.txt") for s in template.sensors])  # [C, B, 60]
    scores = np.array(
        [detect_cycles(dict(zip(template.sensors, x[:, b], strict=True)), template).score
         for b in range(x.shape[1])]
    )  # fmt: skip
    return {
        "cycles": int(scores.size),
        "min": float(scores.min()),
        "p1": float(np.percentile(scores, 1)),
        "median": float(np.median(scores)),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--offset", type=float, default=30.0, help="feed starts this far into a cycle"
    )
    parser.add_argument("--cycles", type=int, default=30, help="cycles per condition")
    parser.add_argument("--window", type=float, default=600.0, help="rolling window, s")
    parser.add_argument(
        "--rate", default="1", help="'1' = every sensor at 1 Hz, 'profile' = profile rates"
    )
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--factors", default=",".join(FACTORS))
    args = parser.parse_args(argv)
    if args.cycles * CYCLE_SECONDS <= args.window:
        # the feed must outlast one rolling window, or there is nothing to diagnose
        parser.error(
            f"--cycles {args.cycles} gives {args.cycles * CYCLE_SECONDS:g} s of feed per "
            f"condition, not more than the {args.window:g} s rolling window; use more cycles"
        )
    model_path = default_model_path()
    if not model_path.exists():
        print(f"no model at {model_path}", file=sys.stderr)
        return 2
    model = cached_model(model_path, provider="cpu")
    rate_hz = None if args.rate == "profile" else float(args.rate)
    results: dict[str, Any] = {
        "offset_s": args.offset,
        "cycles": args.cycles,
        "window_s": args.window,
        "rate": args.rate,
        "seed": args.seed,
        "model": {"id": model.model_id, "version": model.model_version},
        "conditions": {},
    }
    started = time.perf_counter()
    print(
        f"model {model.model_id} {model.model_version}; feed starts {args.offset:g} s into a "
        f"cycle; {args.cycles} cycles per condition; rolling window {args.window:g} s; "
        f"rate {args.rate}"
    )
    print(f"{'component':9s} {'level':>6s} {'grade':>5s} {'fixed':>7s} {'aligned':>8s}  windows")
    totals: dict[str, dict[str, list[float]]] = {}
    errors: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        for f_index, factor in enumerate(args.factors.split(",")):
            component = FACTOR_COMPONENT[factor]
            for level, grade in GRADE_LEVELS[factor]:
                row = run_condition(
                    Path(tmp) / f"{factor}-{level:g}.duckdb",
                    model,
                    factor,
                    level,
                    cycles=args.cycles,
                    offset_s=args.offset,
                    window_s=args.window,
                    rate_hz=rate_hz,
                    seed=args.seed + 100 * f_index + int(level),
                )
                results["conditions"][f"{factor}={level:g}"] = row
                errors += row["start_errors_s"]
                acc = totals.setdefault(component, {"fixed": [], "aligned": []})
                acc["fixed"].append(row["fixed_accuracy"])
                acc["aligned"].append(row["aligned_accuracy"])
                print(
                    f"{component:9s} {level:6g} {grade:5d} {row['fixed_accuracy']:7.1%} "
                    f"{row['aligned_accuracy']:8.1%}  {row['fixed_windows']}/"
                    f"{row['aligned_windows']} (unaligned diagnoses: "
                    f"{row['aligned_unaligned_diagnoses']})"
                )
    for kind in ("fixed", "aligned"):
        ms = [v for row in results["conditions"].values() for v in row[f"{kind}_ms"]]
        results[f"{kind}_diagnosis_ms_p50"] = float(np.median(ms))
    summary = {c: {k: float(np.mean(v)) for k, v in kinds.items()} for c, kinds in totals.items()}
    results["per_component"] = summary
    err = np.asarray(errors)
    results["start_error_s"] = {
        "n": int(err.size),
        "max": float(err.max()) if err.size else None,
        "within_1s": float((err <= 1.0).mean()) if err.size else None,
    }
    results["seconds"] = round(time.perf_counter() - started, 1)
    print("per component (mean over its conditions):")
    for c, kinds in summary.items():
        print(f"  {c:6s} fixed {kinds['fixed']:6.1%}  aligned {kinds['aligned']:6.1%}")
    if err.size:
        print(
            f"aligned window starts vs simulated cycle starts: {err.size} windows, max error "
            f"{err.max():.2f} s, within 1 s {(err <= 1.0).mean():.1%}"
        )
    print(
        f"rolling diagnosis p50: fixed {results['fixed_diagnosis_ms_p50']:.0f} ms, aligned "
        f"{results['aligned_diagnosis_ms_p50']:.0f} ms (detection included)"
    )
    real = real_cycle_scores()
    if real is not None:
        results["real_cycle_scores"] = real
        print(
            f"template match of the {real['cycles']} real rig cycles (UCI, whole cycles): min "
            f"{real['min']:.3f}, 1st percentile {real['p1']:.3f}, median {real['median']:.3f} "
            f"(a cycle needs {MIN_SCORE})"
        )
    print(f"{results['seconds']} s")
    out = (
        REPO
        / "tests"
        / "benchmarks"
        / "results"
        / f"live_alignment_offset{args.offset:g}_rate{args.rate}.json"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
