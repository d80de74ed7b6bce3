"""Which windows a diagnosis runs on: one per load cycle, or consecutive windows of the model's
length over continuous data, laid at the machine's detected load-cycle starts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import NamedTuple

import numpy as np
from pydantic import BaseModel, ConfigDict

from gnn.runtime import LoadedModel
from gnn.selection import EngineError, Selection
from ingestion.cycles import (
    PARTLY_ALIGNED_WARNING,
    UNALIGNED_WARNING,
    align_range,
    equipment_has_cycles,
)
from ingestion.progress import NO_PROGRESS, Progress, check_cancelled
from ingestion.queries import (
    Windows,
    cycle_windows,
    equipment_time_range,
    sliding_windows,
)
from ingestion.workspace import Store

DEFAULT_RATE_HZ = 1.0
DEFAULT_WINDOW_S = 60.0
ALIGN_SEGMENT_S = 3600.0  # cycle phase detected per hour of a long log: the machine's clock drifts
PERIOD_TOLERANCE_S = 0.5  # detected cycle vs the model's window length


def window_settings(model: LoadedModel) -> tuple[float, float]:
    """(rate_hz, window length s) the model was trained on, from its card; rig defaults."""
    card = model.card or {}
    window = card.get("window") if isinstance(card.get("window"), Mapping) else {}
    data = card.get("data") if isinstance(card.get("data"), Mapping) else {}
    assert isinstance(window, Mapping) and isinstance(data, Mapping)
    try:
        rate = float(window.get("rate_hz", card.get("rate_hz", DEFAULT_RATE_HZ)))
        if "length_s" in window:
            length = float(window["length_s"])
        elif isinstance(data.get("window_length"), int | float) and data["window_length"] > 0:
            length = float(data["window_length"]) / rate  # samples per window (training/card.py)
        else:
            length = DEFAULT_WINDOW_S
    except (TypeError, ValueError):
        return DEFAULT_RATE_HZ, DEFAULT_WINDOW_S
    if not (rate > 0 and length > 0):
        return DEFAULT_RATE_HZ, DEFAULT_WINDOW_S
    return rate, length


class _Span(NamedTuple):
    """An equipment's data and the part of it a selection asks for."""

    first: datetime  # first measurement
    last: datetime  # last measurement
    data_end: datetime  # the data end where the last sample's bucket does: last + 1/rate
    start: datetime | None  # the selection's start (None: from the first measurement)
    end: datetime | None  # its end (None: to the data's end)


def _selected_span(
    store: Store, equipment_id: str, selection: Selection, rate_hz: float
) -> _Span | None:
    """The data span of the equipment and the selection's start and end in it (``--last``
    counts back from the data's end); None when it has no measurements."""
    span = equipment_time_range(store, equipment_id)
    if span is None:
        return None
    first, last = (v.astype("datetime64[us]").tolist() for v in span)
    # The last sample stands for the bucket [last, last + 1/rate): the data end there.
    data_end = last + timedelta(seconds=1.0 / rate_hz)
    start, end = selection.start, selection.end
    if selection.last is not None:
        end = data_end
        start = end - selection.last
    return _Span(first, last, data_end, start, end)


