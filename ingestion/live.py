"""A live recording: a feed (:mod:`ingestion.modbus.poller`, :mod:`ingestion.csv_follower`)
running in its own thread into a :class:`~ingestion.live_writer.LiveWriter` that this one
flushes, with rolling diagnosis, for a duration; and the summary of what it stored.

The recording's source is begun and completed through :func:`ingestion.catalog.begin_live_source`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ingestion.errors import HydroDiagError
from ingestion.live_writer import LiveWriter
from ingestion.modbus.poller import PollerStats


@dataclass
class LiveSummary:
    source_id: int
    seconds: float
    values_written: int
    values_dropped: int
    gaps: int
    flushes: int
    failed_flushes: int
    flush_ms_p50: float | None
    flush_ms_p99: float | None
    diagnoses: list[str]
    poller: PollerStats | None = None

    @classmethod
    def from_run(
        cls,
        source_id: int,
        seconds: float,
        writer: LiveWriter,
        diagnoses: list[str],
        poller: PollerStats | None,
    ) -> LiveSummary:
        flush = writer.stats.flush_ms
        return cls(
            source_id=source_id,
            seconds=seconds,
            values_written=writer.stats.values_written,
            values_dropped=writer.stats.values_dropped,
            gaps=writer.stats.gaps_written,
            flushes=writer.stats.flushes,
            failed_flushes=writer.stats.failed_flushes,
            flush_ms_p50=float(np.percentile(flush, 50)) if flush else None,
            flush_ms_p99=float(np.percentile(flush, 99)) if flush else None,
            diagnoses=diagnoses,
            poller=poller,
        )

    def describe(self) -> str:
        lines = [
            f"live feed stopped after {self.seconds:.0f} s: {self.values_written} values stored "
            f"in {self.flushes} flushes (source {self.source_id})",
        ]
        if self.flush_ms_p50 is not None:
            lines.append(
                f"  flush latency p50 {self.flush_ms_p50:.1f} ms, p99 {self.flush_ms_p99:.1f} ms"
            )
        if self.poller is not None:
            p = self.poller
            lines.append(
                f"  reads {p.reads}, failed {p.failed_reads} (Modbus exceptions "
                f"{p.exception_responses}), reconnects {p.reconnects}, gaps {len(p.gaps)}"
            )
            for name, g in p.groups.items():
                jit = np.percentile(g.jitter_ms, [50, 99]) if g.jitter_ms else [0.0, 0.0]
                lines.append(
                    f"  group {name}: {g.polls} polls at {1 / g.period_s:g} Hz, missed ticks "
                    f"{g.missed_ticks}, jitter p50 {jit[0]:.2f} ms p99 {jit[1]:.2f} ms"
                )
        if self.failed_flushes:
            lines.append(f"  {self.failed_flushes} flushes failed and were retried")
        if self.values_dropped:
            lines.append(f"  {self.values_dropped} values dropped (buffer full), recorded as a gap")
        lines += [f"  diagnosis: {d}" for d in self.diagnoses]
        return "\n".join(lines)


def run_live_session(
    writer: LiveWriter,
    feed: Callable[[threading.Event], None],
    *,
    duration_s: float | None,
    flush_interval_s: float = 1.0,
    diagnose_every_s: float | None = None,
    diagnose: Callable[[], str] | None = None,
    stop: threading.Event | None = None,
    progress: Callable[[str], None] | None = None,
) -> tuple[float, list[str]]:
    """Run ``feed(stop)`` in a thread, flush every ``flush_interval_s`` in this one, diagnose
    every ``diagnose_every_s``; stop after ``duration_s`` (or when ``stop`` is set or Ctrl-C).
    Returns (seconds run, diagnosis summaries)."""
    stop = stop or threading.Event()
    error: list[BaseException] = []

    def _feed() -> None:
        try:
            feed(stop)
        except BaseException as exc:  # surfaced to the caller after the final flush
            error.append(exc)
            stop.set()

    thread = threading.Thread(target=_feed, name="live-feed", daemon=True)
    started = time.monotonic()
    next_diag = started + diagnose_every_s if diagnose_every_s else None
    diagnoses: list[str] = []
    thread.start()
    try:
        while thread.is_alive():
            thread.join(timeout=flush_interval_s)
            writer.flush()
            now = time.monotonic()
            if progress is not None:
                progress(
                    f"{now - started:6.0f} s  stored {writer.stats.values_written} values, "
                    f"buffered {writer.pending_values}"
                )
            if next_diag is not None and diagnose is not None and now >= next_diag:
                next_diag = now + (diagnose_every_s or 0)
                try:
                    diagnoses.append(diagnose())
                except HydroDiagError as exc:
                    diagnoses.append(f"not diagnosed: {exc}")
                    writer.warn(f"rolling diagnosis failed: {exc}")
                if progress is not None:
                    progress(f"diagnosis: {diagnoses[-1]}")
            if duration_s is not None and now - started >= duration_s:
                stop.set()
    except KeyboardInterrupt:
        stop.set()
    finally:
        stop.set()
        thread.join(timeout=10.0)
        for _ in range(5):  # last flush; retried briefly if the database is still busy
            if writer.flush():
                break
            time.sleep(0.5)
    if error and not isinstance(error[0], KeyboardInterrupt):
        raise error[0]
    return time.monotonic() - started, diagnoses
