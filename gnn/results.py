"""What a diagnosis is: the Qt-free result the engine produces, the store persists, and the GUI
and PDF report only display. Frozen pydantic models so every consumer sees the same thing.

Fields may be added; renaming or removing one breaks the GUI, the report and stored JSON.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Status(StrEnum):
    HEALTHY = "healthy"
    WARNING = "warning"
    CRITICAL = "critical"
    INSUFFICIENT_DATA = "insufficient_data"  # too little valid data in the window: not guessed
    NOT_ASSESSED = "not_assessed"  # the model was not trained to grade this component

    @property
    def label(self) -> str:
        """The status in words, for people: 'insufficient data', 'not assessed', 'healthy'."""
        return self.value.replace("_", " ")


class Priority(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    URGENT = "urgent"


class StatusThresholds(_Frozen):
    """Health at or above ``healthy`` is healthy; below ``critical`` is critical; between: warning."""

    healthy: float = Field(default=0.7, gt=0.0, le=1.0)
    critical: float = Field(default=0.5, gt=0.0, le=1.0)

    def status(self, health: float) -> Status:
        if health >= self.healthy:
            return Status.HEALTHY
        if health >= self.critical:
            return Status.WARNING
        return Status.CRITICAL


class TrendEstimate(_Frozen):
    """Degradation measured from the component's health history (robust fit over recent windows)."""

    enough_history: bool
    message: str  # e.g. "not enough history (3 windows over 0.2 h; needs 2 h)"
    n_points: int = 0
    span_hours: float = 0.0
    rate_per_100h: float | None = None  # health lost per 100 operating hours (positive = degrading)
    rate_low_per_100h: float | None = None
    rate_high_per_100h: float | None = None
    hours_to_warning: float | None = None
    hours_to_warning_low: float | None = None
    hours_to_warning_high: float | None = None
    hours_to_critical: float | None = None
    hours_to_critical_low: float | None = None
    hours_to_critical_high: float | None = None


class SensorContribution(_Frozen):
    sensor_id: str
    contribution: float  # share of the component's anomaly score, 0..1
    error: float  # mean squared forecast error of the channel, in normalised units


class AnomalyResult(_Frozen):
    score: float  # forecast error relative to the model's healthy reference (1.0 = typical)
    threshold: float
    is_anomalous: bool
    top_sensors: tuple[SensorContribution, ...] = ()
    # Where the "typical" error comes from: "model card" (healthy training windows) or
    # "selection median" (no reference shipped: the median window of this diagnosis).
    reference: str = ""
    n_windows: int = 0


class LimitViolation(_Frozen):
    sensor_id: str
    kind: str  # "warning_high", "alarm_low", "range_high", ...
    limit: float
    worst_value: float
    unit: str
    start: datetime
    end: datetime
    duration_s: float


class AnomalyEpisode(_Frozen):
    """A stretch of time in which the machine's data left what its model learned as normal.

    From a model that learned the machine's normal (``Diagnosis.model_kind == "anomaly"``):
    a debounced run of the calibrated anomaly score above its threshold, located to the
    sample. ``peak`` is the highest score in it as a multiple of the threshold (1.0 = the
    threshold calibrated on held-out normal data at the model's false-alarm budget).
    """

    start: datetime
    end: datetime  # exclusive: the first sample after the episode
    duration_s: float
    peak: float
    components: tuple[str, ...] = ()  # component ids, most anomalous first
    sensors: tuple[str, ...] = ()  # the sensors that deviate most, most first
    # sensors outside the learned operating range during the episode (see RangeExcursion)
    outside_range: tuple[str, ...] = ()


class RangeExcursion(_Frozen):
    """A sensor outside the range of values its model saw when it learned the machine's normal:
    reported as such, distinct from an anomaly (the model's judgement there is extrapolation),
    and never clipped away."""

    sensor_id: str
    component_id: str
    unit: str
    learned_low: float
    learned_high: float
    worst_value: float  # the value furthest outside, in the sensor's unit
    start: datetime
    end: datetime  # exclusive
    duration_s: float
    samples: int


class ConditionEpisode(_Frozen):
    """A stretch of the selection in which a component was worse than it is now (named so that
    a diagnosis whose headline is the current state does not hide what happened earlier)."""

    start: datetime
    end: datetime
    status: Status  # the worst status of the stretch (warning or critical)
    lowest_health: float
    n_windows: int


