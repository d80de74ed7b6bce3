"""A Modbus TCP/RTU server that serves live values per a register map: the simulator as a
stand-in PLC, and a test double that records every request it receives.

The server runs its own asyncio loop in a background thread. A ``ValueSource`` gives the
current value of each sensor; the loop re-encodes the register image ``update_hz`` times a
second, and reads are answered from that image, so a read returns the latest update.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import Mapping
from typing import Protocol

from pymodbus.constants import ExcCodes
from pymodbus.pdu import ModbusPDU
from pymodbus.server import ModbusSerialServer, ModbusTcpServer
from pymodbus.simulator import DataType as SimDataType
from pymodbus.simulator import SimData, SimDevice

from ingestion.errors import HydroDiagError
from ingestion.modbus.registermap import RegisterMap, Table, encode_value


class ValueSource(Protocol):
    def values_at(self, t: float) -> Mapping[str, float]:
        """Sensor id → value at ``t`` seconds after the server started."""
        ...


class ModbusSimServer:
    """Serve ``source`` per ``register_map`` on TCP ``host:port`` or an RTU serial ``rtu_port``.

    Attributes:
        function_codes: every request's function code, in arrival order (a recording server).
        served: number of successful reads per (table, address).
        updates: register image updates so far.
    """

    def __init__(
        self,
        register_map: RegisterMap,
        source: ValueSource,
        *,
        host: str = "127.0.0.1",
        port: int = 5020,
        rtu_port: str | None = None,
        baudrate: int = 19200,
        update_hz: float | None = None,
        exception_addresses: Mapping[Table, set[int]] | None = None,
    ) -> None:
        self.register_map = register_map
        self.source = source
        self.host, self.port, self.rtu_port, self.baudrate = host, port, rtu_port, baudrate
        fastest = max(1.0 / g.period_s for g in register_map.groups)
        self.update_hz = update_hz or fastest
        self.exception_addresses = exception_addresses or {}
        self.function_codes: list[int] = []
        self.served: Counter[tuple[Table, int]] = Counter()
        self.updates = 0
        self._image = {
            table: [0]
            * (max((e.end for e in register_map.registers if e.table == table), default=1) + 1)
            for table in Table
        }
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: ModbusTcpServer | ModbusSerialServer | None = None
        self._started = threading.Event()
        self._error: BaseException | None = None
        self._t0 = 0.0

    # -- lifecycle ------------------------------------------------------------------------

    def start(self, timeout_s: float = 5.0) -> ModbusSimServer:
        self._t0 = time.monotonic()
        self._update_image()
        self._thread = threading.Thread(target=self._run, name="modbus-sim-server", daemon=True)
        self._thread.start()
        if not self._started.wait(timeout_s) or self._error is not None:
            self.stop()
            where = self.rtu_port or f"{self.host}:{self.port}"
            raise HydroDiagError(
                f"cannot start the Modbus server on {where}: {self._error} "
                "Is another program using it? Choose another port or serial device."
            )
        return self

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is not None and loop.is_running():
            loop.call_soon_threadsafe(self._stop_event.set)
        if thread is not None:
            thread.join(timeout=5.0)
        self._thread = None

    def __enter__(self) -> ModbusSimServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def serve_until(self, seconds: float | None) -> None:
        """Block the calling thread for ``seconds`` (``None``: until interrupted)."""
        deadline = None if seconds is None else time.monotonic() + seconds
        while self._thread is not None and self._thread.is_alive():
            if deadline is not None and time.monotonic() >= deadline:
                return
            time.sleep(0.2)

    # -- internals ------------------------------------------------------------------------

    def _run(self) -> None:
        self._loop = asyncio.new_event_loop()
        try:
            self._loop.run_until_complete(self._main())
        except BaseException as exc:  # reported to start(); the thread must not die silently
            self._error = exc
            self._started.set()
        finally:
            self._loop.close()

    async def _main(self) -> None:
        self._stop_event = asyncio.Event()
        device = SimDevice(
            id=0,  # 0 = answer every unit id: a test PLC, not a bus with several devices
            simdata=(
                [SimData(0, values=False, datatype=SimDataType.BITS)],
                [SimData(0, values=False, datatype=SimDataType.BITS)],
                [
                    SimData(
                        0,
                        count=len(self._image[Table.HOLDING]) - 1,
                        datatype=SimDataType.REGISTERS,
                    )
                ],
                [
                    SimData(
                        0, count=len(self._image[Table.INPUT]) - 1, datatype=SimDataType.REGISTERS
                    )
                ],
            ),
            action=self._action,
        )
        if self.rtu_port is not None:
            from pymodbus.framer import FramerType

            self._server = ModbusSerialServer(
                device,
                framer=FramerType.RTU,
                port=self.rtu_port,
                baudrate=self.baudrate,
                trace_pdu=self._trace_pdu,
            )
        else:
            self._server = ModbusTcpServer(
                device, address=(self.host, self.port), trace_pdu=self._trace_pdu
            )
        await self._server.serve_forever(background=True)
        self._started.set()
        period = 1.0 / self.update_hz
        next_tick = time.monotonic()
        try:
            while not self._stop_event.is_set():
                next_tick += period
                delay = next_tick - time.monotonic()
                if delay < -period:  # fell behind (busy CPU): skip, do not burst
                    next_tick = time.monotonic()
                    delay = 0.0
                await asyncio.sleep(max(delay, 0.0))
                self._update_image()
        finally:
            await self._server.shutdown()  # type: ignore[no-untyped-call]

    def _update_image(self) -> None:
        values = self.source.values_at(time.monotonic() - self._t0)
        for entry in self.register_map.registers:
            value = values.get(entry.sensor)
            if value is None:
                continue
            words = encode_value(entry, float(value), self.register_map)
            self._image[entry.table][entry.address : entry.end] = words
        self.updates += 1

    def _trace_pdu(self, sending: bool, pdu: ModbusPDU) -> ModbusPDU:
        if not sending:
            self.function_codes.append(pdu.function_code)
        return pdu

    async def _action(
        self,
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        registers: list[int],
        set_values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        if set_values is not None:
            return ExcCodes.ILLEGAL_FUNCTION  # this PLC is read-only too
        table = {3: Table.HOLDING, 4: Table.INPUT}.get(function_code)
        if table is None:
            return ExcCodes.ILLEGAL_FUNCTION
        if address in self.exception_addresses.get(table, set()):
            return ExcCodes.ILLEGAL_ADDRESS
        image = self._image[table]
        offset = address - start_address
        registers[offset : offset + count] = image[address : address + count]
        self.served[(table, address)] += 1
        return None
