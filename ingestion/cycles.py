"""Load cycles in an equipment's data in the workspace: whether it has a cycle table, and where
the detected cycles (:mod:`ingestion.cycle_detection`) of its continuous data start.

The shipped model was trained on whole cycles of the reference rig (one window = one 60 s
cycle, starting at the cycle's start); windows cut on a fixed clock mid-cycle cost it most of
its pump accuracy. :func:`align_recent_window` and :func:`align_range` return the time range
whose fixed-length windows start at detected cycle starts — what the live rolling diagnosis and
the engine hand to the model — so that live feeds and continuous logs are diagnosed cycle by
cycle.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Final

import numpy as np
from pydantic import BaseModel, ConfigDict

from ingestion.cycle_detection import (
    CycleDetection,
    CycleTemplate,
    FloatArray,
    detect_cycles,
    learn_template,
    profile_template,
    quiet_nan_warnings,
)
from ingestion.errors import HydroDiagError
from ingestion.workspace import Store

if TYPE_CHECKING:
    from collections.abc import Callable

    from ingestion.profiles import EquipmentProfile

SUB_BUCKETS: Final = 50  # sub-second shifts tried when aligning to a workspace's data

UNALIGNED_WARNING: Final = "unaligned_windows"
"""DataQualityWarning.kind of a diagnosis on windows not cut at detected load-cycle starts."""
PARTLY_ALIGNED_WARNING: Final = "partly_aligned_windows"
"""DataQualityWarning.kind when some of the aligned windows miss a detected cycle start."""


class CycleAlignment(BaseModel):
    """The time range of an equipment's recent data to diagnose in whole detected cycles.

    When ``aligned``, fixed-length windows of ``period_s`` laid from ``start`` to ``end`` each
    begin at a detected cycle start (``end - start`` is a whole number of cycles). When not,
    ``message`` says why, for the diagnosis's data-quality warnings."""

    model_config = ConfigDict(frozen=True)

    aligned: bool
    message: str
    start: datetime | None = None
    end: datetime | None = None
    cycles: int = 0
    unmatched: int = 0  # of those windows, how many begin where no cycle start was detected
    period_s: float | None = None
    detection: CycleDetection | None = None
    starts: tuple[datetime, ...] = ()  # every detected cycle start in the look-back


def equipment_has_cycles(store: Store, equipment_id: str) -> bool:
    """Whether the equipment's data comes in load cycles, i.e. the workspace has a cycle table
    for it (the engine then diagnoses by those cycles and needs no detection; training cuts
    one window per cycle); else it is a continuous log."""
    row = (
        store.cursor()
        .execute("SELECT count(*) FROM cycles WHERE equipment_id = ?", [equipment_id])
        .fetchone()
    )
    return bool(row and row[0])


def align_recent_window(
    store: Store,
    equipment_id: str,
    *,
    window_s: float,
    template: CycleTemplate | None = None,
    min_lookback_cycles: int = 5,
) -> CycleAlignment:
    """Detect the load cycles in the equipment's most recent data and return the whole cycles
    that lie in its last ``window_s`` seconds.

    The template is the profile's (:func:`profile_template`) unless given; without one it is
    learnt from the profile's pressure and power sensors (:func:`learn_template`). Detection
    looks back at least ``min_lookback_cycles`` cycles, so that even a short window finds its
    phase. Reads through :func:`ingestion.queries.sliding_windows`, on the same 1 s buckets the
    engine's windows will use: the detected start is a bucket edge of its grid.
    """
    if window_s <= 0:
        raise HydroDiagError(f"the diagnosis window must be positive, not {window_s:g} s.")
    return _align(
        store,
        equipment_id,
        window_s=window_s,
        template=template,
        min_lookback_cycles=min_lookback_cycles,
    )


def align_range(
    store: Store,
    equipment_id: str,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    template: CycleTemplate | None = None,
    min_lookback_cycles: int = 5,
) -> CycleAlignment:
    """Like :func:`align_recent_window`, for an explicit range ``[start, end)`` of the
    equipment's data (None: from its first sample / to the end of its last). The windows laid
    begin at the first detected cycle start at or after ``start`` and end by ``end``; when the
    range is shorter than ``min_lookback_cycles`` cycles, detection looks back before
    ``start`` (never after ``end``), as the rolling diagnosis does."""
    if start is not None and end is not None and start >= end:
        raise HydroDiagError(f"cycle alignment: the range start {start} is not before {end}.")
    return _align(
        store,
        equipment_id,
        start=start,
        end=end,
        template=template,
        min_lookback_cycles=min_lookback_cycles,
    )


@dataclass(frozen=True)
class _Span:
    """The part of the data to align, in µs since the epoch."""

    start_us: int
    end_us: int  # the last sample stands for [last, last + 1/rate), as in the engine
    length_s: float
    data_first_us: int
    recent: bool  # the last seconds of the data (the rolling diagnosis), not a given range
    where: str  # for messages


@dataclass(frozen=True)
class _Grid:
    """The 1 s (1/rate) buckets detection runs on: ``samples`` of them from ``start_us``."""

    start_us: int
    bucket_us: int
    samples: int
    rate_hz: float


