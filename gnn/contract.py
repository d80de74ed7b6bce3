"""The model I/O contract shared by the ONNX exporter (training) and the inference engine (gnn).

Changing a name, shape or meaning here is a contract change: bump ``CONTRACT_VERSION`` so the
engine refuses models exported under the old one instead of misreading them.

Shapes (all dynamic except where fixed by the profile the model was trained for):
    B windows in a batch, N components (nodes), T time steps, F feature slots per node,
    E directed edges (both directions of every connection plus one self loop per node),
    L attention layers, K fault types, G = 4 condition grades.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, Literal

CONTRACT_VERSION: Final = 1
OPSET: Final = 18

# How x is normalised. "global": one mean/std per sensor. "phase": per sensor and time step of
# the window (a UCI window is one load cycle, so step t is the same moment of every cycle):
# the deterministic cycle waveform is removed and what is left is how this cycle differs from
# the typical one — the accumulator's only trace in pressures and flows, which a single
# mean/std per sensor buries under the waveform. "global+phase": both, as 2F channels (global
# slots first, so ``x[..., slot]`` keeps meaning the global value).
Normalisation = Literal["global", "phase", "global+phase"]

# Inputs
INPUT_X: Final = "x"  # float32 [B, N, T, F] normalised channel values, 0 where not present
INPUT_MASK: Final = "mask"  # float32 [B, N, T, F] 1 where the value is present and valid
INPUT_NODE_TYPE: Final = "node_type"  # int64 [N] index into COMPONENT_TYPES order of the card
INPUT_EDGE_INDEX: Final = "edge_index"  # int64 [2, E] row 0 source, row 1 target
INPUT_EDGE_TYPE: Final = "edge_type"  # int64 [E] index into the card's edge type list
INPUTS: Final = (INPUT_X, INPUT_MASK, INPUT_NODE_TYPE, INPUT_EDGE_INDEX, INPUT_EDGE_TYPE)

# Outputs
OUTPUT_GRADE_PROBS: Final = "grade_probs"  # float32 [B, N, G] softmax over grades 0..3
OUTPUT_HEALTH: Final = "health"  # float32 [B, N] in [0, 1], from grade_probs · GRADE_HEALTH
OUTPUT_FAULT_PROBS: Final = "fault_probs"  # float32 [B, N, K] independent sigmoids
OUTPUT_FORECAST: Final = (
    "forecast"  # float32 [B, N, T, F] forecast[..., t, :] predicts x[..., t+1, :]
)
OUTPUT_ATTENTION: Final = "attention"  # float32 [B, L, E] mean over heads and time steps
OUTPUTS: Final = (
    OUTPUT_GRADE_PROBS,
    OUTPUT_HEALTH,
    OUTPUT_FAULT_PROBS,
    OUTPUT_FORECAST,
    OUTPUT_ATTENTION,
)

# Condition grades: one ordinal scale for every component (DESIGN.md).
GRADES: Final = (0, 1, 2, 3)
GRADE_NAMES: Final = ("optimal", "slightly degraded", "severely degraded", "near failure")
# Health of a component certain to be in each grade; health = sum(p_g * GRADE_HEALTH[g]).
GRADE_HEALTH: Final = (1.0, 0.6, 0.3, 0.0)

# Keys of the ONNX model's metadata_props (values are strings; JSON where structured).
META_CONTRACT_VERSION: Final = "hydrodiag.contract_version"
META_MODEL_ID: Final = "hydrodiag.model_id"
META_MODEL_VERSION: Final = "hydrodiag.model_version"
META_PROFILE_ID: Final = "hydrodiag.profile_id"
META_PROFILE_SHA256: Final = "hydrodiag.profile_sha256"  # of the canonical graph spec JSON
META_GRAPH_SPEC: Final = "hydrodiag.graph_spec"  # JSON: nodes, slots, edges, normalisation
META_FAULT_TYPES: Final = "hydrodiag.fault_types"  # JSON list of K fault type ids
META_GRADED_COMPONENTS: Final = "hydrodiag.graded_components"  # JSON list of component ids
REQUIRED_META: Final = (
    META_CONTRACT_VERSION,
    META_MODEL_ID,
    META_MODEL_VERSION,
    META_PROFILE_ID,
    META_PROFILE_SHA256,
    META_GRAPH_SPEC,
    META_FAULT_TYPES,
    META_GRADED_COMPONENTS,
)

# Optional keys: added within contract version 1, so models exported before them still load
# (the engine falls back to what it did without them and says so). A reader must not require
# them; a writer writes them whenever it knows their value.
META_FAULT_COMPONENTS: Final = "hydrodiag.fault_components"
"""JSON object {fault type: [component ids]}: the component(s) whose labels trained each of the
K fault types (from the training labels' target -> component mapping). Every fault type of
``META_FAULT_TYPES`` appears; a value may also be a single id string. Models without the key
predate it."""
META_REQUIRED_SENSORS: Final = "hydrodiag.required_sensors"
"""JSON object {component id: {sensor id: grade accuracy without it}}: the sensors a graded
component's grade cannot do without — masking the sensor alone costs more than
``REQUIRED_SENSOR_DROP`` of that component's grade accuracy on the training windows, or (for a
component graded from its neighbours alone) on held-out blocks of them; the accuracy without
the sensor is the value. A window where such a sensor has samples missing
(after short gaps are filled) gets no grade for the component. Models without the key
predate it."""
META_ANOMALY: Final = "hydrodiag.anomaly"
"""JSON object: the calibration of a model that learned a machine's normal
(:class:`gnn.anomaly.AnomalyCalibration`: per-sensor residual scale, thresholds per component,
the learned operating range, window and smoothing). Its presence makes the model an anomaly
model: it grades nothing (``grade_probs`` and ``health`` are zeros, no fault types), and
``forecast`` is its prediction of every sensor one step ahead. Graded models do not carry it."""
META_CALIBRATION: Final = "hydrodiag.calibration"
"""JSON object {"scheme": the validation, "temperatures": {component id: temperature}}: the
model's grade probabilities are calibrated — its final grade logits were divided by these
temperatures, fitted on held-out predictions of that validation (``training.calibration``).
Models without the key give uncalibrated probabilities."""
OPTIONAL_META: Final = (
    META_FAULT_COMPONENTS,
    META_REQUIRED_SENSORS,
    META_ANOMALY,
    META_CALIBRATION,
)
REQUIRED_SENSOR_DROP: Final = 0.05

# Where the model cannot separate adjacent grades it says so ("grade 0–1"): the smallest run of
# adjacent grades around the most likely one whose probability reaches this level.
GRADE_RANGE_LEVEL: Final = 0.9


def grade_range(probs: Sequence[float], level: float = GRADE_RANGE_LEVEL) -> tuple[int, int]:
    """``(lowest, highest)`` grade of the smallest run of adjacent grades that holds the most
    likely grade and at least ``level`` of the probability, grown one grade at a time towards
    the more probable neighbour; ``(g, g)`` when grade ``g`` alone reaches ``level``.

    Grades are an ordered scale and the model's confusions are between neighbours, so a range
    of neighbours is the honest answer where one grade is not enough: on new runs the
    accumulator's 130 and 115 bar look alike (``training.calibration``).
    """
    p = [float(v) for v in probs]
    if not p:
        raise ValueError("no grade probabilities")
    lo = hi = max(range(len(p)), key=p.__getitem__)
    mass = p[lo]
    while mass < level - 1e-9 and (lo > 0 or hi < len(p) - 1):
        below = p[lo - 1] if lo > 0 else -1.0
        above = p[hi + 1] if hi < len(p) - 1 else -1.0
        if below >= above:
            lo -= 1
            mass += below
        else:
            hi += 1
            mass += above
    return lo, hi


def grade_label(lowest: int, highest: int) -> str:
    """``"1"`` or ``"0–1"`` (an en dash) for a grade range."""
    return str(lowest) if lowest == highest else f"{lowest}–{highest}"
