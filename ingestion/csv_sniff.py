"""Sniffing a CSV log: from its first lines, how to read it (encoding, delimiter, decimal mark,
preamble, header and unit rows, time column(s) and format, layout) and which column feeds which
sensor of a profile. The result is a :class:`~ingestion.csv_plan.CsvPlan` for the import
(:func:`ingestion.csv_import.ingest_csv`), ``--dry-run`` and the import dialog's preview.
"""

from __future__ import annotations

import csv
import itertools
import re
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Final

from ingestion.csv_columns import (
    ColumnLookup,
    column_lookup,
    detect_layout,
    norm_name,
    plan_long,
    plan_wide,
    split_header,
)
from ingestion.csv_plan import ColumnPlan, CsvFormatError, CsvOptions, CsvPlan, CsvTable
from ingestion.profiles import EquipmentProfile
from ingestion.timestamps import (
    TimeSpec,
    TimestampError,
    detect_date_time_pair,
    detect_time_spec,
    is_utc,
    missing_start_error,
    user_time_spec,
    zone,
)
from ingestion.units import is_unit

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
PREVIEW_LINES: Final = 12  # data lines the import dialog shows below the header


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
    except PermissionError:
        raise CsvFormatError(
            f"{path}: permission denied: you may not read this file. Copy it somewhere you "
            "can read it, or ask for read access."
        ) from None
    except OSError as exc:
        raise CsvFormatError(f"{path}: cannot read the file ({exc.strerror}).") from None
    utf16 = _utf16_order(raw)
    if utf16 == "be":
        raise CsvFormatError(
            f"{path}: UTF-16 big-endian text, which the CSV reader cannot read. Save the log "
            "as UTF-8 (or UTF-16 little-endian, what Windows calls 'Unicode') and import it."
        )
    if utf16 == "le":
        encoding = encoding or "utf-16"
    if encoding == "utf-16":
        text = raw.removeprefix(b"\xff\xfe").decode("utf-16-le", errors="replace")
        if not complete and "\n" not in text:
            raise _no_line_break(path)
        return "utf-16", text, complete
    if raw.strip(b"\xef\xbb\xbf \t\r\n") == b"":
        raise CsvFormatError(
            f"{path}: the file is empty. Export the log again; it needs a time column and data rows."
        )
    if b"\x00" in raw or _looks_binary(raw):
        raise CsvFormatError(
            f"{path}: this is a binary file, not CSV text: it looks like {binary_kind(raw)}. "
            "Export the logger's data as CSV/text, or check that you picked the right file."
        )
    if not complete and b"\n" not in raw and b"\r" not in raw:
        raise _no_line_break(path)
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


def _utf16_order(raw: bytes) -> str | None:
    """``le``/``be`` for UTF-16 text (with or without a byte-order mark), else None: text in
    a Latin script has a zero byte in every other position."""
    if raw.startswith(b"\xff\xfe"):
        return "le"
    if raw.startswith(b"\xfe\xff"):
        return "be"
    head = raw[: 4096 - 4096 % 2]
    if len(head) < 8:
        return None
    even, odd = head[0::2], head[1::2]
    zeros_even, zeros_odd = even.count(0) / len(even), odd.count(0) / len(odd)
    if zeros_odd > 0.9 and zeros_even < 0.1:
        return "le"
    if zeros_even > 0.9 and zeros_odd < 0.1:
        return "be"
    return None


def _no_line_break(path: Path) -> CsvFormatError:
    return CsvFormatError(
        f"{path}: line 1 is longer than {SAMPLE_BYTES // 1024} kB and has no line break: this is "
        "not a CSV log (or its lines end in a character HydroDiag does not know). Export the "
        "log again as CSV text."
    )


_MAGIC: tuple[tuple[int, bytes, str], ...] = (
    (0, b"PK\x03\x04", "a ZIP archive (an Excel .xlsx workbook is one: save it as CSV in Excel)"),
    (0, b"\xd0\xcf\x11\xe0", "an old Excel/Office document (.xls: save it as CSV in Excel)"),
    (0, b"%PDF", "a PDF document"),
    (0, b"\x89PNG", "a PNG image"),
    (0, b"\xff\xd8\xff", "a JPEG image"),
    (0, b"\x1f\x8b", "a gzip-compressed file (unpack it first)"),
    (0, b"7z\xbc\xaf", "a 7-Zip archive (unpack it first)"),
    (0, b"Rar!", "a RAR archive (unpack it first)"),
    (0, b"SQLite format 3", "an SQLite database"),
    (8, b"DUCK", "a DuckDB database (a HydroDiag workspace? open it with File → Open workspace)"),
    (0, b"\x7fELF", "a program (ELF executable)"),
    (0, b"MZ", "a Windows program or library"),
)


