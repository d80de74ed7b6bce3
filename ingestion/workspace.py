"""The workspace: one DuckDB file holding equipment, sources, measurements, labels and diagnoses.

Open it with :func:`open_workspace`. Every import or write that must be all-or-nothing runs in
``with store.transaction():``; on any exception DuckDB rolls the whole thing back.
One connection per thread: call :meth:`Store.cursor` in worker threads.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import duckdb

from ingestion.errors import HydroDiagError
from ingestion.schema import APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION


class WorkspaceError(HydroDiagError):
    """The workspace file cannot be opened, belongs to another program, or is of a newer
    schema than this program knows."""


def utc_now() -> datetime:
    """Current UTC time as the naive datetime the schema stores."""
    return datetime.now(UTC).replace(tzinfo=None)


class Store:
    """A thin owner of the DuckDB connection; domain queries live in the modules that need them."""

    def __init__(self, con: duckdb.DuckDBPyConnection, path: Path | None) -> None:
        self.con = con
        self.path = path
        # Naive timestamps are UTC throughout; without this, casts to TIMESTAMPTZ would use the
        # laptop's zone and imports would differ between machines.
        con.execute("SET TimeZone = 'UTC'")
        # DuckDB would draw its own progress bar on the terminal; ours (ingestion.progress) is
        # the one the CLI and GUI show.
        con.execute("SET enable_progress_bar_print = false")

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A new cursor for use in another thread (DuckDB connections are not thread-safe)."""
        return self.con.cursor()

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        self.con.execute("BEGIN TRANSACTION")
        try:
            yield self.con
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        else:
            self.con.execute("COMMIT")

    @property
    def schema_version(self) -> int:
        row = self.con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        return int(row[0]) if row else 0

    def query(
        self, sql: str, params: list[Any] | tuple[Any, ...] | None = None
    ) -> list[tuple[Any, ...]]:
        return self.con.execute(sql, params or []).fetchall()

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _current_version(con: duckdb.DuckDBPyConnection) -> int:
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'meta'"
    ).fetchone()
    if not exists or exists[0] == 0:
        return 0
    row = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    return int(row[0]) if row else 0


def migrate(con: duckdb.DuckDBPyConnection, source: str) -> None:
    """Bring the schema up to ``SCHEMA_VERSION``, one transaction per migration."""
    version = _current_version(con)
    if version > SCHEMA_VERSION:
        raise WorkspaceError(_newer_message(source, version))
    for target in range(version + 1, SCHEMA_VERSION + 1):
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(MIGRATIONS[target - 1])
            con.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", [str(target)])
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise


def _newer_message(source: str, version: int) -> str:
    return (
        f"{source}: workspace schema version {version} is newer than this HydroDiag "
        f"understands ({SCHEMA_VERSION}). Update HydroDiag to open it; the file was not changed."
    )


# --- what a file is, before anything is written to it ------------------------------------------

# Tables every HydroDiag workspace has had since schema v1: a file with a `meta` table that
# holds a schema version and these tables is one of ours even before v3 stored the
# application id.
_CORE_TABLES: Final = frozenset({"meta", "profiles", "equipment", "sources", "cycles", "labels"})


def _describe_open_error(file: Path, exc: duckdb.Error) -> WorkspaceError:
    """A sentence for DuckDB's refusal to open ``file``: locked, not a database, unreadable."""
    text = str(exc)
    if "not a valid DuckDB database" in text or "not a DuckDB" in text:
        return WorkspaceError(
            f"{file}: not a HydroDiag workspace (not a valid DuckDB database at all). Pick the "
            "workspace file, or give --workspace a new file name to start one."
        )
    holder = re.search(r"Conflicting lock is held in (.*?) \(PID (\d+)\)", text)
    if holder:
        return WorkspaceError(
            f"{file}: the workspace is in use by another program ({Path(holder.group(1)).name}, "
            f"PID {holder.group(2)}). Close it (or wait for it to finish) and try again."
        )
    if "Permission denied" in text or "Read-only file system" in text:
        return WorkspaceError(
            f"{file}: permission denied. HydroDiag needs to read the workspace (and, to change "
            "it, to write it and a journal file beside it); copy it to a folder you can write "
            "to, or fix its permissions."
        )
    first = text.splitlines()[0] if text else type(exc).__name__
    return WorkspaceError(
        f"{file}: cannot open the workspace ({first}). Is another HydroDiag using it, "
        "or is it not a HydroDiag workspace?"
    )


