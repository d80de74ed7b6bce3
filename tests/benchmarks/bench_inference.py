"""Inference benchmark: ONNX Runtime vs torch eager on the same model, and end-to-end diagnose.

    .venv/bin/python tests/benchmarks/bench_inference.py [--quick] [--model resources/models/X/model.onnx]
        [--ort-threads N] [--torch-threads N[,N...]] [--skip-e2e]

1. single-window latency p50/p95 (B=1, T=60) through ONNX Runtime (gnn.runtime.LoadedModel.run)
   and through the same weights in torch eager (gnn.model.InferenceModel, inference mode) at
   each torch thread count asked for (default: 1 and one per core, in the same run), for the
   reference rig (11 components) and a synthetic 40-component profile; the speedup is against
   torch eager at its best thread count of the run;
2. batch throughput (windows/s) over 2000 windows, both back ends;
3. end-to-end ``gnn.engine.diagnose`` of a 2000-cycle workspace (real UCI cycles: the 1805 of
   the shared data plus its first 195 again as cycles 1806-2000), with where the time goes.

The rig uses the shipped model (model.pt in torch, model.onnx in ORT) when there is one (or
--model DIR/model.onnx with model.pt beside it); otherwise, and for the 40-component profile, a
network with random weights and the shipped model's hyper-parameters (training defaults without
one) — random weights cost exactly what trained weights cost. Step 3 uses the same rig model.
Prints a table and writes tests/benchmarks/results/bench_inference.json.
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

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402

from gnn import contract  # noqa: E402
from gnn.graph import GraphSpec, build_inputs, default_model_path  # noqa: E402
from gnn.model import InferenceModel, TemporalGNN  # noqa: E402
from gnn.runtime import LoadedModel, load_model  # noqa: E402
from ingestion.profiles import (  # noqa: E402
    ComponentType,
    EquipmentProfile,
    Quantity,
    load_profile,
)
from tests.data import unpacked_uci  # noqa: E402
from training.export import ModelMeta, export_onnx  # noqa: E402

RESULTS = REPO / "tests" / "benchmarks" / "results"
UCI_DIR = unpacked_uci()  # the vendored data/uci-hydraulic-1hz.tar.xz
T = 60
TARGET_P50_MS = 5.0
TARGET_SPEEDUP = 2.0
TARGET_E2E_S = 10.0
ARCHITECTURE_HPARAMS = (
    "hidden_channels",
    "heads",
    "num_layers",
    "lstm_layers",
    "type_dim",
    "time_frequencies",
    "readout_layers",
    "moment_frequencies",
)


def synthetic_profile(n_components: int = 40, seed: int = 0) -> EquipmentProfile:
    """A plausible larger machine: a main chain with branches, 1-3 sensors per component."""
    rng = np.random.default_rng(seed)
    types = [t.value for t in ComponentType if t is not ComponentType.OTHER]
    quantities = [
        Quantity.PRESSURE,
        Quantity.TEMPERATURE,
        Quantity.FLOW,
        Quantity.VIBRATION_VELOCITY,
        Quantity.CURRENT,
    ]
    components = [
        {"id": f"C{i:02d}", "type": types[i % len(types)], "name": f"component {i}"}
        for i in range(n_components)
    ]
    sensors = []
    for i in range(n_components):
        for k in range(int(rng.integers(1, 4))):
            q = quantities[(i + k) % len(quantities)]
            sensors.append(
                {
                    "id": f"S{i:02d}_{k}",
                    "quantity": q.value,
                    "unit": "u",
                    "component": f"C{i:02d}",
                    "rate_hz": 1,
                    "min": -1000,
                    "max": 1000,
                }
            )
    connections = [
        {"source": f"C{i:02d}", "target": f"C{i + 1:02d}", "kind": "pressure_line"}
        for i in range(n_components - 1)
    ]
    for _ in range(n_components // 2):
        a, b = sorted(rng.choice(n_components, size=2, replace=False).tolist())
        connections.append({"source": f"C{a:02d}", "target": f"C{b:02d}", "kind": "return_line"})
    return EquipmentProfile.model_validate(
        {
            "id": "synthetic-40",
            "name": "synthetic 40-component machine",
            "kind": "benchmark",
            "components": components,
            "sensors": sensors,
            "connections": connections,
        }
    )


def shipped_pair(
    model_path: Path, profile: EquipmentProfile, threads: int | None
) -> tuple[TemporalGNN, LoadedModel] | None:
    """The shipped model: its checkpoint (model.pt) in torch, its model.onnx in ORT."""
    checkpoint = model_path.with_name("model.pt")
    if not (model_path.exists() and checkpoint.exists()):
        return None
    from training.export import load_checkpoint

    net, _, _ = load_checkpoint(checkpoint)
    return net, load_model(model_path, provider="auto", profile=profile, threads=threads)


def build_pair(
    profile: EquipmentProfile,
    folder: Path,
    graded: tuple[str, ...],
    threads: int | None,
    hparams: dict[str, Any] | None = None,
) -> tuple[TemporalGNN, LoadedModel]:
    """A random-weight network (the shipped model's hyper-parameters when given) and its export."""
    torch.manual_seed(0)
    spec = GraphSpec.from_profile(profile)
    # the architecture of the shipped model (not its profile-specific sizes)
    kwargs = {k: v for k, v in (hparams or {}).items() if k in ARCHITECTURE_HPARAMS}
    net = TemporalGNN(spec.num_features, num_fault_types=4, **kwargs).eval()
    meta = ModelMeta(
        model_id=f"bench-{profile.id}",
        model_version="0",
        graph_spec=spec,
        fault_types=("f0", "f1", "f2", "f3"),
        graded_components=graded,
    )
    path = export_onnx(net, meta, folder / profile.id / "model.onnx")
    return net, load_model(path, provider="auto", profile=profile, threads=threads)


def _inputs(model: LoadedModel, batch: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    spec = model.graph_spec
    rng = np.random.default_rng(seed)
    values = {s: rng.normal(0.0, 1.0, (batch, T)) for s in spec.sensor_ids}
    return build_inputs(spec, values)


def _percentiles(samples: list[float]) -> dict[str, float]:
    a = np.asarray(samples) * 1000.0
    return {
        "p50_ms": float(np.percentile(a, 50)),
        "p95_ms": float(np.percentile(a, 95)),
        "mean_ms": float(a.mean()),
    }


def single_window(
    net: TemporalGNN, model: LoadedModel, iters: int, torch_threads: tuple[int, ...]
) -> dict[str, Any]:
    """Latency of one window: ORT and torch at each thread count in alternating blocks, so
    all see the same load.

    Within a block only one back end runs; between blocks a 0.3 s pause lets torch's OpenMP
    workers stop spinning (they would otherwise steal the core from ORT), and the first
    iterations of each block are not counted. Wall time is what a user waits; CPU time (all
    threads of the process) is what a run costs, far less disturbed by other work. The
    speedup is against torch eager at the thread count with the lowest p50 in this run.

    ORT is timed through ``LoadedModel.run`` (what the engine calls: input checks and the
    batch loop, ~0.07 ms of Python per window) and, as ``ort_session``, through the bare
    ``InferenceSession.run`` with the same feeds — the runtime alone, as torch eager is
    timed by calling the module.
    """
    x, mask = _inputs(model, 1)
    static = model.static_inputs()
    eager = InferenceModel(net).eval()
    tx, tm = torch.from_numpy(x), torch.from_numpy(mask)
    ts = [torch.from_numpy(a) for a in static.values()]
    feeds = {
        contract.INPUT_X: np.ascontiguousarray(x, dtype=np.float32),
        contract.INPUT_MASK: np.ascontiguousarray(mask, dtype=np.float32),
        **static,
    }
    outputs = list(contract.OUTPUTS)
    names = ["ort", "ort_session", *(f"torch{n}" for n in torch_threads)]
    wall: dict[str, list[float]] = {name: [] for name in names}
    cpu: dict[str, list[float]] = {name: [] for name in names}
    block, skip = 20, 5
    default_threads = torch.get_num_threads()
    try:
        with torch.inference_mode():
            for _ in range(max(1, iters // block)):
                for name in names:
                    if name.startswith("torch"):
                        torch.set_num_threads(int(name.removeprefix("torch")))
                    time.sleep(0.3)
                    for i in range(block + skip):
                        w0, c0 = time.perf_counter(), time.process_time()
                        if name == "ort":
                            model.run(x, mask)
                        elif name == "ort_session":
                            model.session.run(outputs, feeds)
                        else:
                            eager(tx, tm, *ts)
                        if i >= skip:
                            wall[name].append(time.perf_counter() - w0)
                            cpu[name].append(time.process_time() - c0)
    finally:
        torch.set_num_threads(default_threads)
    stats = {}
    for name in names:
        stats[name] = _percentiles(wall[name])
        stats[name]["cpu_p50_ms"] = _percentiles(cpu[name])["p50_ms"]
    o = stats["ort"]
    by_threads = {int(name.removeprefix("torch")): stats[name] for name in names[2:]}
    best = min(by_threads, key=lambda n: by_threads[n]["p50_ms"])
    return {
        "nodes": model.graph_spec.num_nodes,
        "edges": model.graph_spec.num_edges,
        "features": model.graph_spec.num_features,
        "T": T,
        "iterations": iters,
        "ort": o,
        "ort_session": stats["ort_session"],
        "speedup_p50_session": by_threads[best]["p50_ms"] / stats["ort_session"]["p50_ms"],
        "torch_eager": {**by_threads[best], "threads": best},  # the best thread count
        "torch_eager_by_threads": {str(n): s for n, s in by_threads.items()},
        "speedup_p50": by_threads[best]["p50_ms"] / o["p50_ms"],
        "speedup_p50_by_threads": {
            str(n): s["p50_ms"] / o["p50_ms"] for n, s in by_threads.items()
        },
    }


def throughput(net: TemporalGNN, model: LoadedModel, n: int, torch_threads: int) -> dict[str, Any]:
    """Windows per second over ``n`` windows: ORT at B = 64 and 256, torch eager at B = 256 on
    ``torch_threads`` threads (the single-window step's best)."""
    x, mask = _inputs(model, n, seed=1)
    out: dict[str, Any] = {"windows": n}
    for batch in (64, 256):
        model.run(x[:batch], mask[:batch], batch_size=batch)  # warm-up at this shape
        t0 = time.perf_counter()
        model.run(x, mask, batch_size=batch)
        out[f"ort_b{batch}_windows_per_s"] = n / (time.perf_counter() - t0)
    eager = InferenceModel(net).eval()
    ts = [torch.from_numpy(a) for a in model.static_inputs().values()]
    default_threads = torch.get_num_threads()
    torch.set_num_threads(torch_threads)
    try:
        with torch.inference_mode():
            eager(torch.from_numpy(x[:64]), torch.from_numpy(mask[:64]), *ts)
            t0 = time.perf_counter()
            for lo in range(0, n, 256):
                eager(
                    torch.from_numpy(x[lo : lo + 256]), torch.from_numpy(mask[lo : lo + 256]), *ts
                )
            out["torch_eager_b256_windows_per_s"] = n / (time.perf_counter() - t0)
    finally:
        torch.set_num_threads(default_threads)
    out["torch_threads"] = torch_threads
    return out


def uci_2000(folder: Path) -> Path:
    """The shared 1805 cycles plus the first 195 again as cycles 1806-2000 (UCI layout)."""
    folder.mkdir(parents=True, exist_ok=True)
    from ingestion.uci import UCI_SENSORS

    for name in [*UCI_SENSORS, "profile"]:
        lines = (UCI_DIR / f"{name}.txt").read_text(encoding="utf-8").splitlines()
        (folder / f"{name}.txt").write_text("\n".join(lines + lines[:195]) + "\n", encoding="utf-8")
    (folder / "cycles.txt").write_text("\n".join(str(i) for i in range(1, 2001)) + "\n")
    return folder


def end_to_end(model_path: Path, work: Path, threads: int | None) -> dict[str, Any]:
    """Two diagnoses of the same 2000 cycles (the second finds the first's health history)."""
    from gnn.engine import diagnose
    from ingestion.uci_import import ingest_uci
    from ingestion.workspace import open_workspace

    folder = uci_2000(work / "uci2000")
    t0 = time.perf_counter()
    with open_workspace(work / "ws2000.duckdb") as store:
        ingest_uci(store, folder, equipment_id="rig")
        ingest_s = time.perf_counter() - t0
        runs = []
        for _ in range(2):
            t0, c0 = time.perf_counter(), time.process_time()
            d = diagnose(store, "rig", model_path=model_path, threads=threads)
            runs.append(
                {
                    "wall_s": time.perf_counter() - t0,
                    "cpu_s": time.process_time() - c0,
                    "n_windows": d.n_windows,
                    "provider": d.provider,
                    "timings_ms": d.timings_ms,
                    "verdict": d.verdict,
                }
            )
    return {"model": str(model_path), "ingest_s": ingest_s, "runs": runs}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer iterations (smoke run)")
    parser.add_argument("--model", type=Path, default=None, help="model for the end-to-end step")
    parser.add_argument("--skip-e2e", action="store_true")
    parser.add_argument(
        "--ort-threads",
        type=int,
        default=None,
        help="ONNX Runtime intra-op threads (default: gnn.runtime's default, 1; 0 = one per core)",
    )
    parser.add_argument(
        "--torch-threads",
        default=None,
        help="torch intra-op thread counts to time single windows at, comma-separated (default: "
        "1 and torch's default, one per core); the speedup is against the best of them, and "
        "the throughput step runs torch at that best count",
    )
    args = parser.parse_args(argv)
    if args.torch_threads:
        torch_threads = tuple(dict.fromkeys(int(n) for n in str(args.torch_threads).split(",")))
    else:
        torch_threads = tuple(dict.fromkeys((1, torch.get_num_threads())))
    iters = 30 if args.quick else 200
    n_windows = 2000
    results: dict[str, Any] = {
        "machine": {
            "cpu_count": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "torch": torch.__version__,
            "torch_threads": list(torch_threads),
            "ort_threads": "1 (gnn.runtime default)"
            if args.ort_threads is None
            else (args.ort_threads or "one per core"),
            "load_average_at_start": os.getloadavg()[0],
        }
    }
    import onnxruntime as ort

    results["machine"]["onnxruntime"] = ort.__version__
    work = Path(tempfile.mkdtemp(prefix="bench-inference-"))
    try:
        rig = load_profile("zema-test-rig")
        shipped_path = args.model or default_model_path()
        shipped = shipped_pair(shipped_path, rig, args.ort_threads)
        hparams = shipped[0].hparams() if shipped else None
        results["networks"] = {
            "rig": f"shipped model {shipped_path}"
            if shipped
            else "random weights, default hparams",
            "synthetic-40": "random weights, "
            + (f"the shipped model's hparams {hparams}" if hparams else "default hparams"),
        }
        cases = {
            "rig": (rig, ("C1", "V10", "MP1", "ACC")),
            "synthetic-40": (synthetic_profile(40), ("C00", "C01")),
        }
        models: dict[str, tuple[TemporalGNN, LoadedModel]] = {}
        for name, (profile, graded) in cases.items():
            if name == "rig" and shipped is not None:
                net, model = shipped
            else:
                net, model = build_pair(profile, work, graded, args.ort_threads, hparams)
            models[name] = (net, model)
            results[f"single_window_{name}"] = single_window(net, model, iters, torch_threads)
            results[f"single_window_{name}"]["provider"] = model.provider
            best_threads = results[f"single_window_{name}"]["torch_eager"]["threads"]
            results[f"throughput_{name}"] = throughput(net, model, n_windows, best_threads)
        if not args.skip_e2e:
            model_path = args.model or default_model_path()
            if not model_path.exists():
                model_path = models["rig"][1].path
            results["end_to_end_2000"] = end_to_end(model_path, work, args.ort_threads)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    _print(results)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "bench_inference.json"
    out.write_text(json.dumps(results, indent=2), encoding="utf-8")
    print(f"\nwritten: {out.relative_to(REPO)}")
    return 0


def _print(r: dict[str, Any]) -> None:
    m = r["machine"]
    print(
        f"machine: {m['cpu_count']} CPUs, {m['platform']}, torch {m['torch']} "
        f"({m['torch_threads']} threads), onnxruntime {m['onnxruntime']} "
        f"({m['ort_threads']} threads); load average at start {m['load_average_at_start']:.1f}\n"
    )
    for name, what in r.get("networks", {}).items():
        print(f"network {name}: {what}")
    print("\nsingle-window latency (B=1, T=60); torch eager at each thread count of the run")
    print(
        f"{'profile':<14}{'N':>4}{'E':>5}  {'ORT p50':>8} {'ORT p95':>8} {'ORT cpu':>8}  "
        f"{'torch':>7} {'p50':>8} {'p95':>8} {'cpu':>8}  {'speedup':>7}  "
        "targets (p50 ≤ 5 ms, ≥ 2× the best torch)"
    )
    for name in ("rig", "synthetic-40"):
        s = r[f"single_window_{name}"]
        ok = s["ort"]["p50_ms"] <= TARGET_P50_MS and s["speedup_p50"] >= TARGET_SPEEDUP
        o = s["ort"]
        for i, (threads, t) in enumerate(s["torch_eager_by_threads"].items()):
            head = (
                f"{name:<14}{s['nodes']:>4}{s['edges']:>5}  {o['p50_ms']:>6.2f}ms "
                f"{o['p95_ms']:>6.2f}ms {o['cpu_p50_ms']:>6.2f}ms"
                if i == 0
                else " " * 51
            )
            best = int(threads) == s["torch_eager"]["threads"]
            verdict = f"best torch: {'met' if ok else 'NOT met'}" if best else ""
            print(
                f"{head}  {threads + ' thr':>7} {t['p50_ms']:>6.2f}ms {t['p95_ms']:>6.2f}ms "
                f"{t['cpu_p50_ms']:>6.2f}ms  {s['speedup_p50_by_threads'][threads]:>6.1f}×  "
                f"{verdict}"
            )
    for name in ("rig", "synthetic-40"):
        s = r[f"single_window_{name}"]
        o = s["ort_session"]
        print(
            f"{name:<14}  ORT InferenceSession.run alone: {o['p50_ms']:.2f} ms p50, "
            f"{o['p95_ms']:.2f} ms p95, {o['cpu_p50_ms']:.2f} ms cpu — "
            f"{s['speedup_p50_session']:.1f}× the best torch"
        )
    print(
        "(wall p50/p95; cpu = CPU time of all threads of the process, p50; ORT columns time "
        "gnn.runtime.LoadedModel.run, the target's measure)"
    )
    print("\nthroughput over 2000 windows (windows/s)")
    print(f"{'profile':<14}{'ORT b64':>10}{'ORT b256':>10}{'torch b256':>12}")
    for name in ("rig", "synthetic-40"):
        t = r[f"throughput_{name}"]
        print(
            f"{name:<14}{t['ort_b64_windows_per_s']:>10.0f}{t['ort_b256_windows_per_s']:>10.0f}"
            f"{t['torch_eager_b256_windows_per_s']:>12.0f}  (torch {t['torch_threads']} thr)"
        )
    e2e = r.get("end_to_end_2000")
    if e2e:
        print(f"\nend-to-end diagnose, 2000-cycle workspace (model {e2e['model']})")
        print(f"  (ingest of the workspace, not part of diagnose: {e2e['ingest_s']:.1f} s)")
        for i, run in enumerate(e2e["runs"], 1):
            parts = ", ".join(
                f"{k} {v / 1000:.2f}" for k, v in run["timings_ms"].items() if k != "total"
            )
            ok = run["wall_s"] <= TARGET_E2E_S
            print(
                f"  run {i}: {run['wall_s']:.2f} s wall ({run['cpu_s']:.2f} s CPU), "
                f"{run['n_windows']} windows on "
                f"{run['provider']} — target ≤ 10 s {'met' if ok else 'NOT met'}\n    s: {parts}"
            )


if __name__ == "__main__":
    sys.exit(main())