def _align(
    store: Store,
    equipment_id: str,
    *,
    window_s: float | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    template: CycleTemplate | None,
    min_lookback_cycles: int,
) -> CycleAlignment:
    """Both: the last ``window_s`` seconds of the data, or ``[start, end)`` clipped to it."""
    from ingestion.catalog import equipment_profile
    from ingestion.queries import equipment_time_range

    profile = equipment_profile(store.cursor(), equipment_id)
    data = equipment_time_range(store, equipment_id)
    if data is None:
        return CycleAlignment(aligned=False, message="no data to detect load cycles in.")
    if template is None:
        template = profile_template(profile.id, sensors=profile.sensor_ids)
    rate = template.rate_hz if template is not None else 1.0
    bucket_us = round(1e6 / rate)
    span = _span(data, bucket_us, window_s=window_s, start=start, end=end)
    if not span.recent and span.length_s <= 0:
        return CycleAlignment(aligned=False, message=f"no data in {span.where}.")
    period_guess = template.period_s if template is not None else 60.0
    lookback = max(span.length_s, min_lookback_cycles * period_guess)
    samples = math.ceil(lookback * rate)
    samples = min(samples, max(1, math.ceil((span.end_us - span.data_first_us) / bucket_us)))
    grid = _Grid(span.end_us - samples * bucket_us, bucket_us, samples, rate)
    sensors = list(template.sensors) if template is not None else _cycle_sensors(profile)
    shifted = _shifted_buckets(store, equipment_id, sensors, grid)
    looked = _lookback(samples / rate, span.end_us, span.recent)
    if template is None:
        template = learn_template(shifted(0), rate_hz=rate)
        if template is None:
            return CycleAlignment(
                aligned=False,
                message=f"no load cycle detected in {looked}: profile "
                f"{profile.id!r} has no cycle template and no period repeats in its pressure "
                "and power signals.",
            )
    detections = [detect_cycles(shifted(j), template) for j in range(SUB_BUCKETS)]
    found = [(j, d) for j, d in enumerate(detections) if d.found and d.phase is not None]
    if not found:
        return CycleAlignment(
            aligned=False,
            message=f"{detections[0].reason} ({looked})",
            detection=detections[0],
        )
    shift, detection = _middle_of_the_best(found, bucket_us, template.length * bucket_us)
    return _lay_windows(span, grid, shift, detection, template)


def _span(
    data: tuple[np.datetime64, np.datetime64],
    bucket_us: int,
    *,
    window_s: float | None,
    start: datetime | None,
    end: datetime | None,
) -> _Span:
    """The last ``window_s`` seconds of ``data`` (first, last sample), or ``[start, end)``."""
    last_us = int(data[1].astype("datetime64[us]").astype(np.int64))
    data_first_us = int(data[0].astype("datetime64[us]").astype(np.int64))
    end_us = last_us + bucket_us
    if end is not None:
        end_us = min(end_us, _datetime_to_us(end))
    if window_s is not None:
        start_us = end_us - round(window_s * 1e6)
        return _Span(start_us, end_us, window_s, data_first_us, True, f"the last {window_s:g} s")
    start_us = data_first_us
    if start is not None:
        start_us = max(data_first_us, _datetime_to_us(start))
    length_s = (end_us - start_us) / 1e6
    where = f"the {max(length_s, 0):g} s from {_us_to_datetime(start_us):%Y-%m-%d %H:%M:%S}"
    return _Span(start_us, end_us, length_s, data_first_us, False, where)


def _cycle_sensors(profile: EquipmentProfile) -> list[str]:
    """Without a template: the sensors a period is learnt from (pressures and power)."""
    from ingestion.profiles import Quantity

    wanted = {Quantity.PRESSURE, Quantity.ELECTRICAL_POWER}
    return [s.id for s in profile.sensors if s.quantity in wanted] or list(profile.sensor_ids)


def _shifted_buckets(
    store: Store, equipment_id: str, sensors: list[str], grid: _Grid
) -> Callable[[int], dict[str, FloatArray]]:
    """The grid's bucket means, shifted by ``j`` of SUB_BUCKETS sub-buckets (one read)."""
    from ingestion.queries import sliding_windows

    # Read on a grid SUB_BUCKETS times finer and try each sub-second shift of the 1 s buckets:
    # with dense data (100 Hz pressures) the cycle start falls anywhere within a second, and
    # the model's 1 s means are only right on buckets that begin where the cycle begins.
    windows = sliding_windows(
        store,
        equipment_id,
        sensors,
        start=_us_to_datetime(grid.start_us),
        end=_us_to_datetime(grid.start_us + grid.samples * grid.bucket_us),
        length_s=grid.samples / grid.rate_hz,
        stride_s=grid.samples / grid.rate_hz,
        rate_hz=grid.rate_hz * SUB_BUCKETS,
    )
    fine = {s: windows.values[s][0].astype(np.float64) for s in sensors}
    n = grid.samples - 1  # whole buckets at every shift

    def shifted(j: int) -> dict[str, FloatArray]:
        with quiet_nan_warnings():
            return {
                s: np.nanmean(v[j : j + n * SUB_BUCKETS].reshape(n, SUB_BUCKETS), axis=1)
                for s, v in fine.items()
            }

    return shifted


