"""`hydrodiag train`: train the temporal GNN on labelled cycles and write a model folder.

The folder holds model.pt (checkpoint for fine-tuning), model.onnx (what the app runs) and the
model card (card.json, card.md). Several GPUs / nodes: start the same command with ``torchrun``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from app.commands._common import add_config_options, train_config
from ingestion.errors import HydroDiagError


def _run(args: argparse.Namespace) -> int:
    from app.commands._common import workspace_path
    from ingestion.profiles import load_profile
    from ingestion.progress import TerminalProgress
    from training.datasets import from_uci_folder, from_workspace
    from training.pipeline import command_line, train_and_save
    from training.train import distributed_rank

    if args.uci is not None:
        windowing = [
            o
            for o, v in (
                ("--window", args.window),
                ("--stride", args.stride),
                ("--rate", args.rate),
            )
            if v is not None
        ]
        if windowing:
            raise HydroDiagError(
                f"{', '.join(windowing)}: a UCI folder is one window per 60 s cycle at 1 Hz; "
                "these options cut a workspace's logs (--equipment)."
            )
        windows = from_uci_folder(args.uci)
        profile = load_profile(args.profile)
        source = f"UCI folder {args.uci}"
    else:
        if args.equipment is None:
            raise HydroDiagError("give --equipment ID (train from the workspace) or --uci DIR.")
        windows, profile = from_workspace(
            workspace_path(args),
            args.equipment,
            rate_hz=1.0 if args.rate is None else args.rate,
            window_s=args.window,
            stride_s=args.stride,
        )
        source = f"equipment {args.equipment} of {workspace_path(args)}"
    config = train_config(
        args,
        {
            "batch_size": "batch_size",
            "lr": "lr",
            "hidden": "hidden_channels",
            "heads": "heads",
            "layers": "num_layers",
            "patience": "patience",
        },
    )
    cv_report = None
    if args.cv_report is not None:
        cv_report = json.loads(Path(args.cv_report).read_text(encoding="utf-8"))
    notes = list(args.note or [])
    if distributed_rank()[0] == 0:
        print(
            f"training on {windows.n_windows} windows from {source}; config {config.model_dump()}"
        )
    card = train_and_save(
        windows,
        profile,
        args.out,
        config,
        model_id=args.model_id,
        model_version=args.model_version,
        command=command_line(omit=("--note", "--cv-report")),
        cv_report=cv_report,
        notes=notes,
        progress=TerminalProgress(),
    )
    if card is not None:
        print(
            f"wrote {args.out}/model.onnx, model.pt, card.json, card.md "
            f"({card['training']['seconds']:.0f} s)"
        )
    return 0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train the temporal GNN on labelled cycles (workspace or UCI folder)",
        description=__doc__,
    )
    parser.add_argument("--equipment", help="equipment id in the workspace to train on")
    parser.add_argument("--uci", type=Path, help="train from a UCI-layout folder instead")
    parser.add_argument(
        "--profile", default="zema-test-rig", help="profile for --uci (default zema-test-rig)"
    )
    parser.add_argument("--out", type=Path, required=True, help="model folder to write")
    parser.add_argument(
        "--window",
        type=float,
        metavar="SECONDS",
        help="with --equipment: train on sliding windows this long (default for a continuous "
        "log: 60; an equipment with load cycles: one window per cycle unless given)",
    )
    parser.add_argument(
        "--stride",
        type=float,
        metavar="SECONDS",
        help="seconds between sliding windows' starts (default: --window, back to back)",
    )
    parser.add_argument(
        "--rate",
        type=float,
        metavar="HZ",
        help="resample every sensor to this rate (default 1 Hz)",
    )
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--lr", type=float)
    parser.add_argument("--hidden", type=int, help="hidden channels")
    parser.add_argument("--heads", type=int, help="attention heads")
    parser.add_argument("--layers", type=int, help="GATv2 layers")
    parser.add_argument("--patience", type=int)
    add_config_options(parser)
    parser.add_argument("--model-id", default="zema-rig-gatv2-lstm")
    parser.add_argument("--model-version", default="1.0.0")
    parser.add_argument(
        "--cv-report", type=Path, help="JSON of `hydrodiag evaluate cv` for the card"
    )
    parser.add_argument("--note", action="append", help="a line for the card's notes (repeatable)")
    parser.set_defaults(handler=_run)
