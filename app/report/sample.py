"""A realistic sample workspace for the report: used by tests, the benchmark and the dialog's demo.

It holds the reference rig, two hours of synthetic 1 Hz cycles for all 17 sensors, a health
history of 200 hours, and one diagnosis shaped like the engine's (accumulator bank critical,
switching valve degrading, a vibration limit violation). Written through the store like the
real importers do, bulk data as one Arrow append.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa

from gnn.contract import GRADE_HEALTH
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
from ingestion.profiles import load_profile
from ingestion.workspace import Store, open_workspace

EQUIPMENT_ID = "rig"
START = datetime(2026, 11, 30, 6, 0, 0)
CYCLE_S = 60
N_CYCLES = 120
MODEL_ID = "zema-rig-gatv2-lstm"
MODEL_VERSION = "1.0.0"

# health per assessed component: (probs, fault probs, anomaly score, trend)
_THRESHOLDS = StatusThresholds()


def _health(probs: tuple[float, ...]) -> float:
    return float(sum(p * h for p, h in zip(probs, GRADE_HEALTH, strict=True)))


def _signals(rng: np.random.Generator, n_cycles: int) -> dict[str, np.ndarray]:
    t = np.arange(n_cycles * CYCLE_S, dtype=np.float64)
    phase = t % CYCLE_S
    load = np.select([phase < 10, phase < 25, phase < 40], [130.0, 162.0, 148.0], default=100.0)
    drift = np.linspace(0.0, 1.0, t.size)

    def noise(sigma: float) -> np.ndarray:
        return rng.normal(0.0, sigma, t.size)

    valve_open = (phase >= 10) & (phase < 40)
    return {
        "PS1": load + noise(1.5),
        "PS2": np.where(valve_open, load - 4.0 - 6.0 * drift, 2.0) + noise(1.2),
        "PS3": np.where(valve_open, 2.0, 0.3) + noise(0.05),
        "PS4": 0.0 + np.abs(noise(0.02)),
        "PS5": 9.2 + noise(0.04),
        "PS6": 9.0 + noise(0.04),
        "EPS1": 1.6 * load * 13.0 + 400 + noise(25.0),
        "FS1": np.where(valve_open, 8.4, 6.2) - 0.4 * drift + noise(0.08),
        "FS2": 10.2 + noise(0.05),
        "TS1": 45.0 + 3.0 * drift + noise(0.1),
        "TS2": 50.5 + 3.0 * drift + noise(0.1),
        "TS3": 48.0 + 3.0 * drift + noise(0.1),
        "TS4": 41.0 + 2.5 * drift + 2.0 * np.clip((t - 4500.0) / 2000.0, 0.0, 1.0) + noise(0.1),
        "VS1": 0.55
        + 0.05 * (load / 160.0)
        + np.where((t > 5000) & (t < 5060), 4.8, 0.0)
        + np.abs(noise(0.02)),
        "CE": 39.0 + noise(0.4),
        "CP": np.full(t.size, 1.8),  # flat-lined virtual channel (a data-quality warning)
        "SE": 58.0 + noise(1.0),
    }


def sample_diagnosis(n_cycles: int = N_CYCLES) -> Diagnosis:
    """A diagnosis with realistic values for the reference rig (not stored)."""
    profile = load_profile("zema-test-rig")
    rng = np.random.default_rng(7)
    end = START + timedelta(seconds=n_cycles * CYCLE_S)
    v10_trend = TrendEstimate(
        enough_history=True,
        message="fit over 21 diagnoses, 210 h",
        n_points=21,
        span_hours=210.0,
        rate_per_100h=0.042,
        rate_low_per_100h=0.028,
        rate_high_per_100h=0.057,
        hours_to_critical=262.0,
        hours_to_critical_low=193.0,
        hours_to_critical_high=393.0,
    )
    acc_trend = TrendEstimate(
        enough_history=True,
        message="fit over 21 diagnoses, 210 h",
        n_points=21,
        span_hours=210.0,
        rate_per_100h=0.21,
        rate_low_per_100h=0.17,
        rate_high_per_100h=0.26,
    )
    stable = TrendEstimate(
        enough_history=True,
        message="stable",
        n_points=21,
        span_hours=210.0,
        rate_per_100h=0.003,
        rate_low_per_100h=-0.004,
        rate_high_per_100h=0.009,
    )
    assessed: dict[str, tuple[tuple[float, ...], dict[str, float], float, TrendEstimate]] = {
        "MP1": ((0.86, 0.10, 0.03, 0.01), {"pump_internal_leakage": 0.07}, 1.12, stable),
        "V10": ((0.12, 0.71, 0.15, 0.02), {"valve_switching_degradation": 0.74}, 1.84, v10_trend),
        "ACC": ((0.05, 0.22, 0.61, 0.12), {"accumulator_precharge_loss": 0.88}, 3.41, acc_trend),
        "C1": ((0.93, 0.05, 0.01, 0.01), {"cooler_efficiency_loss": 0.03}, 2.71, stable),
    }
    vs1_violation = LimitViolation(
        sensor_id="VS1",
        kind="warning_high",
        limit=4.5,
        worst_value=5.41,
        unit="mm/s",
        start=START + timedelta(seconds=5001),
        end=START + timedelta(seconds=5059),
        duration_s=58.0,
    )
    components: list[ComponentResult] = []
    for comp in profile.components:
        sensors = tuple(s.id for s in profile.sensors_of(comp.id))
        if comp.id not in assessed:
            components.append(
                ComponentResult(
                    component_id=comp.id,
                    name=comp.name,
                    type=comp.type.value,
                    assessed=False,
                    status=Status.NOT_ASSESSED,
                    health=None,
                    grade=None,
                    sensors=sensors,
                )
            )
            continue
        probs, faults, score, trend = assessed[comp.id]
        health = _health(probs)
        top = (
            (
                SensorContribution(sensor_id="PS2", contribution=0.46, error=2.9),
                SensorContribution(sensor_id="PS1", contribution=0.31, error=1.9),
                SensorContribution(sensor_id="FS1", contribution=0.12, error=0.8),
            )
            if comp.id == "ACC"
            else (
                SensorContribution(sensor_id="TS4", contribution=0.58, error=2.2),
                SensorContribution(sensor_id="TS2", contribution=0.27, error=1.1),
            )
            if comp.id == "C1"
            else tuple(
                SensorContribution(
                    sensor_id=s, contribution=round(1.0 / len(sensors), 2), error=0.4
                )
                for s in sensors[:2]
            )
        )
        components.append(
            ComponentResult(
                component_id=comp.id,
                name=comp.name,
                type=comp.type.value,
                assessed=True,
                status=_THRESHOLDS.status(health),
                health=health,
                grade=int(np.argmax(probs)),
                grade_probs=probs,
                confidence=max(probs),
                fault_probs=faults,
                anomaly=AnomalyResult(
                    score=score, threshold=2.5, is_anomalous=score >= 2.5, top_sensors=top
                ),
                limit_violations=(vs1_violation,) if comp.id == "MP1" else (),
                trend=trend,
                sensors=sensors,
            )
        )
    edges: list[AttentionEdge] = []
    hot = {("V10", "ACC"), ("ACC", "LV"), ("ACC", "V10"), ("MP1", "V10"), ("LV", "ACC")}
    for conn in profile.connections:
        for a, b in ((conn.source, conn.target), (conn.target, conn.source)):
            base = 0.42 if (a, b) in hot else float(rng.uniform(0.08, 0.3))
            layers = (round(base * 0.9, 3), round(base * 1.1, 3))
            edges.append(
                AttentionEdge(
                    source=a, target=b, kind=conn.kind.value, per_layer=layers, combined=base
                )
            )
    for comp in profile.components:
        edges.append(
            AttentionEdge(
                source=comp.id, target=comp.id, kind="self", per_layer=(0.3, 0.3), combined=0.3
            )
        )
    windows: list[WindowResult] = []
    for i in range(n_cycles):
        w_start = START + timedelta(seconds=i * CYCLE_S)
        frac = i / max(n_cycles - 1, 1)
        window_health = {
            cid: float(np.clip(_health(v[0]) + 0.03 * (0.5 - frac) + rng.normal(0, 0.015), 0, 1))
            for cid, v in assessed.items()
        }
        anomaly = {
            cid: float(max(0.1, v[2] * (0.6 + 0.8 * frac) + rng.normal(0, 0.2)))
            for cid, v in assessed.items()
        }
        windows.append(
            WindowResult(
                start=w_start,
                end=w_start + timedelta(seconds=CYCLE_S),
                cycle=1000 + i,
                valid=True,
                health=window_health,
                grade={cid: int(np.argmax(v[0])) for cid, v in assessed.items()},
                anomaly=anomaly,
                attention=tuple(e.combined for e in edges),
            )
        )
    findings = (
        Finding(
            component_id="ACC",
            kind="fault",
            severity=Priority.URGENT,
            summary="Accumulator bank severely degraded: gas precharge loss likely (p = 0.88).",
            evidence=(
                "grade 2 with probability 0.61 (grades 0–3: 0.05 / 0.22 / 0.61 / 0.12)",
                "health 0.37 is below the critical threshold 0.50",
                "health falling 0.21 per 100 h over the last 210 h",
            ),
        ),
        Finding(
            component_id="ACC",
            kind="anomaly",
            severity=Priority.HIGH,
            summary="Forecast error 3.41× the healthy reference (threshold 2.50).",
            evidence=("PS2 contributes 46 %, PS1 31 %, FS1 12 %",),
        ),
        Finding(
            component_id="V10",
            kind="grade",
            severity=Priority.HIGH,
            summary="Switching valve V10 slightly degraded (grade 1, p = 0.71).",
            evidence=(
                "health 0.61 between warning 0.70 and critical 0.50",
                "reaches critical in about 262 h (193–393 h) at the measured rate",
            ),
        ),
        Finding(
            component_id="C1",
            kind="unexplained_anomaly",
            severity=Priority.MEDIUM,
            summary=(
                "Cooler C1 graded optimal, but its temperatures deviate from the healthy "
                "reference (2.71×, threshold 2.50); no trained fault type explains it."
            ),
            evidence=("TS4 contributes 58 %, TS2 27 %",),
        ),
        Finding(
            component_id="MP1",
            kind="limit_violation",
            severity=Priority.MEDIUM,
            summary="VS1 above its warning limit 4.5 mm/s for 58 s (worst 5.41 mm/s).",
            evidence=("profile limit warning_high 4.5 mm/s, debounce 10 s",),
        ),
    )
    created = end + timedelta(minutes=5)
    recommendations = (
        Recommendation(
            rule_id="accumulator.precharge.critical",
            component_id="ACC",
            priority=Priority.URGENT,
            due_days=2,
            due_date=created + timedelta(days=2),
            title="Measure and restore accumulator precharge",
            action=(
                "Isolate and depressurise the accumulator bank. Measure the gas precharge of "
                "A1–A4 with a charging kit and recharge with nitrogen to the rated pressure; "
                "replace any bladder that does not hold its charge."
            ),
            evidence=("ACC grade 2 (p = 0.61)", "precharge loss p = 0.88", "PS2 46 % of anomaly"),
        ),
        Recommendation(
            rule_id="valve.switching.warning",
            component_id="V10",
            priority=Priority.HIGH,
            due_days=7,
            due_date=created + timedelta(days=7),
            title="Check switching valve V10",
            action=(
                "Measure solenoid current and switching time of V10 and compare with the data "
                "sheet; inspect the spool for wear or contamination."
            ),
            evidence=("V10 grade 1 (p = 0.71)", "critical in ~262 h"),
        ),
        Recommendation(
            rule_id="pump.vibration.limit",
            component_id="MP1",
            priority=Priority.MEDIUM,
            due_days=14,
            due_date=created + timedelta(days=14),
            title="Check main pump mounting and coupling",
            action=(
                "Check coupling alignment and mounting bolts of MP1; measure case-drain flow "
                "if vibration stays above 4.5 mm/s."
            ),
            evidence=("VS1 worst 5.41 mm/s for 58 s",),
        ),
        Recommendation(
            rule_id="cooler.routine",
            component_id="C1",
            priority=Priority.LOW,
            due_days=90,
            due_date=created + timedelta(days=90),
            title="Routine cooler inspection",
            action="Clean the cooler fins and check the fan; compare oil temperature before and after the cooler.",
            evidence=("C1 healthy (0.95)",),
        ),
    )
    data_quality = (
        DataQualityWarning(
            kind="flatline",
            message="CP did not change over the whole window (1.80 kW): virtual channel stale?",
            sensor_id="CP",
            start=START,
            end=end,
        ),
        DataQualityWarning(
            kind="missing_sensor",
            message="ACC has no sensor; its state is inferred from neighbouring components.",
        ),
    )
    health_values = [c.health for c in components if c.health is not None]
    return Diagnosis(
        equipment_id=EQUIPMENT_ID,
        created_at=created,
        window_start=START,
        window_end=end,
        n_windows=n_cycles,
        n_valid_windows=n_cycles,
        overall_health=min(health_values),
        overall_status=Status.CRITICAL,
        verdict="Accumulator bank critical (precharge loss likely); switching valve V10 degrading.",
        model=ModelInfo(
            model_id=MODEL_ID,
            version=MODEL_VERSION,
            profile_id="zema-test-rig",
            path="resources/models/zema-rig-gatv2-lstm/model.onnx",
            card_metrics={
                "accuracy.cooler": 0.99,
                "accuracy.valve": 0.93,
                "accuracy.pump": 0.91,
                "accuracy.accumulator": 0.82,
            },
        ),
        provider="CPUExecutionProvider",
        timings_ms={"query": 41.0, "graph": 12.5, "inference": 88.2, "post": 9.1, "store": 20.4},
        components=tuple(components),
        edges=tuple(edges),
        windows=tuple(windows),
        findings=findings,
        recommendations=recommendations,
        data_quality=data_quality,
    )


def _insert_profile_and_equipment(store: Store) -> None:
    profile = load_profile("zema-test-rig")
    body = profile.to_json()
    sha = hashlib.sha256(body.encode()).hexdigest()
    with store.transaction() as con:
        con.execute(
            "INSERT INTO profiles VALUES (?, ?, ?, ?, ?)",
            [profile.id, profile.version, sha, body, START],
        )
        con.execute(
            "INSERT INTO equipment (id, name, profile_id, profile_sha256, created_at) "
            "VALUES (?, ?, ?, ?, ?)",
            [EQUIPMENT_ID, "Test rig, hall 3", profile.id, sha, START],
        )


def store_diagnosis(store: Store, diagnosis: Diagnosis) -> int:
    """Persist a diagnosis the way the engine does (row + body JSON + history + recommendations)."""
    with store.transaction() as con:
        row = con.execute(
            "INSERT INTO diagnoses (equipment_id, inspection_id, created_at, window_start, "
            "window_end, model_id, model_version, provider, overall_health, overall_status, "
            "verdict, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '{}') RETURNING id",
            [
                diagnosis.equipment_id,
                diagnosis.inspection_id,
                diagnosis.created_at,
                diagnosis.window_start,
                diagnosis.window_end,
                diagnosis.model.model_id,
                diagnosis.model.version,
                diagnosis.provider,
                diagnosis.overall_health,
                diagnosis.overall_status.value,
                diagnosis.verdict,
            ],
        ).fetchone()
        assert row is not None
        diagnosis_id = int(row[0])
        body = diagnosis.model_copy(update={"id": diagnosis_id}).model_dump_json()
        con.execute("UPDATE diagnoses SET body = ? WHERE id = ?", [body, diagnosis_id])
        hist = {
            "diagnosis_id": [],
            "equipment_id": [],
            "component_id": [],
            "window_start": [],
            "window_end": [],
            "health": [],
            "grade": [],
            "anomaly": [],
        }  # type: dict[str, list[object]]
        for window in diagnosis.windows:
            for cid, health in window.health.items():
                hist["diagnosis_id"].append(diagnosis_id)
                hist["equipment_id"].append(diagnosis.equipment_id)
                hist["component_id"].append(cid)
                hist["window_start"].append(window.start)
                hist["window_end"].append(window.end)
                hist["health"].append(health)
                hist["grade"].append(window.grade.get(cid, 0))
                hist["anomaly"].append(window.anomaly.get(cid))
        table = pa.table(hist)
        con.register("hist_in", table)
        con.execute(
            "INSERT INTO health_history SELECT diagnosis_id, equipment_id, component_id, "
            "window_start, window_end, health, grade::SMALLINT, anomaly FROM hist_in"
        )
        con.unregister("hist_in")
    return diagnosis_id


def _insert_history(store: Store, diagnosis: Diagnosis) -> None:
    """200 hours of earlier, coarser diagnoses: what the trend charts draw."""
    rng = np.random.default_rng(3)
    rows: dict[str, list[object]] = {k: [] for k in ("ws", "we", "cid", "h")}
    final = {c.component_id: c.health for c in diagnosis.components if c.health is not None}
    rates = {"ACC": 0.21, "V10": 0.042, "MP1": 0.003, "C1": 0.0}
    for hour in range(-210, 0, 2):
        ws = START + timedelta(hours=hour)
        for cid, health in final.items():
            value = health + rates.get(cid, 0.0) * (-hour) / 100.0 + rng.normal(0, 0.012)
            rows["ws"].append(ws)
            rows["we"].append(ws + timedelta(minutes=1))
            rows["cid"].append(cid)
            rows["h"].append(float(np.clip(value, 0.0, 1.0)))
    table = pa.table(rows)
    with store.transaction() as con:
        con.register("old_hist", table)
        con.execute(
            "INSERT INTO health_history SELECT 0, ?, cid, ws, we, h, 0, NULL FROM old_hist",
            [EQUIPMENT_ID],
        )
        con.unregister("old_hist")


def _insert_measurements(store: Store, n_cycles: int) -> None:
    profile = load_profile("zema-test-rig")
    signals = _signals(np.random.default_rng(11), n_cycles)
    n = n_cycles * CYCLE_S
    ts = pa.array(
        np.datetime64(START, "us") + np.arange(n).astype("timedelta64[s]"), type=pa.timestamp("us")
    )
    with store.transaction() as con:
        row = con.execute(
            "INSERT INTO sources (equipment_id, kind, uri, sha256, row_count, value_count, "
            "first_ts, last_ts, status, imported_at) VALUES (?, 'csv', ?, ?, ?, ?, ?, ?, "
            "'complete', ?) RETURNING id",
            [
                EQUIPMENT_ID,
                "/data/rig/hall3/logger-2026-11-30.csv",
                hashlib.sha256(b"sample logger export").hexdigest(),
                n,
                n * len(signals),
                START,
                START + timedelta(seconds=n - 1),
                START + timedelta(hours=3),
            ],
        ).fetchone()
        assert row is not None
        source_id = int(row[0])
        for sensor in profile.sensors:
            table = pa.table(
                {
                    "equipment_id": pa.array([EQUIPMENT_ID] * n),
                    "sensor_id": pa.array([sensor.id] * n),
                    "ts": ts,
                    "value": pa.array(signals[sensor.id]),
                    "source_id": pa.array(np.full(n, source_id, dtype=np.int32)),
                }
            )
            con.register("m_in", table)
            con.execute("INSERT INTO measurements_long SELECT * FROM m_in")
            con.unregister("m_in")


def make_sample_workspace(path: Path | str | None, n_cycles: int = N_CYCLES) -> tuple[Store, int]:
    """Create (or fill) a workspace with the sample rig and its diagnosis; returns (store, id)."""
    store = open_workspace(path)
    _insert_profile_and_equipment(store)
    _insert_measurements(store, n_cycles)
    diagnosis = sample_diagnosis(n_cycles)
    _insert_history(store, diagnosis)
    return store, store_diagnosis(store, diagnosis)
