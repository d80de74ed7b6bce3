"""Register maps: which Modbus registers hold which sensor, how to decode them, how often to poll.

A map is YAML (or JSON) validated by pydantic; every problem is reported with the YAML line it
comes from. Example::

    device_id: 1
    byte_order: big        # byte order inside each 16-bit register (big = AB)
    word_order: big        # order of the registers of 32-bit values (big = high word first)
    groups:
      - {name: fast, period_s: 0.01}
      - {name: slow, period_s: 1.0}
    registers:
      - {sensor: PS1, table: input, address: 0, type: float32, unit: bar, group: fast}
      - {sensor: TS1, table: holding, address: 100, type: int16, scale: 0.1, unit: °C, group: slow}

A decoded value is ``raw * scale + offset`` in ``unit``.
"""

from __future__ import annotations

import itertools
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Final

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ingestion.errors import HydroDiagError

MAX_REGISTERS_PER_READ: Final = 125  # Modbus limit for function codes 3 and 4


class Table(StrEnum):
    HOLDING = "holding"  # read with function code 3
    INPUT = "input"  # read with function code 4


class DataType(StrEnum):
    INT16 = "int16"
    UINT16 = "uint16"
    INT32 = "int32"
    UINT32 = "uint32"
    FLOAT32 = "float32"

    @property
    def width(self) -> int:
        """Registers the type occupies."""
        return 1 if self in (DataType.INT16, DataType.UINT16) else 2


class Order(StrEnum):
    BIG = "big"
    LITTLE = "little"


_STRUCT = {
    DataType.INT16: "h",
    DataType.UINT16: "H",
    DataType.INT32: "i",
    DataType.UINT32: "I",
    DataType.FLOAT32: "f",
}


class _Frozen(BaseModel):
    # .inf/.nan scales or offsets would turn every reading into a non-number: refused with the field
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class PollGroup(_Frozen):
    name: str = Field(min_length=1)
    period_s: float = Field(gt=0.0, le=3600.0, description="time between two polls")


class RegisterEntry(_Frozen):
    sensor: str = Field(min_length=1, description="profile sensor id the value is stored as")
    table: Table = Table.HOLDING
    address: int = Field(ge=0, le=65535, description="0-based register address")
    type: DataType = DataType.FLOAT32
    scale: float = 1.0
    offset: float = 0.0
    unit: str = ""
    group: str = "default"
    byte_order: Order | None = None  # None: the map's default
    word_order: Order | None = None

    @model_validator(mode="after")
    def _fits(self) -> RegisterEntry:
        if self.address + self.type.width > 65536:
            raise ValueError(
                f"a {self.type.value} at address {self.address} runs past the last register 65535"
            )
        if self.scale == 0:
            raise ValueError("scale 0 would turn every reading into the offset")
        return self

    @property
    def end(self) -> int:
        """One past the last register the entry occupies."""
        return self.address + self.type.width


class RegisterMap(_Frozen):
    version: int = 1
    device_id: int = Field(default=1, ge=0, le=255, description="Modbus unit / slave id")
    byte_order: Order = Order.BIG
    word_order: Order = Order.BIG
    groups: tuple[PollGroup, ...] = (PollGroup(name="default", period_s=1.0),)
    registers: tuple[RegisterEntry, ...] = Field(min_length=1)

    def group(self, name: str) -> PollGroup:
        for group in self.groups:
            if group.name == name:
                return group
        raise KeyError(name)

    def to_yaml(self) -> str:
        data = self.model_dump(mode="json", exclude_none=True)
        lines = [
            "# HydroDiag Modbus register map (see docs/live.md)",
            f"version: {data['version']}",
            f"device_id: {data['device_id']}",
            f"byte_order: {data['byte_order']}",
            f"word_order: {data['word_order']}",
            "groups:",
        ]
        lines += [f"  - {{name: {g['name']}, period_s: {g['period_s']}}}" for g in data["groups"]]
        lines.append("registers:")
        for r in data["registers"]:
            fields = ", ".join(
                f"{k}: {_yaml_scalar(v)}"
                for k, v in r.items()
                if not (k == "scale" and v == 1.0) and not (k == "offset" and v == 0.0)
            )
            lines.append(f"  - {{{fields}}}")
        return "\n".join(lines) + "\n"


