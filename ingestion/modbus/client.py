"""A Modbus client that can only read: HydroDiag never writes to a customer's PLC.

Read-only by construction: the class has no write method, and every request goes through one
gate, :meth:`ReadOnlyModbusClient._send`, which refuses any PDU whose function code is not a
register read (3 or 4) before a byte is sent. The pymodbus client it wraps is private.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from pymodbus.client import ModbusSerialClient, ModbusTcpClient
from pymodbus.exceptions import ModbusException
from pymodbus.pdu import ModbusPDU
from pymodbus.pdu.register_message import ReadHoldingRegistersRequest, ReadInputRegistersRequest

from ingestion.errors import HydroDiagError
from ingestion.modbus.registermap import Table

READ_FUNCTION_CODES: Final = frozenset({3, 4})  # read holding registers, read input registers


class ReadOnlyViolationError(HydroDiagError):
    """Something tried to send a Modbus request that is not a read."""


class ModbusReadError(Exception):
    """A read failed: ``connection`` tells a lost link (reconnect) from a device's refusal."""

    def __init__(self, message: str, *, connection: bool, exception_code: int | None = None):
        super().__init__(message)
        self.connection = connection
        self.exception_code = exception_code


@dataclass(frozen=True)
class TcpEndpoint:
    host: str
    port: int = 502


@dataclass(frozen=True)
class RtuEndpoint:
    port: str
    baudrate: int = 19200
    parity: str = "N"
    stopbits: int = 1
    bytesize: int = 8


Endpoint = TcpEndpoint | RtuEndpoint


class ReadOnlyModbusClient:
    """Read holding/input registers from one device over TCP or RTU; nothing else.

    Args:
        endpoint: where the device is.
        device_id: Modbus unit (slave) id.
        timeout_s: time to wait for a response; a silent device fails the read, never hangs.
    """

    def __init__(self, endpoint: Endpoint, *, device_id: int = 1, timeout_s: float = 1.0) -> None:
        self.endpoint = endpoint
        self.device_id = device_id
        self.timeout_s = timeout_s
        # retries=0: a failed read is reported at once; the poller decides about reconnecting
        # (pymodbus' own retries would stall the schedule for several timeouts).
        if isinstance(endpoint, TcpEndpoint):
            self.__client: ModbusTcpClient | ModbusSerialClient = ModbusTcpClient(
                endpoint.host,
                port=endpoint.port,
                timeout=timeout_s,
                retries=0,
                reconnect_delay=0,
            )
        else:
            self.__client = ModbusSerialClient(
                endpoint.port,
                baudrate=endpoint.baudrate,
                parity=endpoint.parity,
                stopbits=endpoint.stopbits,
                bytesize=endpoint.bytesize,
                timeout=timeout_s,
                retries=0,
                reconnect_delay=0,
            )

    def __str__(self) -> str:
        if isinstance(self.endpoint, TcpEndpoint):
            return f"modbus-tcp://{self.endpoint.host}:{self.endpoint.port}/{self.device_id}"
        return f"modbus-rtu://{self.endpoint.port}@{self.endpoint.baudrate}/{self.device_id}"

    def connect(self) -> bool:
        try:
            return bool(self.__client.connect())
        except (OSError, ModbusException):
            return False

    @property
    def connected(self) -> bool:
        return bool(self.__client.connected)

    def close(self) -> None:
        self.__client.close()  # type: ignore[no-untyped-call]

    def read_registers(self, table: Table, address: int, count: int) -> list[int]:
        """``count`` registers of ``table`` from ``address`` (function code 3 or 4)."""
        request_class = (
            ReadHoldingRegistersRequest if table is Table.HOLDING else ReadInputRegistersRequest
        )
        request = request_class(address=address, count=count, dev_id=self.device_id)
        response = self._send(request)
        if response.isError():
            code = getattr(response, "exception_code", None)
            raise ModbusReadError(
                f"{self}: device refused reading {count} {table.value} register(s) at {address} "
                f"(Modbus exception {code})",
                connection=False,
                exception_code=code,
            )
        registers = list(response.registers)
        if len(registers) < count:
            raise ModbusReadError(
                f"{self}: asked for {count} registers at {address}, got {len(registers)}",
                connection=False,
            )
        return registers[:count]

    def _send(self, request: ModbusPDU) -> ModbusPDU:
        """The single gate to the wire: anything but a register read is refused here."""
        if request.function_code not in READ_FUNCTION_CODES:
            raise ReadOnlyViolationError(
                f"refused to send Modbus function code {request.function_code}: "
                "HydroDiag only reads registers (function codes 3 and 4)."
            )
        try:
            return self.__client.execute(False, request)
        except ModbusException as exc:
            # A lost link or a timeout: drop the socket so the next connect starts clean.
            self.__client.close()  # type: ignore[no-untyped-call]
            raise ModbusReadError(f"{self}: {exc}", connection=True) from exc
        except OSError as exc:
            self.__client.close()  # type: ignore[no-untyped-call]
            raise ModbusReadError(f"{self}: {exc}", connection=True) from exc
