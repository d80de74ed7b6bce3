"""A live feed as the GUI runs it: acquire and show, record to the workspace on demand.

Qt-free. The feed (``ingestion.modbus.poller`` or ``ingestion.csv_follower``) runs in its
own thread and always fills a short in-memory display buffer; only while *recording* do its
samples also go through the :class:`~ingestion.live_writer.LiveWriter` into the workspace (a flusher
thread writes about once a second on its own cursor, and can run a rolling diagnosis). The
GUI polls :meth:`LiveSession.snapshot` on a timer, so no Qt object crosses threads.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from gnn.results import Diagnosis
from ingestion.catalog import SourceImport, begin_live_source
from ingestion.csv_follower import CsvFollower
from ingestion.errors import HydroDiagError
from ingestion.live_writer import Gap, LiveWriter, StoreSink
from ingestion.modbus.poller import ModbusPoller
from ingestion.profiles import EquipmentProfile
from ingestion.workspace import Store

if TYPE_CHECKING:
    from ingestion.modbus.registermap import RegisterMap

log = logging.getLogger(__name__)

FeedKind = Literal["modbus_tcp", "modbus_rtu", "csv"]


class LiveConfig(BaseModel):
    """What the connect dialog produces."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: FeedKind = "modbus_tcp"
    host: str = "127.0.0.1"
    port: int = Field(default=502, ge=1, le=65535)
    serial_port: str = ""
    baudrate: int = Field(default=19200, gt=0)
    parity: Literal["N", "E", "O"] = "N"
    device_id: int | None = Field(default=None, ge=0, le=247)
    timeout_s: float = Field(default=1.0, gt=0.0, le=30.0)
    map_path: str | None = None  # None: the profile's default map (as the simulator serves it)
    csv_path: str = ""
    timestamp_column: str | None = None
    from_end: bool = False
    display_seconds: float = Field(default=120.0, gt=0.0)
    diagnose_every_s: float | None = Field(default=None, gt=0.0)
    diagnose_window_s: float = Field(default=600.0, gt=0.0)

    @model_validator(mode="after")
    def _complete(self) -> LiveConfig:
        if self.kind == "modbus_tcp" and not self.host.strip():
            raise ValueError("host: give the PLC's host name or IP address")
        if self.kind == "modbus_rtu" and not self.serial_port.strip():
            raise ValueError("serial port: give the port, e.g. /dev/ttyUSB0 or COM3")
        if self.kind == "csv" and not self.csv_path.strip():
            raise ValueError("file: choose the CSV file the logger appends to")
        return self

    def uri(self) -> str:
        if self.kind == "modbus_tcp":
            return f"modbus-tcp://{self.host}:{self.port}"
        if self.kind == "modbus_rtu":
            return f"modbus-rtu://{self.serial_port}?baud={self.baudrate}&parity={self.parity}"
        return str(Path(self.csv_path).resolve())


def default_register_map(profile: EquipmentProfile) -> RegisterMap:
    """The register map the rig simulator serves for this profile."""
    from ingestion.modbus.registermap import simulator_register_map

    return simulator_register_map([(s.id, s.unit, s.rate_hz) for s in profile.sensors])