def _yaml_scalar(value: Any) -> str:
    if isinstance(value, str):
        return (
            yaml.safe_dump(value, default_flow_style=True, allow_unicode=True)
            .strip()
            .removesuffix("\n...")
            .removesuffix("...")
            .strip()
        )
    return str(value)


class RegisterMapError(HydroDiagError):
    """A register map could not be read or is invalid; ``problems`` lists (line, message)."""

    def __init__(self, source: str, problems: Sequence[tuple[int | None, str]]) -> None:
        self.source = source
        self.problems = list(problems)
        shown = "\n".join(
            f"  - {source}:{line}: {msg}" if line else f"  - {source}: {msg}"
            for line, msg in self.problems
        )
        super().__init__(
            f"{source}: {len(self.problems)} problem(s) in the register map:\n{shown}\n"
            "Fix these entries and try again."
        )


def _line_of(node: yaml.Node | None, loc: Sequence[int | str]) -> int | None:
    """1-based line of the YAML node at ``loc`` (the deepest one that exists)."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode) and isinstance(part, str):
            for key, value in node.value:
                if key.value == part:
                    node, line = value, key.start_mark.line + 1
                    break
            else:
                return line
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                return line
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def parse_register_map(
    text: str, source: str = "<map>", sensors: Sequence[str] | None = None
) -> RegisterMap:
    """Validate map text; with ``sensors`` also check every entry names a known sensor."""
    try:
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise RegisterMapError(
            source, [(mark.line + 1 if mark else None, f"not valid YAML: {exc}")]
        ) from None
    if not isinstance(data, dict):
        raise RegisterMapError(source, [(1, "expected a mapping with 'registers:' at the top")])
    try:
        register_map = RegisterMap.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = tuple(err["loc"])
            where = ".".join(str(p) for p in loc)
            message = str(err["msg"]).removeprefix("Value error, ")
            problems.append((_line_of(root, loc), f"{where}: {message}" if where else message))
        raise RegisterMapError(source, problems) from None
    problems = _consistency_problems(register_map, root, sensors)
    if problems:
        raise RegisterMapError(source, problems)
    return register_map


def _consistency_problems(
    register_map: RegisterMap, root: yaml.Node | None, sensors: Sequence[str] | None
) -> list[tuple[int | None, str]]:
    problems: list[tuple[int | None, str]] = []
    group_names = [g.name for g in register_map.groups]
    for i, name in enumerate(group_names):
        if name in group_names[:i]:
            problems.append(
                (_line_of(root, ("groups", i)), f"groups[{i}]: name {name!r} used twice")
            )
    seen_sensor: dict[str, int] = {}
    for i, entry in enumerate(register_map.registers):
        line = _line_of(root, ("registers", i))
        if entry.group not in group_names:
            problems.append(
                (
                    line,
                    f"registers[{i}] ({entry.sensor}): unknown poll group {entry.group!r} "
                    f"(defined: {', '.join(group_names)})",
                )
            )
        if entry.sensor in seen_sensor:
            first = _line_of(root, ("registers", seen_sensor[entry.sensor]))
            problems.append(
                (line, f"registers[{i}]: sensor {entry.sensor!r} is already mapped on line {first}")
            )
        seen_sensor.setdefault(entry.sensor, i)
        if sensors is not None and entry.sensor not in sensors:
            problems.append(
                (
                    line,
                    f"registers[{i}]: sensor {entry.sensor!r} is not in the equipment's "
                    f"profile (known: {', '.join(sensors)})",
                )
            )
    for table in Table:
        entries = sorted(
            ((e, i) for i, e in enumerate(register_map.registers) if e.table == table),
            key=lambda pair: pair[0].address,
        )
        for (a, ia), (b, ib) in itertools.pairwise(entries):
            if b.address < a.end:
                problems.append(
                    (
                        _line_of(root, ("registers", ib)),
                        f"registers[{ib}] ({b.sensor}, {table.value} {b.address}) overlaps "
                        f"registers[{ia}] ({a.sensor}, {table.value} {a.address}-{a.end - 1}) "
                        f"on line {_line_of(root, ('registers', ia))}",
                    )
                )
    return problems


def load_register_map(path: Path, sensors: Sequence[str] | None = None) -> RegisterMap:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RegisterMapError(str(path), [(None, "file does not exist")]) from None
    except UnicodeDecodeError:
        raise RegisterMapError(str(path), [(None, "not a UTF-8 text file")]) from None
    return parse_register_map(text, str(path), sensors)


# -- decoding and batching ----------------------------------------------------------------


@dataclass(frozen=True)
class ReadBatch:
    """One read request: ``count`` registers of ``table`` from ``address``, and what is in them."""

    group: str
    table: Table
    address: int
    count: int
    entries: tuple[RegisterEntry, ...]


def plan_batches(register_map: RegisterMap, *, max_gap: int = 0) -> dict[str, list[ReadBatch]]:
    """Per poll group, the fewest reads that cover its entries: contiguous runs (gaps of at
    most ``max_gap`` unused registers are read through) of at most 125 registers."""
    plan: dict[str, list[ReadBatch]] = {}
    for group in register_map.groups:
        batches: list[ReadBatch] = []
        for table in Table:
            entries = sorted(
                (e for e in register_map.registers if e.group == group.name and e.table == table),
                key=lambda e: e.address,
            )
            run: list[RegisterEntry] = []
            for entry in entries:
                if run and (
                    entry.address - run[-1].end > max_gap
                    or entry.end - run[0].address > MAX_REGISTERS_PER_READ
                ):
                    batches.append(_batch(group.name, table, run))
                    run = []
                run.append(entry)
            if run:
                batches.append(_batch(group.name, table, run))
        if batches:
            plan[group.name] = batches
    return plan


def _batch(group: str, table: Table, run: list[RegisterEntry]) -> ReadBatch:
    start = run[0].address
    return ReadBatch(group, table, start, run[-1].end - start, tuple(run))


def encode_value(entry: RegisterEntry, value: float, register_map: RegisterMap) -> list[int]:
    """Registers holding ``value`` (in the sensor's unit) as the map says; integers saturate."""
    raw = (value - entry.offset) / entry.scale
    code = _STRUCT[entry.type]
    if entry.type is not DataType.FLOAT32:
        bits = 16 * entry.type.width
        signed = code.islower()
        lo, hi = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
        raw_int = int(min(max(round(raw), lo), hi)) if np.isfinite(raw) else 0
        data = struct.pack(">" + code, raw_int)
    else:
        data = struct.pack(">f", raw)
    words = [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)]
    if (entry.word_order or register_map.word_order) is Order.LITTLE:
        words.reverse()
    if (entry.byte_order or register_map.byte_order) is Order.LITTLE:
        words = [((w & 0xFF) << 8) | (w >> 8) for w in words]
    return words


