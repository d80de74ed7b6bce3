"""The model's graph, built from an equipment profile, and the torch-free input pipeline.

:class:`GraphSpec` fixes everything a trained model depends on: node order (= profile component
order), which sensor feeds which feature slot of which node, node and edge type ids, the edge
list and the per-sensor normalisation statistics. Training writes it into the ONNX metadata;
the inference engine reads it back and calls :func:`build_inputs` with the same code, so
training and inference cannot disagree about what ``x`` means.

Numpy and pydantic only: the engine runs without torch.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from gnn.contract import Normalisation
from ingestion.errors import HydroDiagError
from ingestion.profiles import ComponentType, ConnectionKind, EquipmentProfile, Quantity
from ingestion.resources import resources_dir

GRAPH_SPEC_VERSION = 1
# Closed vocabularies: a model trained on one profile embeds these ids, so they are derived
# from the profile enums (append-only there) and never from the profile at hand.
NODE_TYPES: tuple[str, ...] = tuple(t.value for t in ComponentType)
SELF_EDGE_TYPE = "self"
EDGE_TYPES: tuple[str, ...] = (
    *(f"{k.value}:{d}" for k in ConnectionKind for d in ("forward", "reverse")),
    SELF_EDGE_TYPE,
)
# Normalised values are clipped here: a sensor gone wild must not saturate every neighbour.
CLIP = 10.0
# Per-step std floor, as a share of the sensor's global std: some steps are constant in every
# training cycle (PS2, SE at cycle start); dividing by ~0 would turn noise into ±CLIP.
PHASE_STD_FLOOR = 1e-3
# Missing runs of at most this many samples inside a window are filled by linear
# interpolation (at a window's edge: the nearest sample) and count as present. Left masked,
# a single missing sample reads as the sensor's mean: 0.1 % of samples missing at random took
# the shipped model's accumulator grade from 100 % to 91.7 % on its training cycles, filled
# 98.4 % (tests/benchmarks/bench_missing_data.py). Longer gaps stay masked.
MAX_FILLED_GAP = 5
# Name of the model the app uses when the user picked none (folder under resources/models).
DEFAULT_MODEL_NAME = "zema-rig-gatv2-lstm"
MODEL_FILE = "model.onnx"
MODEL_ENV = "HYDRODIAG_MODEL"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class NodeSpec(_Frozen):
    """One node = one profile component."""

    id: str
    type: str = Field(description="ComponentType value")
    type_id: int = Field(ge=0, description="index into NODE_TYPES")


class SlotSpec(_Frozen):
    """A feature slot of every node: the ``index``-th sensor of ``quantity`` on that node."""

    quantity: str
    index: int = Field(ge=0)


class SensorSpec(_Frozen):
    """Where a sensor's channel goes and how it is normalised: ``(value - mean) / std``.

    With phase normalisation also ``(value[t] - phase_mean[t]) / phase_std[t]`` for windows of
    exactly ``len(phase_mean)`` steps (other lengths fall back to the global statistics).
    """

    id: str
    node: int = Field(ge=0)
    slot: int = Field(ge=0)
    mean: float = 0.0
    std: float = Field(default=1.0, gt=0.0)
    phase_mean: tuple[float, ...] | None = None
    phase_std: tuple[float, ...] | None = None


class EdgeSpec(_Frozen):
    """A directed message path ``source -> target`` with its type id (index into EDGE_TYPES)."""

    source: int = Field(ge=0)
    target: int = Field(ge=0)
    type_id: int = Field(ge=0)


class GraphSpec(_Frozen):
    """Everything that maps a profile's measurements onto the model's tensors.

    Built by :meth:`from_profile`; normalisation statistics are filled by training
    (:meth:`with_normalisation`) and travel with the model as JSON (:meth:`to_json`).
    """

    version: int = GRAPH_SPEC_VERSION
    profile_id: str
    profile_version: int = 1
    node_types: tuple[str, ...] = NODE_TYPES
    edge_types: tuple[str, ...] = EDGE_TYPES
    nodes: tuple[NodeSpec, ...]
    slots: tuple[SlotSpec, ...]
    sensors: tuple[SensorSpec, ...]
    edges: tuple[EdgeSpec, ...]
    normalisation: Normalisation = "global"

    @classmethod
    def from_profile(cls, profile: EquipmentProfile) -> GraphSpec:
        """Build the graph of ``profile`` (normalisation left at mean 0, std 1)."""
        node_index = {c.id: i for i, c in enumerate(profile.components)}
        nodes = tuple(
            NodeSpec(id=c.id, type=c.type.value, type_id=NODE_TYPES.index(c.type.value))
            for c in profile.components
        )
        # Slots: per quantity (enum order, so the layout does not depend on sensor order in
        # the file), as many as the most sensors of that quantity on a single component.
        per_node: dict[tuple[str, Quantity], list[str]] = {}
        for sensor in profile.sensors:
            per_node.setdefault((sensor.component, sensor.quantity), []).append(sensor.id)
        slots: list[SlotSpec] = []
        slot_index: dict[tuple[Quantity, int], int] = {}
        for quantity in Quantity:
            width = max((len(ids) for (_, q), ids in per_node.items() if q == quantity), default=0)
            for k in range(width):
                slot_index[(quantity, k)] = len(slots)
                slots.append(SlotSpec(quantity=quantity.value, index=k))
        sensors = []
        for sensor in profile.sensors:
            k = per_node[(sensor.component, sensor.quantity)].index(sensor.id)
            sensors.append(
                SensorSpec(
                    id=sensor.id,
                    node=node_index[sensor.component],
                    slot=slot_index[(sensor.quantity, k)],
                )
            )
        edges: list[EdgeSpec] = []
        for conn in profile.connections:
            s, t = node_index[conn.source], node_index[conn.target]
            edges.append(
                EdgeSpec(source=s, target=t, type_id=EDGE_TYPES.index(f"{conn.kind.value}:forward"))
            )
            edges.append(
                EdgeSpec(source=t, target=s, type_id=EDGE_TYPES.index(f"{conn.kind.value}:reverse"))
            )
        self_type = EDGE_TYPES.index(SELF_EDGE_TYPE)
        edges.extend(EdgeSpec(source=i, target=i, type_id=self_type) for i in range(len(nodes)))
        return cls(
            profile_id=profile.id,
            profile_version=profile.version,
            nodes=nodes,
            slots=tuple(slots),
            sensors=tuple(sensors),
            edges=tuple(edges),
        )

    # -- sizes and tensors --------------------------------------------------------------

    @property
    def num_nodes(self) -> int:
        return len(self.nodes)

    @property
    def num_slots(self) -> int:
        """Feature slots per node (at least 1 so that a sensorless profile still has a shape)."""
        return max(len(self.slots), 1)

    @property
    def num_features(self) -> int:
        """F: channels per node, the slots once (twice with "global+phase" normalisation)."""
        return self.num_slots * (2 if self.normalisation == "global+phase" else 1)

    def feature_channels(self, slot: int) -> list[int]:
        """The channels of a node's F that carry feature slot ``slot``: the slot itself, and
        with "global+phase" normalisation also its phase-normalised copy after the slots."""
        if self.normalisation == "global+phase":
            return [slot, self.num_slots + slot]
        return [slot]

    @property
    def num_edges(self) -> int:
        return len(self.edges)

    @property
    def node_ids(self) -> tuple[str, ...]:
        return tuple(n.id for n in self.nodes)

    @property
    def sensor_ids(self) -> tuple[str, ...]:
        return tuple(s.id for s in self.sensors)

    def node_type(self) -> np.ndarray:
        """int64 [N] node type ids."""
        return np.asarray([n.type_id for n in self.nodes], dtype=np.int64)

    def edge_index(self) -> np.ndarray:
        """int64 [2, E]: row 0 source, row 1 target."""
        return np.asarray(
            [[e.source for e in self.edges], [e.target for e in self.edges]], dtype=np.int64
        ).reshape(2, len(self.edges))

    def edge_type(self) -> np.ndarray:
        """int64 [E] edge type ids."""
        return np.asarray([e.type_id for e in self.edges], dtype=np.int64)

    def sensor(self, sensor_id: str) -> SensorSpec:
        for sensor in self.sensors:
            if sensor.id == sensor_id:
                return sensor
        raise KeyError(f"graph of profile {self.profile_id!r} has no sensor {sensor_id!r}")

    def sensors_of_node(self, node: int) -> tuple[SensorSpec, ...]:
        """The sensors feeding node ``node`` (their ``slot`` says which feature column)."""
        return tuple(s for s in self.sensors if s.node == node)

    # -- normalisation ------------------------------------------------------------------

    def with_normalisation(self, stats: Mapping[str, tuple[float, float]]) -> GraphSpec:
        """A copy with ``(mean, std)`` per sensor id; sensors not in ``stats`` keep theirs."""
        sensors = []
        for s in self.sensors:
            if s.id in stats:
                mean, std = stats[s.id]
                std = float(std) if np.isfinite(std) and std > 1e-9 else 1.0
                s = s.model_copy(update={"mean": float(mean), "std": std})
            sensors.append(s)
        return self.model_copy(update={"sensors": tuple(sensors)})

    def fit_normalisation(self, values: Mapping[str, np.ndarray]) -> GraphSpec:
        """Mean/std per sensor over all finite values in ``values`` (sensor id -> any shape)."""
        stats: dict[str, tuple[float, float]] = {}
        for sensor_id, array in values.items():
            a = np.asarray(array, dtype=np.float64)
            a = a[np.isfinite(a)]
            if a.size:
                stats[sensor_id] = (float(a.mean()), float(a.std()))
        return self.with_normalisation(stats)

    def fit_phase_normalisation(
        self, values: Mapping[str, np.ndarray], mode: Normalisation = "phase"
    ) -> GraphSpec:
        """A copy with per-time-step statistics fitted on windows ``values`` (sensor -> [W, T]).

        Call after :meth:`fit_normalisation` (the global std sets the floor of the per-step
        std, and is the fallback for windows of another length). ``mode`` "global" clears them.
        """
        if mode == "global":
            cleared = tuple(
                s.model_copy(update={"phase_mean": None, "phase_std": None}) for s in self.sensors
            )
            return self.model_copy(update={"sensors": cleared, "normalisation": mode})
        sensors = []
        for s in self.sensors:
            if s.id in values:
                a = np.asarray(values[s.id], dtype=np.float64)
                if a.ndim != 2:
                    raise HydroDiagError(
                        f"sensor {s.id!r}: phase normalisation needs windows shaped [W, T], "
                        f"got {list(a.shape)}."
                    )
                a = np.where(np.isfinite(a), a, np.nan)
                seen = np.isfinite(a).any(axis=0)
                with warnings.catch_warnings():  # all-NaN steps: "mean of empty slice"
                    warnings.simplefilter("ignore", RuntimeWarning)
                    mean = np.where(seen, np.nanmean(a, axis=0), s.mean)
                    std = np.where(seen, np.nanstd(a, axis=0), s.std)
                std = np.maximum(np.nan_to_num(std, nan=s.std), PHASE_STD_FLOOR * s.std)
                s = s.model_copy(
                    update={
                        "phase_mean": tuple(float(v) for v in mean),
                        "phase_std": tuple(float(v) for v in std),
                    }
                )
            sensors.append(s)
        return self.model_copy(update={"sensors": tuple(sensors), "normalisation": mode})

    # -- serialisation --------------------------------------------------------------------

    def to_json(self) -> str:
        """Canonical JSON (sorted keys, no whitespace): what goes into the model metadata."""
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> GraphSpec:
        return cls.model_validate_json(text)

    def structure_json(self) -> str:
        """Canonical JSON without normalisation (mode, statistics): what identifies the graph."""
        data = self.model_dump(mode="json")
        data.pop("normalisation")
        for sensor in data["sensors"]:
            for key in ("mean", "std", "phase_mean", "phase_std"):
                sensor.pop(key)
        return json.dumps(data, sort_keys=True, separators=(",", ":"))


def profile_sha256(spec: GraphSpec) -> str:
    """sha256 of the canonical graph structure (nodes, slots, sensors, edges; no statistics).

    Two profiles with the same hash produce the same tensors from the same measurements, so a
    model trained for one runs unchanged on the other; the engine compares this with the
    model's ``hydrodiag.profile_sha256`` metadata.
    """
    return hashlib.sha256(spec.structure_json().encode("utf-8")).hexdigest()


def fill_short_gaps(a: np.ndarray, max_gap: int = MAX_FILLED_GAP) -> np.ndarray:
    """``a`` [B, T] with every run of at most ``max_gap`` missing (non-finite) samples filled
    by linear interpolation between its neighbours (the nearest sample at a window's edge).

    Longer runs, and windows without any finite sample, stay missing. Returns ``a`` itself
    when nothing is filled, else a float64 copy.
    """
    a = np.asarray(a)
    missing = ~np.isfinite(a)
    rows = np.flatnonzero(missing.any(axis=1) & ~missing.all(axis=1))
    if max_gap < 1 or not rows.size:
        return a
    out = a.astype(np.float64, copy=True)
    steps = np.arange(a.shape[1])
    for r in rows:
        gaps = missing[r]
        edges = np.flatnonzero(np.diff(np.concatenate(([0], gaps.view(np.int8), [0]))))
        short = [
            (lo, hi) for lo, hi in zip(edges[::2], edges[1::2], strict=True) if hi - lo <= max_gap
        ]
        if short:
            line = np.interp(steps, steps[~gaps], out[r, ~gaps])
            for lo, hi in short:
                out[r, lo:hi] = line[lo:hi]
    return out


def build_inputs(
    spec: GraphSpec, values: Mapping[str, np.ndarray], *, max_gap: int = MAX_FILLED_GAP
) -> tuple[np.ndarray, np.ndarray]:
    """Turn per-sensor windows into the model's ``x`` and ``mask``.

    Args:
        spec: the model's graph spec (with its normalisation statistics).
        values: sensor id -> array [B, T] (or [T] for a single window) in the sensor's unit.
            Sensors of the spec that are absent are masked; ids not in the spec are ignored.
        max_gap: longest run of missing samples :func:`fill_short_gaps` fills (0: none).

    Returns:
        ``(x, mask)``, both float32 [B, N, T, F]: ``x`` normalised per sensor (and per time
        step with phase normalisation, see :data:`Normalisation`) and clipped to ±CLIP, 0
        wherever ``mask`` is 0 (absent sensor, empty slot, NaN or inf that
        :func:`fill_short_gaps` did not fill).

    Raises:
        HydroDiagError: if the windows have different shapes or there are none.
    """
    known = {s.id: s for s in spec.sensors}
    arrays: dict[str, np.ndarray] = {}
    shape: tuple[int, int] | None = None
    for sensor_id, array in values.items():
        if sensor_id not in known:
            continue
        a = np.asarray(array, dtype=np.float64)
        if a.ndim == 1:
            a = a[None, :]
        if a.ndim != 2:
            raise HydroDiagError(
                f"sensor {sensor_id!r}: expected windows shaped [B, T], got {list(a.shape)}; "
                "pass one row per window."
            )
        if shape is None:
            shape = (a.shape[0], a.shape[1])
        elif a.shape != shape:
            raise HydroDiagError(
                f"sensor {sensor_id!r}: window shape {list(a.shape)} differs from "
                f"{list(shape)} of the other sensors; resample every sensor onto the same grid."
            )
        arrays[sensor_id] = fill_short_gaps(a, max_gap)
    if shape is None:
        raise HydroDiagError(
            f"none of the sensors of profile {spec.profile_id!r} "
            f"({', '.join(spec.sensor_ids) or 'none'}) has data in this window."
        )
    b, t = shape
    x = np.zeros((b, spec.num_nodes, t, spec.num_features), dtype=np.float32)
    mask = np.zeros_like(x)
    mode = spec.normalisation
    for sensor_id, a in arrays.items():
        s = known[sensor_id]
        valid = np.isfinite(a)
        z = np.where(valid, (a - s.mean) / s.std, 0.0)
        # Windows of another length than the fitted cycle have no phase: global statistics.
        zp = z
        if (
            mode != "global"
            and s.phase_mean is not None
            and s.phase_std is not None
            and len(s.phase_mean) == t
        ):
            pm, ps = np.asarray(s.phase_mean), np.asarray(s.phase_std)
            zp = np.where(valid, (a - pm) / ps, 0.0)
        x[:, s.node, :, s.slot] = np.clip(zp if mode == "phase" else z, -CLIP, CLIP)
        mask[:, s.node, :, s.slot] = valid
        if mode == "global+phase":
            x[:, s.node, :, spec.num_slots + s.slot] = np.clip(zp, -CLIP, CLIP)
            mask[:, s.node, :, spec.num_slots + s.slot] = valid
    return x, mask


def shipped_models_dir() -> Path:
    """``resources/models``: one folder per shipped model (model.onnx, card.json, card.md)."""
    return resources_dir() / "models"


def default_model_path() -> Path:
    """The ONNX model the app uses unless told otherwise (``$HYDRODIAG_MODEL`` overrides)."""
    override = os.environ.get(MODEL_ENV)
    if override:
        return Path(override)
    return shipped_models_dir() / DEFAULT_MODEL_NAME / MODEL_FILE
