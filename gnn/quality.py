"""Data-quality checks on windows before they reach the model.

Invalid samples (NaN/inf, outside the profile's physical range, frozen readings) become NaN
here, which :func:`gnn.graph.build_inputs` masks; a window or a component with too little valid
data around it is flagged, and the engine reports it as "insufficient data" instead of guessing.
Warnings are aggregated per sensor (one line per sensor and kind, not one per window).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import numpy.typing as npt

from gnn.graph import MAX_FILLED_GAP, GraphSpec, fill_short_gaps
from gnn.results import DataQualityWarning
from ingestion.profiles import EquipmentProfile, Sensor

MIN_WINDOW_VALID = 0.5  # share of the model's sensor samples that must be valid in a window
MIN_NODE_SUPPORT = 0.5  # share of valid samples on a node and its neighbours' sensors
STALE_S = 30.0  # identical readings for this long are a frozen sensor, not a steady one

BoolArray = npt.NDArray[np.bool_]
FloatArray = npt.NDArray[np.float32]


@dataclass
class QualityReport:
    """Cleaned values plus what was wrong with the raw ones."""

    values: dict[str, FloatArray]  # sensor -> [B, T], NaN wherever a sample is not usable
    window_valid_fraction: npt.NDArray[np.float64]  # [B] over the model's sensors
    window_valid: BoolArray  # [B]
    node_support: npt.NDArray[np.float64]  # [B, N] valid share on the node and its neighbours
    warnings: list[DataQualityWarning] = field(default_factory=list)
    notes: dict[str, list[str]] = field(default_factory=dict)  # component -> short notes
    # [B, N] True where a sensor the node's grade needs is missing (require_sensors)
    blocked: BoolArray | None = None

    def node_ok(self, min_support: float = MIN_NODE_SUPPORT) -> BoolArray:
        """[B, N]: windows where the node has enough data around it (and the window is valid)
        and none of the sensors its grade needs is missing."""
        ok: BoolArray = (self.node_support >= min_support) & self.window_valid[:, None]
        if self.blocked is not None:
            ok &= ~self.blocked
        return ok

    def require_sensors(self, required: Mapping[str, Mapping[str, float]], spec: GraphSpec) -> None:
        """Withhold a component's grade in the windows where a sensor it needs has samples
        missing that :func:`gnn.graph.fill_short_gaps` cannot fill.

        ``required`` is the model's {component: {sensor: grade accuracy without it}}
        (``gnn.contract.META_REQUIRED_SENSORS``): without such a sensor the model's grade is
        confidently wrong rather than uncertain (on the reference rig, PS2 missing drops the
        pump's grade to 21 % at full confidence), so the engine says "insufficient data"
        instead, with a warning naming the sensor.
        """
        n_windows = len(self.window_valid)
        blocked = np.zeros((n_windows, spec.num_nodes), dtype=bool)
        unfilled: dict[str, npt.NDArray[np.intp]] = {}  # sensor -> valid windows with gaps left

        def gaps_left(sensor_id: str) -> npt.NDArray[np.intp]:
            if sensor_id not in unfilled:
                a = self.values.get(sensor_id)
                if a is None or not a.size:
                    rows = np.arange(n_windows)
                else:
                    rows = np.flatnonzero((~np.isfinite(fill_short_gaps(a))).any(axis=1))
                unfilled[sensor_id] = rows[self.window_valid[rows]]
            return unfilled[sensor_id]

        for comp, needs in required.items():
            if comp not in spec.node_ids:
                continue
            node = spec.node_ids.index(comp)
            for sensor_id, without in needs.items():
                rows = gaps_left(sensor_id)  # a sensor several components need: checked once
                if not rows.size:
                    continue
                blocked[rows, node] = True
                self.warnings.append(
                    DataQualityWarning(
                        kind="missing_required_sensor",
                        message=(
                            f"{comp} not graded in {rows.size} of {n_windows} window(s): it "
                            f"needs {sensor_id}, whose samples there are missing or masked "
                            f"(see {sensor_id}'s own warning); the model grades {comp} "
                            f"{100 * without:.0f} % right without {sensor_id} on its own "
                            "training windows"
                        ),
                        sensor_id=sensor_id,
                    )
                )
                self.notes.setdefault(comp, []).append(f"needs {sensor_id}")
        self.blocked = blocked if self.blocked is None else self.blocked | blocked


def _runs(flags: BoolArray) -> list[tuple[int, int]]:
    """(start, stop) index pairs of the True runs of a 1-D boolean array."""
    if not flags.any():
        return []
    padded = np.concatenate(([False], flags, [False]))
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def _stale_mask(a: FloatArray, min_len: int) -> BoolArray:
    """[B, T] True on runs of >= ``min_len`` identical, finite, non-zero consecutive readings.

    Zero is exempt: a relief-valve outlet or a stopped flow legitimately reads 0 for minutes
    (PS4 of the reference rig is exactly 0 in more than half of the cycles).
    """
    out = np.zeros(a.shape, dtype=bool)
    if a.shape[1] < 2 or min_len < 2:
        return out
    same = (a[:, 1:] == a[:, :-1]) & np.isfinite(a[:, 1:]) & (a[:, 1:] != 0.0)
    candidates = np.flatnonzero(same.sum(axis=1) >= min_len - 1)
    for b in candidates:
        for lo, hi in _runs(same[b]):
            if hi - lo + 1 >= min_len:
                out[b, lo : hi + 1] = True
    return out


def _fmt_time(t: datetime) -> str:
    return f"{t:%Y-%m-%d %H:%M:%S}"


@dataclass
class _Findings:
    """The warnings of one quality check (one per sensor and kind, over the windows ``rows``)
    and the short notes per component that recommendations quote."""

    profile: EquipmentProfile
    starts: Sequence[datetime]
    ends: Sequence[datetime]
    warnings: list[DataQualityWarning] = field(default_factory=list)
    notes: dict[str, list[str]] = field(default_factory=dict)

    def add(self, kind: str, sensor_id: str, message: str, rows: npt.NDArray[np.intp]) -> None:
        """A warning on ``sensor_id`` over the windows ``rows`` (none: the whole selection)."""
        sensor = self.profile.sensor(sensor_id)
        first = self.starts[0] if len(self.starts) else None
        last = self.ends[-1] if len(self.ends) else None
        self.warnings.append(
            DataQualityWarning(
                kind=kind,
                message=f"{sensor_id}: {message}",
                sensor_id=sensor_id,
                start=self.starts[int(rows[0])] if rows.size else first,
                end=self.ends[int(rows[-1])] if rows.size else last,
            )
        )
        self.notes.setdefault(sensor.component, []).append(f"{sensor_id} {kind.replace('_', ' ')}")


def check_quality(
    values: Mapping[str, npt.ArrayLike],
    *,
    starts: Sequence[datetime],
    ends: Sequence[datetime],
    rate_hz: float,
    profile: EquipmentProfile,
    spec: GraphSpec,
    min_window_valid: float = MIN_WINDOW_VALID,
    stale_s: float = STALE_S,
) -> QualityReport:
    """Clean the windows of the model's sensors and say what was wrong with them."""
    n_windows = len(starts)
    sensor_ids = spec.sensor_ids
    length = max((np.asarray(v).shape[1] for v in values.values() if np.ndim(v) == 2), default=0)
    found = _Findings(profile, starts, ends)
    cleaned: dict[str, FloatArray] = {}
    valid_count = np.zeros((n_windows, len(sensor_ids)), dtype=np.float64)
    min_stale = max(3, round(stale_s * rate_hz))
    for j, sensor_id in enumerate(sensor_ids):
        raw = values.get(sensor_id)
        if raw is None or np.size(raw) == 0:
            a = np.full((n_windows, length), np.nan, dtype=np.float32)
        else:
            a = np.array(raw, dtype=np.float32, copy=True)
        cleaned[sensor_id] = a
        if _clean_sensor(a, profile.sensor(sensor_id), found, rate_hz=rate_hz, min_stale=min_stale):
            valid_count[:, j] = (~np.isnan(a)).sum(axis=1) if a.size else 0.0

    per_sensor = valid_count / max(length, 1)  # [B, S]
    window_fraction = per_sensor.mean(axis=1) if sensor_ids else np.zeros(n_windows)
    window_valid = window_fraction >= min_window_valid
    _warn_invalid_windows(window_valid, found, min_window_valid)
    return QualityReport(
        values=cleaned,
        window_valid_fraction=window_fraction,
        window_valid=window_valid,
        node_support=_node_support(spec, per_sensor),
        warnings=found.warnings,
        notes=found.notes,
    )


def _clean_sensor(
    a: FloatArray, sensor: Sensor, found: _Findings, *, rate_hz: float, min_stale: int
) -> bool:
    """Mask (set to NaN, in place) what is unusable in one sensor's windows ``a`` [B, T]:
    infinite values, samples outside its physical range and frozen readings; report them and
    the gaps. False when the sensor has no data at all in the selection."""
    if np.isnan(a).all():
        found.add(
            "missing_sensor",
            sensor.id,
            f"no data in the selected range ({sensor.quantity.value}, {sensor.unit}); "
            "masked — the model works from the other sensors",
            np.arange(0),
        )
        return False
    infinite = _mask_infinite(a, sensor, found)
    outside = _mask_out_of_range(a, sensor, found)
    stale = _mask_stale(a, sensor, found, rate_hz=rate_hz, min_stale=min_stale)
    gap = np.isnan(a) & ~infinite & ~outside & ~stale
    if gap.any():
        rows = np.flatnonzero(gap.any(axis=1))
        share = gap.mean()
        longest = max(hi - lo for b in rows[:200] for lo, hi in _runs(gap[b]))
        found.add(
            "gap",
            sensor.id,
            f"{100 * share:.1f} % of samples missing in {rows.size} window(s) "
            f"(longest gap {longest / rate_hz:g} s); gaps of up to {MAX_FILLED_GAP} "
            "samples interpolated, longer ones masked",
            rows,
        )
    return True


def _mask_infinite(a: FloatArray, sensor: Sensor, found: _Findings) -> BoolArray:
    infinite = np.isinf(a)
    if infinite.any():
        rows = np.flatnonzero(infinite.any(axis=1))
        found.add(
            "non_finite",
            sensor.id,
            f"{int(infinite.sum())} infinite value(s) in {rows.size} window(s), "
            f"first in the window starting {_fmt_time(found.starts[rows[0]])}; masked",
            rows,
        )
        a[infinite] = np.nan
    return infinite


def _mask_out_of_range(a: FloatArray, sensor: Sensor, found: _Findings) -> BoolArray:
    with np.errstate(invalid="ignore"):
        outside = (a < sensor.min) | (a > sensor.max)
    if outside.any():
        rows = np.flatnonzero(outside.any(axis=1))
        worst = a[outside][np.argmax(np.abs(a[outside] - (sensor.min + sensor.max) / 2))]
        found.add(
            "out_of_range",
            sensor.id,
            f"{int(outside.sum())} sample(s) outside the physical range "
            f"{sensor.min:g}..{sensor.max:g} {sensor.unit} in {rows.size} window(s) "
            f"(worst {worst:.4g} {sensor.unit}); masked — check the sensor and its scaling",
            rows,
        )
        a[outside] = np.nan
    return outside


def _mask_stale(
    a: FloatArray, sensor: Sensor, found: _Findings, *, rate_hz: float, min_stale: int
) -> BoolArray:
    stale = _stale_mask(a, min_stale)
    if stale.any():
        rows = np.flatnonzero(stale.any(axis=1))
        whole = stale.sum(axis=1) >= max(a.shape[1] - 1, 1)
        found.add(
            "flatline" if whole[rows].all() else "stale",
            sensor.id,
            f"the same reading repeated for ≥ {min_stale / rate_hz:g} s in {rows.size} "
            f"window(s) ({int(whole.sum())} completely flat), first in the window starting "
            f"{_fmt_time(found.starts[rows[0]])}; a frozen transmitter or logger channel — masked",
            rows,
        )
        a[stale] = np.nan
    return stale


def _warn_invalid_windows(window_valid: BoolArray, found: _Findings, min_valid: float) -> None:
    """One warning for the windows with too little valid data to assess."""
    bad = np.flatnonzero(~window_valid)
    if bad.size:
        starts, ends = found.starts, found.ends
        found.warnings.append(
            DataQualityWarning(
                kind="insufficient_data",
                message=(
                    f"{bad.size} of {len(window_valid)} window(s) have less than "
                    f"{100 * min_valid:.0f} % valid sensor data and were not assessed "
                    f"(first starts {_fmt_time(starts[int(bad[0])])})"
                ),
                start=starts[int(bad[0])],
                end=ends[int(bad[-1])],
            )
        )


def _node_support(spec: GraphSpec, per_sensor: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """[B, N]: mean valid share of the sensors on each node and its direct neighbours.

    A node without sensors of its own (the rig's accumulator bank) is judged through its
    neighbours, as the model judges it; a node with no sensor within one hop has support 0.
    """
    n_windows = per_sensor.shape[0]
    support = np.zeros((n_windows, spec.num_nodes), dtype=np.float64)
    node_of = np.asarray([s.node for s in spec.sensors], dtype=np.int64)
    neighbours: list[set[int]] = [{i} for i in range(spec.num_nodes)]
    for edge in spec.edges:
        neighbours[edge.target].add(edge.source)
        neighbours[edge.source].add(edge.target)
    for node in range(spec.num_nodes):
        cols = np.flatnonzero(np.isin(node_of, sorted(neighbours[node])))
        if cols.size:
            support[:, node] = per_sensor[:, cols].mean(axis=1)
    return support
