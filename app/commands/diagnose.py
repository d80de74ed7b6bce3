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
from datetime import timedelta
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


MAX_LAST = timedelta(days=100 * 365)


def _selection(args: argparse.Namespace) -> Selection:
    from pydantic import ValidationError

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
        last = parse_duration(args.last) if args.last else None
    except OverflowError:  # more days than a timedelta holds
        last = timedelta.max
    if last is not None and last > MAX_LAST:
        raise EngineError(
            f"--last {args.last!r}: longer than {MAX_LAST.days // 365} years; give a shorter "
            "duration (or leave --last out to diagnose all data)."
        )
    try:
        return Selection(
            cycles=parse_cycles(args.cycles) if args.cycles else None,
            start=parse_time(args.start) if args.start else None,
            end=parse_time(args.end) if args.end else None,
            last=last,
        )
    except ValidationError as exc:  # pydantic's check of the combination: its message only
        message = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())
        raise EngineError(f"selection: {message}.") from None


def health_text(health: float | None) -> str:
    from gnn.wording import health_text as words

    return words(health)


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
        health = health_text(r.overall_health)
        print(
            f"{r.id:>4}  {r.created_at:%Y-%m-%d %H:%M:%S}  {r.equipment_id:<12} "
            f"{r.overall_status.value:<17} {health:>6}  {_clip(r.verdict, 50)}"
        )


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def _component_note(c: ComponentResult) -> str:
    from gnn.recommend import earlier_lines
    from gnn.wording import threshold_text, trend_text

    notes = []
    if c.selection_health is not None and c.current_windows < c.n_windows:
        notes.append(f"mean over the selection {health_text(c.selection_health)}")
    if c.trend is not None:
        notes.append(trend_text(c.trend))
        ahead = threshold_text(c)
        if c.trend.enough_history and ahead not in ("—", "not reached at the measured rate"):
            notes.append(ahead)
    notes += earlier_lines(c)
    if c.anomaly is not None and c.anomaly.is_anomalous:
        tops = ",".join(s.sensor_id for s in c.anomaly.top_sensors[:2])
        notes.append(f"anomaly {c.anomaly.score:.1f}× ({tops})")
    if c.limit_violations:
        notes.append(f"{len(c.limit_violations)} limit violation(s)")
    faults = [f"{k} {v:.2f}" for k, v in c.fault_probs.items() if v >= 0.5]
    if faults:
        notes.append("fault " + ", ".join(faults))
    return "; ".join(notes)


