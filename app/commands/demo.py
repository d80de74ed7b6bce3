"""`hydrodiag demo`: build the demo workspace from the rig simulator (once), diagnose it, open it."""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gnn.results import Diagnosis
    from ingestion.demo import DemoSummary
    from ingestion.progress import Progress


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="build (once) and open the demo workspace: the simulated rig with developing faults",
        description=(
            "Build the demo workspace from the reference-rig simulator — a few hours with a "
            "developing accumulator fault and a weak pump leak — diagnose it every half hour "
            "and open it in the app."
        ),
    )
    parser.add_argument("--rebuild", action="store_true", help="build it again even if it exists")
    parser.add_argument(
        "--no-gui", action="store_true", help="print a summary instead of opening the app"
    )
    parser.set_defaults(handler=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    from ingestion.demo import DEMO_EQUIPMENT, build_demo_workspace
    from ingestion.progress import TerminalProgress
    from ingestion.resources import demo_workspace_path

    # Its own file by default (demo.duckdb beside the user's workspace, never mixed with it);
    # an explicit --workspace is honoured, but never to replace someone's real data.
    path = args.workspace if args.workspace is not None else demo_workspace_path()
    if args.workspace is not None and path.exists():
        _refuse_unless_demo(path, DEMO_EQUIPMENT)
    if args.rebuild or not path.exists():
        print(f"building the demo workspace at {path} ...", file=sys.stderr, flush=True)
        progress = TerminalProgress()
        summary = build_demo_workspace(path, progress=progress)
        diagnose_demo(summary, progress=progress)
        print(summary.describe())
    else:
        print(f"using the demo workspace at {path} (--rebuild makes a fresh one)")
        _print_existing(path)
    if args.no_gui or os.environ.get("HYDRODIAG_NO_GUI"):
        return 0
    try:
        from app.commands.gui import open_workspace_window
    except ImportError:  # a build without the GUI: the summary above is the demo
        return 0
    return open_workspace_window(path, DEMO_EQUIPMENT)


def diagnose_demo(summary: DemoSummary, *, progress: Progress | None = None) -> None:
    """Diagnose the demo workspace every ``DIAGNOSE_EVERY_MIN`` minutes of its data, so health
    trends exist, adding a one-line summary per diagnosis to ``summary`` (and the time taken).
    The first one that fails ends it with a "not diagnosed: why" line (no model, say); the
    workspace keeps its data, cycles and ground truth either way."""
    from ingestion.demo import DIAGNOSE_EVERY_MIN
    from ingestion.errors import HydroDiagError
    from ingestion.progress import NO_PROGRESS
    from ingestion.workspace import open_workspace

    started = time.perf_counter()
    try:
        try:
            from gnn.engine import diagnose_slices
        except ImportError:
            raise HydroDiagError("the diagnosis engine is not part of this build.") from None
        with open_workspace(summary.path) as store:
            slices = diagnose_slices(
                store,
                summary.equipment_id,
                start=summary.start,
                end=summary.end,
                every=timedelta(minutes=DIAGNOSE_EVERY_MIN),
                progress=progress or NO_PROGRESS,
            )
            for start, end, diagnosis in slices:
                summary.diagnoses.append(_demo_line(start, end, diagnosis))
    except HydroDiagError as exc:
        summary.diagnoses.append(f"not diagnosed: {exc}")
    summary.seconds += time.perf_counter() - started


def _demo_line(start: datetime, end: datetime, diagnosis: Diagnosis) -> str:
    """'10:30-11:00 overall 0.59; lowest: ACC 0.59 (warning), MP1 0.80 (healthy)'."""
    worst = sorted(
        (c for c in diagnosis.components if c.assessed and c.health is not None),
        key=lambda c: c.health if c.health is not None else 1.0,
    )[:2]
    parts = ", ".join(f"{c.component_id} {c.health:.2f} ({c.status.value})" for c in worst)
    health = "n/a" if diagnosis.overall_health is None else f"{diagnosis.overall_health:.2f}"
    return f"{start:%H:%M}-{end:%H:%M} overall {health}; lowest: {parts}"


def _refuse_unless_demo(path: Path, demo_equipment: str) -> None:
    """A workspace named with --workspace that holds other equipment is not the demo's."""
    from ingestion.errors import HydroDiagError
    from ingestion.workspace import open_workspace

    with open_workspace(path, read_only=True) as store:
        held = [row[0] for row in store.query("SELECT id FROM equipment ORDER BY id")]
    others = [e for e in held if e != demo_equipment]
    if others:
        raise HydroDiagError(
            f"{path}: this workspace holds equipment {', '.join(repr(e) for e in others)}, "
            "not the demo; the demo builds a workspace of its own and would replace it. "
            "Name a new file with --workspace, or leave --workspace out to use the demo's "
            "own file."
        )


def _print_existing(path: Path) -> None:
    from ingestion.workspace import open_workspace

    with open_workspace(path, read_only=True) as store:
        rows = store.query(
            "SELECT window_start, window_end, overall_health, overall_status, verdict "
            "FROM diagnoses ORDER BY window_end"
        )
    for start, end, health, status, verdict in rows:
        shown = "n/a" if health is None else f"{health:.2f}"
        print(f"  {start:%H:%M}-{end:%H:%M} overall {shown} ({status}): {verdict}")
