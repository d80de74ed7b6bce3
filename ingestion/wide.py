"""Wide measurement tables: one per wide CSV import, and the ``measurements`` view over them.

A wide CSV import writes its rows as they are in the file: ``wide_<source_id> (ts, v0, v1, ...)``,
one DOUBLE column per sensor. That is 20x fewer rows than the long layout for a 20-sensor log
and makes the import about as fast as DuckDB's bare ``read_csv`` (tests/benchmarks/bench_ingest.py).
``wide_tables`` records each table with its column -> sensor map. Cell semantics match the long
layout: an empty cell (NULL) is no sample; NaN/inf are kept in the table and read as a NULL value
(an explicit gap).

Everything that reads measurements keeps reading the ``measurements`` view: the long table
``measurements_long`` UNION ALL each wide table unpivoted. :func:`refresh_view` rebuilds it;
call it in the same transaction that adds or drops a wide table, so a rollback restores both.
:func:`sample_branches` gives the queries in :mod:`ingestion.queries` the same rows for a few
sensors without going through the view.

Table and column names come from source ids and positions only; sensor and equipment ids appear
in SQL as quoted string literals.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import duckdb

from ingestion.workspace import utc_now

LONG_TABLE = "measurements_long"


def table_name(source_id: int) -> str:
    """The wide table of a source: built from its integer id only."""
    return f"wide_{int(source_id)}"


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


@dataclass(frozen=True)
class WideTable:
    source_id: int
    table: str
    equipment_id: str
    columns: dict[str, str]  # column -> sensor id

    def column_of(self, sensor_id: str) -> str | None:
        return next((c for c, s in self.columns.items() if s == sensor_id), None)


def register(
    con: duckdb.DuckDBPyConnection, source_id: int, equipment_id: str, columns: dict[str, str]
) -> None:
    """Record a wide table (already created) and rebuild the view, in the caller's transaction."""
    con.execute(
        "INSERT INTO wide_tables (source_id, table_name, equipment_id, columns, created_at) "
        "VALUES (?, ?, ?, ?, ?)",
        [source_id, table_name(source_id), equipment_id, json.dumps(columns), utc_now()],
    )
    refresh_view(con)


def drop(con: duckdb.DuckDBPyConnection, source_id: int) -> bool:
    """Drop a source's wide table, if it has one, and rebuild the view; True when it had one."""
    row = con.execute(
        "SELECT table_name FROM wide_tables WHERE source_id = ?", [source_id]
    ).fetchone()
    if row is None:
        return False
    con.execute("DELETE FROM wide_tables WHERE source_id = ?", [source_id])
    refresh_view(con)  # the view must stop naming the table before it can be dropped
    con.execute(f"DROP TABLE IF EXISTS {table_name(source_id)}")
    return True


def wide_tables(con: duckdb.DuckDBPyConnection, equipment_id: str | None = None) -> list[WideTable]:
    sql = "SELECT source_id, equipment_id, columns FROM wide_tables"
    params: list[object] = []
    if equipment_id is not None:
        sql += " WHERE equipment_id = ?"
        params.append(equipment_id)
    rows = con.execute(sql + " ORDER BY source_id", params).fetchall()
    return [
        WideTable(
            source_id=int(sid),
            table=table_name(int(sid)),
            equipment_id=eq,
            columns=json.loads(cols),
        )
        for sid, eq, cols in rows
    ]


def find(con: duckdb.DuckDBPyConnection, source_id: int) -> WideTable | None:
    return next((w for w in wide_tables(con) if w.source_id == source_id), None)


def _value(column: str) -> str:
    return f"CASE WHEN isfinite({column}) THEN {column} END"


def view_sql(tables: Sequence[WideTable]) -> str:
    """``measurements``: the long rows, then one branch per wide column (NULL cells = no row).

    One branch per column rather than UNPIVOT: a filter on sensor_id folds away every branch
    of another sensor, and a filter on ts reaches each table's zone maps.
    """
    parts = [f"SELECT equipment_id, sensor_id, ts, value, source_id FROM {LONG_TABLE}"]
    for w in tables:
        for column, sensor in w.columns.items():
            parts.append(
                f"SELECT {_lit(w.equipment_id)} AS equipment_id, {_lit(sensor)} AS sensor_id, "
                f"ts, {_value(column)} AS value, CAST({w.source_id} AS INTEGER) AS source_id "
                f"FROM {w.table} WHERE {column} IS NOT NULL"
            )
    return "CREATE OR REPLACE VIEW measurements AS\n" + "\nUNION ALL\n".join(parts)


def refresh_view(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(view_sql(wide_tables(con)))


def sample_branches(
    con: duckdb.DuckDBPyConnection,
    equipment_id: str,
    sensor_ids: Sequence[str],
    lo_us: int | None = None,
    hi_us: int | None = None,
) -> tuple[str, list[object]]:
    """SQL (and its parameters) of the rows ``(s, ts, value)`` of the asked sensors, ``s`` being
    the sensor's position in ``sensor_ids``, optionally only ``lo_us <= ts < hi_us``.

    The long table is read with a filter on sensor id; each wide table only for the columns of
    asked sensors, straight (no unpivot of the other columns).
    """
    bounds = ""
    if lo_us is not None:
        bounds += f" AND ts >= make_timestamp({int(lo_us)})"
    if hi_us is not None:
        bounds += f" AND ts < make_timestamp({int(hi_us)})"
    positions = " ".join(f"WHEN {_lit(s)} THEN {i}" for i, s in enumerate(sensor_ids))
    parts = [
        f"SELECT CAST(CASE sensor_id {positions} END AS INTEGER) AS s, ts, value "
        f"FROM {LONG_TABLE} WHERE equipment_id = ? "
        f"AND sensor_id IN ({', '.join(_lit(s) for s in sensor_ids)}){bounds}"
    ]
    for w in wide_tables(con, equipment_id):
        for i, sensor in enumerate(sensor_ids):
            column = w.column_of(sensor)
            if column is not None:
                parts.append(
                    f"SELECT CAST({i} AS INTEGER) AS s, ts, {_value(column)} AS value "
                    f"FROM {w.table} WHERE {column} IS NOT NULL{bounds}"
                )
    return "\nUNION ALL\n".join(parts), [equipment_id]