def binary_kind(raw: bytes) -> str:
    """What a binary file looks like, in words, from its first bytes: 'a PDF document', ...;
    'binary data (no known file type)' when nothing fits."""
    for offset, magic, words in _MAGIC:
        if raw[offset : offset + len(magic)] == magic:
            return words
    if len(raw) >= 4 and raw[1:4:2] == b"\x00\x00" and raw[0] and raw[2]:
        return "text in UTF-16 without a byte-order mark (save it as UTF-8 text)"
    return "binary data (no known file type; a logger's own format?)"


def _looks_binary(raw: bytes) -> bool:
    control = sum(1 for b in raw[:4096] if b < 9 or 13 < b < 32)
    return control > 0.05 * min(len(raw), 4096)


def split_line(line: str, delimiter: str) -> list[str]:
    """One line's cells as the import splits them (``"`` quotes)."""
    return next(csv.reader([line], delimiter=delimiter, quotechar='"'), [])


def _choose_delimiter(lines: list[str], given: str | None, path: Path) -> str:
    if given:
        return "\t" if given in {"\\t", "tab", "TAB"} else given
    tail = lines[len(lines) // 3 :] or lines
    best: tuple[float, int, str] | None = None
    for delim in DELIMITERS:
        counts = [len(split_line(line, delim)) for line in tail]
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


def sniff_csv(path: Path, profile: EquipmentProfile, options: CsvOptions | None = None) -> CsvPlan:
    """Decide how to read ``path`` for ``profile``; raises CsvFormatError with what to give."""
    return plan_table(sniff_table(path, options), profile)


def sniff_table(path: Path, options: CsvOptions | None = None) -> CsvTable:
    """Read the first lines of ``path`` and decide everything no profile is needed for:
    encoding, delimiter, decimal mark, preamble, header and unit rows, the time column(s) and
    their format, the layout. :func:`plan_table` then maps it for a profile, as often as
    needed without reading the file again."""
    options = options or CsvOptions()
    path = Path(path)
    encoding, text, complete = _read_sample(path, options.encoding)
    numbered, options = _sampled_lines(path, text, complete, options)
    delimiter = _choose_delimiter([ln for _, ln in numbered], options.delimiter, path)
    rows = [(n, split_line(line, delimiter)) for n, line in numbered]
    decimal = options.decimal or _decimal_mark(rows, delimiter)
    notes: list[str] = []
    table = _find_table(path, rows, decimal, options, notes)
    columns = _columns(table, notes)
    column_of = column_lookup(path, columns)
    samples = {c.index: [r[c.index] for r in table.data_rows[:200]] for c in columns}
    try:
        time_spec, _ = _detect_time(path, columns, samples, options, column_of)
    except TimestampError:
        _mixed_time_format(path, columns, samples, table.data_lines[:200])
        raise
    tz = _check_tz(options.tz)
    notes += _time_notes(time_spec, tz)
    layout = options.layout or detect_layout(columns)
    if layout == "long":
        plan_long(columns, path)
    return CsvTable(
        path=path,
        encoding=encoding,
        delimiter=delimiter,
        decimal=decimal,
        header_line=table.header_line,
        units_line=table.units_line,
        data_start_line=table.data_start_line,
        layout=layout,
        columns=columns,
        time_spec=time_spec,
        tz=tz,
        notes=notes,
        mean_line_bytes=len(text.encode("utf-8", errors="replace"))
        / max(len(text.splitlines()), 1),
        options=options,
    )


def plan_table(table: CsvTable, profile: EquipmentProfile) -> CsvPlan:
    """The import's plan of ``table`` for ``profile``: which column feeds which sensor (and
    the columns ``--skip`` leaves out). ``table`` itself is left as it was."""
    plan = CsvPlan(
        **{**vars(table), "columns": [replace(c) for c in table.columns], "notes": [*table.notes]}
    )
    column_of = column_lookup(plan.path, plan.columns)
    if plan.layout == "wide":
        plan_wide(plan.path, plan.columns, profile, plan.options, column_of)
    for ref in plan.options.skip:
        column_of(ref).role = "skipped"
    return plan


def _sampled_lines(
    path: Path, text: str, complete: bool, options: CsvOptions
) -> tuple[list[tuple[int, str]], CsvOptions]:
    """The sample's non-blank lines with their 1-based numbers; an Excel ``sep=;`` first line
    is taken out and becomes the delimiter (and a line to skip) unless options say otherwise."""
    all_lines = text.splitlines()
    if not complete and all_lines:
        all_lines = all_lines[:-1]  # the last sampled line may be cut
    all_lines = all_lines[:SAMPLE_LINES]
    numbered = [(i + 1, line) for i, line in enumerate(all_lines) if line.strip()]
    if not numbered:
        raise CsvFormatError(f"{path}: the file is empty (only blank lines).")
    excel_sep = re.fullmatch(r"\s*sep=(.)\s*", numbered[0][1])
    if excel_sep:  # Excel's "sep=;" first line names the delimiter
        numbered = numbered[1:]
        if options.delimiter is None:
            options = options.model_copy(update={"delimiter": excel_sep.group(1)})
        if options.skip_rows is None:
            options = options.model_copy(update={"skip_rows": 1})
        if not numbered:
            raise CsvFormatError(f"{path}: the file is empty (only a 'sep=' line).")
    return numbered, options


def _decimal_mark(rows: list[tuple[int, list[str]]], delimiter: str) -> str:
    """Only when the delimiter is not a comma can a comma be the decimal mark."""
    if delimiter == ",":
        return "."
    cells = [c.strip() for _, r in rows[-50:] for c in r]
    comma = sum(1 for c in cells if re.match(r"^[+-]?\d+,\d+$", c))
    dot = sum(1 for c in cells if re.match(r"^[+-]?\d+\.\d+$", c))
    return "," if comma > dot else "."


@dataclass
class _Table:
    """Where the table sits in the sampled lines."""

    header_line: int | None
    units_line: int | None
    data_start_line: int
    headers: list[str]
    units: list[str | None]
    data_rows: list[list[str]]  # the sampled data rows of the table's width
    data_lines: list[int]  # their 1-based line numbers


def _find_table(
    path: Path,
    rows: list[tuple[int, list[str]]],
    decimal: str,
    options: CsvOptions,
    notes: list[str],
) -> _Table:
    """Preamble, header row, unit row and first data row of the sampled ``rows``."""
    width = Counter(len(r) for _, r in rows[len(rows) // 3 :] or rows).most_common(1)[0][0]
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
    data = [(n, r) for n, r in rows[k:] if len(r) == width]
    return _Table(
        header_line,
        units_line,
        rows[k][0],
        headers,
        units,
        [r for _, r in data],
        [n for n, _ in data],
    )


def _columns(table: _Table, notes: list[str]) -> list[ColumnPlan]:
    """A plan per column, named and with its unit from the header (or unit row)."""
    columns: list[ColumnPlan] = []
    for i, header in enumerate(table.headers):
        name, unit = split_header(header) if table.header_line else (header, None)
        columns.append(
            ColumnPlan(
                index=i,
                name=name,
                header=header if table.header_line else "",
                unit=table.units[i] or unit,
            )
        )
    for c in columns:
        # a trailing delimiter on every line makes a nameless, empty last column
        if (
            table.header_line
            and not c.header.strip()
            and not any(r[c.index].strip() for r in table.data_rows)
        ):
            c.role = "skipped"
    dups = [h for h, n in Counter(c.header for c in columns if c.header).items() if n > 1]
    if dups:
        notes.append(
            f"duplicate column name(s) {', '.join(map(repr, dups))}: refer to them by position"
        )
    return columns


def _time_notes(time_spec: TimeSpec, tz: str | None) -> list[str]:
    notes = []
    if "assumed" in time_spec.description:
        notes.append(f"time format {time_spec.description}")
    if time_spec.kind == "epoch" and time_spec.epoch_unit == "auto":
        notes.append(
            "the time stamps mix epoch units (seconds, milliseconds, ...): each was read by "
            "its magnitude (1990..2100 in exactly one unit)"
        )
    if time_spec.kind == "iso_tz" and tz:
        notes.append(f"time stamps carry their own UTC offset; --tz {tz} is not applied")
    if time_spec.kind in {"iso", "format", "relative"} and not tz:
        notes.append("time stamps have no zone and were taken as UTC (give --tz if they are local)")
    return notes


def _check_tz(tz: str | None) -> str | None:
    """The zone of naive time stamps (None for UTC); an unknown name is refused."""
    if is_utc(tz):
        return None
    assert tz is not None
    zone(tz)
    return tz.strip()


def _detect_time(
    path: Path,
    columns: list[ColumnPlan],
    samples: dict[int, list[str]],
    options: CsvOptions,
    column_of: ColumnLookup,
) -> tuple[TimeSpec, list[ColumnPlan]]:
    """The time column(s) and their format: as given, else by name, else by content."""
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

    named = [c for c in columns if norm_name(c.name) in {norm_name(n) for n in _TIME_NAMES}]
    dates = [c for c in named if norm_name(c.name) in {norm_name(n) for n in _DATE_NAMES}]
    clocks = [c for c in named if norm_name(c.name) in {norm_name(n) for n in _CLOCK_NAMES}]
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


def _spec_key(spec: TimeSpec) -> tuple[str, tuple[str, ...], str]:
    """Specs that read the same values alike (ISO with and without offsets mix freely)."""
    kind = "iso" if spec.kind in {"iso", "iso_tz"} else spec.kind
    return kind, spec.formats, spec.epoch_unit


def _mixed_time_format(
    path: Path, columns: list[ColumnPlan], samples: dict[int, list[str]], lines: list[int]
) -> None:
    """When no column reads as time stamps as a whole: the column that mostly does, and the
    first line written another way, named. Returns only if there is none."""
    named = [c for c in columns if norm_name(c.name) in {norm_name(n) for n in _TIME_NAMES}]
    for c in named + [c for c in columns if c not in named]:
        values = samples[c.index]
        specs = [(n, v, detect_time_spec([v])) for n, v in zip(lines, values, strict=False)]
        specs = [(n, v, spec) for n, v, spec in specs if v.strip()]
        if not specs or specs[0][2] is None:
            continue
        first_line, first_value, first_spec = specs[0]
        assert first_spec is not None
        key = _spec_key(first_spec)
        alike = sum(1 for _, _, spec in specs if spec is not None and _spec_key(spec) == key)
        if alike < max(2, len(specs) // 2):
            continue
        odd = next(((n, v, sp) for n, v, sp in specs if sp is None or _spec_key(sp) != key), None)
        if odd is None:
            return  # every sampled value reads alike: not a mix of formats
        line, value, spec = odd
        how = "is not a time stamp" if spec is None else "is written differently"
        raise TimestampError(
            f"{path}, line {line}, {c.label()}: {value.strip()!r} {how} from the lines before "
            f"it (line {first_line}: {first_value.strip()!r}, {first_spec.description}). A log "
            "must write every time stamp the same way: fix that line (and any like it) or "
            "export the log again."
        )


def _first(values: list[str]) -> str:
    return next((v for v in values if v.strip()), "")


def _assign_time_roles(chosen: list[ColumnPlan]) -> None:
    if len(chosen) == 1:
        chosen[0].role = "time"
    else:
        chosen[0].role, chosen[1].role = "date", "clock"


# --- what the import dialog shows -------------------------------------------------------------


def preview_rows(plan: CsvTable, lines: int = PREVIEW_LINES) -> list[tuple[int, list[str]]]:
    """The first lines of the file as the import will split them: (line number, cells)."""
    rows: list[tuple[int, list[str]]] = []
    with plan.path.open(encoding=plan.encoding, errors="replace", newline="") as fh:
        reader = csv.reader(fh, delimiter=plan.delimiter)
        for number, cells in enumerate(reader, start=1):
            if number > (plan.data_start_line + lines):
                break
            rows.append((number, cells))
    return rows


def long_names(plan: CsvTable, limit: int = 400) -> list[tuple[str, str | None]]:
    """The distinct (sensor name, unit) pairs in the first data lines of a long file."""
    name_col = next(c for c in plan.columns if c.role == "sensor_name")
    unit_col = next((c for c in plan.columns if c.role == "unit_long"), None)
    seen: dict[str, str | None] = {}
    with plan.path.open(encoding=plan.encoding, errors="replace", newline="") as fh:
        for number, cells in enumerate(csv.reader(fh, delimiter=plan.delimiter), start=1):
            if number < plan.data_start_line:
                continue
            if number >= plan.data_start_line + limit:
                break
            if len(cells) > name_col.index:
                name = cells[name_col.index].strip()
                unit = (
                    cells[unit_col.index].strip()
                    if unit_col and len(cells) > unit_col.index
                    else None
                )
                if name and name not in seen:
                    seen[name] = unit or None
    return list(seen.items())
