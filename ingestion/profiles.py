"""Equipment profiles: components, sensors and hydraulic topology, validated with pydantic.

A profile is the contract between a machine and everything downstream: the store keys
measurements by its sensor ids, and the model's graph is built from its components and
connections. Profiles ship as YAML/JSON in ``resources/profiles`` and users can write their own.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from ingestion.errors import HydroDiagError
from ingestion.resources import resources_dir
from ingestion.units import parse_unit, units_of

PROFILE_SUFFIXES = (".yaml", ".yml", ".json")
_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$"


class ComponentType(StrEnum):
    """Closed set of component kinds; the model embeds the type, so it must stay stable."""

    PUMP = "pump"
    MOTOR = "motor"  # electric or combustion prime mover
    HYDRAULIC_MOTOR = "hydraulic_motor"
    VALVE = "valve"
    CONTROL_VALVE_BLOCK = "control_valve_block"
    PROPORTIONAL_VALVE = "proportional_valve"
    RELIEF_VALVE = "relief_valve"
    ACCUMULATOR = "accumulator"
    COOLER = "cooler"
    HEATER = "heater"
    HEAT_EXCHANGER = "heat_exchanger"
    FILTER = "filter"
    CYLINDER = "cylinder"
    TANK = "tank"
    SWIVEL = "swivel"
    OTHER = "other"


class Quantity(StrEnum):
    """What a sensor measures; node feature slots are grouped by quantity."""

    PRESSURE = "pressure"
    DIFFERENTIAL_PRESSURE = "differential_pressure"
    FLOW = "flow"
    TEMPERATURE = "temperature"
    VIBRATION_VELOCITY = "vibration_velocity"
    VIBRATION_ACCELERATION = "vibration_acceleration"
    ELECTRICAL_POWER = "electrical_power"
    CURRENT = "current"
    VOLTAGE = "voltage"
    SPEED = "speed"
    POSITION = "position"
    LEVEL = "level"
    CONTAMINATION = "contamination"
    EFFICIENCY = "efficiency"
    VIRTUAL = "virtual"  # a computed channel (e.g. cooling power) with no physical transducer


class ConnectionKind(StrEnum):
    """How two components are coupled; used as the edge type of the model graph."""

    PRESSURE_LINE = "pressure_line"
    RETURN_LINE = "return_line"
    SUCTION_LINE = "suction_line"
    PILOT_LINE = "pilot_line"
    DRAIN_LINE = "drain_line"
    SHAFT = "shaft"
    THERMAL = "thermal"


class _Frozen(BaseModel):
    # Non-finite numbers (YAML .inf, -1e400, .nan) are refused with their field: stored as
    # JSON they would become null and break every later reading of the profile.
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class SensorLimits(_Frozen):
    """Optional alarm limits of a sensor, in the sensor's unit."""

    warning_low: float | None = None
    warning_high: float | None = None
    alarm_low: float | None = None
    alarm_high: float | None = None
    debounce_s: float = Field(
        default=0.0, ge=0.0, description="time a value must stay beyond a limit"
    )

    @model_validator(mode="after")
    def _ordered(self) -> SensorLimits:
        if (
            self.alarm_low is not None
            and self.warning_low is not None
            and self.alarm_low > self.warning_low
        ):
            raise ValueError(
                f"alarm_low ({self.alarm_low}) must not be above warning_low ({self.warning_low})"
            )
        if (
            self.alarm_high is not None
            and self.warning_high is not None
            and self.alarm_high < self.warning_high
        ):
            raise ValueError(
                f"alarm_high ({self.alarm_high}) must not be below warning_high ({self.warning_high})"
            )
        return self


class Sensor(_Frozen):
    """One measured (or virtual) channel mounted on a component."""

    id: str = Field(pattern=_ID_PATTERN)
    quantity: Quantity
    unit: str = Field(min_length=1)
    component: str = Field(description="id of the component the sensor sits on")
    rate_hz: float = Field(gt=0.0, description="nominal sampling rate")
    min: float = Field(description="lowest physically plausible value, in unit")
    max: float = Field(description="highest physically plausible value, in unit")
    limits: SensorLimits | None = None
    description: str = ""
    aliases: tuple[str, ...] = Field(
        default=(), description="other names loggers give this channel (matched on import)"
    )

    @model_validator(mode="after")
    def _range(self) -> Sensor:
        if self.min >= self.max:
            raise ValueError(f"min ({self.min}) must be below max ({self.max})")
        return self

    @field_validator("unit")
    @classmethod
    def _unit_fits_quantity(cls, unit: str, info: ValidationInfo) -> str:
        quantity = info.data.get("quantity")
        problem = unit_problem(quantity, unit) if isinstance(quantity, Quantity) else None
        if problem:
            raise ValueError(problem)
        return unit


