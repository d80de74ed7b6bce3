"""Plot data as a file: the samples of the shown time range as CSV, for a spreadsheet. Qt-free."""

from __future__ import annotations

import csv
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from app.core import timefmt


def write_series_csv(
    path: Path,
    series: Mapping[str, tuple[np.ndarray, np.ndarray]],
    units: Mapping[str, str],
    start: float,
    end: float,
) -> int:
    """Write every sample of ``series`` (epoch seconds, values) with ``start ≤ t ≤ end`` as
    one row — time in UTC, time as shown (the app's zone), name, value, unit — in time order;
    returns the number of rows. Missing samples (NaN) are left out."""
    rows: list[tuple[float, str, float]] = []
    for name, (t, v) in series.items():
        keep = (t >= start) & (t <= end) & np.isfinite(v)
        rows += zip(t[keep].tolist(), [name] * int(keep.sum()), v[keep].tolist(), strict=True)
    rows.sort(key=lambda r: (r[0], r[1]))
    zone = timefmt.zone_name()
    with path.open("w", encoding="utf-8", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["time_utc", f"time_{zone}", "name", "value", "unit"])
        for when, name, value in rows:
            utc = datetime.fromtimestamp(when, UTC).replace(tzinfo=None)
            out.writerow(
                [
                    utc.isoformat(timespec="milliseconds"),
                    timefmt.when(utc, "%Y-%m-%d %H:%M:%S.%f", zone_label=False)[:-3],
                    name,
                    repr(float(value)),
                    units.get(name, ""),
                ]
            )
    return len(rows)
