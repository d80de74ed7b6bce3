"""Polling a PLC over Modbus into a :class:`~ingestion.live_writer.LiveWriter`.

:class:`ModbusPoller` reads a register map's poll groups on schedule (contiguous ranges in
batches, timestamp at acquisition), reconnects with exponential backoff and records the outage
in ``gaps``. Nothing is ever invented to fill an outage.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

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
        backoff = self.backoff_s[0]
        self.client.connect()
        try:
            while not self.stop.is_set():
                now = time.monotonic()
                if t_end is not None and now >= t_end:
                    break
                if self._outage_since is not None and not self.client.connected:
                    if not self.client.connect():
                        self.stop.wait(min(backoff, max((t_end or now + backoff) - now, 0)))
                        backoff = min(backoff * 2, self.backoff_s[1])
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
                    backoff = self.backoff_s[0]
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
            t0 = now_us()
            try:
                registers = self.client.read_registers(batch.table, batch.address, batch.count)
            except ModbusReadError as exc:
                self.stats.failed_reads += 1
                ok = False
                if exc.connection:
                    self._begin_outage(str(exc))
                    return False
                self.stats.exception_responses += 1
                self._warn_batch(batch, str(exc))
                continue
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
