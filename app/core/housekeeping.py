"""Housekeeping of a workspace: delete an import, a diagnosis, an inspection or a whole
equipment, rename an equipment or an inspection — each in one transaction, with nothing left
behind that points at what was deleted. Qt-free; the app asks for confirmation first, with the
sentence :func:`describe_deletion` gives.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

import duckdb

from ingestion import catalog
from ingestion.errors import HydroDiagError
from ingestion.workspace import Store

Kind = Literal["equipment", "inspection", "source", "diagnosis"]
KIND_TITLES: Final[dict[Kind, str]] = {
    "equipment": "equipment",
    "inspection": "inspection",
    "source": "import",
    "diagnosis": "diagnosis",
}

# Every table that refers to another row, and the column it refers with (orphan check).
_REFERENCES: Final[tuple[tuple[str, str, str, str], ...]] = (
    # (table, column, referenced table, referenced column)
    ("inspections", "equipment_id", "equipment", "id"),
    ("sources", "equipment_id", "equipment", "id"),
    ("sources", "inspection_id", "inspections", "id"),
    ("measurements_long", "source_id", "sources", "id"),
    ("measurements_long", "equipment_id", "equipment", "id"),
    ("wide_tables", "source_id", "sources", "id"),
    ("cycles", "source_id", "sources", "id"),
    ("cycles", "equipment_id", "equipment", "id"),
    ("labels", "equipment_id", "equipment", "id"),
    ("labels", "source_id", "sources", "id"),
    ("labels", "inspection_id", "inspections", "id"),
    ("gaps", "source_id", "sources", "id"),
    ("gaps", "equipment_id", "equipment", "id"),
    ("diagnoses", "equipment_id", "equipment", "id"),
    ("diagnoses", "inspection_id", "inspections", "id"),
    ("health_history", "diagnosis_id", "diagnoses", "id"),
    ("health_history", "equipment_id", "equipment", "id"),
    ("recommendations", "diagnosis_id", "diagnoses", "id"),
    ("recommendations", "equipment_id", "equipment", "id"),
)


class HousekeepingError(HydroDiagError):
    """What was asked for cannot be done (it is not there, or the name is not allowed)."""


@dataclass(frozen=True)
class Deletion:
    kind: Kind
    key: str | int
    title: str  # "equipment 'Press 7' (press-7)"
    removes: tuple[str, ...]  # "2 imports (1,234 values)", "5 diagnoses", ...
    keeps: tuple[str, ...] = ()  # what stays, said so (an inspection's imports, say)

    def sentence(self) -> str:
        """The confirmation's text: what goes, what stays, that it cannot be undone."""
        text = f"Delete {self.title}"
        text += f" with {_join(self.removes)}?" if self.removes else "?"
        if self.keeps:
            text += f" {_join(self.keeps).capitalize()} stay in the workspace."
        return text + " This cannot be undone."


def _join(parts: tuple[str, ...]) -> str:
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def _count(store: Store, sql: str, params: list[object]) -> int:
    row = store.query(sql, params)
    return int(row[0][0] or 0) if row else 0


def _n(count: int, word: str, plural: str = "") -> str:
    return f"{count:,} {word if count == 1 else plural or word + 's'}"


def describe_deletion(store: Store, kind: Kind, key: str | int) -> Deletion:
    """What deleting ``kind`` ``key`` removes (and keeps), for the confirmation."""
    if kind == "equipment":
        row = store.query("SELECT name FROM equipment WHERE id = ?", [key])
        if not row:
            raise HousekeepingError(f"There is no equipment {key!r} in this workspace.")
        values = _count(store, "SELECT sum(value_count) FROM sources WHERE equipment_id = ?", [key])
        removes: tuple[str, ...] = (
            _n(_count(store, "SELECT count(*) FROM sources WHERE equipment_id = ?", [key]), "import")
            + f" ({values:,} values)",
            _n(_count(store, "SELECT count(*) FROM diagnoses WHERE equipment_id = ?", [key]),
               "diagnosis", "diagnoses"),
            _n(_count(store, "SELECT count(*) FROM inspections WHERE equipment_id = ?", [key]), "inspection"),
        )  # fmt: skip
        return Deletion(kind, key, f"equipment '{row[0][0]}' ({key})", removes)
    if kind == "source":
        row = store.query("SELECT uri, kind, value_count FROM sources WHERE id = ?", [key])
        if not row:
            raise HousekeepingError(f"There is no import #{key} in this workspace.")
        uri, source_kind, values = row[0]
        name = str(uri).replace("\\", "/").rsplit("/", 1)[-1] or str(uri)
        labels = _count(store, "SELECT count(*) FROM labels WHERE source_id = ?", [key])
        removes = tuple(
            p
            for p in (
                f"its {int(values):,} values" if values else "",
                _n(labels, "label range") if labels else "",
            )
            if p
        )
        keeps: tuple[str, ...] = ("diagnoses made from it",) if source_kind != "labels" else ()
        return Deletion(kind, key, f"the {source_kind} import '{name}'", removes, keeps)
    if kind == "diagnosis":
        if not store.query("SELECT 1 FROM diagnoses WHERE id = ?", [key]):
            raise HousekeepingError(f"There is no diagnosis #{key} in this workspace.")
        return Deletion(kind, key, f"diagnosis #{key}", ("its health history and recommendations",))
    row = store.query("SELECT started_at, site FROM inspections WHERE id = ?", [key])
    if not row:
        raise HousekeepingError(f"There is no inspection #{key} in this workspace.")
    started, site = row[0]
    sources = _count(store, "SELECT count(*) FROM sources WHERE inspection_id = ?", [key])
    diagnoses = _count(store, "SELECT count(*) FROM diagnoses WHERE inspection_id = ?", [key])
    keeps = tuple(
        p
        for p in (
            _n(sources, "import") if sources else "",
            _n(diagnoses, "diagnosis", "diagnoses") if diagnoses else "",
        )
        if p
    )
    title = f"the inspection of {started:%Y-%m-%d}" + (f" at {site}" if site else "")
    return Deletion(kind, key, title, ("its customer, site, inspector and notes",), keeps)


