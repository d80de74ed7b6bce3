"""The stretch a label-free fit learns from (:mod:`training.normal`): its spans, the labelled faults
and gaps it masks, and whether there is enough of it."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from gnn.anomaly import Series, read_series
from gnn.graph import GraphSpec
from gnn.quality import check_quality
from gnn.results import DataQualityWarning
from ingestion.errors import HydroDiagError
from ingestion.profiles import EquipmentProfile
from ingestion.queries import equipment_time_range
from ingestion.workspace import Store

if TYPE_CHECKING:
    from training.normal import FitOptions, FitSelection

MAX_FIT_SAMPLES = 2_000_000  # per sensor: beyond, fit a shorter stretch or a lower rate
CONSTANT_SPREAD = 1e-9  # a sensor whose values spread less than this (relative) is constant
GAP_WARNING = 0.01  # warn about a sensor missing more than this share of the fit stretch
MIN_TRAIN_WINDOWS = 4  # the training part holds at least this many windows

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]


@dataclass
class Stretch:
    """One contiguous piece of the fit stretch, cleaned, split into training and held-out."""

    series: Series
    split: int  # samples before it train, from it on are held out (== length: none held out)


@dataclass
class FitData:
    stretches: list[Stretch]
    masked: list[str]
    warnings: list[str]
    excluded: list[str]
    spans: list[tuple[datetime, datetime]]


def _spans(
    store: Store, equipment_id: str, selection: FitSelection, rate_hz: float
) -> list[tuple[datetime, datetime]]:
    """The selected stretch as [start, end) pieces inside the equipment's data."""
    span = equipment_time_range(store, equipment_id)
    if span is None:
        raise HydroDiagError(
            f"equipment {equipment_id!r} has no measurements in this workspace; import its "
            "normal data first (`hydrodiag ingest csv ...`)."
        )
    first, last = (v.astype("datetime64[us]").tolist() for v in span)
    data_end = last + timedelta(seconds=1.0 / rate_hz)
    if selection.sources:
        rows = (
            store.cursor()
            .execute(
                "SELECT id, equipment_id, kind, first_ts, last_ts FROM sources "
                "WHERE id IN (SELECT unnest(?::INTEGER[])) ORDER BY first_ts",
                [list(selection.sources)],
            )
            .fetchall()
        )
        found = {r[0] for r in rows}
        missing = [s for s in selection.sources if s not in found]
        wrong = [r[0] for r in rows if r[1] != equipment_id or r[2] == "labels" or r[3] is None]
        if missing or wrong:
            raise HydroDiagError(
                f"--sources: {', '.join(str(s) for s in missing + wrong)} "
                f"{'is' if len(missing + wrong) == 1 else 'are'} not a data import of "
                f"equipment {equipment_id!r}; see `hydrodiag workspace info` for its sources."
            )
        pieces = [(r[3], r[4] + timedelta(seconds=1.0 / rate_hz)) for r in rows]
    else:
        lo, hi = (
            (first, selection.before)
            if selection.before is not None
            else (
                selection.start or first,
                selection.end or data_end,
            )
        )
        # the equipment's imports, so that days between two recordings are not read as gaps
        rows = (
            store.cursor()
            .execute(
                "SELECT first_ts, last_ts FROM sources WHERE equipment_id = ? AND kind <> "
                "'labels' AND first_ts IS NOT NULL AND last_ts IS NOT NULL ORDER BY first_ts",
                [equipment_id],
            )
            .fetchall()
        )
        step = timedelta(seconds=1.0 / rate_hz)
        merged: list[tuple[datetime, datetime]] = []
        for a, b in rows or [(first, last)]:
            if merged and a <= merged[-1][1] + step:
                merged[-1] = (merged[-1][0], max(merged[-1][1], b + step))
            else:
                merged.append((a, b + step))
        pieces = [(max(a, lo), min(b, hi)) for a, b in merged]
    out = []
    for a, b in pieces:
        a, b = max(a, first), min(b, data_end)
        if b > a:
            out.append((a, b))
    if not out:
        raise HydroDiagError(
            f"equipment {equipment_id!r} has no data in {selection.describe()}: its "
            f"measurements span {first:%Y-%m-%d %H:%M:%S} to {last:%Y-%m-%d %H:%M:%S} UTC."
        )
    return out


def _labelled_faults(
    store: Store, equipment_id: str, spans: Sequence[tuple[datetime, datetime]]
) -> list[tuple[datetime, datetime, str]]:
    """Labels of a fault (grade above 0, or an anomalous stretch of a log's label column)
    that overlap the stretch: (start, end, what)."""
    out = []
    for a, b in spans:
        rows = (
            store.cursor()
            .execute(
                "SELECT start_ts, end_ts, component_id, grade, coalesce(raw_value, '') FROM labels "
                "WHERE equipment_id = ? AND grade > 0 AND start_ts < ? AND end_ts > ? "
                "ORDER BY start_ts",
                [equipment_id, b, a],
            )
            .fetchall()
        )
        for start, end, comp, grade, raw in rows:
            what = f"log label {raw or 'anomalous'}" if comp == "*" else f"{comp} grade {grade}"
            out.append((max(start, a), min(end, b), what))
    return out


