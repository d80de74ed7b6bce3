"""What `hydrodiag workspace info` shows: per equipment its sensors, cycles and labels, and the sources."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

import duckdb
from pydantic import BaseModel, ConfigDict

from ingestion import wide
from ingestion.catalog import SourceRecord, equipment_profile, list_sources
from ingestion.profiles import EquipmentProfile, ProfileError
from ingestion.workspace import Store


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class SensorInfo(_Frozen):
    sensor_id: str
    rows: int
    non_null: int
    first_ts: datetime | None
    last_ts: datetime | None
    in_profile: bool


class LabelInfo(_Frozen):
    component_id: str
    component_name: str
    fault_types: list[str]
    ranges: int
    grades: dict[str, int]  # grade -> number of ranges
    origin: str


class EquipmentInfo(_Frozen):
    id: str
    name: str
    profile_id: str
    profile_sha256: str
    created_at: datetime
    sensors: list[SensorInfo]
    cycles: int
    first_cycle: int | None
    last_cycle: int | None
    labels: list[LabelInfo]
    problem: str | None = None  # why its stored profile cannot be read (made by an older HydroDiag)


class WorkspaceInfo(_Frozen):
    path: str
    schema_version: int
    equipment: list[EquipmentInfo]
    sources: list[SourceRecord]
    measurements: int
    size_bytes: int | None


def _sensor_rows(
    con: duckdb.DuckDBPyConnection, equipment_id: str
) -> list[tuple[str, int, int, datetime | None, datetime | None]]:
    """(sensor, rows, non-null values, first ts, last ts) as the ``measurements`` view would
    give them, but read from the long table and each wide table directly (several times
    faster than grouping the unpivoted view)."""
    merged: dict[str, list[Any]] = {}

    def add(sensor: str, rows: int, non_null: int, first: Any, last: Any) -> None:
        cur = merged.setdefault(sensor, [0, 0, None, None])
        cur[0] += rows
        cur[1] += non_null
        if first is not None:
            cur[2] = first if cur[2] is None else min(cur[2], first)
            cur[3] = last if cur[3] is None else max(cur[3], last)

    for row in con.execute(
        f"SELECT sensor_id, count(*), count(value), min(ts), max(ts) FROM {wide.LONG_TABLE} "
        "WHERE equipment_id = ? GROUP BY sensor_id",
        [equipment_id],
    ).fetchall():
        add(*row)
    for table in wide.wide_tables(con, equipment_id):
        cols = list(table.columns)
        head = con.execute(
            "SELECT count(*), min(ts), max(ts), "
            + ", ".join(f"count({c}), min({c}), max({c})" for c in cols)
            + f" FROM {table.table}"
        ).fetchone()
        assert head is not None
        for k, c in enumerate(cols):
            count, lo, hi = head[3 + 3 * k : 6 + 3 * k]
            if count == 0:
                continue
            first, last, nonfinite = head[1], head[2], 0
            # NaN sorts above every number: finite min and max mean no NaN/inf (no gap rows)
            finite = math.isfinite(lo) and math.isfinite(hi)
            if count != head[0] or not finite:
                extra = con.execute(
                    f"SELECT min(ts) FILTER (WHERE {c} IS NOT NULL), "
                    f"max(ts) FILTER (WHERE {c} IS NOT NULL), count_if(NOT isfinite({c})) "
                    f"FROM {table.table}"
                ).fetchone()
                assert extra is not None
                first, last, nonfinite = extra
            add(table.columns[c], int(count), int(count) - int(nonfinite), first, last)
    return [(s, *merged[s]) for s in sorted(merged)]


def workspace_info(store: Store) -> WorkspaceInfo:
    con = store.cursor()
    equipment: list[EquipmentInfo] = []
    eq_rows = con.execute(
        "SELECT id, name, profile_id, profile_sha256, created_at FROM equipment ORDER BY id"
    ).fetchall()
    for eq_id, name, profile_id, profile_sha, created in eq_rows:
        # One equipment whose stored profile no longer validates (an older HydroDiag let a
        # non-finite limit through) must not hide the rest of the workspace.
        problem: str | None = None
        try:
            profile: EquipmentProfile | None = equipment_profile(con, eq_id)
        except ProfileError as exc:
            profile, problem = None, "; ".join(str(p) for p in exc.problems)
        profile_sensors = set(profile.sensor_ids) if profile else set()
        sensor_rows = _sensor_rows(con, eq_id)
        sensors = [
            SensorInfo(
                sensor_id=s,
                rows=n,
                non_null=nn,
                first_ts=a,
                last_ts=b,
                in_profile=s in profile_sensors,
            )
            for s, n, nn, a, b in sensor_rows
        ]
        cyc = con.execute(
            "SELECT count(*), min(cycle_no), max(cycle_no) FROM cycles WHERE equipment_id = ?",
            [eq_id],
        ).fetchone()
        assert cyc is not None
        label_rows = con.execute(
            "SELECT component_id, origin, grade, count(*), "
            "list(DISTINCT fault_type) FILTER (WHERE fault_type IS NOT NULL) "
            "FROM labels WHERE equipment_id = ? GROUP BY ALL ORDER BY component_id, origin, grade",
            [eq_id],
        ).fetchall()
        grouped: dict[tuple[str, str], dict[str, int]] = {}
        faults: dict[tuple[str, str], set[str]] = {}
        for comp, origin, grade, n, fault_types in label_rows:
            grouped.setdefault((comp, origin), {})[str(grade)] = int(n)
            faults.setdefault((comp, origin), set()).update(fault_types or [])
        names = {c.id: c.name for c in profile.components} if profile else {}
        labels = [
            LabelInfo(
                component_id=c,
                component_name=names.get(c, c),
                fault_types=sorted(faults[(c, o)]),
                origin=o,
                ranges=sum(g.values()),
                grades=g,
            )
            for (c, o), g in grouped.items()
        ]
        equipment.append(
            EquipmentInfo(
                id=eq_id,
                name=name,
                profile_id=profile_id,
                profile_sha256=profile_sha,
                created_at=created,
                sensors=sensors,
                cycles=int(cyc[0]),
                first_cycle=cyc[1],
                last_cycle=cyc[2],
                labels=labels,
                problem=problem,
            )
        )
    total = con.execute("SELECT count(*) FROM measurements").fetchone()
    size = store.path.stat().st_size if store.path is not None and store.path.exists() else None
    return WorkspaceInfo(
        path=str(store.path) if store.path else ":memory:",
        schema_version=store.schema_version,
        equipment=equipment,
        sources=list_sources(con),
        measurements=int(total[0]) if total else 0,
        size_bytes=size,
    )