class Component(_Frozen):
    """A node of the hydraulic graph."""

    id: str = Field(pattern=_ID_PATTERN)
    type: ComponentType
    name: str = Field(min_length=1)
    position: tuple[float, float] | None = Field(
        default=None, description="schematic position (x, y) for drawing, arbitrary units"
    )
    description: str = ""


class Connection(_Frozen):
    """A directed coupling between two components (flow direction where there is one)."""

    source: str
    target: str
    kind: ConnectionKind


class EquipmentProfile(_Frozen):
    """A machine type: what it is made of, what is measured and how it is connected."""

    id: str = Field(pattern=_ID_PATTERN)
    name: str = Field(min_length=1)
    kind: str = Field(min_length=1, description="e.g. test rig, excavator, press")
    version: int = Field(default=1, ge=1, le=2**31 - 1)  # stored as INTEGER
    description: str = ""
    components: tuple[Component, ...] = Field(min_length=1)
    sensors: tuple[Sensor, ...] = ()
    connections: tuple[Connection, ...] = ()

    @model_validator(mode="after")
    def _references(self) -> EquipmentProfile:
        problems = _reference_problems(self)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def component(self, component_id: str) -> Component:
        for component in self.components:
            if component.id == component_id:
                return component
        raise KeyError(f"profile {self.id!r} has no component {component_id!r}")

    def sensor(self, sensor_id: str) -> Sensor:
        for sensor in self.sensors:
            if sensor.id == sensor_id:
                return sensor
        raise KeyError(f"profile {self.id!r} has no sensor {sensor_id!r}")

    def sensors_of(self, component_id: str) -> tuple[Sensor, ...]:
        return tuple(s for s in self.sensors if s.component == component_id)

    @property
    def component_ids(self) -> tuple[str, ...]:
        return tuple(c.id for c in self.components)

    @property
    def sensor_ids(self) -> tuple[str, ...]:
        return tuple(s.id for s in self.sensors)

    def to_json(self) -> str:
        return self.model_dump_json(indent=2)


