"""`hydrodiag demo`: build the demo workspace from the rig simulator (once), diagnose it, open it."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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


def diagnose_demo(summary: DemoSummary, *, progress: Progress | None = None) -> None:
    """Diagnose the demo every half hour of its data (:func:`app.core.demo.diagnose_demo`:
    the app's first-start page builds the demo with the same code)."""
    from app.core.demo import diagnose_demo as diagnose

    diagnose(summary, progress=progress)


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
