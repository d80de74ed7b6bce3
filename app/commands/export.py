"""`hydrodiag export-onnx CHECKPOINT --out MODEL.onnx`: export a trained checkpoint to ONNX
with the contract's names and metadata, and print the torch-vs-ONNX-Runtime parity check."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ingestion.errors import HydroDiagError


def _run(args: argparse.Namespace) -> int:
    from training.export import (
        PARITY_TOLERANCE,
        default_parity_cases,
        export_onnx,
        load_checkpoint,
        parity_check,
    )

    model, meta, _ = load_checkpoint(args.checkpoint)
    path = export_onnx(model, meta, args.out)
    cases = default_parity_cases(
        meta.graph_spec, graph_agnostic=model.discriminant_frequencies == 0
    )
    worst = 0.0
    for case, report in zip(cases, parity_check(model, path, cases), strict=True):
        b, n, t, _ = case[0].shape
        e = case[3].shape[1]
        diff = max(report.values())
        worst = max(worst, diff)
        print(f"parity B={b} N={n} T={t} E={e}: max abs diff {diff:.2e}")
    print(f"wrote {path} ({meta.model_id} {meta.model_version}); worst diff {worst:.2e}")
    if worst > PARITY_TOLERANCE:
        raise HydroDiagError(
            f"{path}: ONNX output differs from torch by {worst:.2e} (> {PARITY_TOLERANCE:g}); "
            "do not use this export."
        )
    return 0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "export-onnx", help="export a training checkpoint (model.pt) to ONNX with a parity check"
    )
    parser.add_argument("checkpoint", type=Path, help="model.pt written by `hydrodiag train`")
    parser.add_argument("--out", type=Path, required=True, help="ONNX file to write")
    parser.set_defaults(handler=_run)
