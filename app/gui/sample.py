"""Realistic sample data for running a view on its own and for the GUI tests' fixtures.

Qt-free. The values follow the reference rig's ranges; the diagnosis has the shape the engine
produces (assessed components, attention per directed edge and per window, trends,
recommendations), so a view that shows this correctly shows the engine's output correctly.
"""

from __future__ import annotations

import hashlib
import math
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa

from gnn.persist import HealthRows, store_diagnosis
from gnn.results import (
    AnomalyResult,
    AttentionEdge,
    ComponentResult,
    DataQualityWarning,
    Diagnosis,
    Finding,
    LimitViolation,
    ModelInfo,
    Priority,
    Recommendation,
    SensorContribution,
    Status,
    StatusThresholds,
    TrendEstimate,
    WindowResult,
)
from ingestion.catalog import ensure_equipment
from ingestion.profiles import EquipmentProfile, Quantity, Sensor, load_profile
from ingestion.workspace import Store, utc_now

SAMPLE_START = datetime(2026, 11, 30, 6, 0, 0)
# The components the shipped model grades on the reference rig, with a story for each.
_ASSESSED: dict[str, tuple[float, float]] = {  # id -> (health at start, health at end)
    "MP1": (0.93, 0.86),
    "V10": (0.86, 0.62),
    "ACC": (0.58, 0.38),
    "C1": (0.97, 0.95),
}
_FAULTS: dict[str, dict[str, float]] = {
    "MP1": {"internal_leakage": 0.12},
    "V10": {"switching_degradation": 0.64},
    "ACC": {"precharge_loss": 0.83},
    "C1": {"cooling_power_loss": 0.03},
}
_GRADE_HEALTH = (1.0, 0.7, 0.35, 0.0)


def _grade_probs(health: float) -> tuple[float, ...]:
    centres = np.array(_GRADE_HEALTH)
    weights = np.exp(-(((centres - health) / 0.18) ** 2))
    probs = weights / weights.sum()
    return tuple(round(float(p), 4) for p in probs)


def _edges(profile: EquipmentProfile) -> list[tuple[str, str, str]]:
    edges: list[tuple[str, str, str]] = []
    for conn in profile.connections:
        edges.append((conn.source, conn.target, f"{conn.kind.value}:forward"))
        edges.append((conn.target, conn.source, f"{conn.kind.value}:reverse"))
    edges.extend((c.id, c.id, "self") for c in profile.components)
    return edges


def _edge_weight(source: str, target: str, rng: np.random.Generator) -> float:
    # The accumulator's verdict leans on what the switching valve and the load valve see.
    strong = {("V10", "ACC"), ("LV", "ACC"), ("MP1", "V10"), ("ACC", "V10"), ("F1", "C1")}
    if (source, target) in strong:
        return float(rng.uniform(0.55, 0.8))
    if source == target:
        return float(rng.uniform(0.15, 0.3))
    return float(rng.uniform(0.05, 0.3))


