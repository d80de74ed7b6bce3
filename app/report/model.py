"""The report model: everything one PDF report shows, gathered once, frozen, Qt-free.

The renderer only lays this out; it never queries the store. That keeps rendering fast,
testable with a hand-made model, and the preview identical to the PDF.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from gnn.results import Diagnosis, LimitViolation
from ingestion.profiles import EquipmentProfile, SensorLimits


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Section(StrEnum):
    """The parts of a report a user can switch on or off (the cover is always there)."""

    SUMMARY = "summary"
    GRAPH = "graph"
    TRENDS = "trends"
    SENSORS = "sensors"
    FINDINGS = "findings"
    RECOMMENDATIONS = "recommendations"
    APPENDIX = "appendix"


ALL_SECTIONS: tuple[Section, ...] = tuple(Section)

SECTION_TITLES: dict[Section, str] = {
    Section.SUMMARY: "Summary",
    Section.GRAPH: "Component graph",
    Section.TRENDS: "Health trends",
    Section.SENSORS: "Key sensor signals",
    Section.FINDINGS: "Findings",
    Section.RECOMMENDATIONS: "Recommendations",
    Section.APPENDIX: "Appendix",
}


class Paper(StrEnum):
    A4 = "a4"
    LETTER = "letter"


class InspectionFields(_Frozen):
    """What the engineer types for a visit; stored in the ``inspections`` table."""

    customer: str = Field(default="", max_length=200)
    site: str = Field(default="", max_length=200)
    inspector: str = Field(default="", max_length=200)
    notes: str = Field(default="", max_length=5000)

    def is_empty(self) -> bool:
        return not (self.customer or self.site or self.inspector or self.notes)


class Inspection(_Frozen):
    id: int | None = None
    started_at: datetime | None = None
    fields: InspectionFields = InspectionFields()


class SourceInfo(_Frozen):
    """One imported source behind the diagnosed data (appendix: provenance)."""

    id: int
    kind: str
    uri: str
    sha256: str | None
    row_count: int
    value_count: int
    first_ts: datetime | None
    last_ts: datetime | None
    status: str
    error: str | None = None


class HealthSeries(_Frozen):
    """A component's health over time (from ``health_history``), downsampled for drawing."""

    component_id: str
    t: tuple[float, ...]  # epoch seconds (UTC) of each point (window end)
    health: tuple[float, ...]  # mean health of the bucket
    health_min: tuple[float, ...]  # worst window of the bucket
    n_windows: int  # windows behind the points before downsampling


class Span(_Frozen):
    start: float  # epoch seconds
    end: float


class SensorSeries(_Frozen):
    """A sensor over the diagnosed window as a min/mean/max envelope per time bucket."""

    sensor_id: str
    component_id: str
    unit: str
    description: str
    reason: str  # why this sensor is in the report
    t: tuple[float, ...]  # epoch seconds (bucket start)
    lo: tuple[float, ...]
    mean: tuple[float, ...]
    hi: tuple[float, ...]
    n_samples: int
    expected_min: float
    expected_max: float
    limits: SensorLimits | None = None
    anomalous_spans: tuple[Span, ...] = ()  # windows the model flagged for this sensor's component
    violations: tuple[LimitViolation, ...] = ()


class ReportModel(_Frozen):
    diagnosis: Diagnosis
    profile: EquipmentProfile
    equipment_id: str
    equipment_name: str
    inspection: Inspection
    sources: tuple[SourceInfo, ...] = ()
    histories: tuple[HealthSeries, ...] = ()
    sensors: tuple[SensorSeries, ...] = ()
    model_card: dict[str, Any] | None = None  # the card JSON of the model that diagnosed
    software: dict[str, str] = Field(default_factory=dict)
    workspace: str = ""
    generated_at: datetime
