"""Polling a PLC over Modbus into a :class:`~ingestion.live_writer.LiveWriter`.

:class:`ModbusPoller` reads a register map's poll groups on schedule (contiguous ranges in
batches, timestamp at acquisition), and records an outage in ``gaps``. Nothing is ever invented
to fill an outage. Every failure waits before the next try (:class:`ingestion.backoff.Backoff`,
jittered, capped): a lost link before reconnecting, even when the device accepts the
connection at once and then answers garbage; a block the device refuses before it is asked
for again (the other blocks keep their schedule).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ingestion.backoff import Backoff
from ingestion.live_writer import Gap, LiveWriter, now_us
from ingestion.modbus.client import ModbusReadError, ReadOnlyModbusClient
from ingestion.modbus.registermap import ReadBatch, RegisterMap, decode_batch, plan_batches

log = logging.getLogger(__name__)


@dataclass
class GroupStats:
    period_s: float
    polls: int = 0
    missed_ticks: int = 0  # scheduled polls skipped because the poller fell behind or was down
    jitter_ms: list[float] = field(default_factory=list)


@dataclass
class PollerStats:
    groups: dict[str, GroupStats]
    reads: int = 0
    failed_reads: int = 0
    exception_responses: int = 0
    reconnects: int = 0
    gaps: list[Gap] = field(default_factory=list)
    samples: dict[str, int] = field(default_factory=dict)  # sensor → acquisitions


class ModbusPoller:
    """Polls ``register_map`` through ``client`` into ``writer`` until ``stop`` is set."""

    def __init__(
        self,
        client: ReadOnlyModbusClient,
        register_map: RegisterMap,
        writer: LiveWriter,
        *,
        max_gap: int = 0,
        backoff_s: tuple[float, float] = (0.1, 2.0),
        catch_up_s: float = 0.5,
        warn: Callable[[str], None] | None = None,
    ) -> None:
        self.client = client
        # A poll that is late by less than this is still made (back to back, with its own
        # acquisition timestamp): a busy CPU or a slow flush costs regularity, not samples.
        # Later than that, the ticks are skipped and counted as missed; no endless bursts.
        self.catch_up_s = catch_up_s
        self.register_map = register_map
        self.writer = writer
        self.plan = plan_batches(register_map, max_gap=max_gap)
        self.backoff_s = backoff_s
        # the link's: the wait before each reconnect; reset once reads have worked for a while
        self.backoff = Backoff(first_s=backoff_s[0], cap_s=backoff_s[1], settle_s=backoff_s[1])
        self._reconnect_at = 0.0
        # per refused block: when it is asked for again
        self._block_backoff: dict[int, Backoff] = {}
        self._block_retry_at: dict[int, float] = {}
        self.warn = warn or log.warning
        self.stop = threading.Event()
        self.stats = PollerStats(
            groups={g: GroupStats(register_map.group(g).period_s) for g in self.plan}
        )
        self._keys = {
            id(b): tuple(e.sensor for e in b.entries) for bs in self.plan.values() for b in bs
        }
        self._last_ok_us: int | None = None
        self._outage_since: int | None = None
        self._outage_reason = ""
        self._warned_batches: set[tuple[str, int]] = set()

    def run(self, duration_s: float | None = None) -> PollerStats:
        """Poll until ``stop`` is set or ``duration_s`` has passed; returns the statistics."""
        t_end = None if duration_s is None else time.monotonic() + duration_s
        start = time.monotonic()
        due = {g: start for g in self.plan}
        if not self.client.connect():
            self._begin_outage(f"{self.client}: cannot connect")
            self._reconnect_at = time.monotonic() + self.backoff.next()
        try:
            while not self.stop.is_set():
                now = time.monotonic()
                if t_end is not None and now >= t_end:
                    break
                if self._outage_since is not None and not self.client.connected:
                    if now < self._reconnect_at:  # back off before every reconnect
                        wait = self._reconnect_at - now
                        self.stop.wait(min(wait, max((t_end or now + wait) - now, 0)))
                        self._skip_missed(due)
                        continue
                    if not self.client.connect():
                        self._reconnect_at = time.monotonic() + self.backoff.next()
                        self._skip_missed(due)
                        continue
                    self.stats.reconnects += 1
                group = min(due, key=due.__getitem__)
                wait = due[group] - time.monotonic()
                if wait > 0:
                    if self.stop.wait(min(wait, (t_end - time.monotonic()) if t_end else wait)):
                        break
                    if time.monotonic() < due[group]:
                        continue
                gstats = self.stats.groups[group]
                gstats.jitter_ms.append((time.monotonic() - due[group]) * 1000)
                ok = self._poll_group(group)
                gstats.polls += 1
                period = gstats.period_s
                due[group] += period
                late = time.monotonic() - due[group]
                if late > max(period, self.catch_up_s):  # too far behind: skip, do not burst
                    skipped = int(late // period)
                    gstats.missed_ticks += skipped
                    due[group] += skipped * period
                if ok:
                    self.backoff.succeeded()
        finally:
            if self._outage_since is not None:
                end = now_us()
                self._record_gap(
                    self._outage_since,
                    end,
                    self._outage_reason + " (still down when the feed stopped)",
                )
            self.client.close()
        return self.stats

    def _skip_missed(self, due: dict[str, float]) -> None:
        now = time.monotonic()
        for group, t in due.items():
            period = self.stats.groups[group].period_s
            if now - t > period:
                skipped = int((now - t) // period)
                self.stats.groups[group].missed_ticks += skipped
                due[group] = t + skipped * period

    def _poll_group(self, group: str) -> bool:
        ok = True
        for batch in self.plan[group]:
            block = id(batch)
            if time.monotonic() < self._block_retry_at.get(block, 0.0):
                continue  # refused recently: backing off
            t0 = now_us()
            try:
                registers = self.client.read_registers(batch.table, batch.address, batch.count)
            except ModbusReadError as exc:
                self.stats.failed_reads += 1
                ok = False
                if exc.connection:
                    self._begin_outage(str(exc))
                    self._reconnect_at = time.monotonic() + self.backoff.next()
                    return False
                if exc.exception_code is not None:
                    self.stats.exception_responses += 1
                self._warn_batch(batch, str(exc))
                backoff = self._block_backoff.setdefault(
                    block, Backoff(first_s=self.backoff_s[0], cap_s=self.backoff_s[1])
                )
                self._block_retry_at[block] = time.monotonic() + backoff.next()
                continue
            if block in self._block_backoff:
                self._block_backoff[block].succeeded()
            t1 = now_us()
            ts = (t0 + t1) // 2  # the acquisition instant: middle of request and response
            self.stats.reads += 1
            values = decode_batch(batch, registers, self.register_map)
            key = self._keys[id(batch)]
            self.writer.add(key, ts, values)
            for sensor in key:
                self.stats.samples[sensor] = self.stats.samples.get(sensor, 0) + 1
            if self._outage_since is not None:
                self._record_gap(self._outage_since, ts, self._outage_reason)
                self._outage_since = None
                self.warn(f"{self.client}: reconnected; the outage is recorded as a gap.")
            self._last_ok_us = ts
        return ok

    def _begin_outage(self, message: str) -> None:
        if self._outage_since is not None:
            return
        self._outage_since = self._last_ok_us if self._last_ok_us is not None else now_us()
        self._outage_reason = f"connection lost: {message}"
        self.warn(f"{message}; reconnecting with backoff.")

    def _record_gap(self, start_us: int, end_us: int, reason: str) -> None:
        gap = Gap(start_us, end_us, reason)
        self.stats.gaps.append(gap)
        self.writer.add_gap(gap)

    def _warn_batch(self, batch: ReadBatch, message: str) -> None:
        key = (batch.table.value, batch.address)
        if key not in self._warned_batches:
            self._warned_batches.add(key)
            self.warn(f"{message}; sensors {', '.join(e.sensor for e in batch.entries)} skipped.")