def sample_diagnosis(
    profile: EquipmentProfile | None = None,
    *,
    equipment_id: str = "rig-1",
    start: datetime = SAMPLE_START,
    n_windows: int = 48,
    window_s: float = 60.0,
    seed: int = 7,
    diagnosis_id: int | None = None,
) -> Diagnosis:
    """A diagnosis of ``n_windows`` consecutive windows with one degrading valve and a bad ACC."""
    profile = profile or load_profile("zema-test-rig")
    rng = np.random.default_rng(seed)
    thresholds = StatusThresholds()
    edges = _edges(profile)
    base = np.array([_edge_weight(s, t, rng) for s, t, _ in edges])
    windows: list[WindowResult] = []
    histories: dict[str, list[float]] = {c: [] for c in _ASSESSED}
    for w in range(n_windows):
        frac = w / max(n_windows - 1, 1)
        w_start = start + timedelta(seconds=w * window_s)
        health: dict[str, float] = {}
        grade: dict[str, int] = {}
        anomaly: dict[str, float] = {}
        for comp, (h0, h1) in _ASSESSED.items():
            if comp not in profile.component_ids:
                continue
            h = float(np.clip(h0 + (h1 - h0) * frac + rng.normal(0, 0.015), 0, 1))
            histories[comp].append(h)
            health[comp] = round(h, 4)
            grade[comp] = int(np.argmax(_grade_probs(h)))
            anomaly[comp] = round(float(0.8 + (1 - h) * 1.6 + rng.normal(0, 0.1)), 3)
        attention = base * (1 + 0.25 * np.sin(2 * math.pi * frac + np.arange(len(base))))
        windows.append(
            WindowResult(
                start=w_start,
                end=w_start + timedelta(seconds=window_s),
                cycle=w + 1,
                valid=w != n_windows // 3,  # one window lost to a gap
                health=health,
                grade=grade,
                anomaly=anomaly,
                attention=tuple(round(float(a), 4) for a in attention),
            )
        )
    end = start + timedelta(seconds=n_windows * window_s)
    comps: list[ComponentResult] = []
    for component in profile.components:
        sensors = tuple(s.id for s in profile.sensors_of(component.id))
        if component.id in _ASSESSED and histories[component.id]:
            h = float(np.mean(histories[component.id][-8:]))
            probs = _grade_probs(h)
            status = thresholds.status(h)
            score = 0.8 + (1 - h) * 1.8
            top = tuple(
                SensorContribution(sensor_id=s, contribution=round(c, 3), error=round(e, 3))
                for s, c, e in zip(sensors[:3], (0.61, 0.27, 0.12), (2.4, 1.1, 0.5), strict=False)
            )
            violations: tuple[LimitViolation, ...] = ()
            if component.id == "MP1":
                violations = (
                    LimitViolation(
                        sensor_id="VS1",
                        kind="warning_high",
                        limit=4.5,
                        worst_value=5.2,
                        unit="mm/s",
                        start=start + timedelta(minutes=30),
                        end=start + timedelta(minutes=31, seconds=20),
                        duration_s=80.0,
                    ),
                )
            h0, h1 = _ASSESSED[component.id]
            rate = (h0 - h1) / (n_windows * window_s / 3600) * 100
            trend = TrendEstimate(
                enough_history=True,
                message=f"{n_windows} windows over {n_windows * window_s / 3600:.1f} h",
                n_points=n_windows,
                span_hours=n_windows * window_s / 3600,
                rate_per_100h=round(rate, 2),
                rate_low_per_100h=round(rate * 0.8, 2),
                rate_high_per_100h=round(rate * 1.2, 2),
                hours_to_warning=(
                    max(0.0, (h - thresholds.healthy) / rate * 100) if rate > 0 else None
                ),
                hours_to_critical=(
                    max(0.0, (h - thresholds.critical) / rate * 100) if rate > 0 else None
                ),
            )
            comps.append(
                ComponentResult(
                    component_id=component.id,
                    name=component.name,
                    type=component.type.value,
                    assessed=True,
                    status=status,
                    health=round(h, 4),
                    grade=int(np.argmax(probs)),
                    grade_probs=probs,
                    confidence=max(probs),
                    fault_probs=_FAULTS.get(component.id, {}),
                    anomaly=AnomalyResult(
                        score=round(score, 3),
                        threshold=1.8,
                        is_anomalous=score > 1.8,
                        top_sensors=top,
                    ),
                    limit_violations=violations,
                    trend=trend,
                    sensors=sensors,
                )
            )
        else:
            comps.append(
                ComponentResult(
                    component_id=component.id,
                    name=component.name,
                    type=component.type.value,
                    assessed=False,
                    status=Status.NOT_ASSESSED,
                    health=None,
                    grade=None,
                    sensors=sensors,
                )
            )
    att = np.mean([w.attention for w in windows], axis=0)
    edge_results = tuple(
        AttentionEdge(
            source=s,
            target=t,
            kind=k,
            per_layer=(round(float(a) * 0.9, 4), round(float(a) * 1.1, 4)),
            combined=round(float(a), 4),
        )
        for (s, t, k), a in zip(edges, att, strict=True)
    )
    assessed = [c.health for c in comps if c.health is not None]
    overall = min(assessed) if assessed else None
    overall_status = thresholds.status(overall) if overall is not None else Status.INSUFFICIENT_DATA
    recs = _recommendations(comps, end)
    return Diagnosis(
        id=diagnosis_id,
        equipment_id=equipment_id,
        created_at=end + timedelta(minutes=1),
        window_start=start,
        window_end=end,
        n_windows=n_windows,
        n_valid_windows=n_windows - 1,
        overall_health=overall,
        overall_status=overall_status,
        verdict=(
            "Accumulator bank ACC near failure (precharge loss likely); switching valve V10 "
            "degrading"
        ),
        model=ModelInfo(
            model_id="zema-rig-gatv2-lstm",
            version="1.0.0",
            profile_id=profile.id,
            path="resources/models/zema-rig-gatv2-lstm/model.onnx",
            card_metrics={"accuracy_ACC": 0.93, "accuracy_V10": 0.97},
        ),
        provider="CPUExecutionProvider",
        timings_ms={"load": 42.0, "inference": 180.0},
        components=tuple(comps),
        edges=edge_results,
        windows=tuple(windows),
        findings=(
            Finding(
                component_id="ACC",
                kind="grade",
                severity=Priority.URGENT,
                summary="Accumulator precharge far below nominal (grade 2–3)",
                evidence=("grade 3 in 30 of 48 windows", "PS2 pressure ripple up 40 %"),
            ),
        ),
        recommendations=recs,
        data_quality=(
            DataQualityWarning(
                kind="gap",
                message="no data for 60 s (connection lost)",
                start=start + timedelta(seconds=(n_windows // 3) * window_s),
                end=start + timedelta(seconds=(n_windows // 3 + 1) * window_s),
            ),
        ),
        thresholds=thresholds,
    )


def _recommendations(comps: list[ComponentResult], now: datetime) -> tuple[Recommendation, ...]:
    table = {
        "ACC": (
            "acc-precharge",
            Priority.URGENT,
            3,
            "Check accumulator precharge",
            "Measure the nitrogen precharge of A1–A4 with the system depressurised; recharge "
            "to 90 % of minimum working pressure or replace bladders.",
        ),
        "V10": (
            "valve-switching",
            Priority.HIGH,
            14,
            "Inspect switching valve V10",
            "Check V10 switching time and spool for wear or contamination; plan replacement.",
        ),
        "MP1": (
            "vibration-high",
            Priority.MEDIUM,
            30,
            "Check main pump mounting and coupling",
            "VS1 exceeded its warning limit: check coupling alignment and pump mounting bolts.",
        ),
        "C1": (
            "cooler-clean",
            Priority.LOW,
            90,
            "Routine cooler cleaning",
            "Clean cooler fins at the next scheduled service.",
        ),
    }
    recs = []
    for comp in comps:
        if comp.component_id in table:
            rule, prio, days, title, action = table[comp.component_id]
            recs.append(
                Recommendation(
                    rule_id=rule,
                    component_id=comp.component_id,
                    priority=prio,
                    due_days=days,
                    due_date=now + timedelta(days=days),
                    title=title,
                    action=action,
                    evidence=(f"health {comp.health:.2f}", f"status {comp.status.label}"),
                )
            )
    return tuple(recs)


def sample_signal(sensor: Sensor, t: np.ndarray, seed: int = 0) -> np.ndarray:
    """A plausible signal for ``sensor``: 60 s load cycles (slow for temperatures), drift, noise."""
    rng = np.random.default_rng(int(hashlib.md5(sensor.id.encode()).hexdigest()[:8], 16) + seed)
    lo, hi = sensor.min, sensor.max
    if sensor.limits is not None and sensor.limits.warning_high is not None:
        hi = sensor.limits.warning_high  # a healthy machine runs below its warning limit
    span = hi - lo
    mid = lo + span * rng.uniform(0.45, 0.6)
    slow = sensor.quantity in (Quantity.TEMPERATURE, Quantity.EFFICIENCY, Quantity.VIRTUAL)
    amplitude = 0.02 if slow else 0.12
    phase = (t % 60.0) / 60.0
    cycle = np.where(phase < 0.3, 1.0, np.where(phase < 0.7, -0.6, 0.4)) * amplitude * span
    drift = (0.06 if slow else 0.02) * span * np.sin(2 * np.pi * t / 3600.0)
    noise = rng.normal(0.0, (0.003 if slow else 0.01) * span, size=t.shape)
    return np.asarray(mid + cycle + drift + noise, dtype=np.float64)


def _long_table(con: Any) -> str:
    """Where long rows go: ``measurements`` (schema v1) or ``measurements_long`` behind the
    ``measurements`` view (schema v2)."""
    rows = con.execute(
        "SELECT count(*) FROM information_schema.tables "
        "WHERE table_name = 'measurements_long' AND table_type = 'BASE TABLE'"
    ).fetchall()  # fetchall: DuckDB 2 refuses new work on a half-read result
    return "measurements_long" if rows and rows[0][0] else "measurements"


def fill_sample_workspace(
    store: Store,
    *,
    equipment_id: str = "rig-1",
    name: str = "Test rig, hall 2",
    profile: EquipmentProfile | None = None,
    start: datetime = SAMPLE_START,
    minutes: float = 48.0,
    max_rate_hz: float = 10.0,
    diagnose: bool = True,
) -> Diagnosis | None:
    """Write equipment, one source of sensor data, labels and (optionally) a stored diagnosis."""
    profile = profile or load_profile("zema-test-rig")
    duration = minutes * 60.0
    with store.transaction() as con:
        ensure_equipment(con, equipment_id, profile, name=name)
        con.execute(
            "INSERT INTO inspections (equipment_id, started_at, site, customer, inspector) "
            "VALUES (?, ?, 'Hall 2', 'ZeMA', 'sample')",
            [equipment_id, start],
        )
        row = con.execute(
            "INSERT INTO sources (equipment_id, inspection_id, kind, uri, status, imported_at, "
            "first_ts, last_ts) VALUES (?, currval('inspections_id'), 'simulator', 'sample://', "
            "'complete', ?, ?, ?) RETURNING id",
            [equipment_id, utc_now(), start, start + timedelta(seconds=duration)],
        ).fetchone()
        assert row is not None
        source_id = int(row[0])
        start_ns = np.datetime64(start, "ns").astype(np.int64)
        target = _long_table(con)
        for sensor in profile.sensors:
            rate = min(sensor.rate_hz, max_rate_hz)
            t = np.arange(0.0, duration, 1.0 / rate)
            values = sample_signal(sensor, t)
            ts = (start_ns + (t * 1e9).astype(np.int64)).astype("datetime64[ns]")
            table = pa.table(
                {
                    "equipment_id": pa.array([equipment_id] * len(t)),
                    "sensor_id": pa.array([sensor.id] * len(t)),
                    "ts": pa.array(ts.astype("datetime64[us]")),
                    "value": pa.array(values),
                    "source_id": pa.array(np.full(len(t), source_id, dtype=np.int32)),
                }
            )
            con.register("sample_chunk", table)
            con.execute(f"INSERT INTO {target} SELECT * FROM sample_chunk")
            con.unregister("sample_chunk")
        con.execute(
            "UPDATE sources SET value_count = (SELECT count(*) FROM measurements "
            "WHERE source_id = ?) WHERE id = ?",
            [source_id, source_id],
        )
        con.execute(
            "INSERT INTO labels (equipment_id, component_id, start_ts, end_ts, grade, fault_type, "
            "raw_value, origin, source_id) VALUES (?, 'ACC', ?, ?, 2, 'precharge_loss', '100', "
            "'dataset', ?)",
            [
                equipment_id,
                start + timedelta(seconds=duration / 2),
                start + timedelta(seconds=duration),
                source_id,
            ],
        )
    if not diagnose:
        return None
    n_windows = max(1, int(duration // 60))
    diagnosis = sample_diagnosis(
        profile, equipment_id=equipment_id, start=start, n_windows=n_windows
    )
    return store_sample_diagnosis(store, diagnosis)


def store_sample_diagnosis(store: Store, diagnosis: Diagnosis) -> Diagnosis:
    """Persist a diagnosis the way the engine does (through ``gnn.persist``)."""
    rows = [
        (comp, w.start, w.end, h, w.grade.get(comp, 0), w.anomaly.get(comp))
        for w in diagnosis.windows
        if w.valid
        for comp, h in w.health.items()
    ]
    cols: list[tuple[Any, ...]] = list(zip(*rows, strict=True)) if rows else [()] * 6
    return store_diagnosis(
        store,
        diagnosis,
        HealthRows(
            component_id=list(cols[0]),
            window_start=list(cols[1]),
            window_end=list(cols[2]),
            health=list(cols[3]),
            grade=list(cols[4]),
            anomaly=list(cols[5]),
        ),
    )
