"""`hydrodiag diagnose`: run the model over an equipment's windows, store and print the diagnosis.

The summary is built to be read in ten seconds: verdict, one row per component, the top
findings, the recommendations and where the numbers came from (model, provider).
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ingestion.errors import HydroDiagError

if TYPE_CHECKING:
    from gnn.agreement import LabelAgreement
    from gnn.persist import DiagnosisSummary
    from gnn.results import ComponentResult, Diagnosis
    from gnn.selection import Selection

WIDTH = 100
TOP_FINDINGS = 6


def _selection(args: argparse.Namespace) -> Selection:
    from gnn.selection import EngineError, Selection, parse_cycles, parse_duration, parse_time

    chosen = [
        name
        for name, used in (
            ("--cycles", args.cycles is not None),
            ("--from/--to", args.start is not None or args.end is not None),
            ("--last", args.last is not None),
        )
        if used
    ]
    if len(chosen) > 1:
        raise EngineError(
            f"choose one of --cycles, --from/--to and --last (got {', '.join(chosen)})"
        )
    try:
        return Selection(
            cycles=parse_cycles(args.cycles) if args.cycles else None,
            start=parse_time(args.start) if args.start else None,
            end=parse_time(args.end) if args.end else None,
            last=parse_duration(args.last) if args.last else None,
        )
    except ValueError as exc:  # pydantic's check of the combination
        message = str(exc).split("Value error, ")[-1].splitlines()[0]
        raise EngineError(f"selection: {message}") from None


def _run(args: argparse.Namespace) -> int:
    from app.commands._common import open_store
    from gnn.engine import diagnose
    from gnn.persist import list_diagnoses, load_diagnosis
    from gnn.results import StatusThresholds
    from ingestion.progress import TerminalProgress

    if args.list or args.show is not None:
        with open_store(args, read_only=True) as store:
            if args.show is not None:
                shown = load_diagnosis(store, args.show)
                print(shown.model_dump_json(indent=2) if args.json else summary(shown))
            else:
                _print_list(list_diagnoses(store, args.equipment))
        return 0
    if not args.equipment:
        raise HydroDiagError("say which equipment to diagnose: --equipment ID")
    selection = _selection(args)
    try:
        thresholds = StatusThresholds(healthy=args.healthy, critical=args.critical)
    except ValueError:
        raise HydroDiagError(
            f"--healthy {args.healthy} / --critical {args.critical}: both must be in (0, 1]"
        ) from None
    with open_store(args) as store:
        result = diagnose(
            store,
            args.equipment,
            selection=selection,
            model_path=args.model,
            thresholds=thresholds,
            provider=args.provider,
            progress=TerminalProgress(),
            save=not args.dry_run,
            threads=args.threads,
            align_cycles=args.align_cycles,
        )
    agreement = None
    if args.labels:
        from gnn.agreement import compare_with_labels

        with open_store(args, read_only=True) as store:
            agreement = compare_with_labels(store, result)
    if args.json:
        if agreement is None:
            sys.stdout.write(result.model_dump_json(indent=2) + "\n")
        else:
            body = {
                "diagnosis": result.model_dump(mode="json"),
                "label_agreement": {k: v.model_dump(mode="json") for k, v in agreement.items()},
            }
            sys.stdout.write(json.dumps(body, indent=2) + "\n")
    else:
        print(summary(result))
        if agreement is not None:
            print(label_table(agreement))
    return 0


def label_table(agreement: Mapping[str, LabelAgreement]) -> str:
    """Per component: how the window grades agree with the workspace's labels."""
    if not agreement:
        return "\nlabels: none of the diagnosed windows has a condition label"
    lines = [
        "",
        "grades vs labels (per window):",
        f"  {'component':<10}{'windows':>8}{'exact':>8}{'±1':>8}",
    ]
    for comp, a in agreement.items():
        exact = "—" if a.accuracy is None else f"{100 * a.accuracy:.1f} %"
        near = "—" if a.within_one is None else f"{100 * a.within_one:.1f} %"
        lines.append(f"  {comp:<10}{a.n_windows:>8}{exact:>8}{near:>8}")
    return "\n".join(lines)