def _inspect(file: Path) -> int:
    """The schema version of the workspace ``file`` (0 for an empty DuckDB file), opened
    read-only so that a foreign or newer file is refused without being touched.

    Raises:
        WorkspaceError: not a DuckDB file, another program's database, a newer workspace,
            or the file cannot be opened (locked, permissions).
    """
    try:
        con = duckdb.connect(str(file), read_only=True)
    except duckdb.Error as exc:
        raise _describe_open_error(file, exc) from None
    try:
        tables = {
            str(r[0])
            for r in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'"
            ).fetchall()
        }
        if not tables:
            return 0  # an empty database: made a workspace on first write
        meta: dict[str, str] = {}
        if "meta" in tables:
            try:
                meta = {
                    str(k): str(v) for k, v in con.execute("SELECT key, value FROM meta").fetchall()
                }
            except duckdb.Error:
                meta = {}
        app = meta.get("application_id")
        ours = app == APPLICATION_ID or (
            app is None and "schema_version" in meta and tables >= _CORE_TABLES
        )
        if not ours:
            shown = ", ".join(sorted(tables)[:6]) + (", ..." if len(tables) > 6 else "")
            owner = f" (application id {app!r})" if app else ""
            raise WorkspaceError(
                f"{file}: a DuckDB database of another program{owner}, not a HydroDiag "
                f"workspace (it holds the tables {shown}). HydroDiag leaves it unchanged; "
                "give --workspace a new file name to start a workspace."
            )
        try:
            version = int(meta.get("schema_version", "0"))
        except ValueError:
            version = -1
        if version < 1:
            raise WorkspaceError(
                f"{file}: the workspace's schema version {meta.get('schema_version')!r} is "
                "not a number HydroDiag wrote; the file was not changed."
            )
        if version > SCHEMA_VERSION:
            raise WorkspaceError(_newer_message(str(file), version))
        return version
    finally:
        con.close()


def _died_recordings(file: Path) -> bool:
    """Whether ``file`` holds a recording whose recorder is gone (looked at read-only)."""
    from ingestion.recovery import recorder_running

    try:
        con = duckdb.connect(str(file), read_only=True)
    except duckdb.Error:
        return False
    try:
        rows = con.execute("SELECT options FROM sources WHERE status = 'live'").fetchall()
    except duckdb.Error:
        return False
    finally:
        con.close()
    for (options,) in rows:
        try:
            recorder = json.loads(options).get("recorder") if options else None
        except (ValueError, AttributeError):
            recorder = None
        if not recorder_running(recorder):
            return True
    return False


def _check_writable(file: Path) -> None:
    """Refuse, before DuckDB fails half-way, a workspace whose file or folder is read-only:
    every change goes through a journal (``<file>.wal``) created beside the file."""
    folder = file.parent
    if folder.exists() and not os.access(folder, os.W_OK | os.X_OK):
        raise WorkspaceError(
            f"{file}: the folder {folder} is read-only, and HydroDiag must create its journal "
            f"({file.name}.wal) there to change the workspace. Copy the workspace to a folder "
            "you can write to (or use --workspace with a new file there)."
        )
    if file.exists() and not os.access(file, os.R_OK | os.W_OK):
        raise WorkspaceError(
            f"{file}: the workspace file is read-only for you. Copy it to a folder you can "
            "write to, or fix its permissions."
        )


_CONFIG: Final[dict[str, str | bool | int | float | list[str]]] = {"memory_limit": "1GB"}
"""DuckDB's own memory (its cache of the file and what queries hold) stays under this; beyond it
DuckDB evicts and spills to ``<workspace>.tmp``. Its default, 80 % of the RAM, let a week-long
import or diagnosis grow the process by gigabytes of cached blocks (tests/benchmarks/bench_scale.py)."""


def open_workspace(path: Path | str | None = None, *, read_only: bool = False) -> Store:
    """Open (creating and migrating if needed) the workspace at ``path``; ``None`` = in memory.

    An existing file is looked at read-only first: a DuckDB file of another program, a
    workspace of a newer HydroDiag, or a file that is no database at all is refused with a
    sentence and left exactly as it was. An older workspace is migrated (opened for writing).
    Opening for writing also closes the books of recordings whose recorder died
    (:func:`ingestion.recovery.close_interrupted_recordings`).
    """
    if path is None:
        con = duckdb.connect(":memory:", config=_CONFIG)
        migrate(con, ":memory:")
        return Store(con, None)
    file = Path(path).expanduser()
    if file.is_dir():
        raise WorkspaceError(
            f"{file}: is a folder, not a workspace file. Give a file name, e.g. "
            f"--workspace {file / 'workspace.duckdb'}."
        )
    exists = file.exists()
    if exists:
        version = _inspect(file)
        if read_only and version == SCHEMA_VERSION and _died_recordings(file):
            # A reader is the next HydroDiag too: close the books of recordings whose recorder
            # died before showing them (when the file can be written; else they show as 'live').
            with suppress(WorkspaceError):
                open_workspace(file).close()
    elif read_only:
        raise WorkspaceError(
            f"{file}: no workspace there. Import data first (`hydrodiag ingest ...`) or point "
            "--workspace at an existing file."
        )
    else:
        version = 0
    if not read_only:
        if not file.parent.exists():
            try:
                file.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise WorkspaceError(
                    f"{file}: cannot create the folder {file.parent} ({exc.strerror})."
                ) from None
        _check_writable(file)
    try:
        con = duckdb.connect(str(file), read_only=read_only, config=_CONFIG)
    except duckdb.Error as exc:
        raise _describe_open_error(file, exc) from None
    store = Store(con, file)
    if not read_only:
        try:
            if version < SCHEMA_VERSION:
                migrate(con, str(file))
            from ingestion.pyramid import build_missing
            from ingestion.recovery import close_interrupted_recordings

            close_interrupted_recordings(con)
            build_missing(con)  # a workspace from before the view pyramid (v5)
        except duckdb.Error as exc:
            con.close()
            raise _describe_open_error(file, exc) from None
        except BaseException:
            con.close()
            raise
    return store
