"""`hydrodiag evaluate anomalies`: score the equipment's model of its normal against the labels
that came in its log (``ingest csv ... --label-column``): point-wise F1, false-alarm and
missed-alarm rates, and per event whether and how soon it was flagged. Needs no torch."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from app.commands._common import open_store


def _run(args: argparse.Namespace) -> int:
    from gnn.anomaly_eval import describe, evaluate_anomalies
    from gnn.selection import Selection, parse_time
    from ingestion.progress import TerminalProgress

    selection = Selection(
        start=parse_time(args.start) if args.start else None,
        end=parse_time(args.end) if args.end else None,
    )
    with open_store(args, read_only=True) as store:
        evaluation = evaluate_anomalies(
            store,
            args.equipment,
            selection=selection,
            model_path=args.model,
            provider=args.provider,
            progress=TerminalProgress(),
        )
    report = evaluation.model_dump(mode="json")
    if args.json is not None and str(args.json) == "-":
        print(json.dumps(report, indent=2))
        return 0
    for line in describe(evaluation):
        print(line)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2), encoding="utf-8")
        print(f"wrote {args.json}", file=sys.stderr)
    return 0


def register_anomalies(sub: Any) -> None:
    """The ``anomalies`` sub-command of ``hydrodiag evaluate``."""
    parser = sub.add_parser(
        "anomalies",
        help="score the equipment's model of its normal against its log's labels",
        description=__doc__,
    )
    parser.add_argument("--equipment", "-e", required=True, help="equipment id in the workspace")
    parser.add_argument("--from", dest="start", metavar="T", help="only from this time (UTC)")
    parser.add_argument("--to", dest="end", metavar="T", help="only up to this time (UTC)")
    parser.add_argument("--model", type=Path, help="an ONNX file instead of the active model")
    parser.add_argument("--provider", choices=("auto", "cuda", "cpu"), default="auto")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write the report ('-': stdout)")
    parser.set_defaults(handler=_run)