class ComponentResult(_Frozen):
    """One component's condition. Status, health, grade, grade probabilities, confidence and
    fault probabilities describe its *current* state: the latest assessed windows of the
    selection (``current_windows`` of them, ``current_start`` to ``current_end``), so that a
    long selection of healthy windows never dilutes a critical now. The mean over the whole
    selection is kept apart (``selection_health``, ``selection_grade``), and stretches in which
    the component was worse earlier are named in ``worse_earlier``.
    """

    component_id: str
    name: str
    type: str
    assessed: bool  # False for components the model was not trained to grade
    status: Status
    health: float | None  # None when not assessed or insufficient data
    grade: int | None
    grade_probs: tuple[float, ...] = ()  # 4 values when assessed
    confidence: float | None = None  # probability of the chosen grade, averaged over windows
    # Where the model cannot separate adjacent grades: the lowest and highest grade of the
    # smallest run of adjacent grades around ``grade`` whose probability (``grade_probs``)
    # reaches gnn.contract.GRADE_RANGE_LEVEL — (0, 1) is "grade 0–1"; (g, g) when one grade
    # does; None when not graded. ``grade_range_probability`` is that run's probability.
    grade_range: tuple[int, int] | None = None
    grade_range_probability: float | None = None
    fault_probs: dict[str, float] = Field(default_factory=dict)  # only trained fault types
    anomaly: AnomalyResult | None = None
    limit_violations: tuple[LimitViolation, ...] = ()
    trend: TrendEstimate | None = None
    sensors: tuple[str, ...] = ()
    n_windows: int = 0  # windows with enough data around this component that were assessed
    # Share of the current windows per grade (each window's most likely grade), 4 values; a
    # mixed share means the condition changed within them. (Diagnoses stored before the
    # current-state rule: the share over the whole selection.)
    grade_share: tuple[float, ...] = ()
    # The current condition again under its earlier names (equal to health and grade since the
    # current-state rule; diagnoses stored before it: the last windows, next to the mean).
    recent_health: float | None = None
    recent_grade: int | None = None
    # The windows the current state is taken from (gnn.assessment.RECENT_WINDOWS at most).
    current_windows: int = 0
    current_start: datetime | None = None
    current_end: datetime | None = None
    # The whole selection, for comparison: mean health, the grade of the mean probabilities,
    # and the share of its windows per grade.
    selection_health: float | None = None
    selection_grade: int | None = None
    selection_grade_share: tuple[float, ...] = ()
    worse_earlier: tuple[ConditionEpisode, ...] = ()
    # Strongest incoming attention (source component, weight), for "why" in the GUI/report.
    attention_neighbours: tuple[tuple[str, float], ...] = ()
    # Anomaly models: the episodes in which this component's own calibrated score stayed
    # above its threshold, and its sensors' excursions outside the learned operating range.
    episodes: tuple[AnomalyEpisode, ...] = ()
    out_of_range: tuple[RangeExcursion, ...] = ()


class AttentionEdge(_Frozen):
    source: str
    target: str
    kind: str
    per_layer: tuple[float, ...]  # mean over heads, time and windows, per GATv2 layer
    combined: float  # mean over layers


class WindowResult(_Frozen):
    """One model window (a UCI cycle, or a slice of a continuous log) within the diagnosis."""

    start: datetime
    end: datetime
    cycle: int | None = None
    valid: bool = True  # False: too little valid data, not run through the model
    health: dict[str, float] = Field(default_factory=dict)  # assessed component -> health
    grade: dict[str, int] = Field(default_factory=dict)
    anomaly: dict[str, float] = Field(default_factory=dict)
    attention: tuple[float, ...] = ()  # combined attention per edge, same order as edges


class Recommendation(_Frozen):
    rule_id: str
    component_id: str
    priority: Priority
    due_days: int
    due_date: datetime
    title: str
    action: str  # text from the rule table in resources/, never invented at run time
    evidence: tuple[str, ...]


class DataQualityWarning(_Frozen):
    # missing_sensor, gap, flatline, stale, out_of_range, non_finite, insufficient_data,
    # missing_required_sensor
    kind: str
    message: str
    sensor_id: str | None = None
    start: datetime | None = None
    end: datetime | None = None


class Finding(_Frozen):
    """A line of the report's findings section: what was seen, on what, and why we say so."""

    component_id: str
    kind: str  # grade, fault, anomaly, limit_violation, unexplained_anomaly
    severity: Priority
    summary: str
    evidence: tuple[str, ...] = ()


class ModelInfo(_Frozen):
    model_id: str
    version: str
    profile_id: str
    path: str  # the file, or <workspace>#<id>@<version> for a model from its registry
    card_metrics: dict[str, float] = Field(default_factory=dict)  # e.g. accuracy per component
    sha256: str | None = None  # of the ONNX bytes that ran (None in diagnoses stored before it)
    # The validation its grade probabilities are calibrated on ("" for uncalibrated ones):
    # the confidence shown is how often such a grade was right there.
    calibrated_on: str = ""


class Diagnosis(_Frozen):
    id: int | None = None  # set once stored
    equipment_id: str
    created_at: datetime
    window_start: datetime
    window_end: datetime
    n_windows: int
    n_valid_windows: int
    overall_health: float | None
    overall_status: Status
    verdict: str  # one line an engineer reads first
    model: ModelInfo
    provider: str  # the ONNX Runtime execution provider that actually ran
    timings_ms: dict[str, float] = Field(default_factory=dict)
    components: tuple[ComponentResult, ...]
    edges: tuple[AttentionEdge, ...] = ()
    windows: tuple[WindowResult, ...] = ()
    findings: tuple[Finding, ...] = ()
    recommendations: tuple[Recommendation, ...] = ()
    data_quality: tuple[DataQualityWarning, ...] = ()
    thresholds: StatusThresholds = StatusThresholds()
    inspection_id: int | None = None
    selection: str = ""  # the input as asked, e.g. "cycles 1-200" or "last 2 h"
    provider_note: str = ""  # why the provider differs from the one requested, if it does
    rate_hz: float | None = None  # sampling rate of the model's windows
    # "graded": the model grades component conditions; "anomaly": it learned the machine's
    # normal only, and components are judged by calibrated anomaly scores (no grades, no
    # health: ``health`` is None and status comes from the score against its threshold).
    model_kind: str = "graded"
    # Anomaly models: the machine's anomaly episodes (the alarm, located to the sample) and
    # every excursion outside the learned operating range, in time order.
    episodes: tuple[AnomalyEpisode, ...] = ()
    out_of_range: tuple[RangeExcursion, ...] = ()
    # The stretch the current state (status, health, verdict) is taken from: the latest
    # assessed windows of the graded components; None for diagnoses stored before the rule.
    current_start: datetime | None = None
    current_end: datetime | None = None

    def component(self, component_id: str) -> ComponentResult:
        for result in self.components:
            if result.component_id == component_id:
                return result
        raise KeyError(component_id)
