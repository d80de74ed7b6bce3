"""GUI benchmark: cold start, opening the demo workspace, pan/zoom on 10 M points, memory.

Measured in the same run, each against the alternative it is meant to beat:

  cold start     `hydrodiag` path (Python start, imports, MainWindow on an empty workspace) to the
                 first paint event of the main window, in a fresh process, 5 runs; versus the
                 same with ``import torch`` first (what an eager torch import would cost).
  open demo      ``MainWindow.open_workspace`` on the demo workspace (the sample of
                 ``app.core.sample``: the demo rig diagnosed every half hour by the shipped
                 model) until every view is filled, the sensor data loaded and the window
                 painted; 3 runs.
  pan / zoom     median frame time (set the x range, then a synchronous repaint at 1366×768)
                 over 60 frames of zooms and pans on ONE 10 M-point series with clip-to-view +
                 peak downsampling (what SensorPlotPanel uses); versus the same curve without
                 them (3 frames: each takes seconds).
  memory         RSS of a fresh process after loading 8 h × 20 sensors × 100 Hz (57.6 M
                 samples, float64 time + value per sensor, as load_series returns them) into
                 SensorPlotPanel and painting it (freed heap trimmed first), and the bytes of
                 the arrays the panel holds; versus unshared time arrays (2 × 8 B per sample).

Prints a table and writes JSON to tests/benchmarks/results/bench_gui.json.

    .venv/bin/python tests/benchmarks/bench_gui.py
    .venv/bin/python tests/benchmarks/bench_gui.py --quick   # 1 M points, 1 h, fewer runs
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RESULTS = Path(__file__).resolve().parent / "results"

COLD_START = r"""
import sys, time
from app.commands.gui import _application
app = _application()
from PySide6.QtCore import QEvent, QObject, QTimer
from app.gui.main_window import MainWindow

class FirstPaint(QObject):
    def eventFilter(self, obj, event):
        if event.type() == QEvent.Type.Paint and obj is window:
            print(f"PAINTED {time.time():.6f} torch={'torch' in sys.modules}", flush=True)
            QTimer.singleShot(0, app.quit)
        return False

window = MainWindow()
spy = FirstPaint()
window.installEventFilter(spy)
window.show()
app.exec()
"""

MEMORY = r"""
import os, sys, time, gc
import numpy as np, psutil
from app.commands.gui import _application
app = _application()
from app.gui.views.sensor_plot import SensorPlotPanel
from ingestion.profiles import validate_profile_data
hours, sensors, rate = float(sys.argv[1]), int(sys.argv[2]), 100.0
profile = validate_profile_data({
    "id": "bench-20", "name": "bench", "kind": "benchmark",
    "components": [{"id": "P", "type": "pump", "name": "Pump"}],
    "sensors": [{"id": f"S{i}", "quantity": "pressure", "unit": "bar", "component": "P",
                 "rate_hz": rate, "min": 0, "max": 400} for i in range(1, sensors + 1)],
})
proc = psutil.Process()
panel = SensorPlotPanel()
panel.set_profile(profile, [s.id for s in profile.sensors])
panel.resize(1366, 768); panel.show(); app.processEvents()
base = proc.memory_info().rss
n = int(hours * 3600 * rate)
t0 = 1.8e9
rng = np.random.default_rng(0)
started = time.perf_counter()
series = {}
for i, s in enumerate(profile.sensors):
    t = t0 + np.arange(n, dtype=np.float64) / rate  # one array per sensor, as load_series gives
    v = 100.0 + 10.0 * np.sin(t / 60.0 + i) + rng.normal(0.0, 1.0, n)
    series[s.id] = (t, v)
panel.set_series(series)
del series, t, v
gc.collect()
try:  # give freed heap pages back to the OS, so RSS shows what is still held
    import ctypes
    ctypes.CDLL("libc.so.6").malloc_trim(0)
except OSError:
    pass
held = {id(a): a.nbytes for pair in panel._raw.values() for a in pair}
app.processEvents()
panel.grab()
loaded = time.perf_counter() - started
rss = proc.memory_info().rss
frames = []
vb = panel.plots["bar"].getViewBox()
for k in range(5):
    a = t0 + k * 600.0
    s = time.perf_counter()
    vb.setXRange(a, a + 1800.0, padding=0)
    app.processEvents()
    panel.graphics.viewport().repaint()
    frames.append((time.perf_counter() - s) * 1000)
import json, statistics
print("MEM " + json.dumps({"samples": n * sensors, "rss_mb": rss / 2**20, "base_mb": base / 2**20,
      "load_and_first_paint_s": loaded, "pan_frame_ms_median_20_curves": statistics.median(frames),
      "arrays_held_mb": sum(held.values()) / 2**20}))
