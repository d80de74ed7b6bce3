"""Time ranges the sensor plots shade: anomalous windows, limit violations, gaps, known conditions.

Qt-free, so the main window can compute them without loading the plotting stack.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from app.core import queries
from gnn.results import Diagnosis
from ingestion.profiles import EquipmentProfile
from ingestion.workspace import Store


@dataclass(frozen=True)
class Marker:
    """A shaded time range on the plots of some sensors (all when ``sensors`` is empty)."""

    start: datetime
    end: datetime
    kind: str  # anomaly, violation, gap, label
    text: str
    sensors: tuple[str, ...] = ()


def diagnosis_markers(diagnosis: Diagnosis) -> list[Marker]:
    """Anomalous windows per component, limit violations and data gaps of a diagnosis."""
    markers: list[Marker] = []
    thresholds = {
        c.component_id: (c.anomaly.threshold, c.sensors)
        for c in diagnosis.components
        if c.anomaly is not None
    }
    for window in diagnosis.windows:
        for cid, score in window.anomaly.items():
            if cid in thresholds and score > thresholds[cid][0]:
                markers.append(
                    Marker(
                        window.start,
                        window.end,
                        "anomaly",
                        f"{cid} anomaly {score:.2f}",
                        thresholds[cid][1],
                    )
                )
    for comp in diagnosis.components:
        for v in comp.limit_violations:
            markers.append(
                Marker(
                    v.start,
                    v.end,
                    "violation",
                    f"{v.sensor_id} {v.kind.replace('_', ' ')}",
                    (v.sensor_id,),
                )
            )
    for warning in diagnosis.data_quality:
        if warning.start is not None and warning.end is not None:
            sensors = (warning.sensor_id,) if warning.sensor_id else ()
            markers.append(Marker(warning.start, warning.end, "gap", warning.message, sensors))
    return markers


def workspace_markers(
    store: Store, equipment_id: str, profile: EquipmentProfile | None, diagnosis: Diagnosis | None
) -> list[Marker]:
    """The diagnosis' markers plus degraded-condition labels and recorded gaps."""
    markers = diagnosis_markers(diagnosis) if diagnosis is not None else []
    for label in queries.list_labels(store, equipment_id):
        if label.grade == 0:  # only degraded conditions are worth a mark
            continue
        sensors = tuple(s.id for s in profile.sensors_of(label.component_id)) if profile else ()
        fault = f" {label.fault_type.replace('_', ' ')}" if label.fault_type else ""
        text = f"{label.component_id} grade {label.grade}{fault}"
        markers.append(Marker(label.start, label.end, "label", text, sensors))
    for gap in queries.list_gaps(store, equipment_id):
        markers.append(Marker(gap.start, gap.end, "gap", f"gap: {gap.reason}"))
    return merge_adjacent(markers)


def merge_adjacent(
    markers: list[Marker], *, slack: timedelta = timedelta(seconds=1)
) -> list[Marker]:
    """One marker for each run of markers of the same kind, subject (the text's first word:
    component or sensor) and sensors that touch or overlap: a week of anomalous windows is a
    few shaded spans, not thousands of plot items."""
    runs: dict[tuple[str, str, tuple[str, ...]], list[tuple[Marker, int]]] = {}
    for marker in sorted(markers, key=lambda m: m.start):
        key = (marker.kind, marker.text.split(" ", 1)[0], marker.sensors)
        run = runs.setdefault(key, [])
        if run and marker.start <= run[-1][0].end + slack:
            last, count = run[-1]
            text = f"{key[1]} {marker.kind} ({count + 1} in a row)"
            end = max(last.end, marker.end)
            run[-1] = (Marker(last.start, end, marker.kind, text, marker.sensors), count + 1)
        else:
            run.append((marker, 1))
    return sorted((m for run in runs.values() for m, _ in run), key=lambda m: m.start)
