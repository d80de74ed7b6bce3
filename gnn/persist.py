"""Diagnoses in the workspace: store one (all tables in one transaction), read them back.

``diagnoses.body`` holds the full :class:`gnn.results.Diagnosis` as JSON; ``health_history``
flattens per-window, per-component health (the source of trends) and ``recommendations`` the
actions, so that the GUI can list and filter without parsing every body.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pyarrow as pa
from pydantic import BaseModel, ConfigDict

from gnn.results import Diagnosis, Status, StatusThresholds, TrendEstimate
from gnn.trends import HealthHistory, fit_trend, make_history
from ingestion.errors import HydroDiagError
from ingestion.workspace import Store


class DiagnosisNotFoundError(HydroDiagError):
    """No diagnosis with that id in this workspace."""


@dataclass(frozen=True)
class HealthRows:
    """Per-window, per-component rows of one diagnosis for ``health_history`` (same length)."""

    component_id: Sequence[str]
    window_start: Sequence[datetime]
    window_end: Sequence[datetime]
    health: Sequence[float]
    grade: Sequence[int]
    anomaly: Sequence[float | None]

    def __len__(self) -> int:
        return len(self.component_id)


class DiagnosisSummary(BaseModel):
    """One row of the diagnoses list (no body parsing needed)."""

    model_config = ConfigDict(frozen=True)

    id: int
    equipment_id: str
    created_at: datetime
    window_start: datetime
    window_end: datetime
    model_id: str
    model_version: str
    provider: str
    overall_health: float | None
    overall_status: Status
    verdict: str


def store_diagnosis(store: Store, diagnosis: Diagnosis, rows: HealthRows) -> Diagnosis:
    """Write the diagnosis, its health rows and recommendations in ONE transaction.

    Returns the diagnosis with its new ``id`` (the stored body carries the id too).
    """
    with store.transaction() as con:
        row = con.execute("SELECT nextval('diagnoses_id')").fetchone()
        assert row is not None
        new_id = int(row[0])
        stored = diagnosis.model_copy(update={"id": new_id})
        con.execute(
            "INSERT INTO diagnoses (id, equipment_id, inspection_id, created_at, window_start, "
            "window_end, model_id, model_version, model_sha256, provider, overall_health, "
            "overall_status, verdict, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                new_id,
                stored.equipment_id,
                stored.inspection_id,
                stored.created_at,
                stored.window_start,
                stored.window_end,
                stored.model.model_id,
                stored.model.version,
                stored.model.sha256,
                stored.provider,
                stored.overall_health,
                stored.overall_status.value,
                stored.verdict,
                stored.model_dump_json(),
            ],
        )
        if len(rows):
            n = len(rows)
            table = pa.table(
                {
                    "component_id": pa.array(list(rows.component_id), pa.string()),
                    "window_start": pa.array(list(rows.window_start), pa.timestamp("us")),
                    "window_end": pa.array(list(rows.window_end), pa.timestamp("us")),
                    "health": pa.array(np.asarray(rows.health, dtype=np.float64)),
                    "grade": pa.array(np.asarray(rows.grade, dtype=np.int16)),
                    "anomaly": pa.array(list(rows.anomaly), pa.float64()),
                }
            )
            assert table.num_rows == n
            con.register("_diag_health", table)
            try:
                con.execute(
                    "INSERT INTO health_history (diagnosis_id, equipment_id, component_id, "
                    "window_start, window_end, health, grade, anomaly) "
                    "SELECT ?, ?, component_id, window_start, window_end, health, grade, anomaly "
                    "FROM _diag_health",
                    [new_id, stored.equipment_id],
                )
            finally:
                con.unregister("_diag_health")
        if stored.recommendations:
            recs = stored.recommendations
            table = pa.table(
                {
                    "component_id": [r.component_id for r in recs],
                    "rule_id": [r.rule_id for r in recs],
                    "priority": [r.priority.value for r in recs],
                    "due_date": pa.array([r.due_date for r in recs], pa.timestamp("us")),
                    "title": [r.title for r in recs],
                    "action": [r.action for r in recs],
                    "evidence": [json.dumps(list(r.evidence)) for r in recs],
                }
            )
            con.register("_diag_recs", table)
            try:
                con.execute(
                    "INSERT INTO recommendations (diagnosis_id, equipment_id, component_id, "
                    "rule_id, priority, due_date, title, action, evidence) "
                    "SELECT ?, ?, component_id, rule_id, priority, due_date, title, action, "
                    "evidence::JSON FROM _diag_recs",
                    [new_id, stored.equipment_id],
                )
            finally:
                con.unregister("_diag_recs")
    return stored


def load_diagnosis(store: Store, diagnosis_id: int) -> Diagnosis:
    """A stored diagnosis, exactly as it was returned when it was made."""
    row = (
        store.cursor().execute("SELECT body FROM diagnoses WHERE id = ?", [diagnosis_id]).fetchone()
    )
    if row is None:
        raise DiagnosisNotFoundError(
            f"no diagnosis with id {diagnosis_id} in this workspace; "
            "list them with `hydrodiag diagnose --list --equipment ID`."
        )
    return Diagnosis.model_validate_json(row[0])


def latest_diagnosis(store: Store, equipment_id: str) -> Diagnosis | None:
    row = (
        store.cursor()
        .execute(
            "SELECT body FROM diagnoses WHERE equipment_id = ? ORDER BY created_at DESC, id DESC "
            "LIMIT 1",
            [equipment_id],
        )
        .fetchone()
    )
    return Diagnosis.model_validate_json(row[0]) if row else None


def list_diagnoses(store: Store, equipment_id: str | None = None) -> list[DiagnosisSummary]:
    """Stored diagnoses, newest first (of one equipment, or all)."""
    sql = (
        "SELECT id, equipment_id, created_at, window_start, window_end, model_id, model_version, "
        "provider, overall_health, overall_status, verdict FROM diagnoses"
    )
    params: list[object] = []
    if equipment_id is not None:
        sql += " WHERE equipment_id = ?"
        params.append(equipment_id)
    rows = store.cursor().execute(sql + " ORDER BY created_at DESC, id DESC", params).fetchall()
    keys = DiagnosisSummary.model_fields.keys()
    return [DiagnosisSummary.model_validate(dict(zip(keys, r, strict=True))) for r in rows]


def load_health_history(
    store: Store,
    equipment_id: str,
    *,
    component_ids: Sequence[str] | None = None,
    model_id: str | None = None,
    until: datetime | None = None,
) -> dict[str, HealthHistory]:
    """Per component, the health of every stored window in time order (latest diagnosis wins).

    With ``model_id``, only windows graded by that model: health from different models is not
    on the same scale of evidence. With ``until``, only windows that ended by then (the history
    as a diagnosis made at that time knew it).
    """
    sql = (
        "SELECT h.component_id, h.window_start, h.window_end, h.health FROM health_history h "
        "JOIN diagnoses d ON d.id = h.diagnosis_id WHERE h.equipment_id = ?"
    )
    params: list[object] = [equipment_id]
    if model_id is not None:
        sql += " AND d.model_id = ?"
        params.append(model_id)
    if component_ids is not None:
        sql += " AND list_contains(?, h.component_id)"
        params.append(list(component_ids))
    if until is not None:
        sql += " AND h.window_end <= ?"
        params.append(until)
    result = store.cursor().execute(sql + " ORDER BY h.diagnosis_id", params).fetchnumpy()
    comps = np.asarray(result["component_id"], dtype=object)
    starts = np.asarray(result["window_start"], dtype="datetime64[us]")
    ends = np.asarray(result["window_end"], dtype="datetime64[us]")
    health = np.asarray(result["health"], dtype=np.float64)
    out: dict[str, HealthHistory] = {}
    for comp in dict.fromkeys(comps.tolist()):
        sel = comps == comp
        out[str(comp)] = make_history(
            str(comp), starts[sel].tolist(), ends[sel].tolist(), health[sel]
        )
    return out


def component_trends(
    store: Store,
    equipment_id: str,
    *,
    thresholds: StatusThresholds | None = None,
    model_id: str | None = None,
) -> dict[str, TrendEstimate]:
    """The current degradation trend of every component with stored health history."""
    history = load_health_history(store, equipment_id, model_id=model_id)
    limits = thresholds or StatusThresholds()
    return {comp: fit_trend(h, limits) for comp, h in history.items()}
