"""Report benchmark: build + render a full-size report, vector charts vs raster charts.

    .venv/bin/python tests/benchmarks/bench_report.py [--cycles 1805] [--repeat 5]

Workspace: the sample workspace (app/core/sample.py: the simulated demo rig, diagnosed every
half hour by the shipped model) at UCI size: 1805 cycles of 60 s at 1 Hz for 17 sensors
(1.84 million measurement rows), 61 diagnoses whose windows make the health history; the
report is of the latest. Measured per paper size (A4, Letter), median of --repeat:
``build_report_model`` (the DuckDB queries: bucketed sensor envelopes, history), layout +
PDF writing with vector charts (what we ship), and the alternative in the same run: every
chart painted into a 300-dpi image and embedded (what a matplotlib-PNG pipeline produces).
Also one cold ``hydrodiag report`` process (Python + Qt start included).
Target (issue 7): a 6-page report in <= 3 s. Prints a table and writes
tests/benchmarks/results/bench_report.json.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QRectF  # noqa: E402
from PySide6.QtGui import QColor, QImage, QPainter  # noqa: E402

from app.core.sample import SAMPLE_EQUIPMENT as EQUIPMENT_ID  # noqa: E402
from app.core.sample import build_sample_workspace  # noqa: E402
from app.report import layout, render  # noqa: E402
from app.report.builder import build_report_model  # noqa: E402
from app.report.model import InspectionFields, Paper  # noqa: E402

RESULTS = REPO / "tests" / "benchmarks" / "results"
RASTER_DPI = 300.0
FIELDS = InspectionFields(
    customer="ACME Hydraulics GmbH", site="Hall 3, Bremen", inspector="J. Doe", notes="Routine."
)


def _raster_block(self: Any, height_pt: float, draw: Any) -> None:
    """The alternative: the same chart painted into a 300-dpi image, embedded in the PDF."""
    height = height_pt * layout.UNIT
    self.ensure(height)
    rect = QRectF(self.content.left(), self.y, self.content.width(), height)

    def op(painter: QPainter) -> None:
        scale = RASTER_DPI / layout.RESOLUTION
        image = QImage(
            math.ceil(rect.width() * scale),
            math.ceil(rect.height() * scale),
            QImage.Format.Format_RGB32,
        )
        dpm = round(layout.RESOLUTION / 0.0254)
        image.setDotsPerMeterX(dpm)
        image.setDotsPerMeterY(dpm)
        image.fill(QColor("white"))
        inner = QPainter(image)
        inner.scale(scale, scale)
        inner.translate(-rect.left(), -rect.top())
        draw(inner, rect)
        inner.end()
        painter.drawImage(rect, image)

    self.page.ops.append(op)
    self.y += height


def _envelopes(store: Any, diagnosis_id: int, repeat: int) -> dict[str, Any]:
    """The sensor charts' data: DuckDB bucket aggregates (ours) vs every raw sample fetched
    with ingestion.queries.sensor_series and bucketed in numpy (the alternative)."""
    import numpy as np

    from app.report import builder
    from ingestion.queries import sensor_series

    diagnosis, _ = builder.load_diagnosis(store, EQUIPMENT_ID, diagnosis_id)
    _, profile = builder._load_equipment(store, EQUIPMENT_ID)
    chosen = builder._choose_sensors(diagnosis, profile, builder.MAX_SENSORS)
    t0 = builder.epoch_seconds(diagnosis.window_start)
    span = builder.epoch_seconds(diagnosis.window_end) - t0
    width = builder._bucket_width(diagnosis, span, builder.MAX_POINTS)
    ours, raw = [], []
    for _ in range(repeat):
        t = time.perf_counter()
        for sensor_id, reason in chosen:
            builder._sensor_series(store, diagnosis, profile, sensor_id, reason, builder.MAX_POINTS)
        ours.append(time.perf_counter() - t)
        t = time.perf_counter()
        for sensor_id, _reason in chosen:
            ts, values = sensor_series(
                store, EQUIPMENT_ID, sensor_id, diagnosis.window_start, diagnosis.window_end
            )
            keep = ~np.isnan(values)
            k = ((ts[keep] / 1e9 - t0) // width).astype(np.int64)
            starts = np.flatnonzero(np.r_[True, k[1:] != k[:-1]])
            v = values[keep]
            np.minimum.reduceat(v, starts), np.maximum.reduceat(v, starts)
            np.add.reduceat(v, starts) / np.diff(np.r_[starts, v.size])
        raw.append(time.perf_counter() - t)
    return {
        "sensors": [s for s, _ in chosen],
        "duckdb_buckets": _stats(ours),
        "raw_fetch_numpy": _stats(raw),
    }


def _stats(values: list[float]) -> dict[str, float]:
    return {
        "median_s": statistics.median(values),
        "min_s": min(values),
        "max_s": max(values),
    }


def run(cycles: int, repeat: int) -> dict[str, Any]:
    layout.ensure_gui_app()
    results: dict[str, Any] = {
        "machine": {
            "python": platform.python_version(),
            "cpu_count": os.cpu_count(),
            "platform": platform.platform(),
        },
        "cycles": cycles,
        "repeat": repeat,
        "cases": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        t = time.perf_counter()
        sample = build_sample_workspace(work / "ws.duckdb", hours=cycles / 60)
        results["workspace_setup_s"] = time.perf_counter() - t
        results["diagnoses"] = len(sample.diagnoses)
        store, diagnosis_id = sample.open(), sample.diagnosis.id
        assert diagnosis_id is not None
        results["measurement_rows"] = store.query("SELECT count(*) FROM measurements")[0][0]
        original_block = layout.PageFlow.block
        for paper in (Paper.A4, Paper.LETTER):
            for charts in ("vector", "raster300"):
                layout.PageFlow.block = _raster_block if charts == "raster300" else original_block  # type: ignore[method-assign]
                build, draw, total = [], [], []
                pages, size = 0, 0
                for i in range(repeat):
                    t0 = time.perf_counter()
                    model = build_report_model(store, EQUIPMENT_ID, diagnosis_id, FIELDS)
                    t1 = time.perf_counter()
                    out = work / f"{paper.value}-{charts}-{i}.pdf"
                    result = render.render_pdf(model, out, paper)
                    t2 = time.perf_counter()
                    build.append(t1 - t0)
                    draw.append(t2 - t1)
                    total.append(t2 - t0)
                    pages, size = result.pages, out.stat().st_size
                results["cases"][f"{paper.value}/{charts}"] = {
                    "pages": pages,
                    "pdf_bytes": size,
                    "build": _stats(build),
                    "render": _stats(draw),
                    "total": _stats(total),
                }
        layout.PageFlow.block = original_block  # type: ignore[method-assign]
        results["sensor_envelopes"] = _envelopes(store, diagnosis_id, repeat)
        store.close()
        # One cold CLI run: a fresh interpreter, Qt start-up, fonts, the whole thing.
        t = time.perf_counter()
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "app.cli",
                "--workspace",
                str(work / "ws.duckdb"),
                "report",
                "--equipment",
                EQUIPMENT_ID,
                "--out",
                str(work / "cli.pdf"),
            ],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        )
        results["cli_cold_s"] = time.perf_counter() - t
        results["cli_output"] = proc.stdout.strip()
    six = [c for c in results["cases"].values() if c["pages"] >= 6]
    vector = {k: v for k, v in results["cases"].items() if k.endswith("vector")}
    worst = max(v["total"]["median_s"] for v in vector.values())
    results["target"] = {
        "pages_at_least_6_cases": len(six),
        "worst_vector_total_median_s": worst,
        "meets_3s": worst <= 3.0,
    }
    return results


def _print(results: dict[str, Any]) -> None:
    print(
        f"report benchmark — {results['cycles']} cycles, {results['measurement_rows']:,} "
        f"measurement rows, median of {results['repeat']} runs, {results['machine']['cpu_count']} CPUs"
    )
    header = f"{'case':<18}{'pages':>6}{'PDF KiB':>9}{'build s':>9}{'render s':>10}{'total s':>9}{'max s':>8}"
    print(header)
    print("-" * len(header))
    for name, case in results["cases"].items():
        print(
            f"{name:<18}{case['pages']:>6}{case['pdf_bytes'] / 1024:>9.0f}"
            f"{case['build']['median_s']:>9.3f}{case['render']['median_s']:>10.3f}"
            f"{case['total']['median_s']:>9.3f}{case['total']['max_s']:>8.3f}"
        )
    env = results["sensor_envelopes"]
    print(
        f"sensor envelopes ({len(env['sensors'])} sensors): DuckDB buckets "
        f"{env['duckdb_buckets']['median_s']:.3f} s vs raw sensor_series + numpy "
        f"{env['raw_fetch_numpy']['median_s']:.3f} s"
    )
    print(
        f"cold CLI (new process, Qt start): {results['cli_cold_s']:.2f} s — {results['cli_output']}"
    )
    target = results["target"]
    print(
        f"target ≤ 3 s: worst vector median {target['worst_vector_total_median_s']:.3f} s -> "
        f"{'met' if target['meets_3s'] else 'MISSED'}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=1805)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    results = run(args.cycles, args.repeat)
    _print(results)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "bench_report.json"
    out.write_text(json.dumps(results, indent=2), encoding="utf-8")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
