"""Import data-logger and PLC CSV exports (wide or long) into the workspace's measurements.

:func:`sniff_csv` looks at the first lines and decides encoding, delimiter, decimal mark,
preamble/header/unit rows, the time column(s) and their format, the layout, and which column
feeds which sensor of the profile (with unit conversion). :func:`ingest_csv` then lets DuckDB's
own CSV reader load the file once: a wide log straight into its own wide table (see
:mod:`ingestion.wide`; the ``measurements`` view shows it as long rows), a long log into a
temporary staging table whose sensor names are mapped before the rows go to the long table.
Checks (time stamps, NaN/inf, physical ranges, order) are a few vectorised queries, and all of
it is one transaction. Only when DuckDB refuses the file does a second,
diagnostic read run to say which line and column are wrong.
"""

from __future__ import annotations

import csv
import difflib
import itertools
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Final, Literal

import duckdb
import numpy as np
import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field

from ingestion import wide
from ingestion.catalog import (
    ImportSummary,
    SourceImport,
    equipment_exists,
    equipment_profile,
    importing_source,
)
from ingestion.digests import BackgroundHash
from ingestion.errors import HydroDiagError
from ingestion.profiles import EquipmentProfile
from ingestion.progress import NO_PROGRESS, Progress, check_cancelled, execute_with_progress
from ingestion.timestamps import (
    TimeSpec,
    TimestampError,
    detect_date_time_pair,
    detect_time_spec,
    missing_start_error,
    sql_quote,
    user_time_spec,
)
from ingestion.units import UnitError, conversion, is_unit, parse_unit
from ingestion.workspace import Store

SAMPLE_BYTES: Final = 256 * 1024
SAMPLE_LINES: Final = 400
DELIMITERS: Final = ("\t", ";", "|", ",")  # preference order when several fit
_TIME_NAMES: Final = frozenset(
    {
        "time",
        "timestamp",
        "datetime",
        "date time",
        "date/time",
        "zeit",
        "zeitstempel",
        "ts",
        "t",
        "utc",
        "time utc",
        "local time",
        "sample time",
        "record time",
        "messzeit",
        "timestring",
        "time string",
        "time_string",
        "uhrzeit",
        "date",
        "datum",
    }
)
_DATE_NAMES: Final = frozenset({"date", "datum", "day", "tag"})
_CLOCK_NAMES: Final = frozenset({"time", "zeit", "uhrzeit", "clock", "time of day"})
_SENSOR_NAMES: Final = frozenset(
    {
        "sensor",
        "sensor_id",
        "sensorid",
        "channel",
        "kanal",
        "tag",
        "tagname",
        "signal",
        "name",
        "variable",
        "messstelle",
        "varname",
        "var_name",
        "tag name",
        "point",
    }
)
_VALUE_NAMES: Final = frozenset(
    {
        "value",
        "wert",
        "val",
        "reading",
        "messwert",
        "measurement",
        "varvalue",
        "var_value",
        "tagvalue",
    }
)
_UNIT_NAMES: Final = frozenset({"unit", "einheit", "units", "eu"})


class CsvFormatError(HydroDiagError):
    """A CSV file that cannot be imported as it is; the message says where and what to do."""


class ColumnMap(BaseModel):
    """``--map COLUMN=SENSOR[:UNIT]``: which sensor a column feeds and the unit it is written in."""

    model_config = ConfigDict(frozen=True)

    sensor: str
    unit: str | None = None


def parse_map(text: str) -> tuple[str, ColumnMap]:
    """``"Druck P1=PS1:psi"`` -> ("Druck P1", ColumnMap(sensor="PS1", unit="psi"))."""
    column, sep, target = text.rpartition("=")
    if not sep or not column.strip() or not target.strip():
        raise CsvFormatError(
            f"--map {text!r}: write COLUMN=SENSOR or COLUMN=SENSOR:UNIT, e.g. "
            "--map 'Pressure 1=PS1:psi' (COLUMN may be the header text or the 1-based position)."
        )
    sensor, _, unit = target.partition(":")
    return column.strip(), ColumnMap(sensor=sensor.strip(), unit=unit.strip() or None)


class CsvOptions(BaseModel):
    """What the user may state instead of letting :func:`sniff_csv` detect it."""

    model_config = ConfigDict(frozen=True)

    delimiter: str | None = None
    decimal: Literal[".", ","] | None = None
    header: bool | None = None
    skip_rows: int | None = Field(default=None, ge=0, description="lines before the header/data")
    encoding: Literal["utf-8", "latin-1", "utf-16"] | None = None
    layout: Literal["wide", "long"] | None = None
    time_columns: tuple[str, ...] = ()
    time_format: str | None = None
    tz: str | None = None
    start: datetime | None = None
    maps: dict[str, ColumnMap] = {}
    skip: tuple[str, ...] = ()
    ignore_unknown: bool = False


@dataclass
class ColumnPlan:
    """One column of the file and what the import does with it."""

    index: int  # 0-based
    name: str  # header text without the unit, or "column N"
    header: str  # header text as written
    unit: str | None  # unit stated by header, unit row or --map
    role: str = "unknown"  # time, date, clock, value, sensor_name, value_long, unit_long, skipped
    sensor: str | None = None
    scale: float = 1.0
    offset: float = 0.0

    @property
    def sql_name(self) -> str:
        return f"c{self.index}"

    def label(self) -> str:
        return (
            f"column {self.index + 1} ({self.header!r})"
            if self.header
            else f"column {self.index + 1}"
        )


