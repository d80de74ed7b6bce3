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

import csv
import difflib
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
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
from ingestion.errors import HydroDiagError
from ingestion.profiles import ComponentType, EquipmentProfile
from ingestion.queries import equipment_time_range
from ingestion.simulator import FACTOR_COMPONENT
from ingestion.simulator import FAULT_TYPES as SIMULATOR_FAULT_TYPES
from ingestion.timestamps import TimeSpec, detect_time_spec
from ingestion.uci import DEFAULT_UCI_PROFILE, UCI_TARGETS
from ingestion.workspace import Store

REQUIRED: Final = ("component", "start", "end", "grade")
OPTIONAL: Final = ("fault_type", "raw_value", "note")
GRADES: Final = {0: "optimal", 1: "slightly degraded", 2: "severely degraded", 3: "near failure"}
ORIGIN_FILE: Final = "file"
ORIGIN_INSPECTION: Final = "inspection"
SOURCE_KIND: Final = "labels"

_FAULT_ID: Final = re.compile(r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$")
_MAX_PROBLEMS: Final = 20
_EXAMPLE: Final = (
    "component,start,end,grade,fault_type,raw_value\n"
    "ACC,2026-03-03T08:00:00,2026-03-03T14:00:00,2,accumulator_precharge_loss,100"
)


class LabelFileError(HydroDiagError):
    """A label file that cannot be imported; the message names file, line and column."""


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


@dataclass(frozen=True)
class _Row:
    line: int
    component: str
    start: str
    end: str
    grade: int
    fault_type: str | None
    raw_value: str | None


class _Problems:
    """Collects every problem of a file so that one run shows the user all of them."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.items: list[tuple[int, str]] = []

    def add(self, line: int, column: str | None, text: str) -> None:
        where = f"line {line}" + (f", column '{column}'" if column else "")
        self.items.append((line, f"{where}: {text}"))

    def raise_if_any(self) -> None:
        if not self.items:
            return
        ordered = [text for _, text in sorted(self.items, key=lambda item: item[0])]
        shown = ordered[:_MAX_PROBLEMS]
        more = len(ordered) - len(shown)
        head = (
            f"{self.path}: {ordered[0]}"
            if len(ordered) == 1
            else f"{self.path}: {len(ordered)} problems:\n  " + "\n  ".join(shown)
        )
        if more:
            head += f"\n  … and {more} more"
        raise LabelFileError(head + "\nNothing was imported; fix the file and import it again.")


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
    problems = _Problems(path)
    rows, columns, delimiter = _read_file(path, problems)
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
    _check_components(rows, profile, problems)
    spec, spec_warnings = _time_spec(con, rows, tz, problems)
    if spec is not None:  # ranges are checked even when other cells are wrong
        starts, ends, valid = _convert_times(con, rows, spec, tz, problems)
        _check_ranges(rows, starts, ends, valid, problems)
    problems.raise_if_any()
    assert spec is not None
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
        _register(source.con, "_label_rows", _label_table(rows, starts, ends))
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


def _register(con: duckdb.DuckDBPyConnection, name: str, table: pa.Table) -> None:
    # register() refuses while a result of execute() is unfinished, and a fetchone() (as in
    # equipment_profile) leaves it so: run that result to its end first.
    con.complete()
    con.register(name, table)


# --- reading ----------------------------------------------------------------------------------


def _read_file(path: Path, problems: _Problems) -> tuple[list[_Row], list[str], str]:
    """Rows with their line numbers, the header's column names, the delimiter.

    A file that is not a table of labels at all raises; problems of single rows are added to
    ``problems`` (and the row left out) so that they are reported with the others.
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise LabelFileError(f"{path}: no such file.") from None
    except OSError as exc:
        raise LabelFileError(f"{path}: cannot read it ({exc.strerror}).") from None
    if b"\0" in data[:8192]:
        raise LabelFileError(f"{path}: this is not a text file. Give a CSV file of labels.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise LabelFileError(
            f"{path}: line {line} is not UTF-8 text. Save the file as UTF-8 (in Excel: "
            "'CSV UTF-8') and import it again."
        ) from None
    lines = text.splitlines()
    header_index = next((i for i, ln in enumerate(lines) if ln.strip()), None)
    if header_index is None:
        raise LabelFileError(
            f"{path}: the file is empty. It needs a header row and one row per range, e.g.\n"
            f"{_EXAMPLE}"
        )
    header_line = lines[header_index]
    # The header holds no numbers, so the most frequent separator in it is the delimiter
    # (a decimal comma in raw_value cannot mislead this, as it could a whole-file sniff).
    delimiter = max((";", ",", "\t"), key=header_line.count)
    if header_line.count(delimiter) == 0:
        delimiter = ","
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    header: list[str] | None = None
    header_line_no = 0
    index: dict[str, int] = {}
    rows: list[_Row] = []
    for fields in reader:
        line = reader.line_num
        if not any(f.strip() for f in fields):
            continue
        if header is None:
            header, header_line_no = [_column_name(f) for f in fields], line
            index = _header_index(path, header, header_line_no, fields)
            continue
        extra = fields[len(header) :]
        if len(fields) < len(header) or any(f.strip() for f in extra):
            problems.add(
                line,
                None,
                f"{len(fields)} field(s) but the header (line {header_line_no}) has "
                f"{len(header)}; separate fields with '{delimiter}' and quote values that "
                "contain it",
            )
            continue
        row = _parse_row(line, fields, index, problems)
        if row is not None:
            rows.append(row)
    if header is not None and not rows and not problems.items:
        raise LabelFileError(
            f"{path}: only a header (line {header_line_no}), no label rows. Add one row per "
            f"range, e.g.\n{_EXAMPLE}"
        )
    assert header is not None
    return rows, header, "tab" if delimiter == "\t" else delimiter


def _column_name(text: str) -> str:
    """``Fault Type``, ``fault-type`` and ``FAULT_TYPE`` all name the column fault_type."""
    return re.sub(r"[\s\-]+", "_", text.strip().lower())


def _header_index(path: Path, header: list[str], line: int, raw: list[str]) -> dict[str, int]:
    index: dict[str, int] = {}
    for i, name in enumerate(header):
        if not name:  # a trailing delimiter (Excel writes them) names no column
            continue
        if name in index:
            raise LabelFileError(
                f"{path}: line {line}: column '{raw[i].strip()}' appears twice in the header "
                f"(columns {index[name] + 1} and {i + 1}); keep one."
            )
        index[name] = i
    missing = [c for c in REQUIRED if c not in index]
    if missing:
        found = ", ".join(f"'{h}'" for h in header)
        raise LabelFileError(
            f"{path}: line {line}: the header lacks the column(s) {', '.join(missing)} "
            f"(found {found}). The first row must name the columns {', '.join(REQUIRED)} "
            f"(optional: {', '.join(OPTIONAL)}), e.g.\n{_EXAMPLE}"
        )
    return index


def _parse_row(
    line: int, fields: Sequence[str], index: dict[str, int], problems: _Problems
) -> _Row | None:
    def cell(name: str) -> str:
        i = index.get(name)
        return fields[i].strip() if i is not None else ""

    complete = True
    for name in REQUIRED:
        if not cell(name):
            problems.add(line, name, "empty; every row needs a component, start, end and grade")
            complete = False
    grade_text = cell("grade")
    grade = -1
    if grade_text:
        if re.fullmatch(r"[0-9]+", grade_text) and int(grade_text) in GRADES:
            grade = int(grade_text)
        else:
            scale = ", ".join(f"{g} {name}" for g, name in GRADES.items())
            problems.add(
                line, "grade", f"{grade_text!r} is not a grade; use a whole number ({scale})"
            )
    fault = cell("fault_type") or None
    if fault is not None and not _FAULT_ID.match(fault):
        problems.add(
            line,
            "fault_type",
            f"{fault!r} is not a fault type id; write it in snake_case like "
            "accumulator_precharge_loss, or leave the cell empty",
        )
        fault = None
    # a bad grade or fault type is reported above; the row's other cells are still checked
    # (component, times, overlaps) so that the file's problems come in one list
    if not complete:
        return None
    return _Row(
        line=line,
        component=cell("component"),
        start=cell("start"),
        end=cell("end"),
        grade=grade,
        fault_type=fault,
        raw_value=cell("raw_value") or None,
    )


# --- checks -----------------------------------------------------------------------------------


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


def _check_components(rows: list[_Row], profile: EquipmentProfile, problems: _Problems) -> None:
    valid = profile.component_ids
    listing = ", ".join(f"{c.id} ({c.name})" for c in profile.components)
    for r in rows:
        if r.component in valid:
            continue
        close = [c for c in valid if c.lower() == r.component.lower()] or difflib.get_close_matches(
            r.component, list(valid), n=1
        )
        hint = f"did you mean {close[0]!r}? " if close else ""
        problems.add(
            r.line,
            "component",
            f"{r.component!r} is not a component of profile {profile.id!r}; {hint}"
            f"use one of {listing}",
        )


def _time_spec(
    con: duckdb.DuckDBPyConnection, rows: list[_Row], tz: str | None, problems: _Problems
) -> tuple[TimeSpec | None, list[str]]:
    """One time format for every start and end cell, found by the CSV import's detector."""
    values = [v for r in rows for v in (r.start, r.end)]
    spec = detect_time_spec(values)
    if spec is None or spec.kind == "relative":
        example = "ISO 8601 like 2026-03-03T08:00:00, 2026-03-03 08:00 or 2026-03-03T08:00:00Z"
        first_spec: tuple[int, str, str, TimeSpec] | None = None
        for r in rows:
            for column, value in (("start", r.start), ("end", r.end)):
                own = detect_time_spec([value])
                if own is None:
                    problems.add(r.line, column, f"{value!r} is not a time stamp; write {example}")
                elif first_spec is None:
                    first_spec = (r.line, column, value, own)
                elif _spec_key(own) != _spec_key(first_spec[3]):
                    problems.add(
                        r.line,
                        column,
                        f"{value!r} is written differently from {first_spec[2]!r} (line "
                        f"{first_spec[0]}, column '{first_spec[1]}'); write every time stamp "
                        f"the same way, preferably {example}",
                    )
        if not problems.items:  # cannot happen, but never leave without an explanation
            problems.add(rows[0].line, "start", f"time stamps not recognised; write {example}")
        return None, []
    warnings: list[str] = []
    if "assumed" in spec.description:
        warnings.append(f"time stamps read as {spec.description}")
    if tz is not None and tz.upper() not in {"UTC", "Z", "ETC/UTC"}:
        row = con.execute(
            "SELECT count(*) FROM pg_timezone_names() WHERE name = ? OR abbrev = ?", [tz, tz]
        ).fetchone()
        if not row or not row[0]:
            raise LabelFileError(
                f"--tz {tz!r} is not a time zone name; use an IANA name such as "
                "Europe/Berlin, America/Chicago or UTC."
            )
        if spec.kind == "iso_tz":
            warnings.append(f"time stamps carry their own UTC offset; --tz {tz} is not applied")
    return spec, warnings


def _spec_key(spec: TimeSpec) -> tuple[str, tuple[str, ...], str]:
    """Specs that read the same values alike (ISO with and without offsets mix freely)."""
    kind = "iso" if spec.kind in {"iso", "iso_tz"} else spec.kind
    return kind, spec.formats, spec.epoch_unit


def _convert_times(
    con: duckdb.DuckDBPyConnection,
    rows: list[_Row],
    spec: TimeSpec,
    tz: str | None,
    problems: _Problems,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Start and end as datetime64[us] (naive UTC), converted by DuckDB like a CSV log's, and
    which rows have both (the others are reported)."""
    if tz is not None and tz.upper() in {"UTC", "Z", "ETC/UTC"}:
        tz = None
    texts = pa.table(
        {"s": [r.start for r in rows], "e": [r.end for r in rows]},
        schema=pa.schema([("s", pa.string()), ("e", pa.string())]),
    )
    _register(con, "_label_times", texts)
    try:
        out = con.execute(
            f"SELECT epoch_us({spec.expression('s', tz)}) AS s, "
            f"epoch_us({spec.expression('e', tz)}) AS e FROM _label_times"
        ).fetchnumpy()
    finally:
        con.unregister("_label_times")
    converted = []
    valid = np.ones(len(rows), dtype=bool)
    for name in ("s", "e"):
        column = out[name]
        missing = np.ma.getmaskarray(column)
        valid &= ~missing
        values = np.ma.filled(column, 0).astype(np.int64)
        for i in np.flatnonzero(missing):
            r = rows[int(i)]
            col, value = ("start", r.start) if name == "s" else ("end", r.end)
            problems.add(
                r.line, col, f"{value!r} is not a valid time ({spec.description}); check the date"
            )
        converted.append(values.astype("datetime64[us]"))
    return converted[0], converted[1], valid


def _check_ranges(
    rows: list[_Row],
    starts: np.ndarray,
    ends: np.ndarray,
    valid: np.ndarray,
    problems: _Problems,
) -> None:
    """start < end per row; no two ranges of one component overlap within the file."""
    for i, r in enumerate(rows):
        if valid[i] and not starts[i] < ends[i]:
            problems.add(
                r.line,
                "end",
                f"{r.end!r} ({_utc(ends[i])} UTC) is not after start {r.start!r} "
                f"({_utc(starts[i])} UTC); a range needs end > start (ranges are [start, end))",
            )
    by_component: dict[str, list[int]] = {}
    for i, r in enumerate(rows):
        if valid[i] and starts[i] < ends[i]:
            by_component.setdefault(r.component, []).append(i)
    for component, members in by_component.items():
        members.sort(key=lambda i: (starts[i], ends[i]))
        latest = members[0]  # the range reaching furthest so far
        for i in members[1:]:
            if starts[i] < ends[latest]:
                one, other = sorted((rows[latest], rows[i]), key=lambda r: r.line)
                problems.add(
                    other.line,
                    None,
                    f"the {component} range {other.start} .. {other.end} overlaps the one on "
                    f"line {one.line} ({one.start} .. {one.end}); a component has one grade at "
                    "a time: shorten one range or merge them",
                )
            if ends[i] > ends[latest]:
                latest = i


def _utc(value: np.datetime64) -> str:
    return str(value.astype("datetime64[s]")).replace("T", " ")


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
    rows: list[_Row],
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


def _label_table(rows: list[_Row], starts: np.ndarray, ends: np.ndarray) -> pa.Table:
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
    store: Store, rows: list[_Row], starts: np.ndarray, ends: np.ndarray, equipment_id: str
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
        f"({_utc(first)} .. {_utc(last)} UTC); check the dates and the time zone (--tz)"
    ]


__all__ = [
    "LabelFileError",
    "LabelImportSummary",
    "import_labels",
    "known_fault_types",
]
