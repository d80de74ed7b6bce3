"""Condition labels for a user's own equipment from a CSV file (`hydrodiag ingest labels`).

A field engineer writes one row per condition range of one component::

    component,start,end,grade,fault_type,raw_value,note
    ACC,2026-03-03T08:00:00,2026-03-03T14:00:00,2,accumulator_precharge_loss,100 bar,measured
    MP1,2026-03-03 08:00,2026-03-03 20:00,0,,,

and :func:`import_labels` validates the whole file, then writes every range into ``labels``
in one transaction, with a ``sources`` row (kind ``labels``) that records the file's path and
sha256 so that a re-import can be refused or replace exactly what the file brought.

Decisions (the CLI help and docs/ingestion.md say the same):

* Columns are matched case-insensitively in any order; ``component``, ``start``, ``end`` and
  ``grade`` are required, ``fault_type``, ``raw_value`` and ``note`` optional. ``note`` is read
  and dropped (``labels`` has no note column). Other columns are ignored with a warning, so a
  typo such as ``fault type`` does not vanish silently.
* Time stamps are recognised by :func:`ingestion.timestamps.detect_time_spec` (the detector the
  CSV log import uses) and converted by its SQL expression: ISO 8601 with ``T`` or a space,
  ``Z``/offsets honoured; naive stamps are UTC unless ``tz`` is given. Ranges are half-open,
  ``[start, end)``, like every window query.
* Fault types: any snake_case identifier is accepted, because a user's own machine has faults
  no shipped model knows (a swivel seal leak, a filter clogging) and the trainer learns fault
  types from the labels it is given. An id that is neither one of the known fault types
  (:data:`ingestion.uci.UCI_TARGETS`, the simulator's, the ones already in this workspace) nor
  used for this component before gets a warning, as does a known one on a component of another
  type (``accumulator_precharge_loss`` on a pump): both are usually typos. Training takes one
  fault type per component, so a component that would end up with two also gets a warning.
* A grade-0 row with a fault type is a warning, not an error, and the fault type is not stored:
  "checked for precharge loss, none found" is a reasonable thing to write, and the schema keeps
  ``fault_type`` NULL for grade 0 (what the trainer's fault targets expect).
* Re-import: a file whose path or sha256 was imported before for this equipment is refused
  unless ``replace=True``, which deletes the labels of those earlier imports first (same
  transaction). A range identical (component, start, end) to a label already in the workspace
  from any other source is refused too: it would be a silent duplicate.
* Overlap with labels of other sources is allowed and reported: an inspection over a data-set
  label is the intended use, and :func:`ingestion.queries.cycle_labels` gives a window the
  grade of the label imported last.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Final

import duckdb
import numpy as np
import pyarrow as pa
from pydantic import BaseModel, ConfigDict

from ingestion.catalog import (
    SourceRecord,
    equipment_exists,
    equipment_profile,
    importing_source,
    insert_labels,
)
from ingestion.digests import file_sha256
from ingestion.label_file import (
    OPTIONAL,
    REQUIRED,
    LabelFileError,
    LabelRow,
    Problems,
    check_rows,
    read_label_file,
    register_table,
    utc_text,
)
from ingestion.profiles import ComponentType, EquipmentProfile
from ingestion.queries import equipment_time_range
from ingestion.simulator import FACTOR_COMPONENT
from ingestion.simulator import FAULT_TYPES as SIMULATOR_FAULT_TYPES
from ingestion.uci import DEFAULT_UCI_PROFILE, UCI_TARGETS
from ingestion.workspace import Store

ORIGIN_FILE: Final = "file"
ORIGIN_INSPECTION: Final = "inspection"
SOURCE_KIND: Final = "labels"


class LabelImportSummary(BaseModel):
    """What :func:`import_labels` wrote."""

    model_config = ConfigDict(frozen=True)

    source_id: int
    equipment_id: str
    uri: str
    sha256: str
    origin: str
    inspection_id: int | None = None
    rows: int
    components: dict[str, int]  # component id -> ranges
    grades: dict[int, int]  # grade -> ranges
    first_ts: datetime
    last_ts: datetime
    time_format: str
    warnings: list[str] = []
    replaced_source_ids: list[int] = []

    def describe(self) -> str:
        """A few lines for the terminal."""
        visit = f", inspection #{self.inspection_id}" if self.inspection_id is not None else ""
        comps = ", ".join(f"{c} {n}" for c, n in self.components.items())
        grades = ", ".join(f"{g}: {n}" for g, n in sorted(self.grades.items()))
        lines = [
            f"imported {self.rows} label range{'s' if self.rows != 1 else ''} from {self.uri} "
            f"as source #{self.source_id} for equipment {self.equipment_id!r} "
            f"(origin {self.origin}{visit})",
            f"  components: {comps}",
            f"  grades: {grades}",
            f"  time span {self.first_ts} .. {self.last_ts} (UTC; time stamps read as "
            f"{self.time_format})",
        ]
        if self.replaced_source_ids:
            ids = ", ".join(f"#{i}" for i in self.replaced_source_ids)
            lines.append(f"  replaced the labels of source {ids}")
        lines += [f"  warning: {w}" for w in self.warnings]
        return "\n".join(lines)


def import_labels(
    store: Store,
    path: Path,
    *,
    equipment_id: str,
    inspection_id: int | None = None,
    replace: bool = False,
    tz: str | None = None,
) -> LabelImportSummary:
    """Validate a label CSV file and write all of its ranges in one transaction.

    Args:
        equipment_id: an equipment that already has data in the workspace.
        inspection_id: the visit the labels come from (origin ``inspection``); else origin
            ``file``.
        replace: delete the labels an earlier import of this file (same path or same bytes)
            brought, instead of refusing.
        tz: IANA zone of time stamps written without an offset (default UTC).

    Raises:
        LabelFileError: anything wrong with the file, the equipment or the inspection; nothing
            is written then.
    """
    path = Path(path).expanduser().resolve()
    uri = str(path)
    problems = Problems(path)
    rows, columns, delimiter = read_label_file(path, problems)
    digest = file_sha256(path)
    # Every check reads only; the writes below are one transaction.
    con = store.con
    profile = _check_equipment(con, path, equipment_id)
    if inspection_id is not None:
        _check_inspection(con, path, equipment_id, inspection_id)
    warnings = [
        f"column '{c}' is not a label column and was ignored (columns: "
        f"{', '.join(REQUIRED + OPTIONAL)})"
        for c in columns
        if c and c not in REQUIRED + OPTIONAL
    ]
    spec, starts, ends, spec_warnings = check_rows(con, rows, profile, tz, problems)
    warnings += spec_warnings
    warnings += _fault_type_warnings(con, rows, profile, equipment_id)
    first, last = starts.min().item(), ends.max().item()
    origin = ORIGIN_INSPECTION if inspection_id is not None else ORIGIN_FILE
    with importing_source(
        store,
        equipment_id=equipment_id,
        kind=SOURCE_KIND,
        uri=uri,
        options={
            "delimiter": delimiter,
            "time_format": spec.description,
            "tz": tz or "UTC",
            "origin": origin,
        },
        digest=digest,
        inspection_id=inspection_id,
        force=replace,
        refuse_repeat=lambda previous: _already_imported(path, equipment_id, digest, previous),
    ) as source:
        register_table(source.con, "_label_rows", _label_table(rows, starts, ends))
        try:
            _check_duplicates(source.con, path, equipment_id)
            warnings += _overlap_warnings(source.con, equipment_id)
            warnings += _outside_data_warnings(store, rows, starts, ends, equipment_id)
            insert_labels(
                source.con,
                "(SELECT * FROM _label_rows ORDER BY line)",
                equipment_id=equipment_id,
                origin=origin,
                source_id=source.source_id,
                inspection_id=inspection_id,
            )
        finally:
            source.con.unregister("_label_rows")
        source.complete(rows=len(rows), warnings=warnings, span=(first, last))
    components: dict[str, int] = {}
    grades: dict[int, int] = {}
    for r in rows:
        components[r.component] = components.get(r.component, 0) + 1
        grades[r.grade] = grades.get(r.grade, 0) + 1
    return LabelImportSummary(
        source_id=source.source_id,
        equipment_id=equipment_id,
        uri=uri,
        sha256=digest,
        origin=origin,
        inspection_id=inspection_id,
        rows=len(rows),
        components=dict(sorted(components.items())),
        grades=grades,
        first_ts=first,
        last_ts=last,
        time_format=spec.description,
        warnings=warnings,
        replaced_source_ids=source.replaced,
    )


# --- checks against the workspace -------------------------------------------------------------


def _check_equipment(
    con: duckdb.DuckDBPyConnection, path: Path, equipment_id: str
) -> EquipmentProfile:
    if not equipment_exists(con, equipment_id):
        known = [r[0] for r in con.execute("SELECT id FROM equipment ORDER BY id").fetchall()]
        raise LabelFileError(
            f"{path}: no equipment {equipment_id!r} in this workspace"
            + (f" (known: {', '.join(known)})" if known else " (it holds none yet)")
            + ". Import its data first (`hydrodiag ingest csv LOG --equipment "
            f"{equipment_id} --profile PROFILE`), then its labels."
        )
    return equipment_profile(con, equipment_id)


def _check_inspection(
    con: duckdb.DuckDBPyConnection, path: Path, equipment_id: str, inspection_id: int
) -> None:
    row = con.execute(
        "SELECT equipment_id FROM inspections WHERE id = ?", [inspection_id]
    ).fetchone()
    if row is not None and row[0] == equipment_id:
        return
    own = [
        str(r[0])
        for r in con.execute(
            "SELECT id FROM inspections WHERE equipment_id = ? ORDER BY id", [equipment_id]
        ).fetchall()
    ]
    where = (
        f"belongs to equipment {row[0]!r}, not {equipment_id!r}"
        if row is not None
        else "does not exist"
    )
    choices = (
        f"inspections of {equipment_id!r}: {', '.join(own)}"
        if own
        else f"{equipment_id!r} has no inspections"
    )
    raise LabelFileError(
        f"{path}: inspection #{inspection_id} {where} ({choices}). Give one of its "
        "inspections, or leave out --inspection to import the labels as origin 'file'."
    )


@cache
def known_fault_types() -> dict[str, ComponentType]:
    """Fault types HydroDiag ships (UCI mapping, simulator) -> the component type they belong to."""
    from ingestion.profiles import load_profile

    rig = load_profile(DEFAULT_UCI_PROFILE)
    types = {c.id: c.type for c in rig.components}
    out = {t.fault_type: types[t.component_id] for t in UCI_TARGETS}
    for factor, fault in SIMULATOR_FAULT_TYPES.items():
        out.setdefault(fault, types[FACTOR_COMPONENT[factor]])
    return out


def _fault_type_warnings(
    con: duckdb.DuckDBPyConnection,
    rows: list[LabelRow],
    profile: EquipmentProfile,
    equipment_id: str,
) -> list[str]:
    known = known_fault_types()
    types = {c.id: c.type for c in profile.components}
    existing: dict[str, set[str]] = {}
    for comp, fault in con.execute(
        "SELECT DISTINCT component_id, fault_type FROM labels "
        "WHERE equipment_id = ? AND fault_type IS NOT NULL",
        [equipment_id],
    ).fetchall():
        existing.setdefault(str(comp), set()).add(str(fault))
    in_workspace = {f for faults in existing.values() for f in faults}
    warnings: list[str] = []
    grade0_lines: list[int] = []
    unknown: dict[str, list[int]] = {}
    mismatched: dict[tuple[str, str], list[int]] = {}
    per_component: dict[str, set[str]] = {c: set(f) for c, f in existing.items()}
    for r in rows:
        if r.fault_type is None:
            continue
        if r.grade == 0:
            grade0_lines.append(r.line)
            continue
        per_component.setdefault(r.component, set()).add(r.fault_type)
        if r.fault_type in known:
            if known[r.fault_type] != types[r.component]:
                mismatched.setdefault((r.fault_type, r.component), []).append(r.line)
        elif r.fault_type not in in_workspace:
            unknown.setdefault(r.fault_type, []).append(r.line)
    if grade0_lines:
        warnings.append(
            f"grade 0 (optimal) rows with a fault type on {_lines(grade0_lines)}: the fault "
            "type was not stored (a grade-0 label means no fault)"
        )
    for fault, lines in unknown.items():
        close = difflib.get_close_matches(fault, sorted(set(known) | in_workspace), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        warnings.append(
            f"fault type {fault!r} ({_lines(lines)}) is new: not one HydroDiag knows "
            f"({', '.join(sorted(known))}) nor used in this workspace{hint} It was imported "
            "as written"
        )
    for (fault, comp), lines in mismatched.items():
        warnings.append(
            f"fault type {fault!r} belongs to a {known[fault].value}, but {comp} is a "
            f"{types[comp].value} ({_lines(lines)}); imported as written"
        )
    for comp, faults in sorted(per_component.items()):
        if len(faults) > 1:
            warnings.append(
                f"component {comp} now has labels with fault types {', '.join(sorted(faults))}; "
                "training takes one fault type per component, so use one id for it"
            )
    return warnings


def _lines(lines: Sequence[int]) -> str:
    shown = ", ".join(str(n) for n in lines[:8])
    return ("line " if len(lines) == 1 else "lines ") + shown + (" …" if len(lines) > 8 else "")


def _already_imported(
    path: Path, equipment_id: str, digest: str, previous: SourceRecord
) -> LabelFileError:
    """The refusal of a file imported before (same path or bytes), naming the latest import."""
    how = "the same bytes" if previous.sha256 == digest else "the file has changed since"
    where = "" if previous.uri == str(path) else f" from {previous.uri}"
    return LabelFileError(
        f"{path}: already imported for equipment {equipment_id!r} as source #{previous.id}"
        f"{where} on {previous.imported_at:%Y-%m-%d %H:%M} UTC ({previous.row_count} ranges; "
        f"{how}). Use --replace to delete those labels and import this file instead."
    )


def _label_table(rows: list[LabelRow], starts: np.ndarray, ends: np.ndarray) -> pa.Table:
    return pa.table(
        {
            "line": pa.array([r.line for r in rows], pa.int32()),
            "component_id": pa.array([r.component for r in rows], pa.string()),
            "start_ts": pa.array(starts, pa.timestamp("us")),
            "end_ts": pa.array(ends, pa.timestamp("us")),
            "grade": pa.array([r.grade for r in rows], pa.int16()),
            "fault_type": pa.array(
                [r.fault_type if r.grade > 0 else None for r in rows], pa.string()
            ),
            "raw_value": pa.array([r.raw_value for r in rows], pa.string()),
        }
    )


def _check_duplicates(con: duckdb.DuckDBPyConnection, path: Path, equipment_id: str) -> None:
    dupes = con.execute(
        "SELECT n.line, n.component_id, n.start_ts, n.end_ts, l.origin, l.source_id "
        "FROM _label_rows n JOIN labels l ON l.equipment_id = ? "
        "AND l.component_id = n.component_id AND l.start_ts = n.start_ts AND l.end_ts = n.end_ts "
        "ORDER BY n.line",
        [equipment_id],
    ).fetchall()
    if not dupes:
        return
    line, comp, start, end, origin, source = dupes[0]
    others = f" (and {len(dupes) - 1} more row(s))" if len(dupes) > 1 else ""
    src = f"source #{source}" if source is not None else "no recorded source"
    raise LabelFileError(
        f"{path}: line {line}: the {comp} range {start} .. {end} is already labelled in this "
        f"workspace (origin {origin}, {src}){others}. Importing it again would duplicate it: "
        "drop those rows, or re-import the original file with --replace."
    )


def _overlap_warnings(con: duckdb.DuckDBPyConnection, equipment_id: str) -> list[str]:
    rows = con.execute(
        "SELECT l.origin, count(DISTINCT n.line), count(DISTINCT l.id), min(n.line) "
        "FROM _label_rows n JOIN labels l ON l.equipment_id = ? "
        "AND l.component_id = n.component_id AND l.start_ts < n.end_ts AND n.start_ts < l.end_ts "
        "GROUP BY 1 ORDER BY 1",
        [equipment_id],
    ).fetchall()
    return [
        f"{n} range(s) (first on line {first}) overlap {m} existing label(s) of origin "
        f"{origin}; where they overlap, windows take the grade imported last (these)"
        for origin, n, m, first in rows
    ]


def _outside_data_warnings(
    store: Store, rows: list[LabelRow], starts: np.ndarray, ends: np.ndarray, equipment_id: str
) -> list[str]:
    """Ranges that touch none of the equipment's measurements: usually a wrong date or zone."""
    span = equipment_time_range(store, equipment_id)
    if span is None:
        return [f"equipment {equipment_id!r} has no measurements yet: the labels match no data"]
    first, last = span
    outside = [r.line for i, r in enumerate(rows) if ends[i] <= first or starts[i] > last]
    if not outside:
        return []
    return [
        f"{len(outside)} range(s) ({_lines(outside)}) lie outside the equipment's measurements "
        f"({utc_text(first)} .. {utc_text(last)} UTC); check the dates and the time zone (--tz)"
    ]


__all__ = [
    "LabelFileError",
    "LabelImportSummary",
    "import_labels",
    "known_fault_types",
]
