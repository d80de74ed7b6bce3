"""Backoff with jitter on every failure path of a live feed: a device that accepts connections
and answers garbage (or hangs up at once) must not pull the client into a reconnect storm."""

from __future__ import annotations

import random
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ingestion.backoff import Backoff
from ingestion.catalog import begin_live_source
from ingestion.live_writer import LiveWriter, StoreSink
from ingestion.modbus.client import ReadOnlyModbusClient, TcpEndpoint
from ingestion.modbus.poller import ModbusPoller
from ingestion.modbus.registermap import parse_register_map
from ingestion.profiles import load_profile
from ingestion.workspace import open_workspace

MAP = parse_register_map(
    "groups:\n  - {name: fast, period_s: 0.01}\n"
    "registers:\n  - {sensor: PS1, table: input, address: 0, type: float32, group: fast}\n"
)


class HostileServer:
    """Accepts every connection on 127.0.0.1 and answers each request with ``reply`` (None:
    hangs up at once); counts the connections."""

    def __init__(self, reply: bytes | None) -> None:
        self.reply = reply
        self.connections = 0
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            self.connections += 1
            if self.reply is None:
                conn.close()
                continue
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        conn.settimeout(0.2)
        with conn:
            while not self.stop.is_set():
                try:
                    if not conn.recv(256):
                        return
                    assert self.reply is not None
                    conn.sendall(self.reply)
                except OSError:
                    return

    def __enter__(self) -> HostileServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()
        self.sock.close()


@pytest.fixture
def writer(tmp_path: Path) -> Iterator[LiveWriter]:
    store = open_workspace(tmp_path / "ws.duckdb")
    source = begin_live_source(
        store,
        equipment_id="rig",
        kind="modbus",
        uri="modbus-tcp://127.0.0.1/1",
        options={},
        profile=load_profile("zema-test-rig"),
    )
    yield LiveWriter(StoreSink(store), equipment_id="rig", source_id=source.source_id)
    store.close()


@pytest.mark.parametrize(
    "reply",
    [b"\x00\x01\x00\x00\x00\x03\x01\x04\xff", b"garbage!" * 8, None],
    ids=["malformed-frame", "garbage", "hang-up"],
)
def test_hostile_device_gets_backoff_not_a_storm(writer: LiveWriter, reply: bytes | None) -> None:
    with HostileServer(reply) as server:
        client = ReadOnlyModbusClient(TcpEndpoint("127.0.0.1", server.port), timeout_s=0.2)
        warnings: list[str] = []
        poller = ModbusPoller(client, MAP, writer, backoff_s=(0.1, 1.0), warn=warnings.append)
        started = time.monotonic()
        poller.run(duration_s=3.0)
        elapsed = time.monotonic() - started
    # waits of 0.05-0.1, 0.1-0.2, 0.2-0.4, 0.4-0.8, then 0.5-1.0 s: at most ~10 in 3 s
    assert server.connections <= 12, server.connections
    assert elapsed < 4.5
    assert poller.stats.reads == 0 and poller.stats.failed_reads >= 1
    assert poller.stats.gaps, "the outage is recorded"


def test_backoff_doubles_with_jitter_up_to_its_cap_and_settles() -> None:
    now = [0.0]
    backoff = Backoff(
        first_s=0.1, cap_s=1.0, settle_s=5.0, rng=random.Random(1), clock=lambda: now[0]
    )
    waits = [backoff.next() for _ in range(8)]
    ceilings = [0.1, 0.2, 0.4, 0.8, 1.0, 1.0, 1.0, 1.0]
    assert all(c / 2 <= w <= c for w, c in zip(waits, ceilings, strict=True))
    assert len({round(w, 6) for w in waits[4:]}) == 4  # jittered, not in step
    backoff.succeeded()
    now[0] = 1.0
    backoff.succeeded()
    assert backoff.ceiling_s == 1.0  # one good read after a failure is not enough
    now[0] = 6.0
    backoff.succeeded()
    assert backoff.ceiling_s == 0.1