def fit_data(
    store: Store,
    equipment_id: str,
    profile: EquipmentProfile,
    spec: GraphSpec,
    selection: FitSelection,
    options: FitOptions,
) -> FitData:
    """Read, clean and mask the fit stretch."""
    rate = options.rate_hz
    spans = _spans(store, equipment_id, selection, rate)
    total = sum(math.floor((b - a).total_seconds() * rate) for a, b in spans)
    if total > MAX_FIT_SAMPLES:
        raise HydroDiagError(
            f"{selection.describe()} holds {total:,} samples per sensor at {rate:g} Hz, more "
            f"than the {MAX_FIT_SAMPLES:,} a fit reads: choose a shorter stretch (--from/--to) "
            "or a lower --rate."
        )
    faults = _labelled_faults(store, equipment_id, spans)
    if faults and options.labelled_faults == "refuse":
        listed = "; ".join(f"{w} {a:%Y-%m-%d %H:%M}–{b:%H:%M}" for a, b, w in faults[:5])
        raise HydroDiagError(
            f"the fit stretch ({selection.describe()}) holds labelled faults ({listed}"
            f"{' …' if len(faults) > 5 else ''}): it is not all normal. Choose a stretch "
            "without them, or let the fit leave them out (--labelled-faults exclude)."
        )
    warnings_: list[str] = []
    excluded = [f"{w} {a:%Y-%m-%d %H:%M:%S}–{b:%H:%M:%S} UTC" for a, b, w in faults]
    series_list: list[Series] = []
    raw_list: list[Series] = []
    quality_warnings: list[DataQualityWarning] = []
    for a, b in spans:
        raw = read_series(store, equipment_id, spec.sensor_ids, start=a, end=b, rate_hz=rate)
        if raw.length < 2:
            continue
        values = {k: v.copy() for k, v in raw.values.items()}
        for fa, fb, _ in faults:
            lo, hi = raw.index(fa), raw.index(fb)
            for v in values.values():
                v[lo : max(hi, lo + 1)] = np.nan
        quality = check_quality(
            {k: v[None, :] for k, v in values.items()},
            starts=[raw.start],
            ends=[raw.time(raw.length)],
            rate_hz=rate,
            profile=profile,
            spec=spec,
            min_window_valid=0.0,
        )
        quality_warnings += [
            w
            for w in quality.warnings
            if w.kind not in ("insufficient_data", "missing_sensor", "gap")
        ]
        raw_list.append(raw)
        series_list.append(Series(raw.start, rate, {k: v[0] for k, v in quality.values.items()}))
    if not series_list:
        raise HydroDiagError(f"{selection.describe()} holds no samples at {rate:g} Hz.")
    masked: list[str] = []
    constant: set[str] = set()
    n_all = sum(s.length for s in series_list)
    for sensor in spec.sensor_ids:
        raw_values = np.concatenate([r.values[sensor] for r in raw_list])
        raw_finite = raw_values[np.isfinite(raw_values)]
        spread = float(raw_finite.max() - raw_finite.min()) if raw_finite.size else 0.0
        if raw_finite.size and spread <= CONSTANT_SPREAD * max(
            1.0, float(np.abs(raw_finite).max())
        ):
            masked.append(sensor)
            constant.add(sensor)
            warnings_.append(
                f"{sensor}: constant ({raw_finite[0]:.6g}) over the fit stretch; not learned, not "
                "scored, and any other value is reported as outside the learned range"
            )
            continue
        joined = np.concatenate([s.values[sensor] for s in series_list])
        finite = joined[np.isfinite(joined)]
        if not finite.size:
            masked.append(sensor)
            warnings_.append(
                f"{sensor}: no usable data in the fit stretch; not learned, and not scored"
            )
            continue
        missing = 1.0 - finite.size / max(n_all, 1)
        if missing > GAP_WARNING:
            warnings_.append(
                f"{sensor}: {100 * missing:.1f} % of the fit stretch missing (gaps"
                f"{' and excluded labelled faults' if faults else ''}); masked there, learned "
                "from the rest"
            )
    # a constant sensor's "frozen reading" warning says less than "constant"
    warnings_ = [w.message for w in quality_warnings if w.sensor_id not in constant] + warnings_
    if len(masked) == len(spec.sensor_ids):
        raise HydroDiagError(
            f"no sensor of equipment {equipment_id!r} has usable data in {selection.describe()}."
        )
    split = [Stretch(s, s.length - round(s.length * options.holdout)) for s in series_list]
    return FitData(split, masked, warnings_, excluded, spans)


def present_samples(series: Series, lo: int, hi: int, masked: Sequence[str]) -> int:
    """Samples in [lo, hi) where at least one learned sensor has data."""
    rows = np.zeros(max(hi - lo, 0), dtype=bool)
    for k, v in series.values.items():
        if k not in masked:
            rows |= np.isfinite(v[lo:hi])
    return int(rows.sum())


def check_amount(data: FitData, window: int, rate: float, options: FitOptions) -> None:
    """Enough normal data to train on windows and calibrate on what is held out; else say
    how much is needed."""
    train = sum(present_samples(s.series, 0, s.split, data.masked) for s in data.stretches)
    held = sum(
        present_samples(s.series, s.split, s.series.length, data.masked) for s in data.stretches
    )
    need_train = MIN_TRAIN_WINDOWS * window
    need_held = window
    if train >= need_train and held >= need_held:
        return
    need = math.ceil(max(need_train / (1 - options.holdout), need_held / options.holdout))
    have = train + held
    raise HydroDiagError(
        f"too little normal data to learn from: the fit stretch holds {have:,} samples with "
        f"data ({_duration(have / rate)} at {rate:g} Hz); learning this machine's normal needs "
        f"at least {need:,} ({_duration(need / rate)}): {MIN_TRAIN_WINDOWS} windows of "
        f"{window} samples to train on and {options.holdout:.0%} of the stretch held out to "
        "calibrate the threshold. Choose a longer stretch, or a shorter --window."
    )


def _duration(seconds: float) -> str:
    if seconds >= 5400:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 90:
        return f"{seconds / 60:.1f} min"
    return f"{seconds:.0f} s"
