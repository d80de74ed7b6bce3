"""Gather a report from the workspace: ``build_report_model(store, equipment_id, ...) -> ReportModel``.

Qt-free and torch-free: the CLI, the GUI dialog and the benchmark call it, then hand the result
to the renderer. Sensor plots are min/mean/max envelopes computed by DuckDB per time bucket, so
a 30-hour window at 1 Hz (over a million samples) reaches the renderer as a few hundred points
and the PDF stays small and fast to draw without losing spikes.
"""

from __future__ import annotations

import json
import math
import platform
from collections.abc import Iterable, Sequence
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from app import __version__
from app.report.model import (
    HealthSeries,
    Inspection,
    InspectionFields,
    ReportModel,
    SensorSeries,
    SourceInfo,
    Span,
)
from gnn.persist import load_health_history
from gnn.results import ComponentResult, Diagnosis, LimitViolation, Status
from ingestion.errors import HydroDiagError
from ingestion.profiles import EquipmentProfile, Quantity
from ingestion.workspace import Store, utc_now

MAX_POINTS = 400  # buckets per chart: finer than a printed chart can show
MAX_SENSORS = 6
# When nothing stands out, these quantities make the "key signals" of a hydraulic machine.
KEY_QUANTITIES = (
    Quantity.PRESSURE,
    Quantity.ELECTRICAL_POWER,
    Quantity.FLOW,
    Quantity.TEMPERATURE,
    Quantity.VIBRATION_VELOCITY,
)
NOT_HEALTHY = (Status.WARNING, Status.CRITICAL)


class ReportError(HydroDiagError):
    """The report cannot be built: missing equipment, diagnosis or profile."""


def _where(store: Store) -> str:
    return str(store.path) if store.path else "the in-memory workspace"


def load_diagnosis(
    store: Store, equipment_id: str, diagnosis_id: int | None = None
) -> tuple[Diagnosis, int | None]:
    """The stored diagnosis (``None`` = the latest of the equipment) and its inspection id."""
    sql = "SELECT id, body, inspection_id FROM diagnoses WHERE equipment_id = ?"
    params: list[Any] = [equipment_id]
    if diagnosis_id is not None:
        sql += " AND id = ?"
        params.append(diagnosis_id)
    sql += " ORDER BY created_at DESC, id DESC LIMIT 1"
    rows = store.query(sql, params)
    if not rows:
        _load_equipment(store, equipment_id)  # a clearer error when the equipment is unknown
        if diagnosis_id is not None:
            known = [
                str(r[0])
                for r in store.query(
                    "SELECT id FROM diagnoses WHERE equipment_id = ? ORDER BY id", [equipment_id]
                )
            ]
            raise ReportError(
                f"{_where(store)}: equipment {equipment_id!r} has no diagnosis {diagnosis_id} "
                f"(its diagnoses: {', '.join(known) or 'none'}). Pick one of those or use --latest."
            )
        raise ReportError(
            f"{_where(store)}: equipment {equipment_id!r} has no diagnosis yet. Run "
            f"`hydrodiag diagnose --equipment {equipment_id}` first."
        )
    row_id, body, inspection_id = rows[0]
    try:
        diagnosis = Diagnosis.model_validate_json(body)
    except ValueError as exc:
        raise ReportError(
            f"{_where(store)}: diagnosis {row_id} of {equipment_id!r} cannot be read ({exc}). "
            "Run the diagnosis again with this HydroDiag version."
        ) from None
    if diagnosis.id != row_id:
        diagnosis = diagnosis.model_copy(update={"id": int(row_id)})
    if inspection_id is None:
        inspection_id = diagnosis.inspection_id
    return diagnosis, (int(inspection_id) if inspection_id is not None else None)


