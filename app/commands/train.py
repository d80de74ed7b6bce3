"""`hydrodiag train`: train the temporal GNN on labelled cycles and write a model folder.

The folder holds model.pt (checkpoint for fine-tuning), model.onnx (what the app runs) and the
model card (card.json, card.md). Trained from a workspace's equipment, the model is also
registered in that workspace (``--activate`` makes it the equipment's model). Several GPUs /
nodes: start the same command with ``torchrun``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.commands._common import (
    add_config_options,
    add_window_options,
    labelled_windows,
    train_config,
    workspace_path,
)
from ingestion.errors import HydroDiagError

DEFAULT_UCI_MODEL_ID = "zema-rig-gatv2-lstm"

if TYPE_CHECKING:
    from ingestion.profiles import EquipmentProfile
    from training.config import TrainConfig
    from training.datasets import LabelledWindows


def _card_command() -> str:
    """The command that reproduces the model: without the card's notes and CV report, the
    device it happened to run on, or a --resume."""
    from training.pipeline import command_line

    return command_line(omit=("--note", "--cv-report", "--device"), omit_flags=("--resume",))


def _cross_validate(
    args: argparse.Namespace,
    windows: LabelledWindows,
    profile: EquipmentProfile,
    config: TrainConfig,
) -> dict[str, Any]:
    """Cross-validation of this configuration and the LDA baselines, for the card."""
    from training.evaluate import blocked_scheme, runs_scheme, table
    from training.pipeline import cross_validate_config

    scheme = (
        runs_scheme(windows, None, args.cv)
        if args.cv_scheme == "runs"
        else blocked_scheme(windows.n_windows, args.cv, args.cv_block_size)
    )
    print(f"cross-validation first: {scheme.description}")
    report = cross_validate_config(
        windows,
        profile,
        config,
        sensors=list(windows.values),
        scheme=scheme,
        command=_card_command(),
    )
    print(table(report))
    return report


def _model_name(args: argparse.Namespace) -> tuple[str, str]:
    """(model id, version): as given, else for a UCI folder the shipped model's id and 1.0.0;
    for an equipment ``<equipment>-gatv2-lstm`` and the next version free in its workspace.

    Raises:
        HydroDiagError: a given id and version the workspace already holds (checked before
            training, not after it).
    """
    if args.equipment is None:
        return args.model_id or DEFAULT_UCI_MODEL_ID, args.model_version or "1.0.0"
    from app.commands._common import open_store
    from gnn.registry import get_model, next_version
    from ingestion.model_registry import ModelKey, RegistryError

    model_id = args.model_id or f"{args.equipment}-gatv2-lstm"
    with open_store(args, read_only=True) as store:
        if args.model_version is None:
            return model_id, next_version(store, model_id)
        key = ModelKey(model_id, args.model_version)
        try:
            held = get_model(store, key)
        except RegistryError:
            return model_id, args.model_version
    raise HydroDiagError(
        f"{workspace_path(args)} already holds model {held.label}: give another "
        "--model-version (or another --model-id), so that the trained model can be registered "
        "beside it."
    )


def _register(args: argparse.Namespace, card: dict[str, Any]) -> None:
    """Store the trained model in the workspace it was trained from (and activate it)."""
    from app.commands._common import open_store
    from gnn.registry import register_model
    from ingestion.model_registry import ModelKey

    parent = ModelKey(*card["parent"].split("@", 1)) if card.get("parent") else None

    onnx = (args.out / "model.onnx").read_bytes()
    with open_store(args) as store:
        registration = register_model(
            store,
            onnx,
            card,
            origin="trained",
            parent=parent,
            note=f"model folder {args.out.absolute()}",
            activate_for=args.equipment if args.activate else None,
        )
    entry = registration.entry
    print(f"registered {entry.key} in {workspace_path(args)}")
    if args.activate:
        print(f"equipment {args.equipment} now uses {entry.key}")
    else:
        print(
            f"activate it with `hydrodiag model activate {entry.key} --equipment {args.equipment}`"
        )


def _read_report(path: Path) -> dict[str, Any]:
    try:
        report: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise HydroDiagError(
            f"{path}: cannot read a cross-validation report ({exc}); give the --json file "
            "written by `hydrodiag evaluate cv` or `evaluate merge`."
        ) from exc
    if "methods" not in report or "scheme" not in report:
        raise HydroDiagError(
            f"{path}: not a cross-validation report (no methods or scheme); give the --json "
            "file written by `hydrodiag evaluate cv` or `evaluate merge`."
        )
    return report


def _run(args: argparse.Namespace) -> int:
    from ingestion.progress import TerminalProgress
    from training.distributed import distributed_rank
    from training.pipeline import train_and_save

    if args.activate and args.equipment is None:
        raise HydroDiagError(
            "--activate registers the model for a workspace equipment: give --equipment ID."
        )
    if args.finetune_from is not None:
        from app.commands._finetune import run_finetune

        card = run_finetune(args, _model_name(args), _card_command())
        print(f"wrote {args.out}/model.onnx, model.pt, card.json, card.md")
        _register(args, card)
        return 0
    windows, profile, source = labelled_windows(args, args.uci, args.profile)
    model_id, model_version = _model_name(args)
    config = train_config(args)
    cv_report = None
    other_reports = []
    if args.cv_report and args.cv:
        raise HydroDiagError("give --cv FOLDS (cross-validate now) or --cv-report FILE, not both.")
    if args.cv_report:
        reports = [_read_report(Path(path)) for path in args.cv_report]
        cv_report, other_reports = reports[0], reports[1:]
    if args.cv:
        if distributed_rank()[1] > 1:
            raise HydroDiagError(
                "--cv under torchrun: cross-validate in one process (`hydrodiag evaluate cv`) "
                "and pass its report with --cv-report."
            )
        cv_report = _cross_validate(args, windows, profile, config)
    notes = list(args.note or [])
    if distributed_rank()[0] == 0:
        print(
            f"training on {windows.n_windows} windows from {source}; config {config.model_dump()}"
        )
    try:
        card = train_and_save(
            windows,
            profile,
            args.out,
            config,
            model_id=model_id,
            model_version=model_version,
            command=_card_command(),
            cv_report=cv_report,
            other_reports=other_reports,
            notes=notes,
            progress=TerminalProgress(),
            resume=args.resume,
            device=args.device,
        )
    except KeyboardInterrupt:
        if (args.out / "checkpoints" / "last.pt").exists():
            if distributed_rank()[0] != 0:
                return 130  # rank 0 says it
            print(
                "interrupted: the last completed epoch is kept in "
                f"{args.out}/checkpoints/last.pt; run the same command with --resume to "
                "continue from it",
                file=sys.stderr,
            )
            return 130
        raise
    if card is not None:
        print(
            f"wrote {args.out}/model.onnx, model.pt, card.json, card.md "
            f"({card['training']['seconds']:.0f} s)"
        )
        if args.equipment is not None:
            _register(args, card)
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
        "--device",
        choices=("auto", "cpu", "cuda"),
        default="auto",
        help="where to train: auto (the GPU when torch sees one, else CPU), cpu or cuda",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted run from OUT/checkpoints/last.pt (same data and options)",
    )
    parser.add_argument(
        "--finetune-from",
        metavar="MODEL",
        help="with --equipment: fine-tune this graded model (ID@VERSION or a model folder) on "
        "the equipment's labelled data, in its normalisation, replaying its reference data "
        "when known; --epochs default 8, --lr 5e-4",
    )
    add_window_options(parser)
    add_config_options(parser)
    parser.add_argument(
        "--model-id",
        help=f"model id (default: {DEFAULT_UCI_MODEL_ID} for --uci, EQUIPMENT-gatv2-lstm "
        "for --equipment)",
    )
    parser.add_argument(
        "--model-version",
        help="model version (default: 1.0.0 for --uci; the next free one in the workspace "
        "for --equipment)",
    )
    parser.add_argument(
        "--activate",
        action="store_true",
        help="with --equipment: make the trained model the equipment's model (it is "
        "registered in the workspace either way)",
    )
    parser.add_argument(
        "--cv-report",
        type=Path,
        action="append",
        help="JSON of `hydrodiag evaluate cv` (or merge) for the card, repeatable: the first "
        "leads the card and, when it holds the model's held-out predictions (same options), "
        "calibrates the grade probabilities; the others are shown beside it",
    )
    parser.add_argument("--note", action="append", help="a line for the card's notes (repeatable)")
    parser.add_argument(
        "--cv",
        type=int,
        metavar="FOLDS",
        default=0,
        help="first cross-validate this configuration and the LDA baselines on FOLDS folds "
        "(--cv-scheme) and put the table into the card (costs FOLDS more trainings)",
    )
    parser.add_argument(
        "--cv-scheme",
        choices=("blocked", "runs"),
        default="blocked",
        help="folds of --cv: blocked (contiguous blocks, default) or runs (runs of constant "
        "condition, run r in fold r mod FOLDS)",
    )
    parser.add_argument(
        "--cv-block-size",
        type=int,
        default=100,
        help="contiguous windows per cross-validation block (default 100)",
    )
    parser.set_defaults(handler=_run)
