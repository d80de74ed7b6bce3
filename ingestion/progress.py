"""Progress and cancellation for long work, decoupled from any UI.

Long functions take a ``progress: Progress`` argument and call ``progress.update(done, total)``
now and then; the terminal passes :class:`TerminalProgress` (rows/s and ETA on stderr once the
work has run for more than a second), the GUI passes an object that emits a Qt signal, tests
pass nothing (:data:`NO_PROGRESS`). ``progress.cancelled`` lets a caller stop the work: the
function raises :class:`CancelledError` and its transaction rolls back.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Protocol, TextIO

import duckdb

from ingestion.errors import HydroDiagError


class CancelledError(HydroDiagError):
    """The user cancelled; nothing was written."""


class Progress(Protocol):
    """What long-running functions report to."""

    @property
    def cancelled(self) -> bool: ...

    def start(self, task: str, total: int | None = None, unit: str = "rows") -> None: ...

    def update(self, done: int, total: int | None = None) -> None: ...

    def finish(self) -> None: ...


class NullProgress:
    """Reports nowhere; never cancelled."""

    cancelled = False

    def start(self, task: str, total: int | None = None, unit: str = "rows") -> None:
        pass

    def update(self, done: int, total: int | None = None) -> None:
        pass

    def finish(self) -> None:
        pass


NO_PROGRESS = NullProgress()


def check_cancelled(progress: Progress) -> None:
    if progress.cancelled:
        raise CancelledError("cancelled by the user; the workspace is unchanged.")


def _human(n: float) -> str:
    for factor, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= factor:
            return f"{n / factor:.1f}{suffix}"
    return f"{n:.0f}"


class TerminalProgress:
    """One self-overwriting stderr line with done/total, rate and ETA; silent for work < 1 s."""

    cancelled = False

    def __init__(
        self, stream: TextIO | None = None, *, delay_s: float = 1.0, interval_s: float = 0.25
    ) -> None:
        self._stream = stream if stream is not None else sys.stderr
        self._delay_s = delay_s
        self._interval_s = interval_s
        self._task = ""
        self._unit = "rows"
        self._total: int | None = None
        self._started = 0.0
        self._last_print = 0.0
        self._shown = False
        self._done = 0

    def start(self, task: str, total: int | None = None, unit: str = "rows") -> None:
        self.finish()
        self._task, self._total, self._unit = task, total, unit
        self._started = time.perf_counter()
        self._last_print = 0.0
        self._shown = False
        self._done = 0

    def update(self, done: int, total: int | None = None) -> None:
        if total is not None:
            self._total = total
        self._done = done
        now = time.perf_counter()
        if now - self._started < self._delay_s or now - self._last_print < self._interval_s:
            return
        self._last_print = now
        self._write(now)

    def _write(self, now: float) -> None:
        elapsed = max(now - self._started, 1e-9)
        rate = self._done / elapsed
        text = f"{self._task}: {_human(self._done)}"
        if self._total:
            pct = 100.0 * self._done / self._total
            text += f"/{_human(self._total)} {self._unit} ({pct:.0f} %)"
        else:
            text += f" {self._unit}"
        text += f", {_human(rate)} {self._unit}/s"
        if self._total and rate > 0 and self._done < self._total:
            eta = (self._total - self._done) / rate
            text += f", ETA {eta:.0f} s"
        self._stream.write("\r" + text.ljust(78))
        self._stream.flush()
        self._shown = True

    def finish(self) -> None:
        if self._shown:
            self._write(time.perf_counter())
            self._stream.write("\n")
            self._stream.flush()
        self._shown = False


def execute_with_progress(
    con: duckdb.DuckDBPyConnection,
    sql: str,
    params: list[object],
    progress: Progress,
    total: int,
    *,
    interval_s: float = 0.25,
) -> None:
    """Run one long statement, reporting DuckDB's own progress as ``total * fraction``.

    A watcher thread polls ``query_progress()`` (DuckDB releases the GIL while it works) and
    interrupts the statement if the user cancels; the caller's transaction then rolls back.
    """
    finished = threading.Event()

    def watch() -> None:
        while not finished.wait(interval_s):
            fraction = con.query_progress()
            if fraction >= 0:
                progress.update(int(total * min(fraction, 100.0) / 100.0))
            if progress.cancelled:
                con.interrupt()
                return

    con.execute("SET enable_progress_bar = true")
    con.execute("SET enable_progress_bar_print = false")
    watcher = threading.Thread(target=watch, name="duckdb-progress", daemon=True)
    watcher.start()
    try:
        con.execute(sql, params)
    except duckdb.InterruptException:
        raise CancelledError("cancelled by the user; the workspace is unchanged.") from None
    finally:
        finished.set()
        watcher.join()
    progress.update(total)
