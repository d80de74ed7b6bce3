"""The workspace: one DuckDB file holding equipment, sources, measurements, labels and diagnoses.

Open it with :func:`open_workspace`. Every import or write that must be all-or-nothing runs in
``with store.transaction():``; on any exception DuckDB rolls the whole thing back.
One connection per thread: call :meth:`Store.cursor` in worker threads.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from ingestion.errors import HydroDiagError
from ingestion.schema import MIGRATIONS, SCHEMA_VERSION


class WorkspaceError(HydroDiagError):
    """The workspace file cannot be opened or is of a newer schema than this program knows."""


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
        raise WorkspaceError(
            f"{source}: workspace schema version {version} is newer than this HydroDiag "
            f"understands ({SCHEMA_VERSION}). Update HydroDiag to open it."
        )
    for target in range(version + 1, SCHEMA_VERSION + 1):
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(MIGRATIONS[target - 1])
            con.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", [str(target)])
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise


def open_workspace(path: Path | str | None = None, *, read_only: bool = False) -> Store:
    """Open (creating and migrating if needed) the workspace at ``path``; ``None`` = in memory."""
    if path is None:
        con = duckdb.connect(":memory:")
        migrate(con, ":memory:")
        return Store(con, None)
    file = Path(path).expanduser()
    if not read_only:
        file.parent.mkdir(parents=True, exist_ok=True)
    try:
        con = duckdb.connect(str(file), read_only=read_only)
    except duckdb.IOException as exc:
        raise WorkspaceError(
            f"{file}: cannot open the workspace ({exc}). Is another HydroDiag using it, "
            "or is it not a HydroDiag workspace?"
        ) from None
    if not read_only:
        migrate(con, str(file))
    return Store(con, file)