def save_inspection(
    store: Store,
    equipment_id: str,
    diagnosis_id: int,
    fields: InspectionFields,
    *,
    started_at: datetime | None = None,
) -> int:
    """Store the visit's customer/site/inspector/notes with the diagnosis' inspection.

    Updates the inspection the diagnosis belongs to, or creates one and links the diagnosis to
    it (the ``diagnoses.inspection_id`` column; the stored body stays as the engine wrote it).
    One transaction; parameters only, never user text in SQL.
    """
    with store.transaction() as con:
        row = con.execute(
            "SELECT inspection_id FROM diagnoses WHERE id = ? AND equipment_id = ?",
            [diagnosis_id, equipment_id],
        ).fetchone()
        if row is None:
            raise ReportError(
                f"{_where(store)}: equipment {equipment_id!r} has no diagnosis {diagnosis_id}."
            )
        inspection_id = row[0]
        if inspection_id is not None:
            exists = con.execute(
                "SELECT count(*) FROM inspections WHERE id = ?", [inspection_id]
            ).fetchone()
            if not exists or exists[0] == 0:
                inspection_id = None
        if inspection_id is None:
            created = con.execute(
                "INSERT INTO inspections (equipment_id, started_at, site, customer, inspector, "
                "notes) VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
                [
                    equipment_id,
                    started_at or utc_now(),
                    fields.site,
                    fields.customer,
                    fields.inspector,
                    fields.notes,
                ],
            ).fetchone()
            assert created is not None
            inspection_id = created[0]
            con.execute(
                "UPDATE diagnoses SET inspection_id = ? WHERE id = ?", [inspection_id, diagnosis_id]
            )
        else:
            con.execute(
                "UPDATE inspections SET site = ?, customer = ?, inspector = ?, notes = ? "
                "WHERE id = ?",
                [fields.site, fields.customer, fields.inspector, fields.notes, inspection_id],
            )
    return int(inspection_id)


def _load_inspection(store: Store, inspection_id: int | None) -> Inspection:
    if inspection_id is None:
        return Inspection()
    rows = store.query(
        "SELECT started_at, site, customer, inspector, notes FROM inspections WHERE id = ?",
        [inspection_id],
    )
    if not rows:
        return Inspection()
    started_at, site, customer, inspector, notes = rows[0]
    return Inspection(
        id=inspection_id,
        started_at=started_at,
        fields=InspectionFields(site=site, customer=customer, inspector=inspector, notes=notes),
    )


def _load_equipment(store: Store, equipment_id: str) -> tuple[str, EquipmentProfile]:
    rows = store.query(
        "SELECT e.name, e.profile_id, e.profile_sha256, p.body FROM equipment e "
        "LEFT JOIN profiles p ON p.id = e.profile_id AND p.sha256 = e.profile_sha256 "
        "WHERE e.id = ?",
        [equipment_id],
    )
    if not rows:
        known = [r[0] for r in store.query("SELECT id FROM equipment ORDER BY id")]
        raise ReportError(
            f"{_where(store)}: no equipment {equipment_id!r} "
            f"(known: {', '.join(known) or 'none — import data first'})."
        )
    name, profile_id, sha, body = rows[0]
    if body is None:
        raise ReportError(
            f"{_where(store)}: the profile {profile_id!r} ({sha[:12]}) of equipment "
            f"{equipment_id!r} is missing from the workspace. Re-import the equipment's data."
        )
    return str(name), EquipmentProfile.model_validate_json(body)


def _load_sources(
    store: Store, equipment_id: str, diagnosis: Diagnosis, inspection_id: int | None
) -> tuple[SourceInfo, ...]:
    # Provenance: the sources whose data overlaps the diagnosed window, plus the visit's own.
    rows = store.query(
        "SELECT id, kind, uri, sha256, row_count, value_count, first_ts, last_ts, status, error "
        "FROM sources WHERE equipment_id = ? AND ("
        " (inspection_id IS NOT NULL AND inspection_id = ?)"
        " OR first_ts IS NULL"
        " OR (first_ts <= ? AND last_ts >= ?)) ORDER BY id",
        [equipment_id, inspection_id, diagnosis.window_end, diagnosis.window_start],
    )
    return tuple(
        SourceInfo(
            id=r[0],
            kind=r[1],
            uri=r[2],
            sha256=r[3],
            row_count=r[4],
            value_count=r[5],
            first_ts=r[6],
            last_ts=r[7],
            status=r[8],
            error=r[9],
        )
        for r in rows
    )


def epoch_seconds(ts: datetime) -> float:
    """Seconds since 1970 of a naive UTC time (how charts place points on a time axis)."""
    return (ts - datetime(1970, 1, 1)).total_seconds()