@dataclass
class CsvPlan:
    """Everything :func:`sniff_csv` decided; shown by ``--dry-run`` and stored with the source."""

    path: Path
    encoding: str
    delimiter: str
    decimal: str
    header_line: int | None  # 1-based line of the header, None without header
    units_line: int | None
    data_start_line: int  # 1-based line of the first data row
    layout: str
    columns: list[ColumnPlan]
    time_spec: TimeSpec
    tz: str | None
    notes: list[str] = field(default_factory=list)
    mean_line_bytes: float = 100.0

    def time_columns(self) -> list[ColumnPlan]:
        return [c for c in self.columns if c.role in {"time", "date", "clock"}]

    def value_columns(self) -> list[ColumnPlan]:
        return [c for c in self.columns if c.role == "value"]

    def options_json(self) -> dict[str, Any]:
        return {
            "encoding": self.encoding,
            "delimiter": self.delimiter,
            "decimal": self.decimal,
            "header_line": self.header_line,
            "units_line": self.units_line,
            "data_start_line": self.data_start_line,
            "layout": self.layout,
            "time": self.time_spec.description,
            "time_columns": [c.header for c in self.time_columns()],
            "tz": self.tz or "UTC",
            "columns": {
                c.header or c.label(): (
                    {"sensor": c.sensor, "unit": c.unit, "scale": c.scale, "offset": c.offset}
                    if c.role == "value"
                    else c.role
                )
                for c in self.columns
            },
        }

    def describe(self) -> str:
        lines = [
            f"{self.path}: {self.layout} layout, encoding {self.encoding}, delimiter "
            f"{self.delimiter!r}, decimal {self.decimal!r}",
            f"  header line {self.header_line or '-'}, unit line {self.units_line or '-'}, "
            f"data from line {self.data_start_line}",
            f"  time: {', '.join(c.header or c.label() for c in self.time_columns())} as "
            f"{self.time_spec.description}, zone {self.tz or 'UTC'}",
        ]
        for c in self.columns:
            if c.role == "value":
                conv = (
                    f" ({c.unit} -> x*{c.scale:.6g}{c.offset:+.6g})"
                    if (c.scale, c.offset) != (1.0, 0.0)
                    else (f" ({c.unit})" if c.unit else "")
                )
                lines.append(f"  {c.label()} -> {c.sensor}{conv}")
            elif c.role not in {"time", "date", "clock"}:
                lines.append(f"  {c.label()}: {c.role}")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


# --- sniffing ---------------------------------------------------------------------------------


def _read_sample(path: Path, encoding: str | None) -> tuple[str, str, bool]:
    """(encoding, text of the first lines, whether the whole file fits in the sample)."""
    try:
        with path.open("rb") as fh:
            raw = fh.read(SAMPLE_BYTES)
            complete = not fh.read(1)
    except FileNotFoundError:
        raise CsvFormatError(f"{path}: file not found.") from None
    except IsADirectoryError:
        raise CsvFormatError(
            f"{path}: is a folder. For the UCI cycle layout use `hydrodiag ingest uci`."
        ) from None
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        encoding = encoding or "utf-16"
    if encoding == "utf-16":
        text = raw.decode("utf-16", errors="replace")
        return "utf-16", text, complete
    if raw.strip(b"\xef\xbb\xbf \t\r\n") == b"":
        raise CsvFormatError(
            f"{path}: the file is empty. Export the log again; it needs a time column and data rows."
        )
    if b"\x00" in raw or _looks_binary(raw):
        raise CsvFormatError(
            f"{path}: this is a binary file, not CSV text (first bytes {raw[:8]!r}). Export the "
            "logger's data as CSV/text, or check that you picked the right file."
        )
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
        encoding = encoding or "utf-8"
    if encoding is None:
        cut = raw if complete else raw[: raw.rfind(b"\n") + 1] or raw
        try:
            cut.decode("utf-8")
            encoding = "utf-8"
        except UnicodeDecodeError:
            encoding = "latin-1"
    text = raw.decode("utf-8" if encoding == "utf-8" else "latin-1", errors="replace")
    return encoding, text, complete


def _looks_binary(raw: bytes) -> bool:
    control = sum(1 for b in raw[:4096] if b < 9 or 13 < b < 32)
    return control > 0.05 * min(len(raw), 4096)


def _split(line: str, delimiter: str) -> list[str]:
    return next(csv.reader([line], delimiter=delimiter, quotechar='"'), [])