def _duplicates(ids: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    dup: list[str] = []
    for item in ids:
        if item in seen and item not in dup:
            dup.append(item)
        seen.add(item)
    return dup


# What each quantity may be written in: dimensions of ingestion.units. A virtual (computed)
# channel may be anything.
QUANTITY_DIMENSIONS: dict[Quantity, tuple[str, ...]] = {
    Quantity.PRESSURE: ("pressure",),
    Quantity.DIFFERENTIAL_PRESSURE: ("pressure",),
    Quantity.FLOW: ("flow",),
    Quantity.TEMPERATURE: ("temperature",),
    Quantity.VIBRATION_VELOCITY: ("vibration_velocity",),
    Quantity.VIBRATION_ACCELERATION: ("acceleration",),
    Quantity.ELECTRICAL_POWER: ("power",),
    Quantity.CURRENT: ("current",),
    Quantity.VOLTAGE: ("voltage",),
    Quantity.SPEED: ("speed",),
    Quantity.POSITION: ("length", "ratio"),
    Quantity.LEVEL: ("length", "ratio"),
    Quantity.CONTAMINATION: ("contamination",),
    Quantity.EFFICIENCY: ("ratio",),
}


def unit_problem(quantity: Quantity, unit: str) -> str | None:
    """Why ``unit`` cannot be the unit of a ``quantity`` sensor (None if it can): unknown to
    HydroDiag, or of another dimension (a pressure in A). Names the units that are allowed."""
    dimensions = QUANTITY_DIMENSIONS.get(quantity)
    if dimensions is None:
        return None
    allowed = units_of(dimensions)
    parsed = parse_unit(unit)
    if parsed is None:
        return (
            f"unit {unit!r} is not a unit HydroDiag knows for {quantity.value}; "
            f"use one of {', '.join(allowed)}"
        )
    if parsed.dimension not in dimensions:
        return (
            f"unit {unit!r} measures {parsed.dimension.replace('_', ' ')}, not "
            f"{quantity.value.replace('_', ' ')}; use one of {', '.join(allowed)}"
        )
    return None


# Connections whose direction is the direction something flows, and in which a closed loop
# cannot occur: what a loop of each means, and which component types may close one.
_LOOP_RULES: tuple[tuple[frozenset[ConnectionKind], str, frozenset[ComponentType]], ...] = (
    (
        frozenset({ConnectionKind.SHAFT}),
        "shafts (power flows away from the prime mover and cannot come back round to it)",
        frozenset(),
    ),
    (
        frozenset({ConnectionKind.THERMAL}),
        "thermal couplings (heat flows from hot to cold, never round in a circle)",
        frozenset(),
    ),
    (
        frozenset({ConnectionKind.PRESSURE_LINE, ConnectionKind.PILOT_LINE}),
        "pressure lines through no pump (pressure falls along a line, and only a pump "
        "can drive oil round a loop)",
        frozenset({ComponentType.PUMP}),
    ),
    (
        frozenset({ConnectionKind.RETURN_LINE, ConnectionKind.DRAIN_LINE}),
        "return and drain lines (they lead to the tank, and a loop of them never gets there)",
        frozenset(),
    ),
)


def _find_loop(
    edges: list[tuple[int, str, str]], skip: set[str]
) -> list[tuple[int, str, str]] | None:
    """One directed cycle of ``edges`` (index, source, target) avoiding the nodes ``skip``,
    as its edges in order; None if there is none. Deterministic: file order."""
    out: dict[str, list[tuple[int, str, str]]] = {}
    for edge in edges:
        if edge[1] not in skip and edge[2] not in skip:
            out.setdefault(edge[1], []).append(edge)
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    path: list[tuple[int, str, str]] = []

    def visit(node: str) -> list[tuple[int, str, str]] | None:
        state[node] = 1
        for edge in out.get(node, []):
            target = edge[2]
            if state.get(target) == 1:  # back to a node of the path: the loop closes
                start = next((k for k, e in enumerate(path) if e[1] == target), len(path))
                return [*path[start:], edge]
            if target not in state:
                path.append(edge)
                found = visit(target)
                if found:
                    return found
                path.pop()
        state[node] = 2
        return None

    for _, source, _ in edges:
        if source not in state and source not in skip:
            found = visit(source)
            if found:
                return found
    return None


def _loop_problems(profile: EquipmentProfile) -> list[str]:
    types = {c.id: c.type for c in profile.components}
    problems = []
    for kinds, what, closers in _LOOP_RULES:
        edges = [
            (i, c.source, c.target) for i, c in enumerate(profile.connections) if c.kind in kinds
        ]
        skip = {cid for cid, t in types.items() if t in closers}
        loop = _find_loop(edges, skip)
        if loop is None:
            continue
        route = " -> ".join([loop[0][1]] + [target for _, _, target in loop])
        where = ", ".join(f"connections[{i}]" for i, _, _ in loop)
        problems.append(
            f"connections[{loop[0][0]}]: {route} is a closed loop of {what}: check the "
            f"direction (source is upstream) of {where}"
        )
    return problems


def _reference_problems(profile: EquipmentProfile) -> list[str]:
    problems: list[str] = []
    component_ids = {c.id for c in profile.components}
    for dup in _duplicates(c.id for c in profile.components):
        problems.append(f"components: id {dup!r} is used more than once")
    for dup in _duplicates(s.id for s in profile.sensors):
        problems.append(f"sensors: id {dup!r} is used more than once")
    for i, sensor in enumerate(profile.sensors):
        if sensor.component not in component_ids:
            problems.append(
                f"sensors[{i}].component: sensor {sensor.id!r} sits on unknown component "
                f"{sensor.component!r} (known: {', '.join(sorted(component_ids))})"
            )
    for i, conn in enumerate(profile.connections):
        for end in ("source", "target"):
            value = getattr(conn, end)
            if value not in component_ids:
                problems.append(f"connections[{i}].{end}: unknown component {value!r}")
        if conn.source == conn.target:
            problems.append(f"connections[{i}]: connects {conn.source!r} to itself")
    if not problems:
        problems += _loop_problems(profile)
    return problems


@dataclass(frozen=True)
class ProfileProblem:
    """One thing wrong with a profile file: where (a dotted field path) and what."""

    location: str
    message: str
    value: Any = None

    def __str__(self) -> str:
        shown = f" (value: {self.value!r})" if self.value is not None else ""
        return f"{self.location}: {self.message}{shown}"


class ProfileError(HydroDiagError):
    """A profile could not be read or is invalid; ``problems`` lists every issue found."""

    def __init__(self, source: str, problems: list[ProfileProblem]) -> None:
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(
            f"{source}: {len(problems)} problem(s) in the equipment profile:\n{lines}\n"
            "Fix these fields and run `hydrodiag profile validate` again."
        )


def _location(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(profile)"


def _lookup(data: Any, loc: tuple[int | str, ...]) -> Any:
    for part in loc:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def validate_profile_data(data: Any, source: str = "<profile>") -> EquipmentProfile:
    """Validate raw profile data, raising :class:`ProfileError` with every problem at once."""
    try:
        return EquipmentProfile.model_validate(data)
    except ValidationError as exc:
        problems: list[ProfileProblem] = []
        for err in exc.errors():
            loc = tuple(err["loc"])
            message = str(err["msg"]).removeprefix("Value error, ")
            if not loc and ": " in message:  # cross-reference problems come joined by "; "
                problems.extend(_split_reference_message(message))
                continue
            value = err.get("input") if err["type"] != "missing" else None
            if isinstance(value, Mapping | list):
                value = None
            problems.append(ProfileProblem(_location(loc), message, value))
        # Field errors stop pydantic before the reference check; run it on what parsed so a
        # user sees unknown components in the same pass as a bad unit.
        if not any(not p.location or p.location == "(profile)" for p in problems):
            problems.extend(_partial_reference_problems(data))
        raise ProfileError(source, problems) from None


def _split_reference_message(message: str) -> list[ProfileProblem]:
    problems = []
    for part in message.split("; "):
        location, _, text = part.partition(": ")
        problems.append(ProfileProblem(location, text or part))
    return problems


def _partial_reference_problems(data: Any) -> list[ProfileProblem]:
    if not isinstance(data, Mapping):
        return []

    def items(key: str) -> list[Any]:  # a list the user wrote as something else: no items
        value = data.get(key)
        return value if isinstance(value, list) else []

    ids = {
        c.get("id")
        for c in items("components")
        if isinstance(c, Mapping) and isinstance(c.get("id"), str)
    }
    problems = []
    for i, sensor in enumerate(items("sensors")):
        if (
            isinstance(sensor, Mapping)
            and ids
            and isinstance(sensor.get("component"), str)
            and sensor.get("component") not in ids
        ):
            problems.append(
                ProfileProblem(
                    f"sensors[{i}].component",
                    f"sensor {sensor.get('id')!r} sits on unknown component",
                    sensor.get("component"),
                )
            )
    for i, conn in enumerate(items("connections")):
        if not isinstance(conn, Mapping):
            continue
        for end in ("source", "target"):
            if ids and isinstance(conn.get(end), str) and conn.get(end) not in ids:
                problems.append(
                    ProfileProblem(f"connections[{i}].{end}", "unknown component", conn.get(end))
                )
    return problems


def parse_profile_text(text: str, source: str) -> EquipmentProfile:
    """Parse YAML or JSON profile text (JSON is YAML, but its errors read better as JSON)."""
    try:
        data = json.loads(text) if source.endswith(".json") else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise ProfileError(
            source, [ProfileProblem("(file)", f"not valid YAML/JSON: {exc}")]
        ) from None
    return validate_profile_data(data, source)


def load_profile_file(path: Path) -> EquipmentProfile:
    """Load and validate a profile file (YAML or JSON)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ProfileError(str(path), [ProfileProblem("(file)", "file does not exist")]) from None
    except UnicodeDecodeError:
        raise ProfileError(
            str(path), [ProfileProblem("(file)", "not a UTF-8 text file (is it binary?)")]
        ) from None
    return parse_profile_text(text, str(path))


def shipped_profiles_dir() -> Path:
    return resources_dir() / "profiles"


def list_shipped_profiles() -> list[EquipmentProfile]:
    """Every profile shipped in ``resources/profiles``, sorted by id."""
    files = sorted(
        p for p in shipped_profiles_dir().iterdir() if p.suffix.lower() in PROFILE_SUFFIXES
    )
    return sorted((load_profile_file(p) for p in files), key=lambda p: p.id)


def load_profile(name_or_path: str | Path) -> EquipmentProfile:
    """Load a shipped profile by id, or a user's profile by path."""
    path = Path(name_or_path)
    if path.suffix.lower() in PROFILE_SUFFIXES and path.exists():
        return load_profile_file(path)
    for suffix in PROFILE_SUFFIXES:
        candidate = shipped_profiles_dir() / f"{name_or_path}{suffix}"
        if candidate.exists():
            return load_profile_file(candidate)
    known = ", ".join(p.id for p in list_shipped_profiles())
    raise ProfileError(
        str(name_or_path),
        [ProfileProblem("(profile)", f"no shipped profile or file of that name; shipped: {known}")],
    )
