"""`hydrodiag evaluate`: score models honestly.

- ``evaluate uci DIR [--model PATH] [--json OUT]``: run an exported model through ONNX Runtime
  on a UCI-layout folder (any cycles, with profile.txt) and report per-component grade
  accuracy, macro-F1 and confusion matrices.
- ``evaluate cv DIR|--equipment ID [--scheme runs|blocked] [--json OUT]``: cross-validation of
  the model and the LDA baselines on the same folds: leave-one-run-out over the runs of
  constant condition (default), or blocked K-fold over blocks of contiguous windows (cycles,
  or a workspace's windows cut as ``train`` cuts them); ``--conditions offset,missing`` also
  grades each fold with a sensor offset and with data missing; prints its run time.
- ``evaluate merge A.json B.json ... [--json OUT] [--attach-to DIR]``: one report from ``cv``
  runs over disjoint ``--only-folds`` (one process per core halves the wall time).
- ``evaluate anomalies --equipment ID [--json OUT]``: the equipment's active model (one that
  learned its normal) against the labels of its log's label column, point by point and per
  event (``app/commands/evaluate_anomalies.py``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from app.commands._common import (
    add_config_options,
    add_window_options,
    labelled_windows,
    train_config,
)


def _uci(args: argparse.Namespace) -> int:
    from gnn.graph import default_model_path
    from training.datasets import from_uci_folder
    from training.evaluate import evaluate_onnx

    model = args.model if args.model is not None else default_model_path()
    windows = from_uci_folder(args.dir)
    pool = [int(n) for n in args.pool.split(",")] if args.pool else []
    report = evaluate_onnx(model, windows, provider=args.provider, pool=pool)
    print(f"model {report['model_id']} {report['model_version']} ({model})")
    print(f"provider requested: {args.provider}; used: {report['provider']}")
    if report["provider_note"]:
        print(f"note: {report['provider_note']}")
    print(f"{report['n_windows']} windows in {report['seconds']:.2f} s")
    print(f"{'component':<10}{'accuracy':>10}{'macro-F1':>10}   confusion (rows true 0-3)")
    for c, s in report["components"].items():
        print(f"{c:<10}{100 * s['accuracy']:>9.2f}%{s['macro_f1']:>10.3f}   {s['confusion']}")
    if pool:
        print(
            "pooled (a diagnosis over N consecutive cycles of one condition grades the mean of "
            "their probabilities; scored at every cycle that ends such a stretch):"
        )
        for c, s in report["components"].items():
            print(
                f"  {c:<8}"
                + "  ".join(f"{n} cycles {100 * a:.2f}%" for n, a in s["pooled"].items())
            )
    for c, s in report["components"].items():
        if s["errors"]:
            wrong = ", ".join(f"{w} ({t}→{p})" for w, t, p in s["errors"][:12])
            more = f" and {len(s['errors']) - 12} more" if len(s["errors"]) > 12 else ""
            print(f"{c} wrong at cycle (true→predicted): {wrong}{more}")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2), encoding="utf-8")
        print(f"wrote {args.json}")
    return 0


def _cv(args: argparse.Namespace) -> int:
    import time

    from ingestion.uci import UCI_SENSORS
    from training.evaluate import blocked_scheme, runs_scheme
    from training.pipeline import command_line, cross_validate_config

    started = time.perf_counter()
    windows, profile, source = labelled_windows(args, args.dir, args.profile)
    print(f"{windows.n_windows} windows from {source}")
    scheme = (
        runs_scheme(windows, args.runs_of, args.folds)
        if args.scheme == "runs"
        else blocked_scheme(windows.n_windows, args.folds or 5, args.block_size)
    )
    print(f"validation: {scheme.description} ({len(scheme.folds)} folds)")
    # the UCI sensor order keeps the baselines' published figures reproducible to the bit
    sensors = list(UCI_SENSORS) if args.dir is not None else list(windows.values)
    report = cross_validate_config(
        windows,
        profile,
        train_config(args),
        sensors=sensors,
        scheme=scheme,
        folds=[int(f) - 1 for f in args.only_folds.split(",")] if args.only_folds else None,
        with_model=not args.baselines_only,
        conditions=[c for c in (args.conditions or "").split(",") if c],
        command=command_line(),
    )
    report["wall_seconds"] = time.perf_counter() - started
    _print_report(report)
    _write(report, args)
    return 0


def _print_report(report: dict[str, Any]) -> None:
    """The accuracy table, the robustness table when conditions were graded, the time."""
    from training.evaluate import table
    from training.robustness import table as robustness_table

    print(
        f"{report['scheme']}; folds {report['folds_run']}, {report['n_windows_evaluated']} windows"
    )
    print(table(report))
    if report.get("conditions"):
        print(
            "\nclean, with one sensor offset by 1 % of its spread (worst sensor), and with "
            "data missing (worst case; the baselines scored on the windows the model graded):"
        )
        print(robustness_table(report))
    seconds = ", ".join(f"{m} {s:.0f} s" for m, s in report["seconds"].items())
    wall = report.get("wall_seconds")
    total = f"; {wall / 60:.1f} min wall time" if wall is not None else ""
    if report.get("cpu_process_seconds"):
        total += f" (the processes together {report['cpu_process_seconds'] / 60:.1f} min)"
    cpu = report.get("process_seconds")
    if cpu:
        each = cpu if isinstance(cpu, list) else [cpu]
        total += "; processor time " + " + ".join(f"{c / 60:.1f}" for c in each) + " min"
    print(f"time per method: {seconds}{total}")


def _write(report: dict[str, Any], args: argparse.Namespace) -> None:
    """The report to ``--json`` and into the card of ``--attach-to``, when given."""
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2), encoding="utf-8")
        print(f"wrote {args.json}")
    if args.attach_to is not None:
        from training.card import attach_cross_validation

        card = attach_cross_validation(args.attach_to, report)
        print(f"added the table to {args.attach_to}/card.json and card.md:")
        for note in card["notes"]:
            print(f"  {note}")


def _merge(args: argparse.Namespace) -> int:
    from ingestion.errors import HydroDiagError
    from training.evaluate import merge_reports

    reports = []
    for path in args.reports:
        try:
            reports.append(json.loads(Path(path).read_text(encoding="utf-8")))
        except (OSError, ValueError) as exc:
            raise HydroDiagError(
                f"{path}: cannot read a cross-validation report ({exc}); give the --json "
                "files written by `hydrodiag evaluate cv`."
            ) from exc
    try:
        report = merge_reports(reports)
    except (ValueError, KeyError) as exc:
        raise HydroDiagError(
            f"cannot merge {', '.join(map(str, args.reports))}: {exc}. Merge runs of the "
            "same command over disjoint --only-folds."
        ) from exc
    _print_report(report)
    _write(report, args)
    return 0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("evaluate", help="score a model (ONNX) or cross-validate")
    sub = parser.add_subparsers(dest="evaluate_command", metavar="WHAT", required=True)
    uci = sub.add_parser("uci", help="run an ONNX model on a UCI-layout folder and score it")
    uci.add_argument("dir", type=Path, help="folder with PS1.txt … and profile.txt")
    uci.add_argument("--model", type=Path, help="model.onnx (default: the shipped model)")
    uci.add_argument("--json", type=Path, help="write the report here")
    uci.add_argument(
        "--pool",
        metavar="N[,N]",
        help="also score diagnoses pooled over N consecutive cycles of one condition, e.g. 10,30",
    )
    uci.add_argument(
        "--provider",
        choices=("auto", "cuda", "cpu"),
        default="cuda",
        help="ONNX Runtime provider to request (default cuda, falls back to CPU)",
    )
    uci.set_defaults(handler=_uci)
    cv = sub.add_parser(
        "cv", help="cross-validation (leave-one-run-out or blocked) of the model and LDA baselines"
    )
    cv.add_argument(
        "dir", type=Path, nargs="?", help="folder with PS1.txt … and profile.txt (or --equipment)"
    )
    cv.add_argument("--equipment", help="cross-validate on this equipment's labelled windows")
    add_window_options(cv)
    cv.add_argument(
        "--scheme",
        choices=("runs", "blocked"),
        default="runs",
        help="runs (default): leave one run of constant condition out per fold, what a new "
        "run of the machine is; blocked: contiguous blocks of --block-size windows",
    )
    cv.add_argument(
        "--runs-of",
        metavar="COMPONENT",
        help="the component whose runs of constant condition are held out (default: the "
        "slowest-changing one whose every grade occurs in two or more runs; ACC on the rig)",
    )
    cv.add_argument(
        "--folds",
        type=int,
        help="folds: blocked default 5; runs default one per run (else run r in fold r mod K)",
    )
    cv.add_argument(
        "--block-size",
        type=int,
        default=100,
        help="contiguous windows per block of --scheme blocked (default 100)",
    )
    cv.add_argument(
        "--conditions",
        metavar="KINDS",
        help="also grade every fold's validation windows with one sensor offset by 1 %% of "
        "its spread (offset) and with samples or sensors missing (missing): offset,missing",
    )
    cv.add_argument(
        "--only-folds",
        help="run only these folds, e.g. 1,3 (one process per core, then `evaluate merge`)",
    )
    cv.add_argument("--profile", default="zema-test-rig")
    add_config_options(cv)
    cv.add_argument("--baselines-only", action="store_true")
    cv.add_argument("--json", type=Path, help="write the report here")
    cv.add_argument(
        "--attach-to", type=Path, help="model folder whose card gets this cross-validation"
    )
    cv.set_defaults(handler=_cv)
    merge = sub.add_parser(
        "merge", help="one cross-validation report from runs over disjoint --only-folds"
    )
    merge.add_argument("reports", type=Path, nargs="+", help="--json files of `evaluate cv`")
    merge.add_argument("--json", type=Path, help="write the merged report here")
    merge.add_argument(
        "--attach-to", type=Path, help="model folder whose card gets this cross-validation"
    )
    merge.set_defaults(handler=_merge)
    from app.commands.evaluate_anomalies import register_anomalies

    register_anomalies(sub)
