"""Profile checks a hostile or unlucky profile found missing: non-finite numbers, units that do
not measure the sensor's quantity, and closed loops in the topology."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from ingestion.profiles import (
    ProfileError,
    list_shipped_profiles,
    parse_profile_text,
    validate_profile_data,
)

RIG = Path(__file__).resolve().parents[2] / "resources" / "profiles" / "zema-test-rig.yaml"


def _rig() -> dict[str, Any]:
    data = yaml.safe_load(RIG.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _problems(data: dict[str, Any]) -> list[str]:
    with pytest.raises(ProfileError) as caught:
        validate_profile_data(data, "mine.yaml")
    return [str(p) for p in caught.value.problems]


@pytest.mark.parametrize(
    ("field", "text", "shown"),
    [
        ("max", ".inf", "inf"),
        ("min", "-1e400", "-inf"),
        ("min", ".nan", "nan"),
        ("rate_hz", ".inf", "inf"),
    ],
)
def test_non_finite_sensor_numbers_are_refused_with_their_field(
    field: str, text: str, shown: str
) -> None:
    body = RIG.read_text(encoding="utf-8")
    line = next(ln for ln in body.splitlines() if "{id: PS1," in ln)
    edited = body.replace(line, re.sub(rf"\b{field}: [^,}}]+", f"{field}: {text}", line), 1)
    assert edited != body
    with pytest.raises(ProfileError) as caught:
        parse_profile_text(edited, "mine.yaml")
    (problem,) = caught.value.problems
    assert problem.location == f"sensors[0].{field}"
    # YAML reads .inf/.nan as floats and -1e400 as text that only becomes -inf as a number
    assert "finite number" in problem.message and str(problem.value) in {shown, text}


def test_non_finite_limit_is_refused() -> None:
    data = _rig()
    data["sensors"][0]["limits"] = {"warning_high": float("inf"), "alarm_high": 300}
    assert _problems(data) == [
        "sensors[0].limits.warning_high: Input should be a finite number (value: inf)"
    ]


@pytest.mark.parametrize(
    ("quantity", "unit", "expected"),
    [
        ("pressure", "amps", "measures current, not pressure; use one of bar, mbar, psi"),
        ("pressure", "L/min", "measures flow, not pressure"),
        ("temperature", "bar", "measures pressure, not temperature; use one of °C, °F, K"),
        ("flow", "furlongs", "'furlongs' is not a unit HydroDiag knows for flow; use one of l/min"),
    ],
)
def test_unit_must_measure_the_quantity(quantity: str, unit: str, expected: str) -> None:
    data = _rig()
    data["sensors"][0].update(quantity=quantity, unit=unit)
    (problem,) = _problems(data)
    assert problem.startswith("sensors[0].unit: ") and expected in problem


@pytest.mark.parametrize(
    ("quantity", "unit"),
    [("current", "amps"), ("flow", "L/min"), ("pressure", "psi"), ("virtual", "anything")],
)
def test_units_that_fit_are_accepted(quantity: str, unit: str) -> None:
    data = _rig()
    data["sensors"][0].update(quantity=quantity, unit=unit)
    assert validate_profile_data(data).sensors[0].unit == unit


@pytest.mark.parametrize(
    ("connection", "kind_text"),
    [
        (
            {"source": "ACC", "target": "V10", "kind": "pressure_line"},
            "pressure lines through no pump",
        ),
        ({"source": "MP1", "target": "M1", "kind": "shaft"}, "shafts"),
        ({"source": "T", "target": "H1", "kind": "thermal"}, "thermal couplings"),
        ({"source": "T", "target": "LV", "kind": "return_line"}, "return and drain lines"),
    ],
)
def test_closed_loop_is_refused_naming_its_connections(
    connection: dict[str, str], kind_text: str
) -> None:
    data = _rig()
    data["connections"].append(connection)
    new = len(data["connections"]) - 1
    (problem,) = _problems(data)
    assert kind_text in problem and f"connections[{new}]" in problem
    assert f"{connection['target']} -> " in problem or f"-> {connection['target']}" in problem


def test_loops_that_real_circuits_have_are_accepted() -> None:
    # open circuit through the tank (shipped), a relief valve feeding back to its motor
    # (shipped excavator), and a closed hydrostatic loop pump <-> motor
    assert {p.id for p in list_shipped_profiles()} >= {"zema-test-rig", "tracked-excavator"}
    data = _rig()
    data["components"].append({"id": "HM", "type": "hydraulic_motor", "name": "Drive motor"})
    data["connections"] += [
        {"source": "MP2", "target": "HM", "kind": "pressure_line"},
        {"source": "HM", "target": "MP2", "kind": "pressure_line"},
    ]
    validate_profile_data(copy.deepcopy(data))
