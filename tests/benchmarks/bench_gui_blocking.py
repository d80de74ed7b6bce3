"""How long each step of the app's walk-through blocks the GUI thread (target: ≤ 100 ms).

A heartbeat QTimer ticks every 5 ms on the GUI thread; a step is started from the event loop
(so the time it takes inside a slot counts) and the event loop runs until its background
work is done and the window has settled. The longest gap between two heartbeats within the
step is what a user feels as a frozen window; "total" is the step's wall time, background
work included. On a shared machine a gap also holds the time the GUI thread waited for a
core; "GUI CPU" is the CPU time the GUI thread itself spent within that longest gap, which
other processes do not inflate (compare the two: a block with little CPU is the machine's
load, or another thread holding the GIL).

Steps, on the sample workspace (app.core.sample: the demo rig, diagnosed every half hour by
the shipped model) in a window of 1366×768: open the workspace, the first open of each tab
(Trends, Sensors, Attention, Live, Recommendations), back to the Overview, a component click,
F5, the report dialog, a report preview rebuild, the import dialog with a dropped logger
CSV, the settings dialog and the help window.

    .venv/bin/python tests/benchmarks/bench_gui_blocking.py            # table + JSON
    .venv/bin/python tests/benchmarks/bench_gui_blocking.py --runs 3   # median of 3 windows

Writes tests/benchmarks/results/bench_gui_blocking.json.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
RESULTS = Path(__file__).resolve().parent / "results"
HEARTBEAT_MS = 5
SETTLE_S = 0.25  # quiet time after the background work ends: deferred layouts and paints


class Heartbeat:
    """Timestamps of a 5 ms timer on the GUI thread; the longest gap = the longest block."""

    def __init__(self) -> None:
        from PySide6.QtCore import QTimer

        self.ticks: list[tuple[float, float]] = []  # (wall, GUI thread CPU)
        self.timer = QTimer()
        self.timer.setInterval(HEARTBEAT_MS)
        self.timer.timeout.connect(
            lambda: self.ticks.append((time.perf_counter(), time.thread_time()))
        )

    def longest_gap_ms(self, start: float, end: float) -> tuple[float, float]:
        """(longest gap between ticks, GUI thread CPU within it) in ms."""
        before = [t for t in self.ticks if t[0] < start][-1:]  # the step starts from here
        inner = [t for t in self.ticks if start <= t[0] <= end]
        if not inner or not before:
            return (end - start) * 1000, float("nan")
        ticks = [*before, *inner]
        gap = max(itertools.pairwise(ticks), key=lambda p: p[1][0] - p[0][0])
        return (gap[1][0] - gap[0][0]) * 1000, (gap[1][1] - gap[0][1]) * 1000


def run_step(
    app: Any, beat: Heartbeat, action: Callable[[], object], busy: Callable[[], bool]
) -> tuple[float, float, float]:
    """(longest block ms, GUI CPU ms in it, total s) of ``action`` started from the event
    loop."""
    from PySide6.QtCore import QTimer

    done: list[float] = []
    started = time.perf_counter()
    QTimer.singleShot(0, lambda: (action(), done.append(time.perf_counter())))
    deadline = started + 180.0
    quiet_since: float | None = None
    while time.perf_counter() < deadline:
        app.processEvents()
        time.sleep(0.001)
        if not done or busy():
            quiet_since = None
            continue
        quiet_since = quiet_since or time.perf_counter()
        if time.perf_counter() - quiet_since >= SETTLE_S:
            break
    end = time.perf_counter() - SETTLE_S
    block, cpu = beat.longest_gap_ms(started, end + SETTLE_S)
    return block, cpu, end - started


def _logger_csv(path: Path) -> Path:
    """A semicolon logger export with decimal commas and German headers (10 minutes, 1 Hz)."""
    lines = ["Datum/Zeit;Druck Pumpe [bar];TS1 [°C];Leistung [kW];Kommentar"]
    for i in range(600):
        lines.append(
            f"30.11.2026 08:{i // 60:02d}:{i % 60:02d};{150 + i % 7},{i % 10};40,5;2,{i % 9};ok"
        )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def walk_through(tmp: Path, sample_path: Path) -> list[tuple[str, float, float, float]]:
    from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
    from PySide6.QtGui import QDropEvent
    from PySide6.QtWidgets import QApplication, QDialog

    from app.core.sample import SAMPLE_EQUIPMENT
    from app.gui.main_window import MainWindow

    app = QApplication.instance()
    beat = Heartbeat()
    beat.timer.start()
    (tmp / "settings.json").unlink(missing_ok=True)
    window = MainWindow(workspace=tmp / "empty.duckdb")
    window.close_policy = "cancel"
    window.resize(1366, 768)
    window.show()
    app.processEvents()
    while window.runner.active_count:
        app.processEvents()
    state: dict[str, Any] = {}

    def busy() -> bool:
        return bool(window.runner.active_count)

    def tab(name: str) -> Callable[[], object]:
        return lambda: window.show_tab(name)

    def click_component() -> None:
        d = window.diagnosis
        worst = min(
            (c for c in d.components if c.health is not None), key=lambda c: c.health or 1.0
        )
        window.overview.graph.componentSelected.emit(worst.component_id)

    def f5() -> None:
        state["before"] = window.diagnosis.id if window.diagnosis else None
        window.acts.diagnose.trigger()

    def f5_busy() -> bool:
        return busy() or window.diagnosis is None or window.diagnosis.id == state["before"]

    def report() -> None:
        state["report"] = window.open_report()

    def report_busy() -> bool:
        dialog = state.get("report")
        return busy() or bool(dialog is not None and getattr(dialog, "building", False))

    def rebuild() -> None:
        dialog = state["report"]
        dialog.customer.setText("ACME Hydraulics")
        dialog._debounce.stop()
        dialog.update_preview()

    def close_report() -> None:
        state["report"].reject()

    def import_drop() -> None:
        dialog = window.import_log()
        state["import"] = dialog
        mime = QMimeData()
        mime.setUrls([QUrl.fromLocalFile(str(_logger_csv(tmp / "logger.csv")))])
        dialog.dropEvent(
            QDropEvent(
                QPointF(50, 50),
                Qt.DropAction.CopyAction,
                mime,
                Qt.MouseButton.LeftButton,
                Qt.KeyboardModifier.NoModifier,
            )
        )

    def settings() -> None:
        from app.gui.dialogs.settings_dialog import SettingsDialog

        dialog = SettingsDialog(window.settings, window)
        dialog.open()
        state["settings"] = dialog

    def help_window() -> None:
        opener = getattr(window, "open_help", None)
        state["help"] = opener() if opener is not None else None

    steps: list[tuple[str, Callable[[], object], Callable[[], bool]]] = [
        (
            "open the demo workspace",
            lambda: window.open_workspace(sample_path, SAMPLE_EQUIPMENT),
            busy,
        ),
        ("first open of Trends", tab("trends"), busy),
        ("first open of Sensors (+ data load)", tab("sensors"), busy),
        ("first open of Attention", tab("attention"), busy),
        ("first open of Live", tab("live"), busy),
        ("first open of Recommendations", tab("recommendations"), busy),
        ("back to Overview", tab("overview"), busy),
        ("click the worst component", click_component, busy),
        ("F5 (diagnose + show the result)", f5, f5_busy),
        ("Trends again (new diagnosis)", tab("trends"), busy),
        ("open the report dialog (+ preview)", report, report_busy),
        ("report preview rebuild", rebuild, report_busy),
        ("close the report dialog", close_report, busy),
        ("import dialog + dropped logger CSV", import_drop, busy),
        ("close the import dialog", lambda: state["import"].reject(), busy),
        ("open the settings dialog", settings, busy),
        ("close the settings dialog", lambda: state["settings"].reject(), busy),
        ("open the help (F1)", help_window, busy),
    ]
    out = []
    for name, action, is_busy in steps:
        out.append((name, *run_step(app, beat, action, is_busy)))
    for dialog in QApplication.topLevelWidgets():
        if isinstance(dialog, QDialog) and dialog.isVisible():
            dialog.reject()
    window.close()
    app.processEvents()
    beat.timer.stop()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1, help="windows to measure (median)")
    args = parser.parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    tmp = Path(tempfile.mkdtemp(prefix="bench-gui-blocking-"))
    os.environ["HYDRODIAG_DATA_DIR"] = str(tmp)
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv[:1])
    from app.core.sample import build_sample_workspace

    sample = build_sample_workspace(tmp / "sample.duckdb")
    import shutil

    runs = []
    for k in range(args.runs):
        path = tmp / f"run{k}.duckdb"
        shutil.copyfile(sample.path, path)
        runs.append(walk_through(tmp, path))
    names = [r[0] for r in runs[0]]
    rows = [
        {
            "step": name,
            "blocked_ms": statistics.median(r[i][1] for r in runs),
            "blocked_ms_max": max(r[i][1] for r in runs),
            "gui_cpu_ms": statistics.median(r[i][2] for r in runs),
            "total_s": statistics.median(r[i][3] for r in runs),
        }
        for i, name in enumerate(names)
    ]
    width = max(len(n) for n in names)
    print(
        f"{'step':<{width}}  {'blocked ms':>10}  {'(max)':>6}  {'GUI CPU ms':>10}  {'total s':>7}"
    )
    for row in rows:
        flag = "  > 100 ms" if row["blocked_ms"] > 100 else ""
        print(
            f"{row['step']:<{width}}  {row['blocked_ms']:>10.0f}  {row['blocked_ms_max']:>6.0f}"
            f"  {row['gui_cpu_ms']:>10.0f}  {row['total_s']:>7.2f}{flag}"
        )
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = {
        "when": datetime.now().isoformat(timespec="seconds"),
        "machine": platform.platform(),
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "runs": args.runs,
        "steps": rows,
    }
    (RESULTS / "bench_gui_blocking.json").write_text(json.dumps(out, indent=2), encoding="utf-8")
    del app
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