def summary(d: Diagnosis) -> str:
    """The ten-second text summary of a diagnosis."""
    lines: list[str] = []
    health = health_text(d.overall_health)
    lines.append(f"{d.equipment_id}: {d.verdict}")
    judged = (
        "status from calibrated anomaly scores (a model of the machine's normal grades nothing)"
        if d.model_kind == "anomaly"
        else f"overall health {health}"
    )
    lines.append(
        f"{judged} · {d.n_valid_windows}/{d.n_windows} windows assessed "
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
    if d.model.calibrated_on:
        lines.append(f"grade confidences calibrated on {d.model.calibrated_on}")
    if d.current_start is not None and d.current_end is not None:
        lines.append(
            f"current state: the latest windows, {d.current_start:%Y-%m-%d %H:%M} – "
            f"{d.current_end:%H:%M} UTC; trends over the stored history"
        )
    lines.append("")
    if d.model_kind == "anomaly":
        lines += _anomaly_lines(d)
    else:
        lines += _graded_table(d)
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


def _statuses(d: Diagnosis) -> dict[str, str]:
    from gnn.results import Status

    return {
        c.component_id: c.status.label.upper()
        if c.status in (Status.WARNING, Status.CRITICAL)
        else c.status.label
        for c in d.components
    }


def _graded_table(d: Diagnosis) -> list[str]:
    """One row per component of a graded model: status, health, grade (or the range of adjacent
    grades the model cannot tell apart, with that range's probability as confidence), notes."""
    from gnn.recommend import grade_text, is_grade_range, shown_confidence

    lines: list[str] = []
    grades = {c.component_id: grade_text(c) for c in d.components}
    statuses = _statuses(d)
    width = max([len("grade"), *(len(g) for g in grades.values())])
    s_width = max([len("status"), *(len(s) for s in statuses.values())])
    if any(is_grade_range(c) for c in d.components):
        lines.append(
            "a grade such as 0–1: the model cannot tell those grades apart (conf: the range's "
            "probability)"
        )
    lines.append(
        f"{'component':<28} {'status':<{s_width}} {'health':>6}  {'grade':<{width}} {'conf':>4}  notes"
        " (health, grade and status: the current state)"
    )
    for c in d.components:
        grade = grades[c.component_id]
        h = health_text(c.health)
        confidence = shown_confidence(c)  # a range's probability where there is one
        conf = "—" if confidence is None else f"{confidence:.2f}"
        lines.append(
            f"{_clip(f'{c.component_id} {c.name}', 28):<28} {statuses[c.component_id]:<{s_width}} "
            f"{h:>6}  {grade:<{width}} {conf:>4}  {_component_note(c)}"
        )
    return lines


def _anomaly_lines(d: Diagnosis) -> list[str]:
    """A model that learned the machine's normal: per component its status from the calibrated
    anomaly score (peak × its threshold), its episodes and sensors; then the machine's anomaly
    episodes and the excursions outside the learned operating range."""
    statuses = _statuses(d)
    s_width = max([len("status"), *(len(s) for s in statuses.values())])
    lines = [f"{'component':<28} {'status':<{s_width}} {'peak':>5}  {'episodes':>8}  sensors"]
    for c in d.components:
        peak = "—" if c.anomaly is None else f"{c.anomaly.score:.1f}×"
        tops = "" if c.anomaly is None else ", ".join(s.sensor_id for s in c.anomaly.top_sensors)
        episodes = "—" if not c.assessed else str(len(c.episodes))
        note = tops if c.assessed else "no sensors" if not c.sensors else ""
        if c.out_of_range:
            note += f"; outside learned range: {', '.join(sorted({e.sensor_id for e in c.out_of_range}))}"
        if c.limit_violations:
            note += f"; {len(c.limit_violations)} limit violation(s)"
        lines.append(
            f"{_clip(f'{c.component_id} {c.name}', 28):<28} {statuses[c.component_id]:<{s_width}} "
            f"{peak:>5}  {episodes:>8}  {note.lstrip('; ')}"
        )
    if d.episodes:
        from gnn.anomaly_headline import episode_text

        with_date = (d.window_end - d.window_start).total_seconds() > 20 * 3600
        lines += ["", f"anomaly episodes ({len(d.episodes)}; 1.0× = the calibrated threshold):"]
        names = {c.component_id: c.name for c in d.components}
        for e in d.episodes[:TOP_FINDINGS]:
            who = ", ".join(names.get(c, c) for c in e.components) or "the machine"
            text = episode_text(who, e, with_date=with_date)
            extra = (
                f"; outside learned range: {', '.join(e.outside_range)}" if e.outside_range else ""
            )
            lines.append(f"  {text} (peak {e.peak:.1f}×{extra})")
        if len(d.episodes) > TOP_FINDINGS:
            lines.append(f"  … {len(d.episodes) - TOP_FINDINGS} more (see --json)")
    if d.out_of_range:
        from gnn.anomaly_headline import excursion_text

        lines += ["", f"outside the learned operating range ({len(d.out_of_range)}):"]
        for x in d.out_of_range[:TOP_FINDINGS]:
            lines.append(f"  {excursion_text(x)}")
    return lines


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
        "--model",
        type=Path,
        default=None,
        help="model.onnx to use (default: the equipment's active model, see `hydrodiag model "
        "list -e ID`; the built-in model for its profile when none is activated)",
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