"""


def _env(data_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["HYDRODIAG_DATA_DIR"] = str(data_dir)
    env.pop("HYDRODIAG_WORKSPACE", None)
    env["QT_QPA_PLATFORM"] = env.get("QT_QPA_PLATFORM", "offscreen")
    return env


def cold_start(runs: int, with_torch: bool) -> list[float]:
    times = []
    code = ("import torch\n" if with_torch else "") + COLD_START
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            started = time.time()
            out = subprocess.run(
                [sys.executable, "-c", code],
                capture_output=True,
                text=True,
                cwd=REPO,
                env=_env(Path(tmp)),
                timeout=300,
            )
            line = next((ln for ln in out.stdout.splitlines() if ln.startswith("PAINTED")), None)
            if line is None:
                raise RuntimeError(f"cold start failed:\n{out.stderr[-3000:]}")
            painted = float(line.split()[1])
            if not with_torch and "torch=True" in line:
                raise RuntimeError("the GUI start imported torch")
            times.append(painted - started)
    return times


def open_demo(runs: int) -> dict[str, float | int | str]:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from app.commands.gui import _application

    app = _application()
    from app.core.sample import SAMPLE_EQUIPMENT as DEMO_EQUIPMENT
    from app.core.sample import build_sample_workspace
    from app.gui.main_window import MainWindow

    tmp = Path(tempfile.mkdtemp())
    os.environ["HYDRODIAG_DATA_DIR"] = str(tmp)
    started = time.perf_counter()
    sample = build_sample_workspace(tmp / "demo.duckdb")
    build_s = time.perf_counter() - started
    times: list[float] = []
    all_tabs: list[float] = []
    for _ in range(runs):
        (tmp / "settings.json").unlink(missing_ok=True)  # every run starts on the Overview tab
        window = MainWindow(workspace=tmp / "empty.duckdb")
        window.close_policy = "cancel"
        window.resize(1366, 768)
        window.show()
        app.processEvents()
        s = time.perf_counter()
        window.open_workspace(tmp / "demo.duckdb", DEMO_EQUIPMENT)
        while window.runner.active_count:
            app.processEvents()
            time.sleep(0.002)
        app.processEvents()
        window.repaint()
        times.append(time.perf_counter() - s)
        # And with every tab built and filled (sensor data of the visible sensors loaded).
        s = time.perf_counter()
        for i in range(window.tabs.count()):
            window.tabs.setCurrentIndex(i)
            app.processEvents()
        while window.runner.active_count:
            app.processEvents()
            time.sleep(0.002)
        window.repaint()
        all_tabs.append(times[-1] + time.perf_counter() - s)
        window.close()
        app.processEvents()
    return {
        "median_s": statistics.median(times),
        "runs_s": times,  # type: ignore[dict-item]
        "all_tabs_median_s": statistics.median(all_tabs),
        "build_s": build_s,
        "cycles": round((sample.end - sample.start).total_seconds() / 60),
        "values": _count_values(sample.path),
        "diagnoses": len(sample.diagnoses),
    }


def _count_values(path: Path) -> int:
    from ingestion.workspace import open_workspace

    with open_workspace(path, read_only=True) as store:
        return int(store.query("SELECT count(*) FROM measurements")[0][0])


def pan_zoom(points: int, frames: int, optimised: bool) -> list[float]:
    import numpy as np
    import pyqtgraph as pg

    from app.commands.gui import _application
    from app.gui.views import plotting

    app = _application()
    plotting.configure()
    widget = pg.PlotWidget(axisItems={"bottom": plotting.utc_axis()})
    widget.resize(1366, 768)
    widget.show()
    plot = widget.getPlotItem()
    if optimised:
        plot.setClipToView(True)
        plot.setDownsampling(auto=True, mode="peak")
    rate = 100.0
    t = 1.8e9 + np.arange(points, dtype=np.float64) / rate
    v = 100.0 + 10.0 * np.sin(t / 60.0) + np.random.default_rng(0).normal(0.0, 1.0, points)
    curve = plot.plot(t, v, pen=pg.mkPen("#0072b2", width=1))
    app.processEvents()
    widget.viewport().repaint()
    span = t[-1] - t[0]
    plan = []
    for k in range(frames):
        level = (1.0, 0.1, 0.01, 0.001)[k % 4]  # zoom levels: all, 1/10, 1/100, 1/1000
        width = span * level
        start = t[0] + (span - width) * ((k * 0.137) % 1.0)  # and a pan position
        plan.append((start, start + width))
    from PySide6.QtCore import QEvent, QObject

    paints = [0]

    class PaintCounter(QObject):
        def eventFilter(self, obj: object, event: QEvent) -> bool:  # noqa: N802 (Qt override)
            if event.type() == QEvent.Type.Paint:
                paints[0] += 1
            return False

    counter = PaintCounter()
    widget.viewport().installEventFilter(counter)
    times = []
    for lo, hi in plan:
        before = paints[0]
        s = time.perf_counter()
        plot.setXRange(lo, hi, padding=0)
        app.processEvents()  # delivers the update the range change posted: one paint
        if paints[0] == before:  # never count a frame that was not drawn
            widget.viewport().repaint()
        times.append((time.perf_counter() - s) * 1000)
    if paints[0] < len(plan):
        raise RuntimeError(f"only {paints[0]} paints for {len(plan)} frames")
    widget.close()
    del curve
    return times


def memory(hours: float, sensors: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run(
            [sys.executable, "-c", MEMORY, str(hours), str(sensors)],
            capture_output=True,
            text=True,
            cwd=REPO,
            env=_env(Path(tmp)),
            timeout=900,
        )
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("MEM ")), None)
    if line is None:
        raise RuntimeError(f"memory run failed:\n{out.stderr[-3000:]}")
    result: dict[str, float] = json.loads(line[4:])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, fewer runs")
    args = parser.parse_args()
    points = 1_000_000 if args.quick else 10_000_000
    hours = 1.0 if args.quick else 8.0
    runs = 2 if args.quick else 5
    results: dict[str, object] = {
        "machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}",
    }
    cold = cold_start(runs, with_torch=False)
    cold_torch = cold_start(max(2, runs // 2), with_torch=True)
    results["cold_start_s"] = {"median": statistics.median(cold), "runs": cold, "target": 2.5}
    results["cold_start_with_torch_s"] = {
        "median": statistics.median(cold_torch),
        "runs": cold_torch,
    }
    results["open_demo"] = open_demo(2 if args.quick else 3)
    fast = pan_zoom(points, 60, optimised=True)
    slow = pan_zoom(points, 3, optimised=False)
    results["pan_zoom_ms"] = {
        "points": points,
        "median_clip_downsample": statistics.median(fast),
        "p95_clip_downsample": sorted(fast)[int(0.95 * (len(fast) - 1))],
        "median_plain": statistics.median(slow),
        "target": 50.0,
    }
    results["memory"] = {"hours": hours, "sensors": 20, "rate_hz": 100, **memory(hours, 20)}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "bench_gui.json").write_text(json.dumps(results, indent=2), encoding="utf-8")
    od = results["open_demo"]
    pz = results["pan_zoom_ms"]
    mem = results["memory"]
    assert isinstance(od, dict) and isinstance(pz, dict) and isinstance(mem, dict)
    rows = [
        (
            "cold start to first paint",
            f"{statistics.median(cold):.2f} s",
            "≤ 2.5 s",
            f"with torch imported: {statistics.median(cold_torch):.2f} s",
        ),
        (
            "open demo workspace",
            f"{od['median_s']:.2f} s",
            "—",
            f"visible tab; every tab built and filled {od['all_tabs_median_s']:.2f} s; "
            f"{od['values']:,} values, {od['diagnoses']} diagnoses (built in {od['build_s']:.1f} s)",
        ),
        (
            f"pan/zoom, {points / 1e6:.0f} M points",
            f"{pz['median_clip_downsample']:.1f} ms median",
            "≤ 50 ms",
            f"p95 {pz['p95_clip_downsample']:.1f} ms; without clip/downsample {pz['median_plain']:.0f} ms",
        ),
        (
            f"memory {hours:g} h × 20 × 100 Hz",
            f"{mem['rss_mb']:.0f} MB RSS",
            "—",
            f"{mem['samples'] / 1e6:.1f} M samples; arrays held {mem['arrays_held_mb']:.0f} MB "
            f"(one shared time array; unshared float64 t+v would be {mem['samples'] * 16 / 2**20:.0f} MB); "
            f"empty panel {mem['base_mb']:.0f} MB; load+paint {mem['load_and_first_paint_s']:.1f} s; "
            f"pan 20 curves {mem['pan_frame_ms_median_20_curves']:.0f} ms",
        ),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"{'measure'.ljust(width)}  {'result':>18}  {'target':>8}  notes")
    for name, value, target, note in rows:
        print(f"{name.ljust(width)}  {value:>18}  {target:>8}  {note}")
    print(f"JSON: {RESULTS / 'bench_gui.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