def delete(store: Store, kind: Kind, key: str | int) -> Deletion:
    """Delete ``kind`` ``key`` and everything that belongs to it, in one transaction."""
    what = describe_deletion(store, kind, key)
    with store.transaction() as con:
        if kind == "source":
            catalog.delete_source(con, int(key))
        elif kind == "diagnosis":
            _delete_diagnoses(con, "id = ?", [key])
        elif kind == "inspection":
            for table in ("sources", "diagnoses", "labels"):
                con.execute(
                    f"UPDATE {table} SET inspection_id = NULL WHERE inspection_id = ?", [key]
                )
            con.execute("DELETE FROM inspections WHERE id = ?", [key])
        else:
            profile = con.execute(
                "SELECT profile_id, profile_sha256 FROM equipment WHERE id = ?", [key]
            ).fetchall()[0]
            ids = [int(r[0]) for r in con.execute(
                "SELECT id FROM sources WHERE equipment_id = ?", [key]).fetchall()]  # fmt: skip
            for source_id in ids:
                catalog.delete_source(con, source_id)
            _delete_diagnoses(con, "equipment_id = ?", [key])
            for table in ("labels", "gaps", "cycles", "measurements_long", "inspections"):
                con.execute(f"DELETE FROM {table} WHERE equipment_id = ?", [key])
            con.execute("DELETE FROM equipment WHERE id = ?", [key])
            # Its copy of the profile goes with it, unless another equipment uses that copy.
            con.execute(
                "DELETE FROM profiles p WHERE p.id = ? AND p.sha256 = ? AND NOT EXISTS "
                "(SELECT 1 FROM equipment e WHERE e.profile_id = p.id AND e.profile_sha256 = p.sha256)",
                list(profile),
            )
    return what


def _delete_diagnoses(con: duckdb.DuckDBPyConnection, where: str, params: list[object]) -> None:
    ids = f"SELECT id FROM diagnoses WHERE {where}"
    for table in ("health_history", "recommendations"):
        con.execute(f"DELETE FROM {table} WHERE diagnosis_id IN ({ids})", params)
    con.execute(f"DELETE FROM diagnoses WHERE {where}", params)


def rename_equipment(store: Store, equipment_id: str, name: str) -> None:
    """Give an equipment another name (its id, which everything refers to, stays)."""
    name = name.strip()
    if not name:
        raise HousekeepingError("An equipment needs a name; it may not be empty.")
    with store.transaction() as con:
        if not con.execute("SELECT 1 FROM equipment WHERE id = ?", [equipment_id]).fetchall():
            raise HousekeepingError(f"There is no equipment {equipment_id!r} in this workspace.")
        con.execute("UPDATE equipment SET name = ? WHERE id = ?", [name, equipment_id])


def rename_inspection(store: Store, inspection_id: int, site: str) -> None:
    """Name an inspection by its site (the tree shows it with the date and the inspector)."""
    with store.transaction() as con:
        if not con.execute("SELECT 1 FROM inspections WHERE id = ?", [inspection_id]).fetchall():
            raise HousekeepingError(f"There is no inspection #{inspection_id} in this workspace.")
        con.execute("UPDATE inspections SET site = ? WHERE id = ?", [site.strip(), inspection_id])


def orphan_counts(store: Store) -> dict[str, int]:
    """Rows that refer to a row no longer there, per ``table.column`` (all 0 when sound), and
    wide tables no longer registered. (A profile copy no equipment uses is not counted: other
    parts of the workspace may keep profiles of their own.)"""
    out: dict[str, int] = {}
    for table, column, ref_table, ref_column in _REFERENCES:
        out[f"{table}.{column}"] = _count(
            store,
            f"SELECT count(*) FROM {table} t WHERE t.{column} IS NOT NULL AND NOT EXISTS "
            f"(SELECT 1 FROM {ref_table} r WHERE r.{ref_column} = t.{column})",
            [],
        )
    registered = {str(r[0]) for r in store.query("SELECT table_name FROM wide_tables")}
    present = {
        str(r[0])
        for r in store.query(
            "SELECT table_name FROM duckdb_tables() "
            "WHERE regexp_matches(table_name, '^wide_[0-9]+$')"
        )
    }
    out["wide tables without a source"] = len(present - registered)
    return out