def decode_batch(
    batch: ReadBatch, registers: Sequence[int], register_map: RegisterMap
) -> list[float]:
    """Values (unit of each entry) of a batch's entries from the registers a read returned."""
    values = []
    for entry in batch.entries:
        offset = entry.address - batch.address
        words = list(registers[offset : offset + entry.type.width])
        if (entry.byte_order or register_map.byte_order) is Order.LITTLE:
            words = [((w & 0xFF) << 8) | (w >> 8) for w in words]
        if (entry.word_order or register_map.word_order) is Order.LITTLE:
            words.reverse()
        data = b"".join(int(w).to_bytes(2, "big") for w in words)
        raw = struct.unpack(">" + _STRUCT[entry.type], data)[0]
        values.append(float(raw) * entry.scale + entry.offset)
    return values


def simulator_register_map(
    sensors: Sequence[tuple[str, str, float]],
    *,
    table: Table = Table.INPUT,
    data_type: DataType = DataType.FLOAT32,
    device_id: int = 1,
) -> RegisterMap:
    """A map for (sensor id, unit, rate Hz) triples: one poll group per rate, consecutive
    addresses per group so each group reads in as few batches as possible."""
    rates = sorted({r for _, _, r in sensors}, reverse=True)
    groups = tuple(PollGroup(name=_group_name(r), period_s=1.0 / r) for r in rates)
    entries: list[RegisterEntry] = []
    address = 0
    for rate in rates:
        for sensor, unit, r in sensors:
            if r == rate:
                entries.append(
                    RegisterEntry(
                        sensor=sensor,
                        table=table,
                        address=address,
                        type=data_type,
                        unit=unit,
                        group=_group_name(rate),
                    )
                )
                address += data_type.width
    return RegisterMap(device_id=device_id, groups=groups, registers=tuple(entries))


def _group_name(rate: float) -> str:
    return f"{rate:g}hz".replace(".", "_")