def _histories(
    store: Store, diagnosis: Diagnosis, components: Sequence[ComponentResult], max_points: int
) -> tuple[HealthSeries, ...]:
    """The health history of each component up to this diagnosis (latest diagnosis wins where
    several covered the same window), at most ``max_points`` buckets each."""
    stored = load_health_history(
        store,
        diagnosis.equipment_id,
        component_ids=[c.component_id for c in components],
        until=diagnosis.window_end,
    )
    out: list[HealthSeries] = []
    for component in components:
        history = stored.get(component.component_id)
        if history is not None and len(history.health):
            t = np.array([epoch_seconds(end) for end in history.ends])
            out.append(_bucketed(component.component_id, t, history.health, max_points))
            continue
        # Not persisted (yet): the diagnosis' own windows are the history it knows.
        points = [
            (epoch_seconds(w.end), w.health[component.component_id])
            for w in diagnosis.windows
            if w.valid and component.component_id in w.health
        ]
        out.append(
            HealthSeries(
                component_id=component.component_id,
                t=tuple(p[0] for p in points),
                health=tuple(p[1] for p in points),
                health_min=tuple(p[1] for p in points),
                n_windows=len(points),
            )
        )
    return tuple(out)


def _bucketed(
    component_id: str, t: npt.NDArray[np.float64], health: npt.NDArray[np.float64], buckets: int
) -> HealthSeries:
    """Mean and worst health per time bucket (``buckets`` equal spans), each at its last window."""
    span = max(float(t.max() - t.min()), 1e-9)
    k = np.minimum(np.floor((t - t.min()) / span * buckets), buckets - 1).astype(np.int64)
    order = np.argsort(k, kind="stable")
    k, t, health = k[order], t[order], health[order]
    starts = np.flatnonzero(np.r_[True, k[1:] != k[:-1]])
    counts = np.diff(np.r_[starts, k.size])
    return HealthSeries(
        component_id=component_id,
        t=tuple(float(v) for v in np.maximum.reduceat(t, starts)),
        health=tuple(float(v) for v in np.add.reduceat(health, starts) / counts),
        health_min=tuple(float(v) for v in np.minimum.reduceat(health, starts)),
        n_windows=int(t.size),
    )


def _anomalous_spans(diagnosis: Diagnosis, component: ComponentResult | None) -> tuple[Span, ...]:
    if component is None or component.anomaly is None:
        return ()
    threshold = component.anomaly.threshold
    spans: list[Span] = []
    for window in diagnosis.windows:
        score = window.anomaly.get(component.component_id)
        if score is None or score < threshold:
            continue
        start, end = epoch_seconds(window.start), epoch_seconds(window.end)
        if spans and start - spans[-1].end <= 1.0:
            spans[-1] = Span(start=spans[-1].start, end=end)
        else:
            spans.append(Span(start=start, end=end))
    return tuple(spans)


def _choose_sensors(
    diagnosis: Diagnosis, profile: EquipmentProfile, max_sensors: int
) -> list[tuple[str, str]]:
    """(sensor id, why) in order of importance: violations, anomaly contributors, key signals."""
    chosen: dict[str, str] = {}
    known = set(profile.sensor_ids)

    def add(sensor_id: str, reason: str) -> None:
        if sensor_id in known and sensor_id not in chosen and len(chosen) < max_sensors:
            chosen[sensor_id] = reason

    severity = {Status.CRITICAL: 0, Status.WARNING: 1}
    ranked = sorted(diagnosis.components, key=lambda c: severity.get(c.status, 2))
    for comp in ranked:
        for violation in comp.limit_violations:
            add(
                violation.sensor_id,
                f"limit violation ({violation.kind.replace('_', ' ')} {violation.limit:g} "
                f"{violation.unit})",
            )
    for comp in ranked:
        if comp.anomaly is not None and comp.anomaly.is_anomalous:
            for contribution in comp.anomaly.top_sensors[:2]:
                add(
                    contribution.sensor_id,
                    f"{contribution.contribution:.0%} of the {comp.component_id} anomaly",
                )
    for comp in ranked:
        if comp.status in NOT_HEALTHY:
            for sensor in profile.sensors_of(comp.component_id)[:1]:
                add(sensor.id, f"on {comp.component_id} ({comp.status.label})")
    for quantity in KEY_QUANTITIES:
        if len(chosen) >= 4:
            break
        for sensor in profile.sensors:
            if sensor.quantity == quantity:
                add(sensor.id, "key signal")
                break
    return list(chosen.items())


