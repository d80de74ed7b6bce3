"""Which column of a CSV log feeds which sensor: header names and units, the wide or long
layout, and matching column (or sensor) names to a profile's sensors with unit conversion."""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from pathlib import Path
from typing import Final

from ingestion.csv_plan import ColumnPlan, CsvFormatError, CsvOptions
from ingestion.profiles import EquipmentProfile
from ingestion.units import UnitError, conversion, parse_unit

_SENSOR_NAMES: Final = frozenset(
    {
        "sensor",
        "sensor_id",
        "sensorid",
        "channel",
        "kanal",
        "tag",
        "tagname",
        "signal",
        "name",
        "variable",
        "messstelle",
        "varname",
        "var_name",
        "tag name",
        "point",
    }
)
_VALUE_NAMES: Final = frozenset(
    {
        "value",
        "wert",
        "val",
        "reading",
        "messwert",
        "measurement",
        "varvalue",
        "var_value",
        "tagvalue",
    }
)
_UNIT_NAMES: Final = frozenset({"unit", "einheit", "units", "eu"})


ColumnLookup = Callable[[str], ColumnPlan]
"""A column by its header text or 1-based position, as ``--map``, ``--skip`` and
``--time-column`` refer to it."""


def column_lookup(path: Path, columns: list[ColumnPlan]) -> ColumnLookup:
    """The :data:`ColumnLookup` of ``columns``; an unknown reference names the columns there are."""

    def column_of(ref: str) -> ColumnPlan:
        for c in columns:
            if c.header and (
                c.header == ref
                or c.header.casefold() == ref.casefold()
                or c.name.casefold() == ref.casefold()
            ):
                return c
        if ref.isdigit() and 1 <= int(ref) <= len(columns):
            return columns[int(ref) - 1]
        m = re.fullmatch(r"column\s*(\d+)", ref.strip(), flags=re.IGNORECASE)
        if m and 1 <= int(m.group(1)) <= len(columns):
            return columns[int(m.group(1)) - 1]
        raise CsvFormatError(
            f"{path}: there is no column {ref!r}. Columns: "
            + ", ".join(c.header or c.label() for c in columns)
            + ". Refer to a column by its header text or its 1-based position."
        )

    return column_of


def split_header(text: str) -> tuple[str, str | None]:
    """``"PS1 [bar]"`` / ``"PS1 (psi)"`` / ``"PS1_bar"`` / ``"Temp °F"`` -> (name, unit)."""
    t = text.strip()
    m = re.match(r"^(.*?)\s*[\[(]([^\])]+)[\])]\s*$", t)
    if m and m.group(1).strip():
        return m.group(1).strip(), m.group(2).strip()
    m = re.match(r"^(.*?)\s*(?:in|/)\s*([^\s/][^\s]*)$", t)
    if m and m.group(1).strip() and parse_unit(m.group(2)) and len(m.group(2)) > 1:
        return m.group(1).strip(), m.group(2).strip()
    m = re.match(r"^(.*?)[\s_]+([^\s_]+)$", t)
    if m and m.group(1).strip():
        unit = m.group(2)
        # single letters (C, A, V, ...) are too often part of a name; need °, or 2+ chars
        if parse_unit(unit) and (len(unit) > 1 or unit.startswith("°")) and not unit.isdigit():
            return m.group(1).strip(), unit
    return t, None


def norm_name(text: str) -> str:
    """A header or sensor name as names are compared: case, spaces, ``_-.`` ignored."""
    return re.sub(r"[\s_\-.]+", "", text.casefold())


def _tokens(text: str) -> list[str]:
    return [t for t in re.split(r"[^0-9A-Za-z]+", text.casefold()) if t]


def detect_layout(columns: list[ColumnPlan]) -> str:
    """``long`` when the non-time columns name a sensor-name and a value column, else ``wide``."""
    rest = [c for c in columns if c.role == "unknown"]
    names = {norm_name(c.name) for c in rest}
    if names & {norm_name(n) for n in _SENSOR_NAMES} and names & {
        norm_name(n) for n in _VALUE_NAMES
    }:
        return "long"
    return "wide"


def plan_long(columns: list[ColumnPlan], path: Path) -> None:
    """Find the sensor-name, value and unit columns of a long table; the rest are skipped."""
    for c in columns:
        if c.role != "unknown":
            continue
        n = norm_name(c.name)
        if n in {norm_name(x) for x in _SENSOR_NAMES} and not any(
            x.role == "sensor_name" for x in columns
        ):
            c.role = "sensor_name"
        elif n in {norm_name(x) for x in _VALUE_NAMES} and not any(
            x.role == "value_long" for x in columns
        ):
            c.role = "value_long"
        elif n in {norm_name(x) for x in _UNIT_NAMES}:
            c.role = "unit_long"
        else:
            c.role = "skipped"
    if not any(c.role == "sensor_name" for c in columns) or not any(
        c.role == "value_long" for c in columns
    ):
        raise CsvFormatError(
            f"{path}: a long table needs a sensor-name column (sensor, channel, tag, ...) and a "
            "value column (value, wert, ...). Rename the headers or use the wide layout."
        )


