"""Live Modbus against real servers on 127.0.0.1: pymodbus' own server (our simulator wrapper,
which records every request) and the independent umodbus server with a hand-written map.

Checked: read-only on the wire, samples stored = samples acquired = reads served, a killed and
restarted server (reconnect, one gap, nothing inside it, no duplicates), silent and slow
servers (timeouts, no hang), Modbus exception responses, and the CLI end to end.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import pty
import select
import socket
import struct
import subprocess
import sys
import threading
import time
import tty
from collections.abc import Iterator
from pathlib import Path

import pytest
from pymodbus.constants import ExcCodes
from pymodbus.pdu.bit_message import WriteSingleCoilRequest
from pymodbus.pdu.register_message import (
    ReadWriteMultipleRegistersRequest,
    WriteMultipleRegistersRequest,
    WriteSingleRegisterRequest,
)

from app.cli import main
from ingestion.catalog import begin_live_source, ensure_equipment
from ingestion.live import run_live_session
from ingestion.live_writer import LiveWriter, StoreSink
from ingestion.modbus.client import (
    READ_FUNCTION_CODES,
    ReadOnlyModbusClient,
    ReadOnlyViolationError,
    RtuEndpoint,
    TcpEndpoint,
)
from ingestion.modbus.poller import ModbusPoller
from ingestion.modbus.registermap import (
    RegisterMap,
    Table,
    parse_register_map,
    plan_batches,
    simulator_register_map,
)
from ingestion.modbus.server import ModbusSimServer
from ingestion.profiles import load_profile
from ingestion.workspace import Store, open_workspace

pytestmark = pytest.mark.timeout(60)

MAP = simulator_register_map(
    [("PS1", "bar", 50.0), ("PS2", "bar", 50.0), ("FS1", "l/min", 10.0), ("TS1", "°C", 2.0)]
)


class Ramp:
    """PS1 counts seconds so any duplicate or reordering would show."""

    def values_at(self, t: float) -> dict[str, float]:
        return {"PS1": 100.0 + t, "PS2": 50.0, "FS1": 6.5, "TS1": 44.25}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = open_workspace(tmp_path / "ws.duckdb")
    with s.transaction() as con:
        ensure_equipment(con, "rig", load_profile("zema-test-rig"))
    yield s
    s.close()


def _session(
    store: Store, port: int, register_map: RegisterMap, *, timeout_s: float = 0.3
) -> tuple[LiveWriter, ModbusPoller, int]:
    source_id = begin_live_source(
        store, equipment_id="rig", kind="modbus", uri="t", options={}
    ).source_id
    writer = LiveWriter(StoreSink(store), equipment_id="rig", source_id=source_id)
    client = ReadOnlyModbusClient(TcpEndpoint("127.0.0.1", port), timeout_s=timeout_s)
    poller = ModbusPoller(client, register_map, writer, backoff_s=(0.05, 0.3))
    return writer, poller, source_id


def _run(writer: LiveWriter, poller: ModbusPoller, seconds: float) -> None:
    def feed(stop: threading.Event) -> None:
        poller.stop = stop
        poller.run()

    run_live_session(writer, feed, duration_s=seconds, flush_interval_s=0.3)


def _stored(store: Store) -> dict[str, tuple[int, int]]:
    rows = store.query(
        "SELECT sensor_id, count(*), count(DISTINCT ts) FROM measurements GROUP BY 1"
    )
    return {r[0]: (int(r[1]), int(r[2])) for r in rows}


def _served_for(server: ModbusSimServer, sensor: str) -> int:
    for batches in plan_batches(MAP).values():
        for b in batches:
            if sensor in {e.sensor for e in b.entries}:
                return server.served[(b.table, b.address)]
    raise KeyError(sensor)


def test_reads_only_and_stores_exactly_what_was_served(store: Store) -> None:
    port = free_port()
    with ModbusSimServer(MAP, Ramp(), port=port) as server:
        writer, poller, _ = _session(store, port, MAP)
        _run(writer, poller, 1.5)
    assert server.function_codes, "the server saw no request"
    assert set(server.function_codes) <= READ_FUNCTION_CODES
    stored = _stored(store)
    for sensor in ("PS1", "PS2", "FS1", "TS1"):
        count, distinct = stored[sensor]
        assert count == distinct == poller.stats.samples[sensor] == _served_for(server, sensor)
    assert stored["PS1"][0] >= 40  # 50 Hz for 1.5 s, allowing a slow CI start
    values = store.query("SELECT value FROM measurements WHERE sensor_id = 'TS1' LIMIT 1")
    assert values[0][0] == pytest.approx(44.25)


def test_the_client_cannot_send_a_write(store: Store) -> None:
    port = free_port()
    with ModbusSimServer(MAP, Ramp(), port=port) as server:
        client = ReadOnlyModbusClient(TcpEndpoint("127.0.0.1", port), timeout_s=0.3)
        assert client.connect()
        assert not [name for name in dir(client) if "write" in name.lower()]
        for request in (
            WriteSingleRegisterRequest(address=0, registers=[1]),
            WriteMultipleRegistersRequest(address=0, registers=[1, 2]),
            WriteSingleCoilRequest(address=0, bits=[True]),
            ReadWriteMultipleRegistersRequest(
                read_address=0, read_count=1, write_address=0, write_registers=[1]
            ),
        ):
            with pytest.raises(ReadOnlyViolationError, match="only reads"):
                client._send(request)
        assert client.read_registers(Table.INPUT, 0, 2)
        client.close()
    assert server.function_codes == [4]  # the writes never reached the wire


def test_server_killed_and_restarted_mid_stream(store: Store) -> None:
    port = free_port()
    first = ModbusSimServer(MAP, Ramp(), port=port).start()
    second: list[ModbusSimServer] = []

    def outage() -> None:
        time.sleep(1.0)
        first.stop()
        time.sleep(0.8)
        second.append(ModbusSimServer(MAP, Ramp(), port=port).start())

    chaos = threading.Thread(target=outage)
    writer, poller, source_id = _session(store, port, MAP)
    chaos.start()
    _run(writer, poller, 3.2)
    chaos.join()
    second[0].stop()
    assert poller.stats.reconnects >= 1
    gaps = store.query("SELECT start_ts, end_ts, reason FROM gaps WHERE source_id = ?", [source_id])
    assert len(gaps) == 1
    start, end, reason = gaps[0]
    assert "connection lost" in reason
    assert (end - start).total_seconds() >= 0.7
    inside = store.query("SELECT count(*) FROM measurements WHERE ts > ? AND ts < ?", [start, end])[
        0
    ][0]
    assert inside == 0  # the outage is not filled
    stored = _stored(store)
    for sensor in ("PS1", "FS1", "TS1"):
        count, distinct = stored[sensor]
        served = _served_for(first, sensor) + _served_for(second[0], sensor)
        assert count == distinct == poller.stats.samples[sensor]  # nothing acquired is lost
        assert served - 1 <= count <= served  # one response may die with the server
    # PS1 ramps with server time: within each server's life it only increases
    ps1 = [
        v
        for (v,) in store.query("SELECT value FROM measurements WHERE sensor_id='PS1' ORDER BY ts")
    ]
    assert sum(1 for a, b in itertools.pairwise(ps1) if b < a) <= 1


class SlowServer(ModbusSimServer):
    delay_s = 0.6

    async def _action(self, *args: object) -> ExcCodes | None:  # type: ignore[override]
        await asyncio.sleep(self.delay_s)
        return await super()._action(*args)  # type: ignore[arg-type]


def test_slow_server_times_out_then_recovers_with_a_gap(store: Store) -> None:
    port = free_port()
    server = SlowServer(MAP, Ramp(), port=port)
    server.delay_s = 0.0
    with server:
        writer, poller, source_id = _session(store, port, MAP, timeout_s=0.2)

        def slow_down() -> None:
            time.sleep(0.8)
            server.delay_s = 0.6
            time.sleep(1.0)
            server.delay_s = 0.0

        chaos = threading.Thread(target=slow_down)
        chaos.start()
        started = time.monotonic()
        _run(writer, poller, 3.0)
        chaos.join()
    assert time.monotonic() - started < 8.0
    assert poller.stats.failed_reads >= 1
    assert store.query("SELECT count(*) FROM gaps WHERE source_id = ?", [source_id])[0][0] >= 1
    late = store.query("SELECT max(ts) FROM measurements")[0][0]
    first_gap_end = store.query("SELECT min(end_ts) FROM gaps")[0][0]
    assert late > first_gap_end  # data again after the slow spell


def test_silent_server_never_hangs_the_poller(store: Store) -> None:
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    port = listener.getsockname()[1]
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def swallow() -> None:  # accepts, reads, never answers
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
                accepted.append(conn)
            except TimeoutError:
                continue

    thread = threading.Thread(target=swallow, daemon=True)
    thread.start()
    try:
        writer, poller, _ = _session(store, port, MAP, timeout_s=0.2)
        started = time.monotonic()
        _run(writer, poller, 1.5)
        elapsed = time.monotonic() - started
    finally:
        stop.set()
        thread.join()
        for conn in accepted:
            conn.close()
        listener.close()
    assert elapsed < 5.0
    assert poller.stats.reads == 0 and poller.stats.failed_reads >= 2
    assert _stored(store) == {}


def test_exception_responses_skip_only_the_refused_batch(store: Store) -> None:
    port = free_port()
    refused = plan_batches(MAP)["10hz"][0]
    with ModbusSimServer(
        MAP, Ramp(), port=port, exception_addresses={refused.table: {refused.address}}
    ):
        writer, poller, source_id = _session(store, port, MAP)
        _run(writer, poller, 1.2)
    assert poller.stats.exception_responses >= 5
    stored = _stored(store)
    assert "FS1" not in stored
    assert stored["PS1"][0] > 0 and stored["TS1"][0] > 0
    assert store.query("SELECT count(*) FROM gaps WHERE source_id = ?", [source_id])[0][0] == 0


@pytest.fixture
def null_modem() -> Iterator[tuple[str, str]]:
    """Two pseudo-terminals joined like a null-modem cable: a serial line without hardware."""
    m1, s1 = pty.openpty()
    m2, s2 = pty.openpty()
    for fd in (s1, s2):
        tty.setraw(fd)
    stop = threading.Event()

    def pump() -> None:
        while not stop.is_set():
            ready, _, _ = select.select([m1, m2], [], [], 0.05)
            for fd in ready:
                try:
                    os.write(m2 if fd == m1 else m1, os.read(fd, 4096))
                except OSError:
                    return

    thread = threading.Thread(target=pump, daemon=True)
    thread.start()
    yield os.ttyname(s1), os.ttyname(s2)
    stop.set()
    thread.join()
    for fd in (m1, s1, m2, s2):
        os.close(fd)


def test_modbus_rtu_over_a_serial_line(store: Store, null_modem: tuple[str, str]) -> None:
    server_port, client_port = null_modem
    rtu_map = simulator_register_map([("PS1", "bar", 20.0), ("TS1", "°C", 2.0)])
    with ModbusSimServer(rtu_map, Ramp(), rtu_port=server_port, baudrate=115200) as server:
        source_id = begin_live_source(
            store, equipment_id="rig", kind="modbus", uri="rtu", options={}
        ).source_id
        writer = LiveWriter(StoreSink(store), equipment_id="rig", source_id=source_id)
        client = ReadOnlyModbusClient(RtuEndpoint(client_port, baudrate=115200), timeout_s=0.5)
        poller = ModbusPoller(client, rtu_map, writer)
        _run(writer, poller, 1.5)
    assert set(server.function_codes) == {4}
    stored = _stored(store)
    assert stored["PS1"][0] == poller.stats.samples["PS1"] >= 20
    assert poller.stats.failed_reads == 0


FOREIGN_MAP = """\
# written by a PLC integrator: tenths of a degree, CDAB floats, a scaled 32-bit counter
device_id: 7
byte_order: big
word_order: big
groups:
  - {name: plc, period_s: 0.1}
