"""Time-stamp and unit recognition on their own (the importer's building blocks)."""

from __future__ import annotations

from datetime import datetime

import duckdb
import pytest

from ingestion.timestamps import (
    TimestampError,
    detect_date_time_pair,
    detect_time_spec,
    user_time_spec,
)
from ingestion.units import UnitError, conversion, parse_unit


def _parse(spec_values: list[str], tz: str | None = None) -> list[datetime]:
    spec = detect_time_spec(spec_values)
    assert spec is not None
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    expr = spec.expression("v", tz)
    rows = con.execute(f"SELECT {expr} FROM unnest(?) t(v)", [spec_values]).fetchall()
    return [r[0] for r in rows]


@pytest.mark.parametrize(
    ("values", "first"),
    [
        (["2026-03-02T06:00:00", "2026-03-02T06:00:01"], datetime(2026, 3, 2, 6, 0, 0)),
        (["2026-03-02 06:00:00,25"], datetime(2026, 3, 2, 6, 0, 0, 250000)),
        (["2026-03-02T07:00:00+01:00"], datetime(2026, 3, 2, 6, 0, 0)),
        (["02.03.2026 06:00", "02.03.2026 06:01"], datetime(2026, 3, 2, 6, 0)),
        (["02.03.2026 06:00:00.5"], datetime(2026, 3, 2, 6, 0, 0, 500000)),
        (["13/03/2026 06:00:00", "14/03/2026 06:00:00"], datetime(2026, 3, 13, 6, 0)),
        (["03/13/2026 06:00:00"], datetime(2026, 3, 13, 6, 0)),
        (["2026/03/02 06:00:00"], datetime(2026, 3, 2, 6, 0)),
        (["1772431200", "1772431201"], datetime(2026, 3, 2, 6, 0)),
        (["1772431200123"], datetime(2026, 3, 2, 6, 0, 0, 123000)),
        (["1772431200.5"], datetime(2026, 3, 2, 6, 0, 0, 500000)),
    ],
)
def test_time_formats(values: list[str], first: datetime) -> None:
    assert _parse(values)[0] == first


def test_day_month_order_from_time_running_forward() -> None:
    # 01/02 then 02/02 then 03/02: as dd/mm the days step forward in February
    values = ["01/02/2026 23:59:59", "02/02/2026 00:00:00", "03/02/2026 00:00:00"]
    spec = detect_time_spec(values)
    assert spec is not None and spec.description.startswith("dd/mm/yyyy")
    assert "assumed" in spec.description


def test_local_time_to_utc_across_dst() -> None:
    got = _parse(["29.03.2026 01:30:00", "29.03.2026 03:30:00"], tz="Europe/Berlin")
    assert got == [datetime(2026, 3, 29, 0, 30), datetime(2026, 3, 29, 1, 30)]


def test_not_a_time_column() -> None:
    assert detect_time_spec(["abc", "def"]) is None
    assert detect_time_spec(["1.5", "2.5"]) is None  # small numbers: not epoch, no --start
    spec = detect_time_spec(["0.0", "0.5"], start=datetime(2026, 1, 1))
    assert spec is not None and spec.kind == "relative"


def test_date_and_time_columns() -> None:
    spec = detect_date_time_pair(["02.03.2026"], ["06:00:00,5"])
    assert spec is not None and spec.kind == "format"
    assert detect_date_time_pair(["x"], ["06:00"]) is None


def test_user_time_format() -> None:
    assert user_time_spec("epoch-ms").epoch_unit == "ms"
    assert user_time_spec("%d.%m.%Y %H:%M").formats == ("%d.%m.%Y %H:%M",)
    with pytest.raises(TimestampError, match="--start"):
        user_time_spec("relative-s")
    with pytest.raises(TimestampError, match="strptime"):
        user_time_spec("dd.mm.yyyy")


@pytest.mark.parametrize(
    ("src", "dst", "value", "expected"),
    [
        ("psi", "bar", 1000.0, 68.9475729),
        ("MPa", "bar", 1.0, 10.0),
        ("kPa", "bar", 100.0, 1.0),
        ("°F", "°C", 212.0, 100.0),
        ("degF", "°C", 32.0, 0.0),
        ("K", "°C", 273.15, 0.0),
        ("gpm", "l/min", 1.0, 3.785411784),
        ("m3/h", "l/min", 6.0, 100.0),
        ("kW", "W", 1.5, 1500.0),
        ("in/s", "mm/s", 1.0, 25.4),
        ("bar", "bar", 5.0, 5.0),
    ],
)
def test_unit_conversions(src: str, dst: str, value: float, expected: float) -> None:
    scale, offset = conversion(src, dst)
    assert value * scale + offset == pytest.approx(expected, rel=1e-9, abs=1e-9)


def test_unit_errors() -> None:
    assert parse_unit("furlong") is None
    with pytest.raises(UnitError, match="unknown unit 'furlong'"):
        conversion("furlong", "bar", where="column 2")
    with pytest.raises(UnitError, match=r"'psi' \(pressure\) cannot be converted to '°C'"):
        conversion("psi", "°C")