def query_windows(
    store: Store,
    equipment_id: str,
    sensor_ids: Sequence[str],
    selection: Selection,
    *,
    rate_hz: float,
    window_s: float,
) -> Windows:
    """The selected windows: one per cycle when the equipment has cycles, else sliding."""
    span = _selected_span(store, equipment_id, selection, rate_hz)
    if span is None:
        raise EngineError(
            f"equipment {equipment_id!r} has no measurements in this workspace; import data "
            "first (`hydrodiag ingest ...`)."
        )
    first, last, data_end, start, end = span
    if equipment_has_cycles(store, equipment_id):
        windows = cycle_windows(
            store,
            equipment_id,
            sensor_ids,
            rate_hz=rate_hz,
            cycles=selection.cycles,
            start=start,
            end=end,
        )
    else:
        if selection.cycles is not None:
            raise EngineError(
                f"equipment {equipment_id!r} has no load cycles (continuous data); select a "
                "time range with --from/--to or --last instead of --cycles."
            )
        windows = sliding_windows(
            store,
            equipment_id,
            sensor_ids,
            start=start or first,
            end=end or data_end,
            length_s=window_s,
            stride_s=window_s,
            rate_hz=rate_hz,
        )
    has_data = windows.count > 0 and any(
        v.size and not np.isnan(v).all() for v in windows.values.values()
    )
    if not has_data:
        raise EngineError(
            f"no data for equipment {equipment_id!r} in the selected range ({selection.describe()}): its "
            f"measurements span {first:%Y-%m-%d %H:%M:%S} to {last:%Y-%m-%d %H:%M:%S} UTC"
            + _cycle_span(store, equipment_id)
            + ". Choose a range inside it."
        )
    return windows


def _cycle_span(store: Store, equipment_id: str) -> str:
    row = (
        store.cursor()
        .execute(
            "SELECT min(cycle_no), max(cycle_no), count(*) FROM cycles WHERE equipment_id = ?",
            [equipment_id],
        )
        .fetchone()
    )
    if not row or not row[2]:
        return ""
    return f" (cycles {row[0]}-{row[1]}, {row[2]} in all)"


class WindowAlignment(BaseModel):
    """How the windows of a diagnosis were laid on continuous data: what to add to its
    selection text and the data-quality warning to add (kind, message), if any."""

    model_config = ConfigDict(frozen=True)

    selection_suffix: str = ""
    warning: tuple[str, str] | None = None


def _unaligned(reason: str) -> WindowAlignment:
    return WindowAlignment(
        warning=(
            UNALIGNED_WARNING,
            f"windows cut on a fixed clock, not at the machine's load-cycle starts: {reason}. "
            "Cycle-sensitive grades (the pump's) may be wrong.",
        )
    )


def aligned_windows(
    store: Store,
    equipment_id: str,
    sensor_ids: Sequence[str],
    selection: Selection,
    *,
    rate_hz: float,
    window_s: float,
    align_cycles: bool = True,
    progress: Progress = NO_PROGRESS,
) -> tuple[Windows, WindowAlignment | None]:
    """:func:`query_windows`, but on continuous data (no cycle table) the windows begin at the
    machine's detected load-cycle starts (:func:`ingestion.cycles.align_range`), as the model
    was trained on whole cycles: a fixed clock that starts mid-cycle costs it most of its
    valve, pump and accumulator accuracy.

    Long ranges are aligned an hour (``ALIGN_SEGMENT_S``) at a time, each at the phase its
    cycles agree on. Where no cycle is found, or its period differs from the model's window
    length by more than ``PERIOD_TOLERANCE_S``, the windows are the fixed ones of
    :func:`query_windows` and the returned alignment carries an ``unaligned_windows`` warning
    saying why; windows that miss a detected start (restart, outage, an hour without cycles)
    give a ``partly_aligned_windows`` warning. Equipment with a cycle table: its cycles, None.
    """

    def fixed() -> Windows:  # raises the engine's errors (no data in the range, ...)
        return query_windows(
            store, equipment_id, sensor_ids, selection, rate_hz=rate_hz, window_s=window_s
        )

    if selection.cycles is not None or equipment_has_cycles(store, equipment_id):
        return fixed(), None
    if not align_cycles:
        return fixed(), _unaligned("cycle alignment switched off")
    span = _selected_span(store, equipment_id, selection, rate_hz)
    if span is None:
        return fixed(), None  # raises: no measurements
    first, _, data_end, start, end = span
    found = _cycle_pieces(
        store,
        equipment_id,
        start=max(start or first, first),
        end=min(end or data_end, data_end),
        window_s=window_s,
        progress=progress,
    )
    if not found.cycles:
        return fixed(), _unaligned(found.reason or "no load cycle detected")
    windows = _windows_over(
        store, equipment_id, sensor_ids, found.pieces, rate_hz=rate_hz, window_s=window_s
    )
    cycles, missed = found.cycles, found.missed
    suffix = f", {cycles} detected load cycles"
    if not missed:
        return windows, WindowAlignment(selection_suffix=suffix)
    return windows, WindowAlignment(
        selection_suffix=f"{suffix} ({missed} not at a detected start)",
        # most windows begin at a cycle start, these do not
        warning=(
            PARTLY_ALIGNED_WARNING,
            f"{missed} of {windows.count} windows do not begin at a detected load-cycle "
            "start (the machine restarted its cycle, or data is missing there); their grades "
            "are less reliable.",
        ),
    )


