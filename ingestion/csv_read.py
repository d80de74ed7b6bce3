"""DuckDB's CSV reader set up from a :class:`~ingestion.csv_plan.CsvPlan`, and, only when it
refuses the file, a second, diagnostic read that says which line and column are wrong."""

from __future__ import annotations

import duckdb

from ingestion.csv_plan import CsvFormatError, CsvPlan
from ingestion.csv_sniff import split_line
from ingestion.timestamps import localize_table, sql_quote


def read_csv_sql(plan: CsvPlan, types: dict[str, str], *, rejects: bool = False) -> str:
    """``read_csv(...)`` with everything explicit: DuckDB's own sniffer stays out of it."""
    columns = "{" + ", ".join(f"{sql_quote(k)}: {sql_quote(v)}" for k, v in types.items()) + "}"
    parts = [
        sql_quote(str(plan.read_path or plan.path)),
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


def column_types(plan: CsvPlan) -> dict[str, str]:
    """Each column's SQL type: numbers for the values, text for everything else."""
    types = {}
    for c in plan.columns:
        types[c.sql_name] = "DOUBLE" if c.role in {"value", "value_long"} else "VARCHAR"
    return types


def time_expr(plan: CsvPlan) -> str:
    """The SQL expression of a row's time stamp from its time column(s): UTC, or the log's
    wall-clock time when it has a zone (:func:`localize_rows` then makes it UTC)."""
    cols = plan.time_columns()
    if len(cols) == 2:
        text = f"({cols[0].sql_name} || ' ' || {cols[1].sql_name})"
    else:
        text = cols[0].sql_name
    return plan.time_spec.expression(text, None)


def localize_rows(
    con: duckdb.DuckDBPyConnection, plan: CsvPlan, table: str, column: str
) -> list[str]:
    """Turn the wall-clock times of ``table.column`` (rows in file order) into UTC per the
    plan's zone; notes for the summary. A time the clocks skipped is refused with its line."""
    if plan.tz is None or not plan.time_spec.local:
        return []

    def describe_row(index: int) -> tuple[str, str]:
        line, text = line_of_row(plan, index)
        cols = plan.time_columns()
        value = " ".join(_cell(text, plan.delimiter, c.index) for c in cols)
        return f"{plan.path}, line {line}, {' + '.join(c.label() for c in cols)}", value

    return localize_table(con, table, plan.tz, column=column, describe_row=describe_row)


def diagnose_read_error(plan: CsvPlan, types: dict[str, str], exc: duckdb.Error) -> CsvFormatError:
    """Re-read with DuckDB's rejects table in a scratch database and describe the first problems."""
    scratch = duckdb.connect()
    try:
        # every column must be referenced, or DuckDB skips converting it and finds no error
        touch = ", ".join(f"count({name})" for name in types)
        scratch.execute(f"SELECT {touch} FROM {read_csv_sql(plan, types, rejects=True)}").fetchall()
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
            found = len(split_line(raw, plan.delimiter))
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
        long_line = _first_long_line(plan)
        if long_line is not None:
            line, size = long_line
            problems.append(
                f"line {line} is {size:,} bytes long; no log line is longer than "
                f"{MAX_LINE_BYTES:,} bytes, so the file is damaged there (a lost line break?)"
            )
        else:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            problems.append(first)
    more = f" (and {len(rows) - 5} more)" if len(rows) > 5 else ""
    return CsvFormatError(
        f"{plan.path}: cannot read the file{more}:\n  - "
        + "\n  - ".join(problems)
        + "\nFix or delete these lines (or export again); nothing was imported."
    )


MAX_LINE_BYTES = 2_000_000  # DuckDB's read_csv max_line_size default


def _first_long_line(plan: CsvPlan) -> tuple[int, int] | None:
    """(1-based line, bytes) of the first line longer than DuckDB reads, scanning in blocks."""
    line, length = 1, 0
    with plan.path.open("rb") as fh:
        while block := fh.read(1 << 20):
            start = 0
            while (end := block.find(b"\n", start)) >= 0:
                length += end - start
                if length > MAX_LINE_BYTES:
                    return line, length
                line, length, start = line + 1, 0, end + 1
            length += len(block) - start
    return (line, length) if length > MAX_LINE_BYTES else None


def _cell(raw: str, delimiter: str, index: int) -> str:
    cells = split_line(raw, delimiter)
    return cells[index].strip() if index < len(cells) else ""


def line_of_row(plan: CsvPlan, row: int) -> tuple[int, str]:
    """(1-based file line, text) of the data row with 0-based index ``row`` (blank lines skipped)."""
    encoding = {"utf-8": "utf-8-sig", "latin-1": "latin-1", "utf-16": "utf-16"}[plan.encoding]
    if plan.encoding == "utf-16":
        with plan.path.open("rb") as fh:  # without a byte-order mark: little-endian, as DuckDB
            encoding = "utf-16" if fh.read(2) == b"\xff\xfe" else "utf-16-le"
    seen = -1
    with plan.path.open("r", encoding=encoding, errors="replace", newline="") as fh:
        for number, line in enumerate(fh, start=1):
            if number < plan.data_start_line or not line.strip():
                continue
            seen += 1
            if seen == row:
                return number, line.rstrip("\r\n")
    return plan.data_start_line + row, ""


def diagnose_time(plan: CsvPlan) -> CsvFormatError:
    """Find the first row whose time stamp is missing or unparseable (scratch database)."""
    scratch = duckdb.connect()
    try:
        scratch.execute("SET TimeZone = 'UTC'")
        scratch.execute(
            f"CREATE TABLE st AS SELECT {time_expr(plan)} AS __ts "
            f"FROM {read_csv_sql(plan, column_types(plan))}"
        )
        row = scratch.execute(
            "SELECT count(*), min(rowid) FILTER (WHERE __ts IS NULL), count_if(__ts IS NULL) "
            "FROM st"
        ).fetchone()
    finally:
        scratch.close()
    assert row is not None
    return time_error(plan, int(row[1] or 0), int(row[2] or 0))


def time_error(plan: CsvPlan, index: int, bad: int) -> CsvFormatError:
    """The error naming data row ``index`` (0-based), the first of ``bad`` rows without a time."""
    line, text = line_of_row(plan, index)
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
