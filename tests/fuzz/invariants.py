"""The fuzz suite's one invariant, in code: an input either imports correctly (exit 0), or is
refused with a sentence naming the file, line or field (exit 1), and then the workspace is
unchanged, row for row. No other ending (a traceback, an internal error, a half-written
workspace) is allowed."""

from __future__ import annotations

import re
from typing import Any

import duckdb

from ingestion.errors import HydroDiagError

# What a refusal must point at: a line, a column, a field, an option, or a named file-level
# property (binary, empty, encoding, ...).
_POINTER = re.compile(
    r"line \d+|:\d+\b|column|field|\bsensors?\b|--[a-z-]+|registers?\[|groups?\[|"
    r"components?|connections?|binary|empty|encoding|UTF|header|time stamp|zone|"
    r"not a HydroDiag|no data rows|nothing to import|profile|delimiter|separated|folder|"
    r"permission|no such file|not found|unit",
    re.IGNORECASE,
)


def workspace_rows(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[Any, ...]]:
    """Every table and view of the workspace as (row count, order-free hash of its rows),
    plus the view definitions: equal snapshots mean the same rows, row for row."""
    out: dict[str, tuple[Any, ...]] = {}
    tables = con.execute(
        "SELECT table_name, temporary FROM duckdb_tables() ORDER BY table_name"
    ).fetchall()
    for name, temporary in tables:
        row = con.execute(f'SELECT count(*), sum(hash(t)) FROM "{name}" t').fetchone()
        out[f"{'temp ' if temporary else ''}{name}"] = tuple(row or ())
    for name, sql in con.execute(
        "SELECT view_name, sql FROM duckdb_views() WHERE NOT internal ORDER BY view_name"
    ).fetchall():
        out[f"view {name}"] = (sql,)
    return out


def check_refusal(exc: BaseException, *names: str) -> str:
    """The message of a refusal, after checking it is one: a HydroDiagError (never another
    exception), that names one of ``names`` (the file, or the option) and points at a line,
    column or field."""
    assert isinstance(exc, HydroDiagError), f"{type(exc).__name__}: {exc}"
    message = str(exc)
    assert message.strip(), "an empty error message"
    assert "Traceback" not in message
    if names:
        assert any(n in message for n in names), f"names none of {names}: {message}"
    assert _POINTER.search(message), f"points at no line, column or field: {message}"
    return message


def check_cli_ending(code: int, out: str, err: str) -> None:
    """A CLI run ended as the invariant allows: 0, or 1 with an ``error:`` sentence (not an
    internal error), or argparse's usage error (2) naming the argument; never a traceback."""
    assert "Traceback" not in out + err, err
    if code == 0:
        return
    if code == 2:
        assert "error: argument" in err or "error: the following arguments" in err, err
        return
    assert code == 1, (code, err)
    first = err.strip().splitlines()[0] if err.strip() else ""
    assert first.startswith("error: "), err
    assert "internal error" not in first, err