@dataclass
class _CyclePieces:
    """The stretches of a continuous range to cut into windows, in time order."""

    pieces: list[tuple[datetime, datetime]] = field(default_factory=list)
    cycles: int = 0  # detected load cycles in the aligned stretches
    missed: int = 0  # windows that do not begin at a detected cycle start
    reason: str = ""  # why a stretch is not aligned (the first reason met)


def _cycle_pieces(
    store: Store,
    equipment_id: str,
    *,
    start: datetime,
    end: datetime,
    window_s: float,
    progress: Progress,
) -> _CyclePieces:
    """Align [start, end) an hour (``ALIGN_SEGMENT_S``) at a time: each hour whose detected
    cycle matches the model's window length gives a stretch from its first cycle start; an
    hour without one gives fixed windows (counted as missed) and the reason."""
    found = _CyclePieces()
    pieces = found.pieces
    cursor = start
    window = timedelta(seconds=window_s)
    segment = timedelta(seconds=ALIGN_SEGMENT_S)
    while end - cursor >= window:
        check_cancelled(progress)
        seg_end = cursor + segment if end - cursor >= 1.5 * segment else end
        # after an aligned hour, the next may begin up to a second early: its phase, picked on
        # its own sub-second grid, can sit a tenth of a second before the previous hour's end
        lead = timedelta(seconds=1) if pieces and cursor == pieces[-1][1] and found.cycles else None
        alignment = align_range(
            store, equipment_id, start=cursor - lead if lead else cursor, end=seg_end
        )
        period = alignment.period_s
        matches = period is not None and abs(period - window_s) <= PERIOD_TOLERANCE_S
        if alignment.aligned and matches:
            assert alignment.start is not None and alignment.end is not None
            pieces.append((alignment.start, alignment.end))
            found.cycles += alignment.cycles
            found.missed += alignment.unmatched
            cursor = alignment.end
            continue
        if alignment.aligned:
            found.reason = found.reason or (
                f"the model's {window_s:g} s windows differ from the detected {period or 0:g} s "
                "load cycle"
            )
            if not pieces:
                break  # the machine's cycle is not the model's: fixed windows throughout
        found.reason = found.reason or alignment.message
        n = int((seg_end - cursor) / window)
        if n:
            pieces.append((cursor, cursor + n * window))
            found.missed += n
        cursor = seg_end
    return found


def _windows_over(
    store: Store,
    equipment_id: str,
    sensor_ids: Sequence[str],
    pieces: Sequence[tuple[datetime, datetime]],
    *,
    rate_hz: float,
    window_s: float,
) -> Windows:
    """Consecutive windows of ``window_s`` over each stretch, as one :class:`Windows`."""
    parts = [
        sliding_windows(
            store,
            equipment_id,
            sensor_ids,
            start=a,
            end=b,
            length_s=window_s,
            stride_s=window_s,
            rate_hz=rate_hz,
        )
        for a, b in pieces
    ]
    parts = [w for w in parts if w.count]
    return Windows(
        starts=np.concatenate([w.starts for w in parts]),
        ends=np.concatenate([w.ends for w in parts]),
        cycle_numbers=None,
        values={k: np.concatenate([w.values[k] for w in parts]) for k in parts[0].values},
        rate_hz=rate_hz,
    )
