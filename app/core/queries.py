"""Qt-free reads the views need from a workspace (equipment tree, diagnoses, histories, series).

Each function takes a :class:`Store` and returns plain data; worker threads pass a store built
on their own cursor (:func:`thread_store`), because DuckDB connections are not thread-safe.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from gnn import persist
from gnn.persist import DiagnosisSummary
from gnn.results import Diagnosis, Status
from ingestion import catalog
from ingestion.profiles import (
    PROFILE_SUFFIXES,
    EquipmentProfile,
    list_shipped_profiles,
    shipped_profiles_dir,
)
from ingestion.queries import sensor_series
from ingestion.workspace import Store


@dataclass(frozen=True)
class EquipmentRow:
    id: str
    name: str
    profile_id: str


@dataclass(frozen=True)
class FleetRow:
    """An equipment with the outcome of its latest diagnosis (the fleet view's row)."""

    id: str
    name: str
    profile_id: str
    status: Status | None  # None: never diagnosed
    health: float | None
    diagnosed_at: datetime | None  # when the latest diagnosis was made (UTC)
    verdict: str


@dataclass(frozen=True)
class SourceRow:
    id: int
    kind: str
    uri: str
    status: str
    value_count: int
    first_ts: datetime | None
    last_ts: datetime | None
    inspection_id: int | None
    row_count: int = 0

    @property
    def size(self) -> str:
        """What the source brought: label ranges for a labels file, measured values otherwise."""
        if self.kind == "labels":
            return f"{self.row_count:,} label range{'' if self.row_count == 1 else 's'}"
        return f"{self.value_count:,} values"


@dataclass(frozen=True)
class InspectionRow:
    id: int
    started_at: datetime
    site: str
    customer: str
    inspector: str


@dataclass(frozen=True)
class LabelRow:
    component_id: str
    start: datetime
    end: datetime
    grade: int
    fault_type: str | None


@dataclass(frozen=True)
class GapRow:
    start: datetime
    end: datetime
    reason: str


_shipped_lock = threading.Lock()
_shipped: tuple[tuple[tuple[str, int], ...], list[EquipmentProfile]] | None = None


def shipped_profiles() -> list[EquipmentProfile]:
    """The shipped profiles (``ingestion.profiles.list_shipped_profiles``), parsed once while
    their files are unchanged: parsing the YAML took 0.2 s on every import dialog."""
    global _shipped
    folder = shipped_profiles_dir()
    key = tuple(
        sorted(
            (p.name, p.stat().st_mtime_ns)
            for p in folder.iterdir()
            if p.suffix.lower() in PROFILE_SUFFIXES
        )
    )
    with _shipped_lock:
        if _shipped is None or _shipped[0] != key:
            _shipped = (key, list_shipped_profiles())
        return list(_shipped[1])


def thread_store(store: Store) -> Store:
    """A store on a fresh cursor, for use inside one worker thread."""
    return Store(store.cursor(), store.path)


def list_equipment(store: Store) -> list[EquipmentRow]:
    rows = store.query("SELECT id, name, profile_id FROM equipment ORDER BY id")
    return [EquipmentRow(str(r[0]), str(r[1]), str(r[2])) for r in rows]


def fleet(store: Store) -> list[FleetRow]:
    """Every equipment with its latest diagnosis' status, health and time (one query)."""
    rows = store.query(
        "SELECT e.id, e.name, e.profile_id, d.overall_status, d.overall_health, d.created_at, "
        "d.verdict FROM equipment e LEFT JOIN (SELECT *, row_number() OVER (PARTITION BY "
        "equipment_id ORDER BY created_at DESC, id DESC) AS k FROM diagnoses) d "
        "ON d.equipment_id = e.id AND d.k = 1 ORDER BY e.id"
    )
    return [
        FleetRow(
            str(r[0]),
            str(r[1]),
            str(r[2]),
            Status(r[3]) if r[3] is not None else None,
            float(r[4]) if r[4] is not None else None,
            r[5],
            str(r[6] or ""),
        )
        for r in rows
    ]


def equipment_profile(store: Store, equipment_id: str) -> EquipmentProfile:
    """The profile as copied into the workspace for this equipment."""
    return catalog.equipment_profile(store.cursor(), equipment_id)


def list_sources(store: Store, equipment_id: str) -> list[SourceRow]:
    rows = store.query(
        "SELECT id, kind, uri, status, value_count, first_ts, last_ts, inspection_id, "
        "row_count FROM sources WHERE equipment_id = ? ORDER BY id",
        [equipment_id],
    )
    return [
        SourceRow(
            int(r[0]),
            str(r[1]),
            str(r[2]),
            str(r[3]),
            int(r[4] or 0),
            r[5],
            r[6],
            r[7],
            int(r[8] or 0),
        )
        for r in rows
    ]


def list_inspections(store: Store, equipment_id: str) -> list[InspectionRow]:
    rows = store.query(
        "SELECT id, started_at, site, customer, inspector FROM inspections "
        "WHERE equipment_id = ? ORDER BY started_at",
        [equipment_id],
    )
    return [InspectionRow(int(r[0]), r[1], str(r[2]), str(r[3]), str(r[4])) for r in rows]


def list_diagnoses(store: Store, equipment_id: str) -> list[DiagnosisSummary]:
    """Stored diagnoses of one equipment, newest first."""
    return persist.list_diagnoses(store, equipment_id)


def load_diagnosis(store: Store, diagnosis_id: int) -> Diagnosis:
    diagnosis = persist.load_diagnosis(store, diagnosis_id)
    return (
        diagnosis if diagnosis.id is not None else diagnosis.model_copy(update={"id": diagnosis_id})
    )


def latest_diagnosis(store: Store, equipment_id: str) -> Diagnosis | None:
    return persist.latest_diagnosis(store, equipment_id)


def health_history(store: Store, equipment_id: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per component: (window mid-times in epoch seconds, health), newest diagnosis winning
    where several diagnosed the same window."""
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for comp, history in persist.load_health_history(store, equipment_id).items():
        starts = np.array(history.starts, dtype="datetime64[us]").astype(np.int64)
        ends = np.array(history.ends, dtype="datetime64[us]").astype(np.int64)
        mid = (starts + ends).astype(np.float64) / 2e6
        out[comp] = (mid, np.asarray(history.health, dtype=np.float64))
    return out


HealthSeries = tuple[np.ndarray, np.ndarray, np.ndarray]


def health_series(store: Store, equipment_id: str) -> dict[str, HealthSeries]:
    """:func:`health_history` with each component's rolling median (what the Trends tab draws
    on top), computed where it is read: off the GUI thread."""
    return {
        comp: (t, h, rolling_median(h))
        for comp, (t, h) in health_history(store, equipment_id).items()
    }


def rolling_median(values: np.ndarray, width: int = 9) -> np.ndarray:
    """Centred rolling median (shorter at the ends): robust to single odd windows."""
    n = len(values)
    if n < 3:
        return values
    half = min(width, n) // 2
    padded = np.pad(values, half, mode="edge")
    windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * half + 1)
    return np.asarray(np.median(windows, axis=1), dtype=np.float64)


def list_labels(store: Store, equipment_id: str) -> list[LabelRow]:
    rows = store.query(
        "SELECT component_id, start_ts, end_ts, grade, fault_type FROM labels "
        "WHERE equipment_id = ? ORDER BY start_ts",
        [equipment_id],
    )
    return [LabelRow(str(r[0]), r[1], r[2], int(r[3]), r[4]) for r in rows]


def list_gaps(store: Store, equipment_id: str) -> list[GapRow]:
    rows = store.query(
        "SELECT start_ts, end_ts, reason FROM gaps WHERE equipment_id = ? ORDER BY start_ts",
        [equipment_id],
    )
    return [GapRow(r[0], r[1], str(r[2])) for r in rows]


def data_range(store: Store, equipment_id: str) -> tuple[datetime, datetime] | None:
    """First and last measurement, from the sources' bookkeeping (a week of samples is not
    scanned for it)."""
    row = store.query(
        "SELECT min(first_ts), max(last_ts) FROM sources "
        "WHERE equipment_id = ? AND value_count > 0",
        [equipment_id],
    )
    if not row or row[0][0] is None:
        return None
    return row[0][0], row[0][1]


def load_series(
    store: Store,
    equipment_id: str,
    sensor_ids: list[str],
    start: datetime | None = None,
    end: datetime | None = None,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per sensor: (epoch seconds float64, values float64 with NaN for missing)."""
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for sensor_id in sensor_ids:
        ts, values = _sensor_series(store, equipment_id, sensor_id, start, end)
        out[sensor_id] = (ts.astype(np.float64) / 1e9, values.astype(np.float64))
    return out


def _sensor_series(
    store: Store,
    equipment_id: str,
    sensor_id: str,
    start: datetime | None,
    end: datetime | None,
) -> tuple[np.ndarray, np.ndarray]:
    return sensor_series(store, equipment_id, sensor_id, start, end)
