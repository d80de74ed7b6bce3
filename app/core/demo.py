"""The demo workspace built and diagnosed, for ``hydrodiag demo`` and the app's first-start
page alike: the simulated rig (:mod:`ingestion.demo`) diagnosed every half hour of its data, so
that health trends exist. Qt-free."""

from __future__ import annotations

import os
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gnn.results import Diagnosis
    from ingestion.demo import DemoSummary
    from ingestion.progress import Progress


def build_demo(path: Path, *, progress: Progress | None = None) -> DemoSummary:
    """Build the demo workspace at ``path`` (replacing it) and diagnose it.

    It is built beside ``path`` and moved into place only when complete: a cancelled or failed
    build leaves no half-built demo for the next "Open the demo" to open (the app opens a demo
    file that exists as it is)."""
    from ingestion.demo import build_demo_workspace
    from ingestion.progress import NO_PROGRESS, check_cancelled

    progress = progress or NO_PROGRESS
    building = path.with_name(f".{path.name}.building")
    try:
        summary = build_demo_workspace(building, progress=progress)
        diagnose_demo(summary, progress=progress)  # says "not diagnosed: why" rather than raise
        check_cancelled(progress)
    except BaseException:
        for stale in (building, building.with_name(building.name + ".wal")):
            stale.unlink(missing_ok=True)
        raise
    path.with_name(path.name + ".wal").unlink(missing_ok=True)  # the replaced demo's journal
    os.replace(building, path)
    summary.path = path
    return summary


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