def _middle_of_the_best(
    found: list[tuple[int, CycleDetection]], bucket_us: int, period_us: int
) -> tuple[int, CycleDetection]:
    """The shift and detection to lay the windows by: of the best-scoring ones, the middle."""
    best = max(d.score for _, d in found)
    # Shifts that give the very same buckets (sparse 1 Hz samples: the same sample in each)
    # score exactly alike; of those, the middle keeps every sample away from a bucket edge.
    tied = [(j, d) for j, d in found if d.score >= best - 1e-9]
    offsets = np.array([_offset_us(j, d, bucket_us) % period_us for j, d in tied], dtype=float)
    angles = 2 * np.pi * offsets / period_us
    centre = np.angle(np.mean(np.exp(1j * angles)))
    pick = int(np.argmin(np.abs(np.angle(np.exp(1j * (angles - centre))))))
    return tied[pick]


def _lay_windows(
    span: _Span, grid: _Grid, j: int, detection: CycleDetection, template: CycleTemplate
) -> CycleAlignment:
    """Whole-cycle windows at the detected phase (shift ``j``) over the span, and how many of
    them begin where no cycle start was detected."""
    bucket_us = grid.bucket_us
    period_us = template.length * bucket_us
    origin_us = grid.start_us + _offset_us(j, detection, bucket_us)
    starts = tuple(
        _us_to_datetime(grid.start_us + round((j / SUB_BUCKETS + st) * bucket_us))
        for st in detection.starts
    )
    # The first window: the earliest start on the detected phase (cycles before the detected
    # phase too) in the range. At the data's first sample it may begin a little (under a
    # bucket) early: on 1 Hz data the chosen phase sits about half a second before the cycle's
    # first sample, and a log that starts at a cycle start must not lose that cycle.
    earliest_us = span.start_us
    if span.start_us <= span.data_first_us:
        earliest_us = span.data_first_us - (bucket_us // 2 + bucket_us // SUB_BUCKETS)
    first_us = origin_us + math.ceil((earliest_us - origin_us) / period_us) * period_us
    cycles = (span.end_us - first_us) // period_us
    if cycles < 1:
        return CycleAlignment(
            aligned=False,
            message=f"{detection.reason}, but {span.where} hold no whole cycle; "
            "diagnose a longer window.",
            detection=detection,
            period_s=template.period_s,
            starts=starts,
        )
    # The windows are laid at the phase most cycles agree on; those without a detected cycle
    # start within a second of their own start (a restart shifted the phase, an outage) are
    # counted, so that the caller can say so.
    laid = first_us + np.arange(cycles) * period_us
    detected_us = grid.start_us + np.round(
        (j / SUB_BUCKETS + np.asarray(detection.starts)) * bucket_us
    ).astype(np.int64)
    nearest = np.abs(laid[:, None] - detected_us[None, :]).min(axis=1)
    # Only windows whose whole cycle lies on the detection's (shifted) grid could have been
    # detected: one laid half a second before a log's first sample, or one ending exactly at
    # the range's end (the shifted grid is a bucket shorter), is not counted.
    grid_lo = grid.start_us + round(j * bucket_us / SUB_BUCKETS)
    grid_hi = grid_lo + (grid.samples - 1) * bucket_us
    checkable = (laid >= grid_lo) & (laid + period_us <= grid_hi)
    unmatched = int(((nearest > 1e6 * max(1.0, 1.0 / grid.rate_hz)) & checkable).sum())
    return CycleAlignment(
        aligned=True,
        message=f"{cycles} whole load cycles in the window; {detection.reason}",
        start=_us_to_datetime(first_us),
        end=_us_to_datetime(first_us + cycles * period_us),
        cycles=cycles,
        unmatched=unmatched,
        period_s=template.period_s,
        detection=detection,
        starts=starts,
    )


def _offset_us(shift: int, detection: CycleDetection, bucket_us: int) -> int:
    """Where a detection on the grid shifted by ``shift`` sub-buckets puts its phase (µs from
    the unshifted grid's start)."""
    assert detection.phase is not None
    return round((shift / SUB_BUCKETS + detection.phase) * bucket_us)


def _us_to_datetime(us: int) -> datetime:
    return datetime(1970, 1, 1) + timedelta(microseconds=us)


def _datetime_to_us(t: datetime) -> int:
    """Naive UTC (the workspace's convention) to µs since the epoch."""
    if t.tzinfo is not None:
        t = t.astimezone(UTC).replace(tzinfo=None)
    return (t - datetime(1970, 1, 1)) // timedelta(microseconds=1)


def _lookback(seconds: float, end_us: int, recent: bool) -> str:
    """Where detection looked, for messages (the rolling diagnosis's wording: "last N s")."""
    if recent:
        return f"last {seconds:g} s"
    return f"{seconds:g} s up to {_us_to_datetime(end_us):%Y-%m-%d %H:%M:%S}"