def match_sensor(name: str, profile: EquipmentProfile) -> str | None:
    """The profile sensor a column name unambiguously refers to, else None: its id, one of its
    ``aliases`` or its ``description`` (case, spaces, ``_-.`` and a ``[unit]`` ignored), or the
    one sensor id among the name's words."""
    ids = {norm_name(s): s for s in profile.sensor_ids}
    key = norm_name(name)
    if key in ids:
        return ids[key]
    named = {
        s.id
        for s in profile.sensors
        for other in (*s.aliases, s.description)
        if other and key and norm_name(split_header(other)[0]) == key
    }
    if len(named) == 1:
        return named.pop()
    hits = {ids[t] for t in (norm_name(t) for t in _tokens(name)) if t in ids}
    return hits.pop() if len(hits) == 1 else None


def plan_wide(
    path: Path,
    columns: list[ColumnPlan],
    profile: EquipmentProfile,
    options: CsvOptions,
    column_of: ColumnLookup,
) -> None:
    """Map the unknown columns of a wide table to the profile's sensors (``--map`` first, then
    by name) with their unit conversions; unmatched ones are an error unless ignored."""
    skip_ids = {column_of(ref).index for ref in options.skip}
    for ref, target in options.maps.items():
        col = column_of(ref)
        if col.role in {"time", "date", "clock"}:
            raise CsvFormatError(f"{path}: --map {ref}: {col.label()} is the time column.")
        if target.sensor not in profile.sensor_ids:
            raise CsvFormatError(
                f"--map {ref}={target.sensor}: profile {profile.id!r} has no sensor "
                f"{target.sensor!r}; its sensors are {', '.join(profile.sensor_ids)}."
            )
        col.role, col.sensor = "value", target.sensor
        if target.unit:
            col.unit = target.unit
    for col in columns:
        if col.role != "unknown" or col.index in skip_ids:
            continue
        sensor = match_sensor(col.name, profile)
        if sensor is not None:
            col.role, col.sensor = "value", sensor
    by_sensor: dict[str, list[ColumnPlan]] = {}
    for col in columns:
        if col.role == "value" and col.sensor:
            by_sensor.setdefault(col.sensor, []).append(col)
    clashes = {s: cs for s, cs in by_sensor.items() if len(cs) > 1}
    if clashes:
        text = "; ".join(f"{s}: {', '.join(c.label() for c in cs)}" for s, cs in clashes.items())
        raise CsvFormatError(
            f"{path}: several columns match the same sensor ({text}). Say which one with "
            "--map COLUMN=SENSOR and leave the other out with --skip COLUMN."
        )
    unknown = [c for c in columns if c.role == "unknown" and c.index not in skip_ids]
    if unknown and not options.ignore_unknown:
        lines = []
        for c in unknown:
            close = difflib.get_close_matches(c.name, profile.sensor_ids, n=2, cutoff=0.4)
            hint = f" (maybe {' or '.join(close)}?)" if close else ""
            lines.append(f"  - {c.label()}{hint}")
        raise CsvFormatError(
            f"{path}: {len(unknown)} column(s) match no sensor of profile {profile.id!r} "
            f"(sensors: {', '.join(profile.sensor_ids)}):\n"
            + "\n".join(lines)
            + "\nMap them with --map 'COLUMN=SENSOR[:UNIT]', leave them out with --skip COLUMN, "
            "or import only the matched columns with --ignore-unknown."
        )
    for c in unknown:
        c.role = "skipped"
    values = [c for c in columns if c.role == "value"]
    if not values:
        raise CsvFormatError(
            f"{path}: no column matches a sensor of profile {profile.id!r} "
            f"({', '.join(profile.sensor_ids)}). Map columns with --map 'COLUMN=SENSOR[:UNIT]'."
        )
    for c in values:
        assert c.sensor is not None
        target_unit = profile.sensor(c.sensor).unit
        if c.unit:
            try:
                c.scale, c.offset = conversion(c.unit, target_unit, where=f"{path}: {c.label()}")
            except UnitError:
                if parse_unit(c.unit) is None and c.unit and not re.search(r"[A-Za-z°%/]", c.unit):
                    c.unit = None  # a bracketed index like "[1]" is not a unit
                else:
                    raise