class _Ring:
    """The last ``seconds`` of one sensor for display."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.ts: deque[float] = deque()
        self.values: deque[float] = deque()

    def extend(self, ts_s: Sequence[float], values: Sequence[float]) -> None:
        self.ts.extend(ts_s)
        self.values.extend(values)
        if self.ts:
            cutoff = self.ts[-1] - self.seconds
            while self.ts and self.ts[0] < cutoff:
                self.ts.popleft()
                self.values.popleft()


class TapWriter(LiveWriter):
    """A LiveWriter that also keeps a display buffer and stores only while recording."""

    def __init__(self, *args: Any, display_seconds: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.recording = False
        self.display_seconds = display_seconds
        self.rings: dict[str, _Ring] = {}
        self.latest: dict[str, tuple[float, float]] = {}  # sensor -> (epoch s, value)
        self.acquisitions = 0
        self.gaps_seen: list[Gap] = []
        self._tap_lock = threading.Lock()

    def _tap(self, sensors: tuple[str, ...], ts_us: np.ndarray, values: np.ndarray) -> None:
        ts_s = (np.asarray(ts_us, dtype=np.float64) / 1e6).tolist()
        with self._tap_lock:
            self.acquisitions += len(ts_s)
            for k, sensor in enumerate(sensors):
                column = values[:, k].tolist()
                ring = self.rings.get(sensor)
                if ring is None:
                    ring = self.rings[sensor] = _Ring(self.display_seconds)
                ring.extend(ts_s, column)
                if ts_s:
                    self.latest[sensor] = (ts_s[-1], column[-1])

    def add(self, sensors: tuple[str, ...], ts_us: int, values: Sequence[float]) -> None:
        self._tap(sensors, np.array([ts_us]), np.asarray([values], dtype=np.float64))
        if self.recording:
            super().add(sensors, ts_us, values)

    def add_many(self, sensors: tuple[str, ...], ts_us: np.ndarray, values: np.ndarray) -> None:
        self._tap(sensors, ts_us, np.asarray(values, dtype=np.float64).reshape(len(ts_us), -1))
        if self.recording:
            super().add_many(sensors, ts_us, values)

    def add_gap(self, gap: Gap) -> None:
        with self._tap_lock:
            self.gaps_seen.append(gap)
        if self.recording:
            super().add_gap(gap)

    def series(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        with self._tap_lock:
            return {
                s: (np.fromiter(r.ts, dtype=np.float64), np.fromiter(r.values, dtype=np.float64))
                for s, r in self.rings.items()
            }


@dataclass
class LiveSnapshot:
    state: str  # connecting, connected, reconnecting, stopped, failed
    detail: str
    recording: bool
    latest: dict[str, tuple[float, float]]
    acquisitions: int
    values_written: int
    pending_values: int
    gaps: list[Gap]
    health: list[tuple[float, float | None]] = field(default_factory=list)  # (epoch s, overall)
    diagnosis: Diagnosis | None = None
    error: str | None = None


class LiveSession:
    """One connection to a live feed for one equipment."""

    def __init__(
        self,
        store: Store,
        equipment_id: str,
        profile: EquipmentProfile,
        config: LiveConfig,
        *,
        diagnose: Callable[[Store, str, float], Diagnosis] | None = None,
        flush_interval_s: float = 1.0,
    ) -> None:
        self.store = store
        self.equipment_id = equipment_id
        self.profile = profile
        self.config = config
        self.flush_interval_s = flush_interval_s
        self._diagnose = diagnose
        self._flush_store = Store(store.cursor(), store.path)
        self.writer = TapWriter(
            StoreSink(self._flush_store),
            equipment_id=equipment_id,
            source_id=-1,
            display_seconds=config.display_seconds,
            warn=self._warn,
        )
        self.source: SourceImport | None = None  # while recording
        self.stop_event = threading.Event()
        self.state = "connecting"
        self.detail = ""
        self.error: str | None = None
        self.warnings: list[str] = []
        self.health: deque[tuple[float, float | None]] = deque(maxlen=2000)
        self.last_diagnosis: Diagnosis | None = None
        self._poller: ModbusPoller | None = None
        self._follower: CsvFollower | None = None
        self._threads: list[threading.Thread] = []
        self._write_lock = threading.Lock()

    def _warn(self, message: str) -> None:
        log.warning("live: %s", message)
        self.warnings.append(message)
        self.detail = message

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        """Build the feed (errors in the map or endpoint raise here) and start its threads."""
        feed = self._build_feed()
        for name, target in (("live-feed", feed), ("live-flush", self._flush_loop)):
            thread = threading.Thread(target=self._guard(target), name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def _guard(self, target: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                target()
            except BaseException as exc:  # shown in the panel; the session stops cleanly
                self.error = (
                    str(exc) if isinstance(exc, HydroDiagError) else f"{type(exc).__name__}: {exc}"
                )
                self.state = "failed"
                self.stop_event.set()

        return run

    def _build_feed(self) -> Callable[[], None]:
        config = self.config
        if config.kind == "csv":
            self._follower = CsvFollower(
                Path(config.csv_path),
                self.profile.sensor_ids,
                timestamp_column=config.timestamp_column,
                from_start=not config.from_end,
                warn=self._warn,
            )
            if Path(config.csv_path).exists():  # a missing file is waited for, as a logger starts
                self._follower.check()  # a folder, binary or foreign file: refused here, said once
            return self._follow_csv
        from ingestion.modbus.client import ReadOnlyModbusClient, RtuEndpoint, TcpEndpoint
        from ingestion.modbus.registermap import load_register_map

        register_map = (
            load_register_map(Path(config.map_path), self.profile.sensor_ids)
            if config.map_path
            else default_register_map(self.profile)
        )
        endpoint: TcpEndpoint | RtuEndpoint = (
            TcpEndpoint(config.host, config.port)
            if config.kind == "modbus_tcp"
            else RtuEndpoint(config.serial_port, baudrate=config.baudrate, parity=config.parity)
        )
        device_id = config.device_id if config.device_id is not None else register_map.device_id
        client = ReadOnlyModbusClient(endpoint, device_id=device_id, timeout_s=config.timeout_s)
        self._poller = ModbusPoller(client, register_map, self.writer, warn=self._warn)
        self._poller.stop = self.stop_event
        return self._poll_modbus

    def _poll_modbus(self) -> None:
        assert self._poller is not None
        self._poller.run()

    def _follow_csv(self) -> None:
        follower = self._follower
        assert follower is not None
        try:
            while not self.stop_event.is_set():
                got = False
                for sensors, ts, values in follower.poll():
                    self.writer.add_many(sensors, ts, values)
                    got = True
                if not Path(self.config.csv_path).exists():
                    self.state, self.detail = "waiting", "waiting for the file to appear"
                elif got or self.state != "connected":
                    self.state = "connected"
                self.stop_event.wait(0.25)
            for sensors, ts, values in follower.poll():
                self.writer.add_many(sensors, ts, values)
        finally:
            follower.close()

    def _flush_loop(self) -> None:
        next_diag = time.monotonic() + (self.config.diagnose_every_s or 0)
        while not self.stop_event.wait(self.flush_interval_s):
            self._update_state()
            if self.writer.recording:
                with self._write_lock:
                    self.writer.flush()
                if (
                    self._diagnose
                    and self.config.diagnose_every_s
                    and time.monotonic() >= next_diag
                ):
                    next_diag = time.monotonic() + self.config.diagnose_every_s
                    self._rolling_diagnosis()
        self._update_state()

    def _rolling_diagnosis(self) -> None:
        assert self._diagnose is not None
        try:
            diagnosis = self._diagnose(
                self._flush_store, self.equipment_id, self.config.diagnose_window_s
            )
        except HydroDiagError as exc:
            self._warn(f"rolling diagnosis: {exc}")
            return
        self.last_diagnosis = diagnosis
        # Placed at the end of the data it judged, on the same time axis as the values.
        end = diagnosis.window_end.replace(tzinfo=UTC).timestamp()
        self.health.append((end, diagnosis.overall_health))

    def _update_state(self) -> None:
        if self._poller is None or self.state == "failed":
            return
        stats = self._poller.stats
        connected = self._poller.client.connected
        if connected and stats.reads > stats.failed_reads:
            self.state = "connected"
        elif stats.reconnects or stats.failed_reads:
            self.state = "reconnecting"
        self.detail = (
            f"reads {stats.reads}, failed {stats.failed_reads}, reconnects {stats.reconnects}"
        )

    def start_recording(self) -> int:
        """Open a 'live' source in the workspace and store from now on; returns its id."""
        if self.source is None:
            self.source = begin_live_source(
                self.store,
                equipment_id=self.equipment_id,
                kind="live_csv" if self.config.kind == "csv" else "modbus",
                uri=self.config.uri(),
                options=self.config.model_dump(mode="json"),
            )
            self.writer.source_id = self.source.source_id
        self.writer.recording = True
        return self.source.source_id

    def stop_recording(self) -> None:
        """Write what is buffered and mark the source complete."""
        if not self.writer.recording:
            return
        self.writer.recording = False
        with self._write_lock:
            self.writer.flush()
        if self.source is not None:
            self.source.complete(rows=self.writer.acquisitions, warnings=self.warnings[-20:])
            self.source = None

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the feed; anything recorded is flushed first (no data lost on close)."""
        self.stop_event.set()
        for thread in self._threads:
            thread.join(timeout_s)
        self.stop_recording()
        if self.state != "failed":
            self.state = "stopped"

    @property
    def running(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    def snapshot(self) -> LiveSnapshot:
        with self.writer._tap_lock:
            latest = dict(self.writer.latest)
            gaps = list(self.writer.gaps_seen)
            acquisitions = self.writer.acquisitions
        if self._poller is not None:
            gaps = list(self._poller.stats.gaps) or gaps
        if latest and self.state == "connecting" and self._follower is not None:
            self.state = "connected"
        if latest and self.state == "connecting":
            self.state = "connected"
        return LiveSnapshot(
            state=self.state,
            detail=self.detail,
            recording=self.writer.recording,
            latest=latest,
            acquisitions=acquisitions,
            values_written=self.writer.stats.values_written,
            pending_values=self.writer.pending_values,
            gaps=gaps,
            health=list(self.health),
            diagnosis=self.last_diagnosis,
            error=self.error,
        )


def rolling_diagnosis(store: Store, equipment_id: str, window_s: float) -> Diagnosis:
    """Diagnose the last ``window_s`` seconds in whole detected load cycles, as ``hydrodiag
    live`` does (not stored: the live view only shows it)."""
    from gnn.engine import diagnose_recent  # on first use: the GUI starts without the engine

    return diagnose_recent(store, equipment_id, window_s, save=False)


def epoch_to_datetime(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC).replace(tzinfo=None)
