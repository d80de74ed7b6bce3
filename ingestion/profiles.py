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
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ingestion.errors import HydroDiagError
from ingestion.resources import resources_dir

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
    model_config = ConfigDict(frozen=True, extra="forbid")


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
    version: int = Field(default=1, ge=1)
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
            if not loc and ";" in message:  # cross-reference problems come joined
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
    components = data.get("components") or []
    ids = {c.get("id") for c in components if isinstance(c, Mapping)}
    problems = []
    for i, sensor in enumerate(data.get("sensors") or []):
        if isinstance(sensor, Mapping) and ids and sensor.get("component") not in ids:
            problems.append(
                ProfileProblem(
                    f"sensors[{i}].component",
                    f"sensor {sensor.get('id')!r} sits on unknown component",
                    sensor.get("component"),
                )
            )
    for i, conn in enumerate(data.get("connections") or []):
        if not isinstance(conn, Mapping):
            continue
        for end in ("source", "target"):
            if ids and conn.get(end) not in ids:
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