def _choose_delimiter(lines: list[str], given: str | None, path: Path) -> str:
    if given:
        return "\t" if given in {"\\t", "tab", "TAB"} else given
    tail = lines[len(lines) // 3 :] or lines
    best: tuple[float, int, str] | None = None
    for delim in DELIMITERS:
        counts = [len(_split(line, delim)) for line in tail]
        modal, freq = Counter(counts).most_common(1)[0]
        if modal < 2:
            continue
        score = freq / len(counts)
        if score >= 0.9:
            return delim
        if best is None or score > best[0]:
            best = (score, modal, delim)
    if best is not None and best[0] >= 0.6:
        return best[2]
    raise CsvFormatError(
        f"{path}: cannot tell how the columns are separated (tried tab, ';', '|', ','). "
        "Give it with --delimiter."
    )


_NUM_DOT: Final = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_NUM_COMMA: Final = re.compile(r"^[+-]?\d+(,\d+)?([eE][+-]?\d+)?$")
_NONFINITE: Final = frozenset(
    {"nan", "+nan", "-nan", "inf", "+inf", "-inf", "infinity", "-infinity"}
)


def _is_number(cell: str, decimal: str) -> bool:
    c = cell.strip()
    if c.lower() in _NONFINITE:
        return True
    return bool((_NUM_COMMA if decimal == "," else _NUM_DOT).match(c))


def _split_header(text: str) -> tuple[str, str | None]:
    """``"PS1 [bar]"`` / ``"PS1 (psi)"`` / ``"PS1_bar"`` / ``"Temp °F"`` -> (name, unit)."""
    t = text.strip()
    m = re.match(r"^(.*?)\s*[\[(]([^\])]+)[\])]\s*$", t)
    if m and m.group(1).strip():
        return m.group(1).strip(), m.group(2).strip()
    m = re.match(r"^(.*?)\s*(?:in|/)\s*([^\s/][^\s]*)$", t)
    if m and m.group(1).strip() and parse_unit(m.group(2)) and len(m.group(2)) > 1:
        return m.group(1).strip(), m.group(2).strip()
    m = re.match(r"^(.*?)[\s_]+([^\s_]+)$", t)
    if m and m.group(1).strip():
        unit = m.group(2)
        # single letters (C, A, V, ...) are too often part of a name; need °, or 2+ chars
        if parse_unit(unit) and (len(unit) > 1 or unit.startswith("°")) and not unit.isdigit():
            return m.group(1).strip(), unit
    return t, None


def _norm(text: str) -> str:
    return re.sub(r"[\s_\-.]+", "", text.casefold())


def _tokens(text: str) -> list[str]:
    return [t for t in re.split(r"[^0-9A-Za-z]+", text.casefold()) if t]


def sniff_csv(path: Path, profile: EquipmentProfile, options: CsvOptions | None = None) -> CsvPlan:
    """Decide how to read ``path`` for ``profile``; raises CsvFormatError with what to give."""
    options = options or CsvOptions()
    path = Path(path)
    encoding, text, complete = _read_sample(path, options.encoding)
    all_lines = text.splitlines()
    if not complete and all_lines:
        all_lines = all_lines[:-1]  # the last sampled line may be cut
    all_lines = all_lines[:SAMPLE_LINES]
    numbered = [(i + 1, line) for i, line in enumerate(all_lines) if line.strip()]
    if not numbered:
        raise CsvFormatError(f"{path}: the file is empty (only blank lines).")
    notes: list[str] = []
    excel_sep = re.fullmatch(r"\s*sep=(.)\s*", numbered[0][1])
    if excel_sep:  # Excel's "sep=;" first line names the delimiter
        numbered = numbered[1:]
        if options.delimiter is None:
            options = options.model_copy(update={"delimiter": excel_sep.group(1)})
        if options.skip_rows is None:
            options = options.model_copy(update={"skip_rows": 1})
        if not numbered:
            raise CsvFormatError(f"{path}: the file is empty (only a 'sep=' line).")
    delimiter = _choose_delimiter([ln for _, ln in numbered], options.delimiter, path)
    rows = [(n, _split(line, delimiter)) for n, line in numbered]
    width = Counter(len(r) for _, r in rows[len(rows) // 3 :] or rows).most_common(1)[0][0]

    # decimal mark: only when the delimiter is not a comma can a comma be decimal
    if options.decimal:
        decimal = options.decimal
    elif delimiter == ",":
        decimal = "."
    else:
        cells = [c.strip() for _, r in rows[-50:] for c in r]
        comma = sum(1 for c in cells if re.match(r"^[+-]?\d+,\d+$", c))
        dot = sum(1 for c in cells if re.match(r"^[+-]?\d+\.\d+$", c))
        decimal = "," if comma > dot else "."

    # first row of the table: the first of 3 consecutive rows that have the modal width
    if options.skip_rows is not None:
        table_start = next((k for k, (n, _) in enumerate(rows) if n > options.skip_rows), len(rows))
    else:
        table_start = 0
        for k in range(len(rows)):
            window = rows[k : k + 3]
            if window and all(len(r) == width for _, r in window):
                table_start = k
                break
        if table_start:
            notes.append(f"skipped {rows[table_start][0] - 1} preamble line(s) before the table")

    def numeric_share(r: list[str]) -> float:
        return sum(1 for c in r if _is_number(c, decimal)) / max(len(r), 1)

    _first_n, first = rows[table_start] if table_start < len(rows) else (0, [])
    has_header = options.header if options.header is not None else numeric_share(first) < 0.5
    header_line: int | None = None
    units_line: int | None = None
    k = table_start
    headers = [f"column {i + 1}" for i in range(width)]
    units: list[str | None] = [None] * width
    if has_header and k < len(rows):
        header_line = rows[k][0]
        headers = [c.strip() for c in rows[k][1]] + [
            f"column {i + 1}" for i in range(len(rows[k][1]), width)
        ]
        headers = headers[:width]
        k += 1
        if k < len(rows) and numeric_share(rows[k][1]) == 0.0:
            row = [c.strip() for c in rows[k][1]]
            unit_like = sum(
                1 for c in row if c and (is_unit(c.strip("[]() ")) or c.startswith("["))
            )
            if unit_like >= max(1, len(row) // 3):
                units_line = rows[k][0]
                units = [c.strip("[]() ") or None for c in row] + [None] * (width - len(row))
                units = units[:width]
                k += 1
    if k >= len(rows):
        where = f"line {header_line}" if header_line else "the top"
        raise CsvFormatError(
            f"{path}: only a header ({where}) and no data rows. Export the log with its data."
        )
    data_start_line = rows[k][0]
    data_rows = [r for _, r in rows[k:] if len(r) == width]

    columns: list[ColumnPlan] = []
    for i, header in enumerate(headers):
        name, unit = _split_header(header) if header_line else (header, None)
        columns.append(
            ColumnPlan(
                index=i, name=name, header=header if header_line else "", unit=units[i] or unit
            )
        )
    for c in columns:
        # a trailing delimiter on every line makes a nameless, empty last column
        if header_line and not c.header.strip() and not any(r[c.index].strip() for r in data_rows):
            c.role = "skipped"
    dups = [h for h, n in Counter(c.header for c in columns if c.header).items() if n > 1]
    if dups:
        notes.append(
            f"duplicate column name(s) {', '.join(map(repr, dups))}: refer to them by position"
        )

    def column_of(ref: str) -> ColumnPlan:
        for c in columns:
            if c.header and (
                c.header == ref
                or c.header.casefold() == ref.casefold()
                or c.name.casefold() == ref.casefold()
            ):
                return c
        if ref.isdigit() and 1 <= int(ref) <= len(columns):
            return columns[int(ref) - 1]
        m = re.fullmatch(r"column\s*(\d+)", ref.strip(), flags=re.IGNORECASE)
        if m and 1 <= int(m.group(1)) <= len(columns):
            return columns[int(m.group(1)) - 1]
        raise CsvFormatError(
            f"{path}: there is no column {ref!r}. Columns: "
            + ", ".join(c.header or c.label() for c in columns)
            + ". Refer to a column by its header text or its 1-based position."
        )

    samples = {c.index: [r[c.index] for r in data_rows[:200]] for c in columns}
    time_spec, _ = _detect_time(path, columns, samples, options, column_of)
    tz = _check_tz(options.tz)
    if "assumed" in time_spec.description:
        notes.append(f"time format {time_spec.description}")
    if time_spec.kind == "iso_tz" and tz:
        notes.append(f"time stamps carry their own UTC offset; --tz {tz} is not applied")
    if time_spec.kind in {"iso", "format", "relative"} and not tz:
        notes.append("time stamps have no zone and were taken as UTC (give --tz if they are local)")

    layout = options.layout or _detect_layout(columns)
    if layout == "long":
        _plan_long(columns, path)
    else:
        _plan_wide(path, columns, profile, options, column_of)
    for ref in options.skip:
        column_of(ref).role = "skipped"
    return CsvPlan(
        path=path,
        encoding=encoding,
        delimiter=delimiter,
        decimal=decimal,
        header_line=header_line,
        units_line=units_line,
        data_start_line=data_start_line,
        layout=layout,
        columns=columns,
        time_spec=time_spec,
        tz=tz,
        notes=notes,
        mean_line_bytes=len(text.encode("utf-8", errors="replace"))
        / max(len(text.splitlines()), 1),
    )


def _check_tz(tz: str | None) -> str | None:
    if tz is None or tz.upper() in {"UTC", "Z", "ETC/UTC"}:
        return None
    con = duckdb.connect()
    try:
        row = con.execute(
            "SELECT count(*) FROM pg_timezone_names() WHERE name = ? OR abbrev = ?", [tz, tz]
        ).fetchone()
    finally:
        con.close()
    if not row or not row[0]:
        raise TimestampError(
            f"--tz {tz!r} is not a time zone name; use an IANA name such as Europe/Berlin, "
            "America/Chicago or UTC."
        )
    return tz


def _detect_time(
    path: Path,
    columns: list[ColumnPlan],
    samples: dict[int, list[str]],
    options: CsvOptions,
    column_of: Any,
) -> tuple[TimeSpec, list[ColumnPlan]]:
    if options.time_columns:
        chosen: list[ColumnPlan] = [column_of(ref) for ref in options.time_columns]
        if len(chosen) > 2:
            raise CsvFormatError("--time-column takes one column, or two: a date and a time.")
        if options.time_format:
            spec = user_time_spec(options.time_format, start=options.start)
        elif len(chosen) == 2:
            spec_or_none = detect_date_time_pair(samples[chosen[0].index], samples[chosen[1].index])
            if spec_or_none is None:
                raise TimestampError(
                    f"{path}: {chosen[0].label()} and {chosen[1].label()} do not look like a date "
                    "and a time of day; give --time-format."
                )
            spec = spec_or_none
        else:
            spec_or_none = detect_time_spec(samples[chosen[0].index], start=options.start)
            if spec_or_none is None:
                raise TimestampError(
                    f"{path}: cannot recognise the time stamps in {chosen[0].label()} (e.g. "
                    f"{_first(samples[chosen[0].index])!r}); give --time-format, e.g. "
                    "'%d.%m.%Y %H:%M:%S', iso, epoch-s, epoch-ms or relative-s with --start."
                )
            spec = spec_or_none
        _assign_time_roles(chosen)
        return spec, chosen

    named = [c for c in columns if _norm(c.name) in {_norm(n) for n in _TIME_NAMES}]
    dates = [c for c in named if _norm(c.name) in {_norm(n) for n in _DATE_NAMES}]
    clocks = [c for c in named if _norm(c.name) in {_norm(n) for n in _CLOCK_NAMES}]
    if dates and clocks:
        pair = detect_date_time_pair(samples[dates[0].index], samples[clocks[0].index])
        if pair is not None:
            _assign_time_roles([dates[0], clocks[0]])
            return pair, [dates[0], clocks[0]]
    candidates = named + [c for c in columns if c not in named]
    for c in candidates:
        spec_or_none = detect_time_spec(
            samples[c.index], start=options.start if c in named else None
        )
        if options.time_format and c in named:
            spec_or_none = user_time_spec(options.time_format, start=options.start)
        if spec_or_none is not None:
            c.role = "time"
            return spec_or_none, [c]
    # adjacent date + time columns without telling names
    for a, b in itertools.pairwise(columns):
        pair = detect_date_time_pair(samples[a.index], samples[b.index])
        if pair is not None:
            _assign_time_roles([a, b])
            return pair, [a, b]
    if named and all(
        _is_number(v, ".") or _is_number(v, ",") for v in samples[named[0].index] if v.strip()
    ):
        raise missing_start_error()
    shown = ", ".join(
        f"{c.header or c.label()} (e.g. {_first(samples[c.index])!r})" for c in columns[:4]
    )
    raise TimestampError(
        f"{path}: no time stamp column found among {shown}{', ...' if len(columns) > 4 else ''}. "
        "Name it with --time-column (and --time-format if its format is unusual)."
    )


def _first(values: list[str]) -> str:
    return next((v for v in values if v.strip()), "")


def _assign_time_roles(chosen: list[ColumnPlan]) -> None:
    if len(chosen) == 1:
        chosen[0].role = "time"
    else:
        chosen[0].role, chosen[1].role = "date", "clock"


def _detect_layout(columns: list[ColumnPlan]) -> str:
    rest = [c for c in columns if c.role == "unknown"]
    names = {_norm(c.name) for c in rest}
    if names & {_norm(n) for n in _SENSOR_NAMES} and names & {_norm(n) for n in _VALUE_NAMES}:
        return "long"
    return "wide"


def _plan_long(columns: list[ColumnPlan], path: Path) -> None:
    for c in columns:
        if c.role != "unknown":
            continue
        n = _norm(c.name)
        if n in {_norm(x) for x in _SENSOR_NAMES} and not any(
            x.role == "sensor_name" for x in columns
        ):
            c.role = "sensor_name"
        elif n in {_norm(x) for x in _VALUE_NAMES} and not any(
            x.role == "value_long" for x in columns
        ):
            c.role = "value_long"
        elif n in {_norm(x) for x in _UNIT_NAMES}:
            c.role = "unit_long"
        else:
            c.role = "skipped"
    if not any(c.role == "sensor_name" for c in columns) or not any(
        c.role == "value_long" for c in columns
    ):
        raise CsvFormatError(
            f"{path}: a long table needs a sensor-name column (sensor, channel, tag, ...) and a "
            "value column (value, wert, ...). Rename the headers or use the wide layout."
        )


def match_sensor(name: str, profile: EquipmentProfile) -> str | None:
    """The profile sensor a column name unambiguously refers to, else None."""
    ids = {_norm(s): s for s in profile.sensor_ids}
    if _norm(name) in ids:
        return ids[_norm(name)]
    hits = {ids[t] for t in (_norm(t) for t in _tokens(name)) if t in ids}
    return hits.pop() if len(hits) == 1 else None


def _plan_wide(
    path: Path,
    columns: list[ColumnPlan],
    profile: EquipmentProfile,
    options: CsvOptions,
    column_of: Any,
) -> None:
    skip_ids = {column_of(ref).index for ref in options.skip}
    for ref, target in options.maps.items():
        col = column_of(ref)
        if col.role in {"time", "date", "clock"}:
            raise CsvFormatError(f"{path}: --map {ref}: {col.label()} is the time column.")
        if target.sensor not in profile.sensor_ids:
            raise CsvFormatError(
                f"--map {ref}={target.sensor}: profile {profile.id!r} has no sensor "
                f"{target.sensor!r}; its sensors are {', '.join(profile.sensor_ids)}."
            )
        col.role, col.sensor = "value", target.sensor
        if target.unit:
            col.unit = target.unit
    for col in columns:
        if col.role != "unknown" or col.index in skip_ids:
            continue
        sensor = match_sensor(col.name, profile)
        if sensor is not None:
            col.role, col.sensor = "value", sensor
    by_sensor: dict[str, list[ColumnPlan]] = {}
    for col in columns:
        if col.role == "value" and col.sensor:
            by_sensor.setdefault(col.sensor, []).append(col)
    clashes = {s: cs for s, cs in by_sensor.items() if len(cs) > 1}
    if clashes:
        text = "; ".join(f"{s}: {', '.join(c.label() for c in cs)}" for s, cs in clashes.items())
        raise CsvFormatError(
            f"{path}: several columns match the same sensor ({text}). Say which one with "
            "--map COLUMN=SENSOR and leave the other out with --skip COLUMN."
        )
    unknown = [c for c in columns if c.role == "unknown" and c.index not in skip_ids]
    if unknown and not options.ignore_unknown:
        lines = []
        for c in unknown:
            close = difflib.get_close_matches(c.name, profile.sensor_ids, n=2, cutoff=0.4)
            hint = f" (maybe {' or '.join(close)}?)" if close else ""
            lines.append(f"  - {c.label()}{hint}")
        raise CsvFormatError(
            f"{path}: {len(unknown)} column(s) match no sensor of profile {profile.id!r} "
            f"(sensors: {', '.join(profile.sensor_ids)}):\n"
            + "\n".join(lines)
            + "\nMap them with --map 'COLUMN=SENSOR[:UNIT]', leave them out with --skip COLUMN, "
            "or import only the matched columns with --ignore-unknown."
        )
    for c in unknown:
        c.role = "skipped"
    values = [c for c in columns if c.role == "value"]
    if not values:
        raise CsvFormatError(
            f"{path}: no column matches a sensor of profile {profile.id!r} "
            f"({', '.join(profile.sensor_ids)}). Map columns with --map 'COLUMN=SENSOR[:UNIT]'."
        )
    for c in values:
        assert c.sensor is not None
        target_unit = profile.sensor(c.sensor).unit
        if c.unit:
            try:
                c.scale, c.offset = conversion(c.unit, target_unit, where=f"{path}: {c.label()}")
            except UnitError:
                if parse_unit(c.unit) is None and c.unit and not re.search(r"[A-Za-z°%/]", c.unit):
                    c.unit = None  # a bracketed index like "[1]" is not a unit
                else:
                    raise


# --- import -----------------------------------------------------------------------------------

_STAGE: Final = "_hydrodiag_csv_stage"
_NAME_MAP: Final = "_hydrodiag_csv_names"


def _read_csv_sql(plan: CsvPlan, types: dict[str, str], *, rejects: bool = False) -> str:
    """``read_csv(...)`` with everything explicit: DuckDB's own sniffer stays out of it."""
    columns = "{" + ", ".join(f"{sql_quote(k)}: {sql_quote(v)}" for k, v in types.items()) + "}"
    parts = [
        sql_quote(str(plan.path)),
        "auto_detect = false",
        "header = false",
        f"skip = {plan.data_start_line - 1}",
        f"delim = {sql_quote(plan.delimiter)}",
        "quote = '\"'",
        "escape = '\"'",
        f"columns = {columns}",
        f"encoding = {sql_quote(plan.encoding)}",
        "null_padding = false",
    ]
    if plan.decimal == ",":
        parts.append("decimal_separator = ','")
    if rejects:
        parts += ["store_rejects = true", "rejects_limit = 20"]
    return "read_csv(" + ", ".join(parts) + ")"


def _column_types(plan: CsvPlan) -> dict[str, str]:
    types = {}
    for c in plan.columns:
        types[c.sql_name] = "DOUBLE" if c.role in {"value", "value_long"} else "VARCHAR"
    return types


def _time_expr(plan: CsvPlan) -> str:
    cols = plan.time_columns()
    if len(cols) == 2:
        text = f"({cols[0].sql_name} || ' ' || {cols[1].sql_name})"
    else:
        text = cols[0].sql_name
    return plan.time_spec.expression(text, plan.tz)


def _diagnose_read_error(plan: CsvPlan, types: dict[str, str], exc: duckdb.Error) -> CsvFormatError:
    """Re-read with DuckDB's rejects table in a scratch database and describe the first problems."""
    scratch = duckdb.connect()
    try:
        # every column must be referenced, or DuckDB skips converting it and finds no error
        touch = ", ".join(f"count({name})" for name in types)
        scratch.execute(
            f"SELECT {touch} FROM {_read_csv_sql(plan, types, rejects=True)}"
        ).fetchall()
        rows = scratch.execute(
            "SELECT line, column_name, error_type, csv_line, error_message FROM reject_errors "
            "ORDER BY line LIMIT 20"
        ).fetchall()
    except duckdb.Error:
        rows = []
    finally:
        scratch.close()
    by_sql = {c.sql_name: c for c in plan.columns}
    width = len(plan.columns)
    problems = []
    for line, column_name, error_type, csv_line, message in rows[:5]:
        col = by_sql.get(column_name or "")
        where = f"line {line}" + (f", {col.label()}" if col and error_type == "CAST" else "")
        raw = (csv_line or "").strip("\r\n")
        if error_type in {"MISSING COLUMNS", "TOO MANY COLUMNS"}:
            found = len(_split(raw, plan.delimiter))
            problems.append(
                f"{where}: {found} field(s) but the table has {width}"
                + (f" (header on line {plan.header_line})" if plan.header_line else "")
                + f": {raw[:80]!r}"
            )
        elif error_type == "CAST" and col is not None:
            value = _cell(raw, plan.delimiter, col.index)
            problems.append(
                f"{where}: {value!r} is not a number"
                + (" (this file uses a decimal comma)" if plan.decimal == "," else "")
            )
        elif error_type == "INVALID UNICODE":
            problems.append(
                f"{where}: bytes that are not {plan.encoding} text; give --encoding latin-1 "
                "(or utf-8)"
            )
        else:
            problems.append(f"{where}: {message}")
    if not problems:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        problems.append(first)
    more = f" (and {len(rows) - 5} more)" if len(rows) > 5 else ""
    return CsvFormatError(
        f"{plan.path}: cannot read the file{more}:\n  - "
        + "\n  - ".join(problems)
        + "\nFix or delete these lines (or export again); nothing was imported."
    )


def _cell(raw: str, delimiter: str, index: int) -> str:
    cells = _split(raw, delimiter)
    return cells[index].strip() if index < len(cells) else ""


def _line_of_row(plan: CsvPlan, row: int) -> tuple[int, str]:
    """(1-based file line, text) of the data row with 0-based index ``row`` (blank lines skipped)."""
    encoding = {"utf-8": "utf-8-sig", "latin-1": "latin-1", "utf-16": "utf-16"}[plan.encoding]
    seen = -1
    with plan.path.open("r", encoding=encoding, errors="replace", newline="") as fh:
        for number, line in enumerate(fh, start=1):
            if number < plan.data_start_line or not line.strip():
                continue
            seen += 1
            if seen == row:
                return number, line.rstrip("\r\n")
    return plan.data_start_line + row, ""


def ingest_csv(
    store: Store,
    path: Path,
    *,
    equipment_id: str,
    profile: EquipmentProfile | None = None,
    options: CsvOptions | None = None,
    force: bool = False,
    progress: Progress = NO_PROGRESS,
) -> ImportSummary:
    """Import a wide or long CSV log for ``equipment_id`` in one transaction.

    Raises :class:`CsvFormatError` (and friends) naming file, line and column; on any error
    the workspace is unchanged. Re-importing the same bytes is a no-op unless ``force``.
    """
    started = time.perf_counter()
    path = Path(path)
    options = options or CsvOptions()
    con = store.con
    if profile is None and equipment_exists(con, equipment_id):
        profile = equipment_profile(con, equipment_id)
    if profile is None:
        raise CsvFormatError(
            f"equipment {equipment_id!r} is new: say which machine it is with --profile "
            "(see `hydrodiag profile list`)."
        )
    # The file is hashed in a thread while it is read: only a file the size of an earlier
    # import can be a re-import, and only then does the import wait for its digest first.
    with BackgroundHash(path) as hasher:
        plan = sniff_csv(path, profile, options)
        with importing_source(
            store,
            equipment_id=equipment_id,
            kind="csv",
            uri=str(path.resolve()),
            options={**plan.options_json(), "bytes": path.stat().st_size},
            digest=hasher,
            profile=profile,
            force=force,
            progress=progress,
        ) as source:
            if source.skipped:
                return source.summary(elapsed_s=time.perf_counter() - started)
            check_cancelled(progress)
            if plan.layout == "wide":
                rows, sensors, warnings = _import_wide(source, plan, progress)
            else:
                rows, sensors, warnings = _import_long(source, plan, options, progress)
            progress.finish()
            source.complete(rows=rows, warnings=[*source.notes, *plan.notes, *warnings])
    return source.summary(sensors=sensors, elapsed_s=time.perf_counter() - started)


def _import_long(
    source: SourceImport, plan: CsvPlan, options: CsvOptions, progress: Progress
) -> tuple[int, list[str], list[str]]:
    """Long tables go through a staging table: names must be mapped before the insert."""
    con, profile = source.con, source.profile
    types = _column_types(plan)
    keep = [c for c in plan.columns if c.role in {"sensor_name", "value_long", "unit_long"}]
    select = ", ".join([f"{_time_expr(plan)} AS __ts"] + [c.sql_name for c in keep])
    progress.start(f"reading {plan.path.name}", _estimate_rows(plan), "rows")
    try:
        execute_with_progress(
            con,
            f"CREATE OR REPLACE TEMP TABLE {_STAGE} AS SELECT {select} "
            f"FROM {_read_csv_sql(plan, types)}",
            [],
            progress,
            _estimate_rows(plan),
        )
    except duckdb.Error as exc:
        raise _diagnose_read_error(plan, types, exc) from None
    try:
        rows, sensors, warnings = _check_stage(con, plan, profile, options)
        check_cancelled(progress)
        _insert_long(con, plan, source.equipment_id, source.source_id)
    finally:
        con.execute(f"DROP TABLE IF EXISTS {_STAGE}")
        con.execute(f"DROP TABLE IF EXISTS {_NAME_MAP}")
    progress.finish()
    return rows, sensors, warnings


def _estimate_rows(plan: CsvPlan) -> int:
    """Data rows in the file, estimated from its size and the sampled lines' mean length."""
    size = plan.path.stat().st_size
    return max(1, int(size / max(plan.mean_line_bytes, 1.0)))


def _wide_columns(plan: CsvPlan) -> dict[str, str]:
    """Column -> sensor of the wide table: ``v<k>`` by position, never the header text."""
    return {f"v{k}": str(c.sensor) for k, c in enumerate(plan.value_columns())}


def _wide_sql(plan: CsvPlan, table: str) -> tuple[str, str]:
    """(CREATE TABLE, INSERT ... SELECT FROM read_csv) of a wide import."""
    values = plan.value_columns()
    columns = ", ".join(f"v{k} DOUBLE" for k in range(len(values)))
    converted = ", ".join(
        (
            c.sql_name
            if (c.scale, c.offset) == (1.0, 0.0)
            else f"{c.sql_name} * {c.scale!r} + {c.offset!r}"
        )
        for c in values
    )
    source = _read_csv_sql(plan, _column_types(plan))
    # One pass, rows as they are in the file: an empty cell stays NULL (no sample), NaN/inf are
    # kept and read as gaps through the measurements view. A row whose time stamp does not
    # parse gives a NULL ts, which the NOT NULL constraint refuses.
    return (
        f"CREATE TABLE {table} (ts TIMESTAMP NOT NULL, {columns})",
        f"INSERT INTO {table} SELECT {_time_expr(plan)}, {converted} FROM {source}",
    )


def _import_wide(
    source: SourceImport, plan: CsvPlan, progress: Progress
) -> tuple[int, list[str], list[str]]:
    """A wide log straight into its own wide table, in one pass of DuckDB's reader."""
    con, profile = source.con, source.profile
    estimate = _estimate_rows(plan)
    progress.start(f"importing {plan.path.name}", estimate, "rows")
    table = wide.table_name(source.source_id)
    create, insert = _wide_sql(plan, table)
    con.execute(create)
    try:
        execute_with_progress(con, insert, [], progress, estimate)
    except duckdb.ConstraintException:
        raise _diagnose_time(plan) from None
    except duckdb.Error as exc:
        raise _diagnose_read_error(plan, _column_types(plan), exc) from None
    progress.finish()
    result = _check_wide(con, plan, profile, table)
    wide.register(con, source.source_id, source.equipment_id, _wide_columns(plan))
    return result


def _diagnose_time(plan: CsvPlan) -> CsvFormatError:
    """Find the first row whose time stamp is missing or unparseable (scratch database)."""
    scratch = duckdb.connect()
    try:
        scratch.execute("SET TimeZone = 'UTC'")
        scratch.execute(
            f"CREATE TABLE st AS SELECT {_time_expr(plan)} AS __ts "
            f"FROM {_read_csv_sql(plan, _column_types(plan))}"
        )
        row = scratch.execute(
            "SELECT count(*), min(rowid) FILTER (WHERE __ts IS NULL), count_if(__ts IS NULL) "
            "FROM st"
        ).fetchone()
    finally:
        scratch.close()
    assert row is not None
    return _time_error(plan, int(row[1] or 0), int(row[2] or 0))


def _time_error(plan: CsvPlan, index: int, bad: int) -> CsvFormatError:
    line, text = _line_of_row(plan, index)
    cols = plan.time_columns()
    cells = " ".join(_cell(text, plan.delimiter, c.index) for c in cols)
    what = (
        "no time stamp (empty cell)"
        if not cells.strip()
        else f"{cells!r} is not a time stamp of the form {plan.time_spec.description}"
    )
    return CsvFormatError(
        f"{plan.path}, line {line}, {' + '.join(c.label() for c in cols)}: {what}"
        f"{f' ({bad} rows like this)' if bad > 1 else ''}. Fix or remove those lines, "
        "or give --time-format (e.g. '%d.%m.%Y %H:%M:%S', epoch-ms)."
    )


def _fmt_ts(value: Any) -> str:
    return f"{value} UTC" if value is not None else "?"


def _check_wide(
    con: duckdb.DuckDBPyConnection, plan: CsvPlan, profile: EquipmentProfile, table: str
) -> tuple[int, list[str], list[str]]:
    """NaN/inf, physical ranges and time order, checked on the rows just written.

    A first pass takes count, min and max of every column (cheap: no per-row expression);
    NaN sorts above every number in DuckDB, so only columns whose min or max is not a finite
    value inside the sensor's range get the second pass that counts and locates the offenders.
    """
    values = plan.value_columns()
    limits = [profile.sensor(str(c.sensor)) for c in values]
    first = con.execute(
        "SELECT count(*), "
        + ", ".join(f"count(v{k}), min(v{k}), max(v{k})" for k in range(len(values)))
        + f" FROM {table}"
    ).fetchone()
    assert first is not None
    total = int(first[0])
    counts = [int(first[1 + 3 * k]) for k in range(len(values))]
    if not any(counts):
        raise CsvFormatError(
            f"{plan.path}: every value cell is empty: nothing to import. Check the delimiter "
            "and the column mapping (--dry-run shows them)."
        )
    suspect = [
        k
        for k, s in enumerate(limits)
        if counts[k]
        and not (
            np.isfinite(first[2 + 3 * k])
            and np.isfinite(first[3 + 3 * k])
            and s.min <= first[2 + 3 * k]
            and first[3 + 3 * k] <= s.max
        )
    ]
    details: dict[int, tuple[Any, ...]] = {}
    if suspect:
        parts = []
        for k in suspect:
            v, s = f"v{k}", limits[k]
            outside = f"isfinite({v}) AND ({v} < {s.min!r} OR {v} > {s.max!r})"
            parts.append(
                f"count_if(NOT isfinite({v})), count_if({outside}), "
                f"min(ts) FILTER (WHERE NOT isfinite({v})), min(ts) FILTER (WHERE {outside})"
            )
        row = con.execute(f"SELECT {', '.join(parts)} FROM {table}").fetchone()
        assert row is not None
        details = {k: tuple(row[4 * i : 4 * i + 4]) for i, k in enumerate(suspect)}
    warnings: list[str] = []
    for k, (c, s) in enumerate(zip(values, limits, strict=True)):
        nonfinite, outside_n, first_nan, first_out = details.get(k, (0, 0, None, None))
        if counts[k] == 0:
            warnings.append(f"{c.label()} -> {c.sensor}: every cell is empty")
        if nonfinite:
            warnings.append(
                f"{c.label()} -> {c.sensor}: {nonfinite} NaN/inf value(s) kept as gaps "
                f"(first at {_fmt_ts(first_nan)})"
            )
        if outside_n:
            warnings.append(
                f"{c.label()} -> {c.sensor}: {outside_n} value(s) outside the physical range "
                f"{s.min:g}..{s.max:g} {s.unit} (first at {_fmt_ts(first_out)}); kept and "
                "flagged - check the sensor, its unit or the profile"
            )
    # Order and duplicates, on the most complete column in file order (insertion order).
    fullest = max(range(len(values)), key=lambda k: counts[k])
    where = "" if counts[fullest] == total else f" WHERE v{fullest} IS NOT NULL"
    ts = con.execute(f"SELECT epoch_us(ts) AS t FROM {table}{where}").fetchnumpy()["t"]
    ts = np.asarray(ts, dtype=np.int64)
    rows = int(ts.size)
    steps = np.diff(ts)
    backwards = np.flatnonzero(steps < 0)
    if backwards.size:
        i = int(backwards[0])
        at = np.datetime64(int(ts[i + 1]), "us")
        before = np.datetime64(int(ts[i]), "us")
        warnings.append(
            f"{backwards.size} time stamp(s) out of order (first: {at} after {before}); "
            "imported sorted"
        )
        _resort_table(con, table)
        steps = np.diff(np.sort(ts))
    dups = int(np.count_nonzero(steps == 0))
    if dups:
        warnings.append(f"{dups} duplicate time stamp(s); all rows kept (windows average them)")
    return rows, [c.sensor for c in values if c.sensor], warnings


def _resort_table(con: duckdb.DuckDBPyConnection, table: str) -> None:
    """Rewrite a wide table in time order: rare, only for out-of-order logs."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE {_STAGE} AS SELECT * FROM {table} ORDER BY ts")
    try:
        con.execute(f"DELETE FROM {table}")
        con.execute(f"INSERT INTO {table} SELECT * FROM {_STAGE}")
    finally:
        con.execute(f"DROP TABLE IF EXISTS {_STAGE}")


def _check_stage(
    con: duckdb.DuckDBPyConnection,
    plan: CsvPlan,
    profile: EquipmentProfile,
    options: CsvOptions,
) -> tuple[int, list[str], list[str]]:
    """Time stamps, order, NaN/inf and physical ranges, each in one vectorised pass."""
    warnings: list[str] = []
    row = con.execute(f"SELECT count(*), count_if(__ts IS NULL) FROM {_STAGE}").fetchone()
    assert row is not None
    rows, bad_ts = int(row[0]), int(row[1])
    if rows == 0:
        raise CsvFormatError(f"{plan.path}: no data rows after the header. Nothing to import.")
    if bad_ts:
        raise _time_error(plan, _first_row(con, "__ts IS NULL"), bad_ts)
    sensors, long_warnings = _plan_long_names(con, plan, profile, options)
    return rows, sensors, warnings + long_warnings


def _first_row(con: duckdb.DuckDBPyConnection, condition: str) -> int:
    """0-based data-row index of the first staged row meeting ``condition``.

    Row ids of a table created in an open transaction start at a large offset, so they are
    taken relative to the smallest one (the CTAS writes rows in file order).
    """
    row = con.execute(
        f"SELECT min(rowid) - (SELECT min(rowid) FROM {_STAGE}) FROM {_STAGE} WHERE {condition}"
    ).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def _plan_long_names(
    con: duckdb.DuckDBPyConnection,
    plan: CsvPlan,
    profile: EquipmentProfile,
    options: CsvOptions,
) -> tuple[list[str], list[str]]:
    """Map each distinct (name, unit) of a long table to a sensor and conversion."""
    name_col = next(c for c in plan.columns if c.role == "sensor_name")
    value_col = next(c for c in plan.columns if c.role == "value_long")
    unit_col = next((c for c in plan.columns if c.role == "unit_long"), None)
    unit_sql = unit_col.sql_name if unit_col else "NULL::VARCHAR"
    pairs = con.execute(
        f"SELECT {name_col.sql_name} AS n, {unit_sql} AS u, count(*) AS k, "
        f"min(rowid) - (SELECT min(rowid) FROM {_STAGE}) AS r "
        f"FROM {_STAGE} GROUP BY ALL ORDER BY r"
    ).fetchall()
    maps = {k.casefold(): v for k, v in options.maps.items()}
    names: list[str | None] = []
    units: list[str | None] = []
    sensors: list[str] = []
    scales: list[float] = []
    offsets: list[float] = []
    lows: list[float] = []
    highs: list[float] = []
    unknown: list[tuple[str, int, int]] = []
    for name, unit, count, first_row in pairs:
        text = (name or "").strip()
        mapped = maps.get(text.casefold())
        sensor_id = mapped.sensor if mapped else match_sensor(_split_header(text)[0], profile)
        if sensor_id is None or sensor_id not in profile.sensor_ids:
            unknown.append((text, int(count), int(first_row)))
            continue
        sensor = profile.sensor(sensor_id)
        stated = (mapped.unit if mapped and mapped.unit else None) or unit or _split_header(text)[1]
        scale, offset = (
            conversion(stated, sensor.unit, where=f"{plan.path}: sensor {text!r}")
            if stated
            else (1.0, 0.0)
        )
        names.append(name)
        units.append(unit)
        sensors.append(sensor_id)
        scales.append(scale)
        offsets.append(offset)
        lows.append(sensor.min)
        highs.append(sensor.max)
    warnings: list[str] = []
    if unknown and not options.ignore_unknown:
        listed = "\n".join(
            f"  - {n!r}: {k} row(s), first on line {_line_of_row(plan, r)[0]}"
            for n, k, r in unknown[:10]
        )
        raise CsvFormatError(
            f"{plan.path}: {len(unknown)} sensor name(s) in {name_col.label()} match no sensor of "
            f"profile {profile.id!r} ({', '.join(profile.sensor_ids)}):\n{listed}\n"
            "Map them with --map 'NAME=SENSOR[:UNIT]' or drop them with --ignore-unknown."
        )
    if unknown:
        warnings.append(
            f"ignored {sum(k for _, k, _ in unknown)} row(s) of unknown sensor name(s) "
            + ", ".join(repr(n) for n, _, _ in unknown[:10])
        )
    if not sensors:
        raise CsvFormatError(f"{plan.path}: no sensor name matches profile {profile.id!r}.")
    table = pa.table(
        {
            "n": pa.array(names, pa.string()),
            "u": pa.array(units, pa.string()),
            "sensor_id": pa.array(sensors, pa.string()),
            "scale": pa.array(scales, pa.float64()),
            "offset": pa.array(offsets, pa.float64()),
            "lo": pa.array(lows, pa.float64()),
            "hi": pa.array(highs, pa.float64()),
        }
    )
    con.register("_hydrodiag_names_arrow", table)
    try:
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {_NAME_MAP} AS SELECT * FROM _hydrodiag_names_arrow"
        )
    finally:
        con.unregister("_hydrodiag_names_arrow")
    join = _long_join(name_col, unit_col)
    stats = con.execute(
        f"SELECT m.sensor_id, count_if(NOT isfinite(s.{value_col.sql_name})), "
        f"count_if(isfinite(s.{value_col.sql_name}) AND (s.{value_col.sql_name} * m.scale + m.offset "
        f"NOT BETWEEN m.lo AND m.hi)), min(m.lo), min(m.hi) FROM {_STAGE} s {join} GROUP BY ALL ORDER BY 1"
    ).fetchall()
    for sensor_id, nonfinite, outside, lo, hi in stats:
        if nonfinite:
            warnings.append(f"{sensor_id}: {nonfinite} NaN/inf value(s) kept as gaps")
        if outside:
            warnings.append(
                f"{sensor_id}: {outside} value(s) outside the physical range {lo:g}..{hi:g} "
                f"{profile.sensor(sensor_id).unit}; kept and flagged"
            )
    return sorted(set(sensors)), warnings


def _long_join(name_col: ColumnPlan, unit_col: ColumnPlan | None) -> str:
    cond = f"m.n = s.{name_col.sql_name}"
    if unit_col is not None:
        cond += f" AND m.u IS NOT DISTINCT FROM s.{unit_col.sql_name}"
    return f"JOIN {_NAME_MAP} m ON {cond}"


def _insert_long(
    con: duckdb.DuckDBPyConnection, plan: CsvPlan, equipment_id: str, source_id: int
) -> None:
    name_col = next(c for c in plan.columns if c.role == "sensor_name")
    value_col = next(c for c in plan.columns if c.role == "value_long")
    unit_col = next((c for c in plan.columns if c.role == "unit_long"), None)
    v = f"s.{value_col.sql_name} * m.scale + m.offset"
    con.execute(
        "INSERT INTO measurements_long (equipment_id, sensor_id, ts, value, source_id) "
        f"SELECT ?, m.sensor_id, s.__ts, CASE WHEN isfinite({v}) THEN {v} END, ? "
        f"FROM {_STAGE} s {_long_join(name_col, unit_col)} "
        f"WHERE s.{value_col.sql_name} IS NOT NULL ORDER BY m.sensor_id, s.__ts",
        [equipment_id, source_id],
    )
