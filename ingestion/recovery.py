"""Closing the books of live recordings whose recorder died (``kill -9``, a crash, power loss).

A recording commits its source with status ``live`` and appends to it flush by flush, each
flush one transaction that also adds its rows and values to the source's counts. A recorder
that dies never marks its source complete. Whoever next opens the workspace for writing
finds such sources here: a source whose recorder (host, PID and process start time, stored
in its options when it began) is no longer running is marked ``interrupted``, its counts and
time range taken from what its flushes committed, with a warning saying so.
"""

from __future__ import annotations

import json
import os
import socket
from typing import Any, Final

import duckdb
import psutil

INTERRUPTED: Final = "interrupted"
INTERRUPTED_WARNING: Final = (
    "the recording stopped without being closed (its program was killed, crashed or lost "
    "power); everything written before that is kept"
)


def recorder_identity() -> dict[str, Any]:
    """This process as the recorder of a live source: host, PID and start time (a PID alone
    is reused by the system)."""
    return {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "started": round(psutil.Process().create_time(), 2),
    }


def recorder_running(identity: Any) -> bool:
    """Whether the recorder ``identity`` (from :func:`recorder_identity`) is still running.

    A recorder on another host cannot be checked from here and counts as running: its
    workspace is on a shared drive, and only that host can close its books.
    """
    if not isinstance(identity, dict):
        return False
    if identity.get("host") != socket.gethostname():
        return True
    try:
        process = psutil.Process(int(identity.get("pid", -1)))
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        return bool(abs(process.create_time() - float(identity.get("started", 0.0))) < 0.05)
    except (psutil.Error, ValueError, TypeError):
        return False


def close_interrupted_recordings(con: duckdb.DuckDBPyConnection) -> list[int]:
    """Mark every ``live`` source whose recorder is gone as ``interrupted``, with the counts
    and time range of what it stored; returns their ids. One transaction."""
    rows = con.execute("SELECT id, options FROM sources WHERE status = 'live'").fetchall()
    dead = []
    for source_id, options in rows:
        try:
            recorder = json.loads(options).get("recorder") if options else None
        except (ValueError, AttributeError):
            recorder = None
        if not recorder_running(recorder):
            dead.append(int(source_id))
    if not dead:
        return []
    con.execute("BEGIN TRANSACTION")
    try:
        for source_id in dead:
            _close(con, source_id)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return dead


def _close(con: duckdb.DuckDBPyConnection, source_id: int) -> None:
    row = con.execute(
        "SELECT count(*), min(ts), max(ts), count(DISTINCT ts) FROM measurements_long "
        "WHERE source_id = ?",
        [source_id],
    ).fetchone()
    assert row is not None
    values, first, last, distinct_ts = int(row[0]), row[1], row[2], int(row[3])
    current = con.execute(
        "SELECT row_count, warnings FROM sources WHERE id = ?", [source_id]
    ).fetchone()
    assert current is not None
    # Each flush adds its acquisitions to row_count in the transaction that writes them;
    # recordings begun before that was so have 0 there: count their time stamps instead.
    rows = int(current[0]) if current[0] else distinct_ts
    warnings = json.loads(current[1]) if current[1] else []
    warnings.append(INTERRUPTED_WARNING + (f" (last sample at {last} UTC)" if last else ""))
    con.execute(
        "UPDATE sources SET status = ?, row_count = ?, value_count = ?, first_ts = ?, "
        "last_ts = ?, warnings = ?, error = ? WHERE id = ?",
        [
            INTERRUPTED,
            rows,
            values,
            first,
            last,
            json.dumps(warnings),
            "recorder stopped without closing the recording",
            source_id,
        ],
    )
