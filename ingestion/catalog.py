"""The workspace's catalogue: equipment and their profiles, imported sources and labels.

Every importer follows the same bookkeeping: hash the input, skip it if this equipment already
has a complete source with that hash (or, with ``force``, delete that source and everything it
brought), make sure the equipment exists with its profile copied into the workspace, write the
data, record the source. All of it inside the caller's one transaction.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import duckdb
from pydantic import BaseModel, ConfigDict

from ingestion import wide
from ingestion.errors import HydroDiagError
from ingestion.profiles import EquipmentProfile, validate_profile_data
from ingestion.workspace import utc_now


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class EquipmentError(HydroDiagError):
    """Unknown equipment, or an equipment / profile mismatch."""


def profile_digest(profile: EquipmentProfile) -> str:
    """sha256 of the profile's canonical JSON: two equal profiles have the same digest."""
    body = json.dumps(profile.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def _store_profile(con: duckdb.DuckDBPyConnection, profile: EquipmentProfile) -> str:
    digest = profile_digest(profile)
    con.execute(
        "INSERT INTO profiles (id, version, sha256, body, added_at) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT DO NOTHING",
        [profile.id, profile.version, digest, profile.model_dump_json(), utc_now()],
    )
    return digest


def equipment_profile(con: duckdb.DuckDBPyConnection, equipment_id: str) -> EquipmentProfile:
    """The profile (as copied into the workspace) of an existing equipment."""
    row = con.execute(
        "SELECT p.body FROM equipment e JOIN profiles p "
        "ON p.id = e.profile_id AND p.sha256 = e.profile_sha256 WHERE e.id = ?",
        [equipment_id],
    ).fetchone()
    if row is None:
        known = [r[0] for r in con.execute("SELECT id FROM equipment ORDER BY id").fetchall()]
        raise EquipmentError(
            f"no equipment {equipment_id!r} in this workspace"
            + (f" (known: {', '.join(known)})" if known else " (it holds none yet)")
            + ". Import data for it first (`hydrodiag ingest ... --equipment ID --profile ...`)."
        )
    return validate_profile_data(json.loads(row[0]), f"workspace profile of {equipment_id}")


def equipment_exists(con: duckdb.DuckDBPyConnection, equipment_id: str) -> bool:
    row = con.execute("SELECT count(*) FROM equipment WHERE id = ?", [equipment_id]).fetchone()
    return bool(row and row[0])


def ensure_equipment(
    con: duckdb.DuckDBPyConnection,
    equipment_id: str,
    profile: EquipmentProfile | None,
    *,
    default_profile: str | None = None,
    name: str | None = None,
) -> tuple[EquipmentProfile, list[str]]:
    """Create the equipment if needed and return its profile plus notes for the user.

    An existing equipment keeps its profile unless ``profile`` is a newer edit of the same
    profile id (then the equipment moves to it); a different profile id is refused, because
    its sensors would not line up with the data already stored.
    """
    notes: list[str] = []
    if equipment_exists(con, equipment_id):
        current = equipment_profile(con, equipment_id)
        if profile is None:
            return current, notes
        if profile.id != current.id:
            raise EquipmentError(
                f"equipment {equipment_id!r} uses profile {current.id!r}, not {profile.id!r}. "
                "Leave out --profile, or import into a new equipment id."
            )
        digest = profile_digest(profile)
        if digest != profile_digest(current):
            _store_profile(con, profile)
            con.execute(
                "UPDATE equipment SET profile_sha256 = ? WHERE id = ?", [digest, equipment_id]
            )
            notes.append(f"equipment {equipment_id!r} now uses the edited profile {profile.id!r}")
        return profile, notes
    if profile is None:
        if default_profile is None:
            raise EquipmentError(
                f"equipment {equipment_id!r} is new: say which machine it is with --profile "
                "(see `hydrodiag profile list`)."
            )
        from ingestion.profiles import load_profile

        profile = load_profile(default_profile)
        notes.append(f"new equipment {equipment_id!r} uses profile {profile.id!r}")
    digest = _store_profile(con, profile)
    con.execute(
        "INSERT INTO equipment (id, name, profile_id, profile_sha256, created_at) "
        "VALUES (?, ?, ?, ?, ?)",
        [equipment_id, name or equipment_id, profile.id, digest, utc_now()],
    )
    return profile, notes


class SourceRecord(_Frozen):
    """One imported file / folder / feed as recorded in ``sources``."""

    id: int
    equipment_id: str
    kind: str
    uri: str
    sha256: str | None
    row_count: int
    value_count: int
    first_ts: datetime | None
    last_ts: datetime | None
    status: str
    imported_at: datetime
    warnings: list[str] = []
    options: dict[str, Any] = {}


_SOURCE_COLUMNS = (
    "id, equipment_id, kind, uri, sha256, row_count, value_count, first_ts, last_ts, status, "
    "imported_at, warnings, options"
)


def _source(row: Sequence[Any]) -> SourceRecord:
    keys = [c.strip() for c in _SOURCE_COLUMNS.split(",")]
    data = dict(zip(keys, row, strict=True))
    data["warnings"] = json.loads(data["warnings"]) if data["warnings"] else []
    data["options"] = json.loads(data["options"]) if data["options"] else {}
    return SourceRecord.model_validate(data)


def may_have_source(con: duckdb.DuckDBPyConnection, equipment_id: str, size: int) -> bool:
    """Whether a complete CSV source of ``size`` bytes (or of unrecorded size) exists: if not,
    a file of that size cannot be a re-import and need not be hashed before importing."""
    row = con.execute(
        "SELECT count(*) FROM sources WHERE equipment_id = ? AND status = 'complete' "
        "AND (kind <> 'csv' OR json_extract_string(options, '$.bytes') IS NULL "
        "OR json_extract_string(options, '$.bytes') = ?)",
        [equipment_id, str(size)],
    ).fetchone()
    return bool(row and row[0])


def insert_labels(
    con: duckdb.DuckDBPyConnection,
    relation: str,
    *,
    equipment_id: str,
    origin: str,
    source_id: int | None,
    inspection_id: int | None = None,
) -> None:
    """Append the label ranges of ``relation`` to the labels table, in its order.

    ``relation`` is a registered table (or a parenthesised query) with the columns
    component_id, start_ts, end_ts, grade, fault_type and raw_value; the one INSERT every
    label writer (UCI import, label files, the demo) shares.
    """
    con.execute(
        "INSERT INTO labels (equipment_id, component_id, start_ts, end_ts, grade, fault_type, "
        "raw_value, origin, source_id, inspection_id) "
        "SELECT ?, component_id, start_ts, end_ts, grade, fault_type, raw_value, ?, ?, ? "
        f"FROM {relation}",
        [equipment_id, origin, source_id, inspection_id],
    )


def find_source(
    con: duckdb.DuckDBPyConnection, equipment_id: str, sha256: str
) -> SourceRecord | None:
    row = con.execute(
        f"SELECT {_SOURCE_COLUMNS} FROM sources WHERE equipment_id = ? AND sha256 = ? "
        "AND status = 'complete' ORDER BY id LIMIT 1",
        [equipment_id, sha256],
    ).fetchone()
    return _source(row) if row else None


def list_sources(con: duckdb.DuckDBPyConnection) -> list[SourceRecord]:
    rows = con.execute(f"SELECT {_SOURCE_COLUMNS} FROM sources ORDER BY id").fetchall()
    return [_source(r) for r in rows]


def delete_source(con: duckdb.DuckDBPyConnection, source_id: int) -> None:
    """Remove a source and everything it brought (measurements, cycles, labels, gaps)."""
    wide.drop(con, source_id)
    for table in (wide.LONG_TABLE, "cycles", "labels", "gaps"):
        con.execute(f"DELETE FROM {table} WHERE source_id = ?", [source_id])
    con.execute("DELETE FROM sources WHERE id = ?", [source_id])


def begin_source(
    con: duckdb.DuckDBPyConnection,
    *,
    equipment_id: str,
    kind: str,
    uri: str,
    sha256: str | None,
    options: dict[str, Any],
) -> int:
    row = con.execute(
        "INSERT INTO sources (equipment_id, kind, uri, sha256, status, options, imported_at) "
        "VALUES (?, ?, ?, ?, 'importing', ?, ?) RETURNING id",
        [equipment_id, kind, uri, sha256, json.dumps(options, default=str), utc_now()],
    ).fetchone()
    assert row is not None
    return int(row[0])


def complete_source(
    con: duckdb.DuckDBPyConnection,
    source_id: int,
    *,
    row_count: int,
    warnings: Sequence[str],
) -> tuple[int, datetime | None, datetime | None]:
    """Fill in counts and time range from what was written; returns (values, first, last)."""
    table = wide.find(con, source_id)
    if table is None:
        row = con.execute(
            f"SELECT count(*), min(ts), max(ts) FROM {wide.LONG_TABLE} WHERE source_id = ?",
            [source_id],
        ).fetchone()
    else:  # straight from the wide table: the same numbers as through the view, one scan
        cols = list(table.columns)
        any_value = " OR ".join(f"{c} IS NOT NULL" for c in cols)
        row = con.execute(
            f"SELECT {' + '.join(f'count({c})' for c in cols)}, "
            f"min(ts) FILTER (WHERE {any_value}), max(ts) FILTER (WHERE {any_value}) "
            f"FROM {table.table}"
        ).fetchone()
    assert row is not None
    values, first, last = int(row[0]), row[1], row[2]
    con.execute(
        "UPDATE sources SET row_count = ?, value_count = ?, first_ts = ?, last_ts = ?, "
        "status = 'complete', warnings = ? WHERE id = ?",
        [row_count, values, first, last, json.dumps(list(warnings)), source_id],
    )
    return values, first, last


class ImportSummary(_Frozen):
    """What an import did; ``skipped`` when the same input was already imported."""

    source_id: int
    equipment_id: str
    profile_id: str
    kind: str
    uri: str
    sha256: str
    rows: int = 0
    values: int = 0
    first_ts: datetime | None = None
    last_ts: datetime | None = None
    sensors: list[str] = []
    cycles: int = 0
    labels: int = 0
    warnings: list[str] = []
    skipped: bool = False
    replaced_source_id: int | None = None
    elapsed_s: float = 0.0

    @classmethod
    def already_imported(
        cls,
        previous: SourceRecord,
        *,
        profile_id: str,
        kind: str,
        uri: str,
        sha256: str,
        elapsed_s: float,
    ) -> ImportSummary:
        """The no-op result of importing a file whose sha256 matches ``previous``."""
        return cls(
            source_id=previous.id,
            equipment_id=previous.equipment_id,
            profile_id=profile_id,
            kind=kind,
            uri=uri,
            sha256=sha256,
            rows=previous.row_count,
            values=previous.value_count,
            first_ts=previous.first_ts,
            last_ts=previous.last_ts,
            skipped=True,
            elapsed_s=elapsed_s,
        )

    def describe(self) -> str:
        """A few lines for the terminal."""
        if self.skipped:
            return (
                f"{self.uri}: already imported for equipment {self.equipment_id!r} as source "
                f"#{self.source_id} (same sha256 {self.sha256[:12]}…); nothing to do. "
                "Use --force to replace it."
            )
        rate = self.values / self.elapsed_s if self.elapsed_s > 0 else 0.0
        lines = [
            f"imported {self.uri} as source #{self.source_id} for equipment "
            f"{self.equipment_id!r} (profile {self.profile_id})"
            + (f", replacing source #{self.replaced_source_id}" if self.replaced_source_id else ""),
            f"  {self.rows:,} rows, {self.values:,} values, {len(self.sensors)} sensors"
            + (f", {self.cycles:,} cycles" if self.cycles else "")
            + (f", {self.labels:,} label ranges" if self.labels else ""),
            f"  time range {self.first_ts} .. {self.last_ts} (UTC)",
            f"  {self.elapsed_s:.2f} s ({rate:,.0f} values/s)",
        ]
        lines += [f"  warning: {w}" for w in self.warnings]
        return "\n".join(lines)