def _print_list(rows: list[DiagnosisSummary]) -> None:
    if not rows:
        print("no diagnoses stored yet (run `hydrodiag diagnose --equipment ID`)")
        return
    print(
        f"{'id':>4}  {'created (UTC)':<19}  {'equipment':<12} {'status':<17} {'health':>6}  verdict"
    )
    for r in rows:
        health = "—" if r.overall_health is None else f"{r.overall_health:.2f}"
        print(
            f"{r.id:>4}  {r.created_at:%Y-%m-%d %H:%M:%S}  {r.equipment_id:<12} "
            f"{r.overall_status.value:<17} {health:>6}  {_clip(r.verdict, 50)}"
        )


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def _component_note(c: ComponentResult) -> str:
    from gnn.recommend import grade_varied

    notes = []
    if grade_varied(c) and c.recent_health is not None:
        notes.append(f"recent health {c.recent_health:.2f}")
    if c.trend is not None:
        low, high = c.trend.rate_low_per_100h, c.trend.rate_high_per_100h
        if c.trend.enough_history and low is not None and high is not None and low <= 0 <= high:
            notes.append("no significant trend")  # the rate's band includes zero
        elif c.trend.enough_history and c.trend.rate_per_100h is not None:
            rate = c.trend.rate_per_100h
            note = f"{'losing' if rate > 0 else 'gaining'} {abs(rate):.2f} health/100 h"
            if c.trend.hours_to_critical not in (None, 0.0):
                note += f", critical in ~{c.trend.hours_to_critical:.0f} h"
            notes.append(note)
        else:
            notes.append("trend: not enough history")
    if c.anomaly is not None and c.anomaly.is_anomalous:
        tops = ",".join(s.sensor_id for s in c.anomaly.top_sensors[:2])
        notes.append(f"anomaly {c.anomaly.score:.1f}× ({tops})")
    if c.limit_violations:
        notes.append(f"{len(c.limit_violations)} limit violation(s)")
    faults = [f"{k} {v:.2f}" for k, v in c.fault_probs.items() if v >= 0.5]
    if faults:
        notes.append("fault " + ", ".join(faults))
    return "; ".join(notes)


def _is_range(c: ComponentResult) -> bool:
    return c.grade_range is not None and c.grade_range[0] != c.grade_range[1]


def _grade_cell(c: ComponentResult, text: str) -> str:
    """The grade column: the grade (``grade_text``), or the range of adjacent grades the model
    cannot tell apart, ``0–1 optimal to slightly degraded``."""
    from gnn.contract import GRADE_NAMES, grade_label

    if not _is_range(c) or c.grade_range is None or text.startswith("varied"):
        return text
    lo, hi = c.grade_range
    return f"{grade_label(lo, hi)} {GRADE_NAMES[lo]} to {GRADE_NAMES[hi]}"


