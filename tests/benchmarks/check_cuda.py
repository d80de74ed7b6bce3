"""The CUDA paths in one run, for a machine with an NVIDIA GPU: ONNX Runtime's CUDA provider
(parity with CPU, latency) and training on the GPU (with a resume), each against CPU.

    .venv/bin/python tests/benchmarks/check_cuda.py [UCI_DIR] [--windows 300] [--epochs 3]

Needs a CUDA build of torch and onnxruntime-gpu with its CUDA libraries (``pip install -e
.[train]`` without this project's CPU constraints). Without a GPU every CUDA step says why it
was skipped and the CPU steps still run, so the script is checked on CPU-only machines too.
Exits 1 when a GPU is present but a CUDA path does not run on it (provider fallback, parity
off, training not on the device). Prints a table and writes
tests/benchmarks/results/check_cuda.json.
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

import torch  # noqa: E402

from gnn.graph import build_inputs, default_model_path  # noqa: E402
from gnn.runtime import LoadedModel, cuda_usable, load_model  # noqa: E402
from ingestion.profiles import load_profile  # noqa: E402
from ingestion.progress import NullProgress  # noqa: E402
from training.config import TrainConfig  # noqa: E402
from training.datasets import LabelledWindows, from_uci_folder  # noqa: E402
from training.train import train_model  # noqa: E402

PARITY = 1e-4  # ORT CUDA against ORT CPU, every output


def _p50_ms(model: LoadedModel, x: np.ndarray, mask: np.ndarray, n: int = 200) -> float:
    for _ in range(20):
        model.run(x, mask)
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        model.run(x, mask)
        times.append(time.perf_counter() - t0)
    return 1000 * float(np.median(times))


def onnx_runtime(data: LabelledWindows) -> dict[str, Any]:
    """The shipped model on ORT CUDA and ORT CPU: providers, parity, single-window p50."""
    cpu = load_model(default_model_path(), provider="cpu")
    x, mask = build_inputs(cpu.graph_spec, data.values)
    result: dict[str, Any] = {
        "cuda_usable": cuda_usable(),
        "cpu_p50_ms": _p50_ms(cpu, x[:1], mask[:1]),
    }
    cuda = load_model(default_model_path(), provider="cuda")
    result["providers_requested_cuda"] = list(cuda.providers)
    result["note"] = cuda.provider_note
    if cuda.provider != "CUDAExecutionProvider":
        result["ran_on_cuda"] = False
        return result
    a, b = cpu.run(x, mask), cuda.run(x, mask)
    result["ran_on_cuda"] = True
    result["max_abs_diff"] = max(
        float(np.abs(getattr(a, k) - getattr(b, k)).max())
        for k in ("grade_probs", "health", "fault_probs", "forecast", "attention")
    )
    result["same_grades"] = float((a.grade_probs.argmax(-1) == b.grade_probs.argmax(-1)).mean())
    result["cuda_p50_ms"] = _p50_ms(cuda, x[:1], mask[:1])
    batch = x[:256], mask[:256]
    for name, model in (("cpu", cpu), ("cuda", cuda)):
        model.run(*batch, batch_size=256)
        t0 = time.perf_counter()
        model.run(*batch, batch_size=256)
        result[f"{name}_batch256_windows_per_s"] = 256 / (time.perf_counter() - t0)
    return result


class _StopAfter(NullProgress):
    def __init__(self, step: int) -> None:
        self.step = step
        self.cancelled = False

    def update(self, done: int, total: int | None = None) -> None:
        self.cancelled = done >= self.step


def training(data: LabelledWindows, epochs: int) -> dict[str, Any]:
    """Train the shipped configuration on the GPU and, for scale, on CPU; then interrupt and
    resume the GPU run."""
    from gnn.graph import GraphSpec

    spec = GraphSpec.from_profile(load_profile("zema-test-rig"))
    config = TrainConfig(epochs=epochs)
    result: dict[str, Any] = {"cuda_available": torch.cuda.is_available()}
    runs: dict[str, Any] = {}
    devices = ["cuda", "cpu"] if torch.cuda.is_available() else ["cpu"]
    for device in devices:
        t0 = time.perf_counter()
        trained = train_model(spec, data, config, device=device)
        runs[device] = {
            "seconds": time.perf_counter() - t0,
            "device": trained.hardware["device"],
            "gpu": trained.hardware.get("gpu"),
            "final_train_loss": trained.history[-1].train_loss,
        }
    result["runs"] = runs
    if torch.cuda.is_available():
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            try:
                train_model(
                    spec, data, config, checkpoint_dir=folder, progress=_StopAfter(3), device="cuda"
                )
            except Exception as exc:  # CancelledError: the interruption we asked for
                result["interrupted"] = type(exc).__name__
            resumed = train_model(
                spec, data, config, checkpoint_dir=folder, resume=True, device="cuda"
            )
            straight = train_model(spec, data, config, checkpoint_dir=folder / "b", device="cuda")
            a, b = straight.model.state_dict(), resumed.model.state_dict()
            # GPU kernels are not bit-deterministic: report how close, do not demand equality
            result["resume_max_weight_diff"] = max(
                float((a[k].double() - b[k].double()).abs().max()) for k in a
            )
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "uci_dir", nargs="?", type=Path, default=REPO / "data" / "uci-hydraulic-1hz.tar.xz"
    )
    parser.add_argument("--windows", type=int, default=300, help="UCI cycles used (spread)")
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    full = from_uci_folder(args.uci_dir)
    data = full.subset(np.linspace(0, full.n_windows - 1, args.windows).astype(int))
    report: dict[str, Any] = {
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "onnxruntime": onnx_runtime(data),
        "training": training(data, args.epochs),
    }
    ort_r: dict[str, Any] = report["onnxruntime"]
    train_r: dict[str, Any] = report["training"]
    print(f"torch {report['torch']} (CUDA {report['torch_cuda']}), GPU: {report['gpu'] or 'none'}")
    print(f"ONNX Runtime, CUDA requested: providers {ort_r['providers_requested_cuda']}")
    if ort_r["ran_on_cuda"]:
        print(
            f"  parity CUDA vs CPU: max |diff| {ort_r['max_abs_diff']:.2e} (≤ {PARITY:g}), same "
            f"grade {100 * ort_r['same_grades']:.2f} %; single window p50 CUDA "
            f"{ort_r['cuda_p50_ms']:.2f} ms vs CPU {ort_r['cpu_p50_ms']:.2f} ms; 256 windows "
            f"{ort_r['cuda_batch256_windows_per_s']:.0f} vs {ort_r['cpu_batch256_windows_per_s']:.0f}/s"
        )
    else:
        print(f"  not on CUDA: {ort_r['note'] or 'CUDA not requested'}")
    for device, run in train_r["runs"].items():
        print(
            f"training {args.epochs} epochs on {args.windows} cycles, {device}: "
            f"{run['seconds']:.1f} s on {run['device']} {run['gpu'] or ''} "
            f"(final loss {run['final_train_loss']:.4f})"
        )
    if "resume_max_weight_diff" in train_r:
        print(
            f"  GPU resume vs uninterrupted: max weight diff {train_r['resume_max_weight_diff']:.2e}"
        )
    out = REPO / "tests/benchmarks/results/check_cuda.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
    print(f"wrote {out.relative_to(REPO)}")
    if report["gpu"] is None:
        return 0
    failures = []
    if not ort_r["ran_on_cuda"]:
        failures.append("ONNX Runtime fell back to CPU")
    elif ort_r["max_abs_diff"] > PARITY:
        failures.append(f"ORT CUDA differs from CPU by {ort_r['max_abs_diff']:.2e}")
    if not str(train_r["runs"]["cuda"]["device"]).startswith("cuda"):
        failures.append("training did not run on the GPU")
    for failure in failures:
        print(f"FAILED: {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
