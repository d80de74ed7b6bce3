"""`hydrodiag fit`: learn an equipment's normal from a stretch of its data, without labels.

The model (the temporal GNN predicting every sensor from its own past and its graph
neighbours) is trained on the stretch, exported to ONNX, calibrated on the stretch's held-out
end, and registered in the workspace as a model of kind ``anomaly`` (``--activate`` makes it
the equipment's model, which ``diagnose`` then uses). Several GPUs: start the same command
with ``torchrun --nproc-per-node K -m app.cli fit ...``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.commands._common import open_store, workspace_path
from ingestion.errors import HydroDiagError

if TYPE_CHECKING:
    from training.normal import FitEpoch, FitOptions, FitResult, FitSelection


def _selection(args: argparse.Namespace) -> FitSelection:
    from gnn.selection import parse_time
    from training.normal import FitSelection

    sources: tuple[int, ...] = ()
    if args.sources:
        try:
            sources = tuple(int(s) for s in args.sources.split(",") if s.strip())
        except ValueError:
            raise HydroDiagError(
                f"--sources {args.sources!r}: give source ids separated by commas, e.g. 3,4 "
                "(`hydrodiag workspace info` lists them)."
            ) from None
    try:
        return FitSelection(
            start=parse_time(args.start) if args.start else None,
            end=parse_time(args.end) if args.end else None,
            before=parse_time(args.before) if args.before else None,
            sources=sources,
        )
    except ValueError as exc:
        raise HydroDiagError(f"fit stretch: {_reason(exc)}") from None


def _options(args: argparse.Namespace) -> FitOptions:
    from training.normal import FitOptions

    values = {
        "model_id": args.model_id,
        "model_version": args.model_version,
        "rate_hz": args.rate,
        "window_s": args.window,
        "stride_s": args.stride,
        "holdout": args.holdout,
        "budget": args.false_alarm_budget,
        "margin": args.margin,
        "smoothing_s": args.smoothing,
        "debounce_s": args.debounce,
        "epochs": args.epochs,
        "time_budget_s": args.time_budget,
        "seed": args.seed,
        "device": args.device,
        "threads": args.threads,
        "labelled_faults": args.labelled_faults,
    }
    try:
        return FitOptions(**{k: v for k, v in values.items() if v is not None})
    except ValueError as exc:
        raise HydroDiagError(f"fit options: {_reason(exc)}") from None


def _reason(exc: ValueError) -> str:
    """A pydantic validation error as one sentence per problem: field and why."""
    from pydantic import ValidationError

    if not isinstance(exc, ValidationError):
        return str(exc)
    flags = {
        "budget": "--false-alarm-budget",
        "rate_hz": "--rate",
        "window_s": "--window",
        "stride_s": "--stride",
        "smoothing_s": "--smoothing",
        "debounce_s": "--debounce",
        "time_budget_s": "--time-budget",
    }
    parts = []
    for error in exc.errors():
        field = ".".join(str(p) for p in error["loc"])
        name = flags.get(field, f"--{field.replace('_', '-')}") if field else ""
        message = str(error["msg"]).removeprefix("Value error, ")
        value = f" (got {error['input']!r})" if field and "input" in error else ""
        parts.append(f"{name}: {message}{value}" if name else message)
    return "; ".join(parts)


def _epoch_line(record: FitEpoch) -> str:
    val = f"  held-out loss {record.val_loss:.4f}" if record.val_loss is not None else ""
    return f"epoch {record.epoch:3d}  loss {record.loss:.4f}{val}  ({record.seconds:.1f} s)"


def _summary(result: FitResult) -> list[str]:
    card = result.card
    data, window, cal = card["data"], card["window"], card["calibration"]
    held = card["metrics"]["held_out"]
    lines = [
        f"fitted {result.model_id}@{result.model_version} on {data['selection']}: "
        f"{data['train_samples']:,} samples to learn from, {data['held_out_samples']:,} held out "
        f"to calibrate ({data['rate_hz']:g} Hz) in {result.seconds:.1f} s",
        f"window {window['length_s']:g} s ({window['how']}); diagnosis every "
        f"{window['stride_s']:g} s",
        f"threshold: the {100 * (1 - cal['budget']):g} % quantile of the held-out score × "
        f"{cal['margin']:g}; held-out time flagged after the margin: "
        f"{100 * held['held_out_alarm_share_after_margin'].get('*', 0.0):.2f} %",
        f"training: {card['training']['epochs_run']} epochs ({card['training']['stopped']}) on "
        f"{card['training']['hardware'].get('device')}; ONNX parity "
        f"{card['training']['onnx_parity_max_abs_diff']:.1e}",
    ]
    lines += [f"warning: {w}" for w in result.warnings]
    return lines


def _run(args: argparse.Namespace) -> int:
    from ingestion.progress import TerminalProgress
    from training.distributed import distributed_rank
    from training.normal import fit_normal, register_fit

    selection = _selection(args)
    options = _options(args)
    rank = distributed_rank()[0]
    with open_store(args, read_only=True) as store:
        result = fit_normal(
            store,
            args.equipment,
            selection,
            options,
            progress=TerminalProgress() if rank == 0 else _quiet(),
            on_epoch=lambda record: (
                print(_epoch_line(record), flush=True) if args.verbose_epochs else None
            ),
        )
    if rank != 0:
        return 0
    if args.json is None:
        for line in _summary(result):
            print(line)
    if args.out is not None:
        result.write(args.out)
        print(f"wrote {args.out}/model.onnx, card.json, card.md")
    with open_store(args) as store:
        registration = register_fit(store, result, activate=args.activate)
    entry = registration.entry
    if args.json is not None:
        report = {
            "model": str(entry.key),
            "registered": registration.added,
            "activated": bool(args.activate),
            "warnings": result.warnings,
            "card": result.card,
        }
        text = json.dumps(report, indent=2, default=str)
        if str(args.json) == "-":
            print(text)
        else:
            args.json.write_text(text, encoding="utf-8")
    print(
        f"registered {entry.key} (anomaly) in {workspace_path(args)}",
        file=sys.stderr if str(args.json) == "-" else sys.stdout,
    )
    if args.activate:
        print(f"equipment {args.equipment} now uses {entry.key}")
    elif str(args.json) != "-":
        print(
            f"activate it with `hydrodiag model activate {entry.key} --equipment {args.equipment}`"
        )
    return 0


def _quiet() -> Any:
    from ingestion.progress import NO_PROGRESS

    return NO_PROGRESS


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "fit",
        help="learn an equipment's normal from a stretch of its data (no labels needed)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--equipment", "-e", required=True, help="equipment id in the workspace")
    where = parser.add_argument_group("the stretch known to be normal (default: all data)")
    where.add_argument("--from", dest="start", metavar="T", help="start (ISO 8601, UTC)")
    where.add_argument("--to", dest="end", metavar="T", help="end, exclusive (ISO 8601, UTC)")
    where.add_argument("--before", metavar="T", help="everything before this time")
    where.add_argument("--sources", metavar="IDS", help="imported sources, e.g. 3,4")
    model = parser.add_argument_group("the model")
    model.add_argument("--model-id", help="default: EQUIPMENT-normal")
    model.add_argument("--model-version", help="default: the next free version of the id")
    model.add_argument("--activate", action="store_true", help="make it the equipment's model")
    model.add_argument("--out", type=Path, help="also write model.onnx and its card here")
    model.add_argument("--rate", type=float, help="samples per second read (default 1)")
    model.add_argument(
        "--window", type=float, metavar="S", help="window length (default: the data's period)"
    )
    model.add_argument("--stride", type=float, metavar="S", help="training window stride")
    model.add_argument("--epochs", type=int, help="network epochs (default 30; 0: linear part)")
    model.add_argument("--time-budget", type=float, metavar="S", help="stop training after S s")
    model.add_argument("--seed", type=int)
    model.add_argument(
        "--device",
        choices=("auto", "cpu", "cuda"),
        help="auto (default): the GPU when torch sees one; cuda refuses to run without one",
    )
    model.add_argument("--threads", type=int, help="torch CPU threads (default 1)")
    cal = parser.add_argument_group("calibration (on the held-out end of the stretch)")
    cal.add_argument(
        "--false-alarm-budget",
        type=float,
        metavar="F",
        help="share of held-out normal time allowed above the threshold (default 0.01)",
    )
    cal.add_argument(
        "--margin", type=float, help="threshold safety factor beyond the held-out data (1.5)"
    )
    cal.add_argument("--holdout", type=float, metavar="F", help="share held out (default 0.25)")
    cal.add_argument("--smoothing", type=float, metavar="S", help="moving-median span of the score")
    cal.add_argument("--debounce", type=float, metavar="S", help="shortest episode reported")
    cal.add_argument(
        "--labelled-faults",
        choices=("exclude", "refuse"),
        help="labelled faults inside the stretch: leave them out with a note (default), or refuse",
    )
    parser.add_argument(
        "--json",
        type=Path,
        metavar="FILE",
        help="write the model's card and warnings ('-': stdout)",
    )
    parser.add_argument(
        "--verbose-epochs", action="store_true", help="print a line per training epoch"
    )
    parser.set_defaults(handler=_run)
