"""The workspace's catalogue: equipment and their profiles, imported sources and labels.

Every importer keeps the same books, through :func:`importing_source`: hash the input, skip it
if this equipment already has a complete source with that hash (or, with ``force``, delete
that source and everything it brought), make sure the equipment exists with its profile copied
into the workspace, begin the source, write the data, complete the source with its counts; all
in one transaction. A live recording begins its source with :func:`begin_live_source` and
completes it when it stops.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Final

import duckdb
from pydantic import BaseModel, ConfigDict

from ingestion import wide
from ingestion.digests import BackgroundHash
from ingestion.errors import HydroDiagError
from ingestion.profiles import EquipmentProfile, validate_profile_data
from ingestion.progress import NO_PROGRESS, Progress
from ingestion.workspace import Store, open_workspace, utc_now


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class EquipmentError(HydroDiagError):
    """Unknown equipment, or an equipment / profile mismatch."""


def profile_digest(profile: EquipmentProfile) -> str:
    """sha256 of the profile's canonical JSON: two equal profiles have the same digest."""
    body = json.dumps(profile.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def _store_profile(con: duckdb.DuckDBPyConnection, profile: EquipmentProfile) -> str:
    digest = profile_digest(profile)
    con.execute(
        "INSERT INTO profiles (id, version, sha256, body, added_at) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT DO NOTHING",
        [profile.id, profile.version, digest, profile.model_dump_json(), utc_now()],
    )
    return digest


def equipment_profile(con: duckdb.DuckDBPyConnection, equipment_id: str) -> EquipmentProfile:
    """The profile (as copied into the workspace) of an existing equipment."""
    row = con.execute(
        "SELECT p.body FROM equipment e JOIN profiles p "
        "ON p.id = e.profile_id AND p.sha256 = e.profile_sha256 WHERE e.id = ?",
        [equipment_id],
    ).fetchone()
    if row is None:
        known = [r[0] for r in con.execute("SELECT id FROM equipment ORDER BY id").fetchall()]
        raise EquipmentError(
            f"no equipment {equipment_id!r} in this workspace"
            + (f" (known: {', '.join(known)})" if known else " (it holds none yet)")
            + ". Import data for it first (`hydrodiag ingest ... --equipment ID --profile ...`)."
        )
    return validate_profile_data(json.loads(row[0]), f"workspace profile of {equipment_id}")


def equipment_exists(con: duckdb.DuckDBPyConnection, equipment_id: str) -> bool:
    row = con.execute("SELECT count(*) FROM equipment WHERE id = ?", [equipment_id]).fetchone()
    return bool(row and row[0])


def ensure_equipment(
    con: duckdb.DuckDBPyConnection,
    equipment_id: str,
    profile: EquipmentProfile | None,
    *,
    default_profile: str | None = None,
    name: str | None = None,
) -> tuple[EquipmentProfile, list[str]]:
    """Create the equipment if needed and return its profile plus notes for the user.

    An existing equipment keeps its profile unless ``profile`` is a newer edit of the same
    profile id (then the equipment moves to it); a different profile id is refused, because
    its sensors would not line up with the data already stored.
    """
    notes: list[str] = []
    if equipment_exists(con, equipment_id):
        current = equipment_profile(con, equipment_id)
        if profile is None:
            return current, notes
        if profile.id != current.id:
            raise EquipmentError(
                f"equipment {equipment_id!r} uses profile {current.id!r}, not {profile.id!r}. "
                "Leave out --profile, or import into a new equipment id."
            )
        digest = profile_digest(profile)
        if digest != profile_digest(current):
            _store_profile(con, profile)
            con.execute(
                "UPDATE equipment SET profile_sha256 = ? WHERE id = ?", [digest, equipment_id]
            )
            notes.append(f"equipment {equipment_id!r} now uses the edited profile {profile.id!r}")
        return profile, notes
    if profile is None:
        if default_profile is None:
            raise EquipmentError(
                f"equipment {equipment_id!r} is new: say which machine it is with --profile "
                "(see `hydrodiag profile list`)."
            )
        from ingestion.profiles import load_profile

        profile = load_profile(default_profile)
        notes.append(f"new equipment {equipment_id!r} uses profile {profile.id!r}")
    digest = _store_profile(con, profile)
    con.execute(
        "INSERT INTO equipment (id, name, profile_id, profile_sha256, created_at) "
        "VALUES (?, ?, ?, ?, ?)",
        [equipment_id, name or equipment_id, profile.id, digest, utc_now()],
    )
    return profile, notes


class SourceRecord(_Frozen):
    """One imported file / folder / feed as recorded in ``sources``."""

    id: int
    equipment_id: str
    kind: str
    uri: str
    sha256: str | None
    row_count: int
    value_count: int
    first_ts: datetime | None
    last_ts: datetime | None
    status: str
    imported_at: datetime
    warnings: list[str] = []
    options: dict[str, Any] = {}


_SOURCE_COLUMNS = (
    "id, equipment_id, kind, uri, sha256, row_count, value_count, first_ts, last_ts, status, "
    "imported_at, warnings, options"
)


def _source(row: Sequence[Any]) -> SourceRecord:
    keys = [c.strip() for c in _SOURCE_COLUMNS.split(",")]
    data = dict(zip(keys, row, strict=True))
    data["warnings"] = json.loads(data["warnings"]) if data["warnings"] else []
    data["options"] = json.loads(data["options"]) if data["options"] else {}
    return SourceRecord.model_validate(data)


EQUIPMENT_LABEL: Final = "*"
"""The ``component_id`` of a label that concerns the whole equipment rather than one component:
the 0/1 or text label column of a log (``ingest csv --label-column``), grade 1 over its
anomalous stretches and 0 over its normal ones, the text in ``raw_value``. Condition-grade
readers (``ingestion.queries.cycle_labels``, training) leave it out."""
LOG_LABEL_ORIGIN: Final = "log"


def insert_labels(
    con: duckdb.DuckDBPyConnection,
    relation: str,
    *,
    equipment_id: str,
    origin: str,
    source_id: int | None,
    inspection_id: int | None = None,
) -> None:
    """Append the label ranges of ``relation`` to the labels table, in its order.

    ``relation`` is a registered table (or a parenthesised query) with the columns
    component_id, start_ts, end_ts, grade, fault_type and raw_value; the one INSERT every
    label writer (UCI import, label files, the demo) shares.
    """
    con.execute(
        "INSERT INTO labels (equipment_id, component_id, start_ts, end_ts, grade, fault_type, "
        "raw_value, origin, source_id, inspection_id) "
        "SELECT ?, component_id, start_ts, end_ts, grade, fault_type, raw_value, ?, ?, ? "
        f"FROM {relation}",
        [equipment_id, origin, source_id, inspection_id],
    )


def list_sources(con: duckdb.DuckDBPyConnection) -> list[SourceRecord]:
    rows = con.execute(f"SELECT {_SOURCE_COLUMNS} FROM sources ORDER BY id").fetchall()
    return [_source(r) for r in rows]


def delete_source(con: duckdb.DuckDBPyConnection, source_id: int) -> None:
    """Remove a source and everything it brought (measurements, cycles, labels, gaps)."""
    wide.drop(con, source_id)
    for table in (wide.LONG_TABLE, "cycles", "labels", "gaps", "pyramid"):
        con.execute(f"DELETE FROM {table} WHERE source_id = ?", [source_id])
    con.execute("DELETE FROM sources WHERE id = ?", [source_id])


# --- import bookkeeping -----------------------------------------------------------------------


class ImportSummary(_Frozen):
    """What an import did; ``skipped`` when the same input was already imported."""

    source_id: int
    equipment_id: str
    profile_id: str
    kind: str
    uri: str
    sha256: str
    rows: int = 0
    values: int = 0
    first_ts: datetime | None = None
    last_ts: datetime | None = None
    sensors: list[str] = []
    cycles: int = 0
    labels: int = 0
    warnings: list[str] = []
    skipped: bool = False
    replaced_source_id: int | None = None
    elapsed_s: float = 0.0

    def describe(self) -> str:
        """A few lines for the terminal."""
        if self.skipped:
            return (
                f"{self.uri}: already imported for equipment {self.equipment_id!r} as source "
                f"#{self.source_id} (same sha256 {self.sha256[:12]}…); nothing to do. "
                "Use --force to replace it."
            )
        rate = self.values / self.elapsed_s if self.elapsed_s > 0 else 0.0
        lines = [
            f"imported {self.uri} as source #{self.source_id} for equipment "
            f"{self.equipment_id!r} (profile {self.profile_id})"
            + (f", replacing source #{self.replaced_source_id}" if self.replaced_source_id else ""),
            f"  {self.rows:,} rows, {self.values:,} values, {len(self.sensors)} sensors"
            + (f", {self.cycles:,} cycles" if self.cycles else "")
            + (f", {self.labels:,} label ranges" if self.labels else ""),
            f"  time range {self.first_ts} .. {self.last_ts} (UTC)",
            f"  {self.elapsed_s:.2f} s ({rate:,.0f} values/s)",
        ]
        lines += [f"  warning: {w}" for w in self.warnings]
        return "\n".join(lines)


RefuseRepeat = Callable[[SourceRecord], Exception]
"""Builds the error that refuses a repeated import, from the earlier source it repeats."""


@dataclass(eq=False)
class SourceImport:
    """The bookkeeping of one source while it is written: its row in ``sources``, the
    equipment's profile, and the earlier import it repeats or replaces.

    Handed out by :func:`importing_source` (an import, one transaction) and
    :func:`begin_live_source` (a recording). When ``skipped`` is set, the same bytes were
    imported before and there is nothing to do; otherwise the importer writes its data under
    ``source_id`` and calls :meth:`complete`.
    """

    equipment_id: str
    kind: str
    uri: str
    profile: EquipmentProfile  # the equipment's (the caller's when skipped)
    source_id: int  # the new source, or the earlier one when skipped
    sha256: str | None  # None for a feed, and until a background hash is done
    notes: list[str] = field(default_factory=list)  # what making sure of the equipment did
    skipped: SourceRecord | None = None
    replaced: list[int] = field(default_factory=list)  # earlier sources deleted for this one
    rows: int = 0
    values: int = 0
    first_ts: datetime | None = None
    last_ts: datetime | None = None
    warnings: list[str] = field(default_factory=list)
    completed: bool = False
    transaction: duckdb.DuckDBPyConnection | None = field(default=None, repr=False)
    hasher: BackgroundHash | None = field(default=None, repr=False)
    live: Store | Path | None = field(default=None, repr=False)  # where a recording completes
    progress: Progress = field(default=NO_PROGRESS, repr=False)

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        """The import's transaction; a recording has none (its writer flushes on its own)."""
        if self.transaction is None:
            raise RuntimeError(f"source #{self.source_id} is a recording: it has no transaction")
        return self.transaction

    def complete(
        self,
        *,
        rows: int,
        warnings: Sequence[str],
        span: tuple[datetime, datetime] | None = None,
    ) -> None:
        """Mark the source complete with its ``rows`` (lines, cycles, acquisitions, ranges) and
        warnings. Values and time range are counted from its measurements; a source without
        any (label ranges) gives the ``span`` it covers. A recording's source is completed in
        a transaction of its own."""
        if self.live is None:
            from ingestion import pyramid  # numpy: not on the CLI's argument-parsing path

            pyramid.build(self.con, self.source_id, self.progress)  # a recording's grows per flush
            self._complete(self.con, rows, warnings, span)
            return
        with _transaction(self.live) as con:
            self._complete(con, rows, warnings, span)

    def interrupt(self, error: str, *, warnings: Sequence[str] = ()) -> None:
        """Close a recording that ended in an error: status 'interrupted', the counts of what
        its flushes stored, and ``error`` saying why. Only for a recording."""
        if self.live is None:
            raise RuntimeError(f"source #{self.source_id} is an import: it rolls back instead")
        with _transaction(self.live) as con:
            self._complete(con, 0, [*warnings, error], None, status="interrupted", error=error)

    def _complete(
        self,
        con: duckdb.DuckDBPyConnection,
        rows: int,
        warnings: Sequence[str],
        span: tuple[datetime, datetime] | None,
        *,
        status: str = "complete",
        error: str | None = None,
    ) -> None:
        if self.sha256 is None and self.hasher is not None:
            self.sha256 = self.hasher.result()
            con.execute("UPDATE sources SET sha256 = ? WHERE id = ?", [self.sha256, self.source_id])
        if span is None:
            self.values, self.first_ts, self.last_ts = _measured(con, self.source_id)
        else:
            self.values, (self.first_ts, self.last_ts) = 0, span
        if self.live is not None:
            # A recording's rows are the acquisitions its flushes stored (counted with them),
            # not what the feed read: samples dropped from a full buffer were never stored.
            stored = con.execute(
                "SELECT row_count FROM sources WHERE id = ?", [self.source_id]
            ).fetchone()
            rows = int(stored[0]) if stored and stored[0] else rows
        self.rows, self.warnings = rows, list(warnings)
        con.execute(
            "UPDATE sources SET row_count = ?, value_count = ?, first_ts = ?, last_ts = ?, "
            "status = ?, error = ?, warnings = ? WHERE id = ?",
            [
                rows,
                self.values,
                self.first_ts,
                self.last_ts,
                status,
                error,
                json.dumps(self.warnings),
                self.source_id,
            ],
        )
        self.completed = True

    def summary(
        self, *, elapsed_s: float, sensors: Sequence[str] = (), cycles: int = 0, labels: int = 0
    ) -> ImportSummary:
        """What the import did, for the terminal and the GUI."""
        assert self.sha256 is not None, "summary() of a source without a digest"
        return ImportSummary(
            source_id=self.source_id,
            equipment_id=self.equipment_id,
            profile_id=self.profile.id,
            kind=self.kind,
            uri=self.uri,
            sha256=self.sha256,
            rows=self.rows,
            values=self.values,
            first_ts=self.first_ts,
            last_ts=self.last_ts,
            sensors=list(sensors),
            cycles=cycles,
            labels=labels,
            warnings=self.warnings,
            skipped=self.skipped is not None,
            replaced_source_id=self.replaced[0] if self.replaced else None,
            elapsed_s=elapsed_s,
        )


@contextmanager
def importing_source(
    store: Store,
    *,
    equipment_id: str,
    kind: str,
    uri: str,
    options: Mapping[str, Any],
    digest: str | BackgroundHash | None = None,
    profile: EquipmentProfile | None = None,
    equipment_name: str | None = None,
    inspection_id: int | None = None,
    force: bool = False,
    refuse_repeat: RefuseRepeat | None = None,
    progress: Progress = NO_PROGRESS,
) -> Iterator[SourceImport]:
    """Import one input as a source of ``equipment_id``, all in one transaction.

    First the earlier import of the same bytes (``digest``) is looked for: a complete source
    with that sha256. A :class:`BackgroundHash` is waited for only if a source of the file's
    size may exist; else the digest is stored when the source completes. A repeat is skipped
    (``skipped`` set, nothing written) unless ``force``, which deletes it and everything it
    brought. With ``refuse_repeat``, a repeat is any earlier source of this ``kind`` from the
    same ``uri`` or with the same bytes, and it is refused with that error unless ``force``
    deletes them all. Then the equipment is made sure of (:func:`ensure_equipment`, with
    ``equipment_name`` for a new one) and the source begun; the block writes its data under
    ``source_id`` and calls :meth:`SourceImport.complete`. An exception, or leaving the block
    without completing the source, rolls all of it back.
    """
    hasher = digest if isinstance(digest, BackgroundHash) else None
    sha256 = digest if isinstance(digest, str) else None
    with store.transaction() as con:
        if hasher is not None:
            size = hasher.path.stat().st_size
            if _may_have_source(con, equipment_id, size):
                progress.start(f"hashing {hasher.path.name}", size, "bytes")
                sha256 = hasher.result()
        same_uri = refuse_repeat is not None
        repeats = _repeats(con, equipment_id, kind=kind, uri=uri, sha256=sha256, same_uri=same_uri)
        if repeats and not force:
            if refuse_repeat is not None:
                raise refuse_repeat(repeats[-1])
            previous = repeats[0]
            yield SourceImport(
                equipment_id=equipment_id,
                kind=kind,
                uri=uri,
                profile=profile or equipment_profile(con, equipment_id),
                source_id=previous.id,
                sha256=sha256,
                skipped=previous,
                rows=previous.row_count,
                values=previous.value_count,
                first_ts=previous.first_ts,
                last_ts=previous.last_ts,
            )
            return
        for repeat in repeats:
            delete_source(con, repeat.id)
        source = _begin(
            con,
            equipment_id=equipment_id,
            kind=kind,
            uri=uri,
            sha256=sha256,
            options=options,
            profile=profile,
            equipment_name=equipment_name,
            inspection_id=inspection_id,
            hasher=hasher,
        )
        source.replaced = [repeat.id for repeat in repeats]
        source.progress = progress
        yield source
        if not source.completed:
            raise RuntimeError(f"the import of {uri} ended without completing its source")


def begin_live_source(
    workspace: Store | Path,
    *,
    equipment_id: str,
    kind: str,
    uri: str,
    options: Mapping[str, Any],
    profile: EquipmentProfile | None = None,
) -> SourceImport:
    """Begin the source of a live recording (Modbus, a growing CSV) with status 'live'.

    The bookkeeping of :func:`importing_source` without the repeat check (a feed has no
    digest), committed at once: a recording is not one transaction. Its writer appends to the
    source in flushes of its own, and :meth:`SourceImport.complete` marks it complete at the
    end, in another transaction; one that ends in an error is closed with
    :meth:`SourceImport.interrupt`. The recorder (host, PID, start time) is stored in the
    options, so that a recording whose process died is found and marked 'interrupted' on
    the next open (:mod:`ingestion.recovery`). Validate everything the recording needs
    (profile, register map, the file it follows) before calling this.
    ``workspace`` is an open store, or the file's path for a recorder that keeps the file
    closed between flushes.
    """
    from ingestion.recovery import recorder_identity

    with _transaction(workspace) as con:
        return _begin(
            con,
            equipment_id=equipment_id,
            kind=kind,
            uri=uri,
            sha256=None,
            options={**options, "recorder": recorder_identity()},
            profile=profile,
            live=workspace,
        )


def _begin(
    con: duckdb.DuckDBPyConnection,
    *,
    equipment_id: str,
    kind: str,
    uri: str,
    sha256: str | None,
    options: Mapping[str, Any],
    profile: EquipmentProfile | None,
    equipment_name: str | None = None,
    inspection_id: int | None = None,
    hasher: BackgroundHash | None = None,
    live: Store | Path | None = None,
) -> SourceImport:
    """Make sure of the equipment and insert the source row ('importing', or 'live')."""
    profile, notes = ensure_equipment(con, equipment_id, profile, name=equipment_name)
    row = con.execute(
        "INSERT INTO sources (equipment_id, inspection_id, kind, uri, sha256, status, options, "
        "imported_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        [
            equipment_id,
            inspection_id,
            kind,
            uri,
            sha256,
            "importing" if live is None else "live",
            json.dumps(dict(options), default=str),
            utc_now(),
        ],
    ).fetchone()
    assert row is not None
    return SourceImport(
        equipment_id=equipment_id,
        kind=kind,
        uri=uri,
        profile=profile,
        source_id=int(row[0]),
        sha256=sha256,
        notes=notes,
        transaction=None if live is not None else con,
        hasher=hasher,
        live=live,
    )


