"""Units of measure: recognise how loggers write them and convert linearly into a profile's unit.

Every conversion here is ``value * scale + offset`` so the importers can apply it inside a
DuckDB expression. Units are grouped by dimension; converting across dimensions is an error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from ingestion.errors import HydroDiagError


class UnitError(HydroDiagError):
    """A unit that is unknown or cannot be converted into the sensor's unit."""


@dataclass(frozen=True)
class Unit:
    """A unit as ``si_value = value * scale + offset`` within its dimension."""

    symbol: str
    dimension: str
    scale: float
    offset: float = 0.0


_UNITS: Final[tuple[tuple[Unit, tuple[str, ...]], ...]] = (
    # pressure (SI: Pa)
    (Unit("bar", "pressure", 1e5), ("bar", "bar(g)", "barg", "bar g", "bar(a)", "bara")),
    (Unit("mbar", "pressure", 100.0), ("mbar",)),
    (Unit("psi", "pressure", 6894.757293168), ("psi", "psig", "psia", "lbf/in2", "lbf/in²")),
    (Unit("MPa", "pressure", 1e6), ("mpa",)),
    (Unit("kPa", "pressure", 1e3), ("kpa",)),
    (Unit("Pa", "pressure", 1.0), ("pa",)),
    # temperature (SI: K)
    (
        Unit("°C", "temperature", 1.0, 273.15),
        ("°c", "degc", "deg c", "c", "celsius", "ºc", "grad c"),
    ),
    (
        Unit("°F", "temperature", 5.0 / 9.0, 273.15 - 32.0 * 5.0 / 9.0),
        ("°f", "degf", "deg f", "f", "fahrenheit", "ºf"),
    ),
    (Unit("K", "temperature", 1.0), ("k", "kelvin")),
    # volume flow (SI: m³/s)
    (
        Unit("l/min", "flow", 1e-3 / 60),
        ("l/min", "lpm", "l min-1", "liter/min", "litre/min", "l/m"),
    ),
    (Unit("gpm", "flow", 3.785411784e-3 / 60), ("gpm", "gal/min", "usgpm", "us gpm")),
    (Unit("m³/h", "flow", 1.0 / 3600), ("m3/h", "m³/h", "m^3/h", "cbm/h")),
    (Unit("l/s", "flow", 1e-3), ("l/s",)),
    (Unit("cm³/s", "flow", 1e-6), ("cm3/s", "cm³/s", "ccm/s")),
    # power (SI: W)
    (Unit("W", "power", 1.0), ("w", "watt")),
    (Unit("kW", "power", 1e3), ("kw", "kilowatt")),
    (Unit("hp", "power", 745.69987158227), ("hp",)),
    # speed (SI: 1/min)
    (Unit("rpm", "speed", 1.0), ("rpm", "1/min", "min-1", "u/min", "r/min")),
    (Unit("Hz", "speed", 60.0), ("hz",)),
    # vibration velocity (SI: mm/s)
    (Unit("mm/s", "vibration_velocity", 1.0), ("mm/s",)),
    (Unit("in/s", "vibration_velocity", 25.4), ("in/s", "ips")),
    # vibration acceleration (SI: m/s²)
    (Unit("m/s²", "acceleration", 1.0), ("m/s2", "m/s²", "m/s^2")),
    (Unit("g", "acceleration", 9.80665), ("g",)),
    # electrical
    (Unit("A", "current", 1.0), ("a", "amp", "amps", "ampere", "amperes")),
    (Unit("mA", "current", 1e-3), ("ma",)),
    (Unit("V", "voltage", 1.0), ("v", "volt")),
    (Unit("mV", "voltage", 1e-3), ("mv",)),
    # position / length (SI: mm)
    (Unit("mm", "length", 1.0), ("mm",)),
    (Unit("cm", "length", 10.0), ("cm",)),
    (Unit("m", "length", 1000.0), ("m",)),
    (Unit("in", "length", 25.4), ("in", "inch")),
    # ratios
    (Unit("%", "ratio", 1.0), ("%", "percent", "pct")),
    (Unit("1", "ratio", 100.0), ("1", "-", "fraction")),
    # energy rate reported by cooling systems (kW handled above); contamination
    (Unit("ISO 4406", "contamination", 1.0), ("iso 4406", "iso4406", "iso code")),
    (Unit("h", "time", 3600.0), ("h", "hours")),
    (Unit("s", "time", 1.0), ("s", "sec")),
)

_BY_ALIAS: Final[dict[str, Unit]] = {
    alias: unit for unit, aliases in _UNITS for alias in (*aliases, unit.symbol.lower())
}


def normalise_unit_text(text: str) -> str:
    t = text.strip().lower().replace("µ", "u").replace("deg.", "deg ")
    t = re.sub(r"\s+", " ", t)
    return t.replace(" / ", "/")


def parse_unit(text: str) -> Unit | None:
    """The unit a logger wrote (``psi``, ``°F``, ``l/min``, ``degC``...), or None if unknown."""
    return _BY_ALIAS.get(normalise_unit_text(text))


def is_unit(text: str) -> bool:
    return parse_unit(text) is not None


def conversion(from_unit: str, to_unit: str, *, where: str = "") -> tuple[float, float]:
    """``(scale, offset)`` with ``to = from * scale + offset``; (1, 0) when the units agree.

    Raises :class:`UnitError` naming ``where`` if either unit is unknown or they measure
    different things.
    """
    if normalise_unit_text(from_unit) == normalise_unit_text(to_unit):
        return 1.0, 0.0
    src, dst = parse_unit(from_unit), parse_unit(to_unit)
    prefix = f"{where}: " if where else ""
    if src is None:
        raise UnitError(
            f"{prefix}unknown unit {from_unit!r}. Known: {', '.join(known_units())}. "
            "Give the column's unit with --map COLUMN=SENSOR:UNIT."
        )
    if dst is None:
        raise UnitError(
            f"{prefix}the profile's unit {to_unit!r} is unknown to HydroDiag, so {from_unit!r} "
            "cannot be converted into it; write the data in the profile's unit."
        )
    if src.dimension != dst.dimension:
        raise UnitError(
            f"{prefix}{from_unit!r} ({src.dimension}) cannot be converted to {to_unit!r} "
            f"({dst.dimension}). Is the column mapped to the right sensor?"
        )
    if src.symbol == dst.symbol:
        return 1.0, 0.0
    scale = src.scale / dst.scale
    offset = (src.offset - dst.offset) / dst.scale
    return scale, offset


def known_units() -> list[str]:
    return [unit.symbol for unit, _ in _UNITS]


def units_of(dimensions: tuple[str, ...]) -> list[str]:
    """The symbols of the units of these dimensions, in the table's order."""
    return [unit.symbol for unit, _ in _UNITS if unit.dimension in dimensions]