def _sensor_series(
    store: Store,
    diagnosis: Diagnosis,
    profile: EquipmentProfile,
    sensor_id: str,
    reason: str,
    max_points: int,
) -> SensorSeries:
    sensor = profile.sensor(sensor_id)
    t0 = epoch_seconds(diagnosis.window_start)
    span = max(epoch_seconds(diagnosis.window_end) - t0, 1e-9)
    width = _bucket_width(diagnosis, span, max_points)
    buckets = max(1, math.ceil(span / width))
    rows = store.query(
        """
        SELECT least(floor((epoch(ts) - ?) / ?), ? - 1)::BIGINT AS k,
               min(epoch(ts)), min(value), avg(value), max(value), count(*)
        FROM measurements
        WHERE equipment_id = ? AND sensor_id = ? AND ts >= ? AND ts <= ? AND value IS NOT NULL
        GROUP BY k ORDER BY k
        """,
        [
            t0,
            width,
            buckets,
            diagnosis.equipment_id,
            sensor_id,
            diagnosis.window_start,
            diagnosis.window_end,
        ],
    )
    component = _component_or_none(diagnosis, sensor.component)
    violations = tuple(
        v for c in diagnosis.components for v in c.limit_violations if v.sensor_id == sensor_id
    )
    return SensorSeries(
        sensor_id=sensor_id,
        component_id=sensor.component,
        unit=sensor.unit,
        description=sensor.description,
        reason=reason,
        t=tuple(float(r[1]) for r in rows),
        lo=tuple(float(r[2]) for r in rows),
        mean=tuple(float(r[3]) for r in rows),
        hi=tuple(float(r[4]) for r in rows),
        n_samples=sum(int(r[5]) for r in rows),
        expected_min=sensor.min,
        expected_max=sensor.max,
        limits=sensor.limits,
        anomalous_spans=_anomalous_spans(diagnosis, component),
        violations=violations,
    )