@contextmanager
def _transaction(workspace: Store | Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A transaction on a cursor of its own (a recording completes from another thread than
    it began on), or on the workspace file opened for it."""
    store = (
        Store(workspace.cursor(), workspace.path)
        if isinstance(workspace, Store)
        else open_workspace(workspace)
    )
    with store, store.transaction() as con:
        yield con


def _repeats(
    con: duckdb.DuckDBPyConnection,
    equipment_id: str,
    *,
    kind: str,
    uri: str,
    sha256: str | None,
    same_uri: bool,
) -> list[SourceRecord]:
    """Earlier imports of the same input: the first complete source with these bytes, or (with
    ``same_uri``) every source of this kind from the same uri or with these bytes."""
    if same_uri:
        rows = con.execute(
            f"SELECT {_SOURCE_COLUMNS} FROM sources WHERE equipment_id = ? AND kind = ? "
            "AND (uri = ? OR sha256 = ?) ORDER BY id",
            [equipment_id, kind, uri, sha256],
        ).fetchall()
    elif sha256 is not None:
        rows = con.execute(
            f"SELECT {_SOURCE_COLUMNS} FROM sources WHERE equipment_id = ? AND sha256 = ? "
            "AND status = 'complete' ORDER BY id LIMIT 1",
            [equipment_id, sha256],
        ).fetchall()
    else:
        rows = []
    return [_source(r) for r in rows]


def _may_have_source(con: duckdb.DuckDBPyConnection, equipment_id: str, size: int) -> bool:
    """Whether a complete CSV source of ``size`` bytes (or of unrecorded size) exists: if not,
    a file of that size cannot be a re-import and need not be hashed before importing."""
    row = con.execute(
        "SELECT count(*) FROM sources WHERE equipment_id = ? AND status = 'complete' "
        "AND (kind <> 'csv' OR json_extract_string(options, '$.bytes') IS NULL "
        "OR json_extract_string(options, '$.bytes') = ?)",
        [equipment_id, str(size)],
    ).fetchone()
    return bool(row and row[0])


def _measured(
    con: duckdb.DuckDBPyConnection, source_id: int
) -> tuple[int, datetime | None, datetime | None]:
    """(values, first, last) of what a source wrote to the measurements."""
    table = wide.find(con, source_id)
    if table is None:
        row = con.execute(
            f"SELECT count(*), min(ts), max(ts) FROM {wide.LONG_TABLE} WHERE source_id = ?",
            [source_id],
        ).fetchone()
    else:  # straight from the wide table: the same numbers as through the view, one scan
        cols = list(table.columns)
        any_value = " OR ".join(f"{c} IS NOT NULL" for c in cols)
        row = con.execute(
            f"SELECT {' + '.join(f'count({c})' for c in cols)}, "
            f"min(ts) FILTER (WHERE {any_value}), max(ts) FILTER (WHERE {any_value}) "
            f"FROM {table.table}"
        ).fetchone()
    assert row is not None
    return int(row[0]), row[1], row[2]