registers:
  - {sensor: TS1, table: holding, address: 0, type: int16, scale: 0.1, unit: °C, group: plc}
  - {sensor: PS1, table: holding, address: 1, type: uint32, word_order: little, scale: 0.001, unit: bar, group: plc}
  - {sensor: FS1, table: holding, address: 3, type: float32, word_order: little, byte_order: little, unit: l/min, group: plc}
  - {sensor: EPS1, table: input, address: 10, type: int32, offset: -100, unit: W, group: plc}
"""


def _foreign_registers() -> tuple[dict[int, int], dict[int, int]]:
    holding: dict[int, int] = {0: 452}  # 45.2 °C
    hi, lo = divmod(160123, 0x10000)  # 160.123 bar, low word first
    holding[1], holding[2] = lo, hi
    a, b = struct.unpack(">HH", struct.pack(">f", 6.25))  # ABCD -> CDAB, then bytes swapped
    swap = lambda w: ((w & 0xFF) << 8) | (w >> 8)  # noqa: E731
    holding[3], holding[4] = swap(b), swap(a)
    e_hi, e_lo = struct.unpack(">HH", struct.pack(">i", 2500))  # 2500 - 100 = 2400 W
    return holding, {10: e_hi, 11: e_lo}


def test_umodbus_server_with_a_map_written_by_someone_else(store: Store) -> None:
    from socketserver import TCPServer

    from umodbus.server.tcp import RequestHandler, get_server

    holding, inputs = _foreign_registers()
    TCPServer.allow_reuse_address = True
    app = get_server(TCPServer, ("127.0.0.1", 0), RequestHandler)
    port = app.server_address[1]
    requests: list[int] = []

    @app.route(slave_ids=[7], function_codes=[3], addresses=list(range(0, 5)))  # type: ignore[misc]
    def read_holding(slave_id: int, function_code: int, address: int) -> int:
        requests.append(function_code)
        return holding[address]

    @app.route(slave_ids=[7], function_codes=[4], addresses=[10, 11])  # type: ignore[misc]
    def read_input(slave_id: int, function_code: int, address: int) -> int:
        requests.append(function_code)
        return inputs[address]

    thread = threading.Thread(target=app.serve_forever, daemon=True)
    thread.start()
    try:
        register_map = parse_register_map(FOREIGN_MAP, "foreign.yaml")
        source_id = begin_live_source(
            store, equipment_id="rig", kind="modbus", uri="u", options={}
        ).source_id
        writer = LiveWriter(StoreSink(store), equipment_id="rig", source_id=source_id)
        client = ReadOnlyModbusClient(TcpEndpoint("127.0.0.1", port), device_id=7, timeout_s=0.5)
        poller = ModbusPoller(client, register_map, writer)
        _run(writer, poller, 1.0)
    finally:
        app.shutdown()
        app.server_close()
    assert set(requests) <= READ_FUNCTION_CODES
    latest = dict(store.query("SELECT sensor_id, arg_max(value, ts) FROM measurements GROUP BY 1"))
    assert latest["TS1"] == pytest.approx(45.2)
    assert latest["PS1"] == pytest.approx(160.123)
    assert latest["FS1"] == pytest.approx(6.25)
    assert latest["EPS1"] == pytest.approx(2400.0)
    assert poller.stats.failed_reads == 0 and poller.stats.reads >= 10


def test_cli_live_modbus_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    port = free_port()
    map_file = tmp_path / "map.yaml"
    map_file.write_text(MAP.to_yaml(), encoding="utf-8")
    workspace = tmp_path / "cli.duckdb"
    with ModbusSimServer(MAP, Ramp(), port=port) as server:
        code = main(
            [
                "--workspace", str(workspace), "live", "modbus", "--equipment", "rig",
                "--profile", "zema-test-rig", "--map", str(map_file), "--host", "127.0.0.1",
                "--port", str(port), "--duration", "1.5", "--quiet", "--flush-interval", "0.3",
            ]
        )  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out
    assert "values stored" in out
    with open_workspace(workspace, read_only=True) as ws:
        rows = ws.query("SELECT kind, status, value_count FROM sources")
        stored = ws.query("SELECT count(*) FROM measurements WHERE sensor_id = 'PS1'")[0][0]
    assert rows[0][0] == "modbus" and rows[0][1] == "complete" and rows[0][2] > 0
    assert stored == _served_for(server, "PS1")


def test_cli_refuses_a_bad_map_before_touching_the_workspace(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    map_file = tmp_path / "bad.yaml"
    map_file.write_text(
        "registers:\n  - {sensor: PS1, address: 0}\n  - {sensor: NOPE, address: 1, type: int16}\n",
        encoding="utf-8",
    )
    workspace = tmp_path / "untouched.duckdb"
    code = main(
        ["--workspace", str(workspace), "live", "modbus", "--equipment", "rig", "--profile",
         "zema-test-rig", "--map", str(map_file), "--host", "127.0.0.1", "--port", "1"]
    )  # fmt: skip
    assert code == 1
    err = capsys.readouterr().err
    assert "bad.yaml:3" in err and "overlaps" in err and "on line 2" in err
    assert "'NOPE' is not in the equipment's profile" in err
    assert not workspace.exists()


@pytest.mark.slow
def test_simulator_process_killed_with_sigkill(tmp_path: Path) -> None:
    """The real thing: `hydrodiag simulate --modbus-tcp` in its own process, SIGKILLed."""
    port = free_port()
    exe = [sys.executable, "-m", "app.cli"]
    map_file = tmp_path / "map.yaml"
    serve = [*exe, "simulate", "--modbus-tcp", f"127.0.0.1:{port}", "--write-map", str(map_file)]
    first = subprocess.Popen(serve, stdout=subprocess.PIPE, text=True)
    second: subprocess.Popen[str] | None = None
    try:
        assert first.stdout is not None
        while "serving" not in first.stdout.readline():
            pass
        workspace = tmp_path / "kill.duckdb"
        client = subprocess.Popen(
            [*exe, "--workspace", str(workspace), "live", "modbus", "--equipment", "rig",
             "--profile", "zema-test-rig", "--map", str(map_file), "--host", "127.0.0.1",
             "--port", str(port), "--duration", "6", "--quiet", "--timeout", "0.3"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        time.sleep(2.0)
        first.kill()
        first.wait()
        time.sleep(1.0)
        second = subprocess.Popen(serve, stdout=subprocess.PIPE, text=True)
        _, err = client.communicate(timeout=30)
        assert client.returncode == 0, err
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=10)
    with open_workspace(workspace, read_only=True) as ws:
        gaps = ws.query("SELECT start_ts, end_ts FROM gaps")
        dup = ws.query("SELECT count(*) - count(DISTINCT (sensor_id, ts)) FROM measurements")[0][0]
        inside = ws.query(
            "SELECT count(*) FROM measurements m, gaps g WHERE m.ts > g.start_ts AND m.ts < g.end_ts"
        )[0][0]
        after = ws.query("SELECT count(*) FROM measurements m, gaps g WHERE m.ts >= g.end_ts")[0][0]
    assert len(gaps) == 1 and dup == 0 and inside == 0 and after > 0
    assert "reconnected" in err
