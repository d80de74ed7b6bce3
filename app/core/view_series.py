"""What a plot of sensors over a time range reads: about two points per pixel of its width,
from the workspace's view pyramid (:mod:`ingestion.pyramid`) when the range holds more than
``READ_FACTOR`` samples per pixel, and the samples themselves when it does not (zoomed in).

A pyramid level's buckets become an envelope (each bucket's min and max, so spikes stay
visible at any zoom); a bucket missing between two others is a gap (NaN, the curve breaks).
The last step to the plot's width is tsdownsample's MinMaxLTTB, which keeps the extremes and
the shape of the curve.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt
from tsdownsample import MinMaxLTTBDownsampler

from app.core.queries import data_range
from ingestion import pyramid
from ingestion.queries import sensors_series
from ingestion.workspace import Store

POINTS_PER_PIXEL = 2
READ_FACTOR = 4  # buckets or samples read per pixel before the final reduction

Series = tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]


@dataclass(frozen=True)
class ViewSeries:
    """Per sensor: (epoch seconds, values) ready to plot, and what each was read from."""

    series: dict[str, Series] = field(default_factory=dict)
    detail: dict[str, str] = field(default_factory=dict)  # "samples" or "4 s buckets", ...
    start_s: float = 0.0
    end_s: float = 0.0


def data_span_s(store: Store, equipment_id: str) -> tuple[float, float] | None:
    """First and last measurement in epoch seconds (:func:`app.core.queries.data_range`)."""
    span = data_range(store, equipment_id)
    return None if span is None else (epoch_s(span[0]), epoch_s(span[1]))


def epoch_s(value: datetime) -> float:
    """Epoch seconds of a workspace time (naive datetimes are UTC, as stored)."""
    return value.replace(tzinfo=UTC).timestamp() if value.tzinfo is None else value.timestamp()


def load_view_series(
    store: Store,
    equipment_id: str,
    sensor_ids: list[str],
    start_s: float | None,
    end_s: float | None,
    width_px: int,
) -> ViewSeries:
    """Each sensor over [start_s, end_s) (epoch seconds; None: its data's edge) reduced to
    about ``POINTS_PER_PIXEL * width_px`` points."""
    span = data_span_s(store, equipment_id)
    if span is None:
        return ViewSeries()
    lo = span[0] if start_s is None else start_s
    hi = span[1] + 1e-3 if end_s is None else end_s
    n_out = max(16, POINTS_PER_PIXEL * int(width_px))
    out = ViewSeries(start_s=lo, end_s=hi)
    found = pyramid.read(
        store.cursor(), equipment_id, sensor_ids, lo, hi, max_points=READ_FACTOR * n_out
    )
    for sensor_id, buckets in found.items():
        if buckets is not None:
            out.series[sensor_id] = reduce_to(*envelope(buckets), n_out)
            out.detail[sensor_id] = f"{buckets.seconds} s buckets"
    # the rest hold at most READ_FACTOR samples a pixel (the counts said so): shown as they are
    few = [s for s, b in found.items() if b is None]
    if few:
        start, end = datetime.fromtimestamp(lo, UTC), datetime.fromtimestamp(hi, UTC)
        for sensor_id, (t_ns, values) in sensors_series(
            store, equipment_id, few, start, end
        ).items():
            out.series[sensor_id] = (t_ns.astype(np.float64) / 1e9, values.astype(np.float64))
            out.detail[sensor_id] = "samples"
    return out


def envelope(buckets: pyramid.Buckets) -> Series:
    """Two points per bucket, its min then its max, a quarter and three quarters into it; a NaN
    where buckets are missing (no sample there), so that the curve breaks at gaps."""
    size = float(buckets.seconds)
    count = buckets.start_s.size
    t = np.empty(2 * count)
    v = np.empty(2 * count)
    t[0::2] = buckets.start_s + 0.25 * size
    t[1::2] = buckets.start_s + 0.75 * size
    v[0::2] = buckets.vmin
    v[1::2] = buckets.vmax
    missing = np.flatnonzero(np.diff(buckets.start_s) > size)
    if missing.size:
        at = 2 * (missing + 1)  # before the first point of the bucket after the gap
        t = np.insert(t, at, buckets.start_s[missing] + size)
        v = np.insert(v, at, np.nan)
    return t, v


def reduce_to(t: npt.NDArray[np.float64], v: npt.NDArray[np.float64], n_out: int) -> Series:
    """About ``n_out`` points of (t, v) (t sorted) by MinMaxLTTB over the finite points; each
    NaN (a gap) is put back where it was, so the reduced curve breaks where the data does."""
    if t.size <= n_out:
        return t, v
    finite = np.isfinite(v)
    t_finite, v_finite = t[finite], v[finite]
    if t_finite.size > n_out:
        downsampler = MinMaxLTTBDownsampler()  # type: ignore[no-untyped-call]  # untyped __init__
        index = downsampler.downsample(t_finite, v_finite, n_out=n_out)
        t_finite, v_finite = t_finite[index], v_finite[index]
    gaps = t[~finite]
    at = np.searchsorted(t_finite, gaps)
    return np.insert(t_finite, at, gaps), np.insert(v_finite, at, np.nan)