def summary(d: Diagnosis) -> str:
    """The ten-second text summary of a diagnosis."""
    from gnn.recommend import grade_text
    from gnn.results import Status

    lines: list[str] = []
    health = "—" if d.overall_health is None else f"{d.overall_health:.2f}"
    lines.append(f"{d.equipment_id}: {d.verdict}")
    lines.append(
        f"overall health {health} · {d.n_valid_windows}/{d.n_windows} windows assessed "
        f"({d.selection}, {d.window_start:%Y-%m-%d %H:%M} – {d.window_end:%Y-%m-%d %H:%M} UTC)"
    )
    stored = f"stored as diagnosis #{d.id}" if d.id is not None else "not stored (--dry-run)"
    total = d.timings_ms.get("total")
    lines.append(
        f"model {d.model.model_id} {d.model.version} on {d.provider}"
        + (f" ({d.provider_note})" if d.provider_note else "")
        + f" · {stored}"
        + (f" · {total / 1000:.1f} s" if total is not None else "")
    )
    lines.append("")
    if d.model.calibrated_on:
        lines.append(f"grade confidences calibrated on {d.model.calibrated_on}")
    lines.append(
        "component grades pool all windows of the selection (the mean of their grade "
        "probabilities); a range such as 0–1 means the model cannot tell those grades apart"
    )
    lines.append("")
    grades = {c.component_id: _grade_cell(c, grade_text(c)) for c in d.components}
    statuses = {
        c.component_id: c.status.label.upper()
        if c.status in (Status.WARNING, Status.CRITICAL)
        else c.status.label
        for c in d.components
    }
    width = max([len("grade"), *(len(g) for g in grades.values())])
    s_width = max([len("status"), *(len(s) for s in statuses.values())])
    lines.append(
        f"{'component':<28} {'status':<{s_width}} {'health':>6}  {'grade':<{width}} {'conf':>4}  notes"
    )
    for c in d.components:
        grade = grades[c.component_id]
        h = "—" if c.health is None else f"{c.health:.2f}"
        conf = "—" if c.confidence is None else f"{c.confidence:.2f}"
        if _is_range(c) and c.grade_range_probability is not None:
            conf = f"{c.grade_range_probability:.2f}"  # the range's probability
        lines.append(
            f"{_clip(f'{c.component_id} {c.name}', 28):<28} {statuses[c.component_id]:<{s_width}} "
            f"{h:>6}  {grade:<{width}} {conf:>4}  {_component_note(c)}"
        )
    if d.findings:
        lines += ["", f"findings ({len(d.findings)}):"]
        for f in d.findings[:TOP_FINDINGS]:
            lines.append(f"  [{f.severity.value}] {f.summary}")
        if len(d.findings) > TOP_FINDINGS:
            lines.append(f"  … {len(d.findings) - TOP_FINDINGS} more (see --json)")
    if d.recommendations:
        lines += ["", f"recommendations ({len(d.recommendations)}):"]
        for r in d.recommendations:
            lines.append(f"  [{r.priority.value.upper()}, due by {r.due_date:%Y-%m-%d}] {r.title}")
            for text in textwrap.wrap(r.action, WIDTH - 6):
                lines.append(f"      {text}")
            if r.evidence:
                lines.append(f"      evidence: {_clip(r.evidence[0], WIDTH - 16)}")
    if d.data_quality:
        lines += ["", f"data quality ({len(d.data_quality)}):"]
        for w in d.data_quality[:8]:
            lines.append(f"  {_clip(w.message, WIDTH - 2)}")
    return "\n".join(lines)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "diagnose",
        help="diagnose an equipment with the model and store the result",
        description=(
            "Run the model over the equipment's cycles (or 60 s windows of continuous data), "
            "store the diagnosis and print a summary. Without a selection, all data is used."
        ),
    )
    parser.add_argument("--equipment", "-e", help="equipment id in the workspace")
    parser.add_argument("--cycles", metavar="A:B", help="cycles A to B (inclusive)")
    parser.add_argument("--from", dest="start", metavar="T", help="start time, ISO 8601 (UTC)")
    parser.add_argument("--to", dest="end", metavar="T", help="end time, ISO 8601 (UTC), exclusive")
    parser.add_argument("--last", metavar="DURATION", help="the last 90s / 15min / 2h / 3d of data")
    parser.add_argument(
        "--model", type=Path, default=None, help="model.onnx to use (default: the shipped model)"
    )
    parser.add_argument(
        "--provider",
        choices=("auto", "cpu", "cuda"),
        default="auto",
        help="ONNX Runtime execution provider (auto: CUDA when present, else CPU)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="CPU threads for inference (default 1, fastest on small graphs; 0 = one per core)",
    )
    parser.add_argument("--healthy", type=float, default=0.7, help="health ≥ this is healthy")
    parser.add_argument("--critical", type=float, default=0.5, help="health < this is critical")
    parser.add_argument("--json", action="store_true", help="print the full diagnosis as JSON")
    parser.add_argument(
        "--labels",
        action="store_true",
        help="also compare the window grades with the workspace's condition labels",
    )
    parser.add_argument("--dry-run", action="store_true", help="diagnose without storing")
    parser.add_argument(
        "--no-cycle-alignment",
        dest="align_cycles",
        action="store_false",
        help="on continuous data (no cycle table), cut windows on a fixed clock from the "
        "selection start instead of at the detected load-cycle starts (what the model was "
        "trained on)",
    )
    parser.add_argument("--list", action="store_true", help="list stored diagnoses")
    parser.add_argument("--show", type=int, metavar="ID", help="print a stored diagnosis")
    parser.set_defaults(handler=_run)