def _bucket_width(diagnosis: Diagnosis, span: float, max_points: int) -> float:
    """Seconds per bucket: a whole number of model windows, at most ``max_points`` buckets.

    With cyclic data (a UCI cycle is one 60 s load pattern) a bucket that is not a whole
    number of cycles aliases with the cycle and draws beats that are not in the machine.
    """
    durations = sorted((w.end - w.start).total_seconds() for w in diagnosis.windows)
    window = durations[len(durations) // 2] if durations else 0.0
    if window <= 0:
        return span / max_points
    return window * max(1, math.ceil(span / window / max_points))


def _component_or_none(diagnosis: Diagnosis, component_id: str) -> ComponentResult | None:
    try:
        return diagnosis.component(component_id)
    except KeyError:
        return None


def _model_card(store: Store, diagnosis: Diagnosis) -> dict[str, Any] | None:
    """The card of the model that diagnosed: registered in the workspace, else the card.json
    shipped next to the model file (when that file is still there)."""
    rows = store.query(
        "SELECT card FROM models WHERE id = ? AND version = ?",
        [diagnosis.model.model_id, diagnosis.model.version],
    )
    text: str | None = rows[0][0] if rows and rows[0][0] is not None else None
    if text is None:
        beside = Path(diagnosis.model.path).with_name("card.json")
        try:
            text = beside.read_text(encoding="utf-8")
        except OSError:
            return None
    try:
        card = json.loads(text)
    except ValueError:
        return None
    if not isinstance(card, dict):
        return None
    # Another model's card lying next to a replaced file would be worse than none.
    if card.get("model_version", diagnosis.model.version) != diagnosis.model.version:
        return None
    return card


def card_facts(card: dict[str, Any] | None, limit: int = 24) -> list[tuple[str, str]]:
    """What the report shows of a model card: when and on what it was trained, and every
    numeric metric (evaluation and cross-validation) as dotted keys."""
    if not card:
        return []
    facts: list[tuple[str, str]] = []
    for key, label in (("created_utc", "created"), ("architecture", "architecture")):
        if isinstance(card.get(key), str):
            facts.append((label, card[key]))
    data = card.get("data")
    if isinstance(data, dict):
        details = [
            f"{src.get('kind', '')} {src.get('detail', '')}".strip()
            for src in data.get("sources", [])
            if isinstance(src, dict)
        ]
        if details:
            facts.append(("trained on", "; ".join(details)))
        if isinstance(data.get("split"), str):
            facts.append(("split", data["split"]))
    training = card.get("training")
    if isinstance(training, dict) and "epochs_run" in training:
        facts.append(("epochs", str(training["epochs_run"])))
    for section in ("metrics", "cross_validation"):
        for key, value in _numbers(card.get(section), section):
            facts.append((key, f"{value:.3f}"))
    if not any(k.startswith(("metrics", "cross_validation")) for k, _ in facts):
        facts.append(("evaluation", "the model card holds no evaluation metrics"))
    return facts[:limit]


def _numbers(value: Any, prefix: str) -> list[tuple[str, float]]:
    if isinstance(value, bool):
        return []
    if isinstance(value, int | float):
        return [(prefix, float(value))]
    if isinstance(value, dict):
        return [n for k, v in value.items() for n in _numbers(v, f"{prefix}.{k}")]
    return []


def _version(*distributions: str) -> str:
    for name in distributions:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return "not installed"


def software_versions() -> dict[str, str]:
    """Versions that made the report; read from package metadata so nothing heavy is imported."""
    return {
        "HydroDiag": __version__,
        "Python": platform.python_version(),
        "PySide6 (Qt)": _version("PySide6", "PySide6-Essentials", "pyside6-essentials"),
        "DuckDB": _version("duckdb"),
        "ONNX Runtime": _version("onnxruntime-gpu", "onnxruntime"),
        "NumPy": _version("numpy"),
        "pydantic": _version("pydantic"),
        "OS": f"{platform.system()} {platform.release()} ({platform.machine()})",
    }


def trend_components(diagnosis: Diagnosis) -> list[ComponentResult]:
    """The components that get a health trend chart: the ones that are not healthy."""
    return [c for c in diagnosis.components if c.assessed and c.status in NOT_HEALTHY]


def build_report_model(
    store: Store,
    equipment_id: str,
    diagnosis_id: int | None = None,
    inspection: InspectionFields | None = None,
    *,
    max_points: int = MAX_POINTS,
    max_sensors: int = MAX_SENSORS,
) -> ReportModel:
    """Everything the report of one diagnosis shows (``diagnosis_id=None``: the latest).

    ``inspection`` overrides the stored visit fields for this report (the caller saves them with
    :func:`save_inspection` when they should persist).
    """
    diagnosis, inspection_id = load_diagnosis(store, equipment_id, diagnosis_id)
    name, profile = _load_equipment(store, equipment_id)
    visit = _load_inspection(store, inspection_id)
    if inspection is not None:
        visit = visit.model_copy(update={"fields": inspection})
    histories = _histories(store, diagnosis, trend_components(diagnosis), max_points)
    sensors = tuple(
        _sensor_series(store, diagnosis, profile, sensor_id, reason, max_points)
        for sensor_id, reason in _choose_sensors(diagnosis, profile, max_sensors)
    )
    return ReportModel(
        diagnosis=diagnosis,
        profile=profile,
        equipment_id=equipment_id,
        equipment_name=name,
        inspection=visit,
        sources=_load_sources(store, equipment_id, diagnosis, inspection_id),
        histories=histories,
        sensors=sensors,
        model_card=_model_card(store, diagnosis),
        software=software_versions(),
        workspace=str(store.path) if store.path else "",
        generated_at=utc_now(),
    )


def all_violations(diagnosis: Diagnosis) -> Iterable[tuple[ComponentResult, LimitViolation]]:
    for comp in diagnosis.components:
        for violation in comp.limit_violations:
            yield comp, violation
