"""A label CSV file on its own: reading its rows and checking them against the equipment's
profile (components, one time format, valid ranges), collecting every problem so that one run
shows the user all of them. :func:`ingestion.labels.import_labels` writes what passes.
"""

from __future__ import annotations

import csv
import difflib
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import duckdb
import numpy as np
import pyarrow as pa

from ingestion.errors import HydroDiagError
from ingestion.profiles import EquipmentProfile
from ingestion.timestamps import (
    TimeSpec,
    TimestampError,
    detect_time_spec,
    gap_message,
    is_utc,
    localize_us,
    zone,
)

REQUIRED: Final = ("component", "start", "end", "grade")
OPTIONAL: Final = ("fault_type", "raw_value", "note")
GRADES: Final = {0: "optimal", 1: "slightly degraded", 2: "severely degraded", 3: "near failure"}

_FAULT_ID: Final = re.compile(r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$")
_MAX_PROBLEMS: Final = 20
_EXAMPLE: Final = (
    "component,start,end,grade,fault_type,raw_value\n"
    "ACC,2026-03-03T08:00:00,2026-03-03T14:00:00,2,accumulator_precharge_loss,100"
)


class LabelFileError(HydroDiagError):
    """A label file that cannot be imported; the message names file, line and column."""


@dataclass(frozen=True)
class LabelRow:
    line: int
    component: str
    start: str
    end: str
    grade: int
    fault_type: str | None
    raw_value: str | None


class Problems:
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


def register_table(con: duckdb.DuckDBPyConnection, name: str, table: pa.Table) -> None:
    # register() refuses while a result of execute() is unfinished, and a fetchone() (as in
    # equipment_profile) leaves it so: run that result to its end first.
    con.complete()
    con.register(name, table)


# --- reading ----------------------------------------------------------------------------------


def read_label_file(path: Path, problems: Problems) -> tuple[list[LabelRow], list[str], str]:
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
    rows: list[LabelRow] = []
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
    line: int, fields: Sequence[str], index: dict[str, int], problems: Problems
) -> LabelRow | None:
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
    return LabelRow(
        line=line,
        component=cell("component"),
        start=cell("start"),
        end=cell("end"),
        grade=grade,
        fault_type=fault,
        raw_value=cell("raw_value") or None,
    )


# --- checks of the rows -----------------------------------------------------------------------


def check_components(rows: list[LabelRow], profile: EquipmentProfile, problems: Problems) -> None:
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
    con: duckdb.DuckDBPyConnection, rows: list[LabelRow], tz: str | None, problems: Problems
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
    if not is_utc(tz):
        assert tz is not None
        try:
            zone(tz)
        except TimestampError as exc:
            raise LabelFileError(str(exc)) from None
        if spec.kind == "iso_tz":
            warnings.append(f"time stamps carry their own UTC offset; --tz {tz} is not applied")
    return spec, warnings


def _spec_key(spec: TimeSpec) -> tuple[str, tuple[str, ...], str]:
    """Specs that read the same values alike (ISO with and without offsets mix freely)."""
    kind = "iso" if spec.kind in {"iso", "iso_tz"} else spec.kind
    return kind, spec.formats, spec.epoch_unit


def _convert_times(
    con: duckdb.DuckDBPyConnection,
    rows: list[LabelRow],
    spec: TimeSpec,
    tz: str | None,
    problems: Problems,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """Start and end as datetime64[us] (naive UTC), read by DuckDB like a CSV log's and turned
    from wall-clock time into UTC like it (:func:`ingestion.timestamps.localize_us`), which
    rows have both (the others are reported), and notes on repeated hours."""
    notes: list[str] = []
    texts = pa.table(
        {"s": [r.start for r in rows], "e": [r.end for r in rows]},
        schema=pa.schema([("s", pa.string()), ("e", pa.string())]),
    )
    register_table(con, "_label_times", texts)
    try:
        out = con.execute(
            f"SELECT epoch_us({spec.expression('s', None)}) AS s, "
            f"epoch_us({spec.expression('e', None)}) AS e FROM _label_times"
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
        col = "start" if name == "s" else "end"
        for i in np.flatnonzero(missing):
            r = rows[int(i)]
            value = r.start if name == "s" else r.end
            problems.add(
                r.line, col, f"{value!r} is not a valid time ({spec.description}); check the date"
            )
        if spec.local and not is_utc(tz):
            assert tz is not None
            localized = localize_us(values, tz)
            values = np.where(missing, values, localized.utc_us)
            notes += [f"{col}: {note}" for note in localized.notes]
            for k, change in localized.skipped:
                r = rows[k]
                value = r.start if name == "s" else r.end
                problems.add(
                    r.line, col, gap_message(tz, change, value, "this time").split(": ", 1)[1]
                )
        converted.append(values.astype("datetime64[us]"))
    return converted[0], converted[1], valid, notes


def _check_ranges(
    rows: list[LabelRow],
    starts: np.ndarray,
    ends: np.ndarray,
    valid: np.ndarray,
    problems: Problems,
) -> None:
    """start < end per row; no two ranges of one component overlap within the file."""
    for i, r in enumerate(rows):
        if valid[i] and not starts[i] < ends[i]:
            problems.add(
                r.line,
                "end",
                f"{r.end!r} ({utc_text(ends[i])} UTC) is not after start {r.start!r} "
                f"({utc_text(starts[i])} UTC); a range needs end > start (ranges are [start, end))",
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


def utc_text(value: np.datetime64) -> str:
    return str(value.astype("datetime64[s]")).replace("T", " ")


def check_rows(
    con: duckdb.DuckDBPyConnection,
    rows: list[LabelRow],
    profile: EquipmentProfile,
    tz: str | None,
    problems: Problems,
) -> tuple[TimeSpec, np.ndarray, np.ndarray, list[str]]:
    """Components of ``profile``, one time format, valid times and non-overlapping ranges per
    component; raises every problem of the file at once (the reading's too). Returns the time
    format, the starts and ends (datetime64[us], naive UTC) and the warnings about times."""
    check_components(rows, profile, problems)
    spec, spec_warnings = _time_spec(con, rows, tz, problems)
    if spec is not None:  # ranges are checked even when other cells are wrong
        starts, ends, valid, zone_notes = _convert_times(con, rows, spec, tz, problems)
        spec_warnings += zone_notes
        _check_ranges(rows, starts, ends, valid, problems)
    problems.raise_if_any()
    assert spec is not None
    return spec, starts, ends, spec_warnings
