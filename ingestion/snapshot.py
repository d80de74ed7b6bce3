"""A copy of one equipment's data in a workspace file of its own, for work in another process.

DuckDB lets one process at a time open a workspace file once it is open for writing, and the
desktop app keeps its workspace open. Work that runs in a separate process (the retraining
tab's training worker) therefore reads a snapshot: a new workspace file with the equipment's
profile, sources, measurements (wide imports become long rows), cycles, labels, gaps and
inspections, copied through the app's own connection in one read. Diagnoses and models are not
copied: the worker never writes into the real workspace, so a cancelled or failed run leaves it
as it was.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from ingestion.errors import HydroDiagError
from ingestion.workspace import Store, open_workspace

# table -> the columns copied and the filter that keeps one equipment's rows
_TABLES: tuple[tuple[str, str, str], ...] = (
    (
        "profiles",
        "*",
        "(id, sha256) IN (SELECT profile_id, profile_sha256 FROM equipment WHERE id = $eq)",
    ),
    ("equipment", "*", "id = $eq"),
    ("inspections", "*", "equipment_id = $eq"),
    ("sources", "*", "equipment_id = $eq"),
    ("cycles", "*", "equipment_id = $eq"),
    ("labels", "*", "equipment_id = $eq"),
    ("gaps", "*", "equipment_id = $eq"),
)


def snapshot_equipment(store: Store, equipment_id: str, dest: Path) -> int:
    """Write ``equipment_id``'s data into a new workspace file ``dest``; returns the number of
    measurement rows copied.

    Raises:
        HydroDiagError: the equipment is not in the workspace, or ``dest`` exists.
    """
    con = store.cursor()
    known = con.execute("SELECT count(*) FROM equipment WHERE id = ?", [equipment_id]).fetchone()
    if not known or not known[0]:
        raise HydroDiagError(f"equipment {equipment_id!r} is not in this workspace.")
    if dest.exists():
        raise HydroDiagError(f"{dest} exists already; choose a new file for the snapshot.")
    dest.parent.mkdir(parents=True, exist_ok=True)
    open_workspace(dest).close()  # the schema, at this program's version
    alias = f"snapshot_{uuid.uuid4().hex[:12]}"
    con.execute(f"ATTACH '{_quoted(dest)}' AS {alias}")
    try:
        con.execute("BEGIN TRANSACTION")
        try:
            params = {"eq": equipment_id}
            for table, columns, where in _TABLES:
                con.execute(
                    f"INSERT INTO {alias}.{table} SELECT {columns} FROM {table} WHERE {where}",
                    params,
                )
            con.execute(
                f"INSERT INTO {alias}.measurements_long SELECT equipment_id, sensor_id, ts, "
                "value, source_id FROM measurements WHERE equipment_id = $eq "
                "ORDER BY source_id, sensor_id, ts",
                params,
            )
            row = con.execute(f"SELECT count(*) FROM {alias}.measurements_long").fetchone()
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    finally:
        con.execute(f"DETACH {alias}")
        con.close()
    return int(row[0]) if row else 0


def _quoted(path: Path) -> str:
    return str(path).replace("'", "''")
