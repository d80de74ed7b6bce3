"""Generated equipment profiles and register maps: each is either valid all the way through
(finite numbers, units that fit their quantity, no impossible loop, and the same profile back
after the workspace stored it) or refused with every problem naming its field (and, for a
register map, its YAML line)."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from ingestion.catalog import ensure_equipment, equipment_profile
from ingestion.modbus.registermap import (
    RegisterMapError,
    Table,
    parse_register_map,
)
from ingestion.profiles import (
    EquipmentProfile,
    ProfileError,
    _loop_problems,
    parse_profile_text,
    unit_problem,
    validate_profile_data,
)
from ingestion.workspace import open_workspace
from tests.fuzz.conftest import count, examples

RIG_FILE = Path(__file__).resolve().parents[2] / "resources" / "profiles" / "zema-test-rig.yaml"
RIG: dict[str, Any] = yaml.safe_load(RIG_FILE.read_text(encoding="utf-8"))
STORE = open_workspace(None)

# values a hostile or unlucky profile puts anywhere
NASTY = st.one_of(
    st.sampled_from(
        [
            float("inf"),
            float("-inf"),
            float("nan"),
            "-1e400",
            "1e400",
            ".inf",
            0,
            -1,
            1e308,
            -1e-320,
            "",
            " ",
            None,
            True,
            [],
            {},
            "amps",
            "L/min",
            "bar",
            "°C",
            "psi",
            "pump",
            "pressure_line",
            "shaft",
            "MP1",
            "T",
            "NOPE",
            "\u202e",
            "🔧",
            "x" * 300,
        ]
    ),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-(10**20), 10**20),
    st.text(max_size=12),
)

SENSOR_FIELDS = (
    "id",
    "quantity",
    "unit",
    "component",
    "rate_hz",
    "min",
    "max",
    "limits",
    "description",
)
LIMIT_FIELDS = ("warning_low", "warning_high", "alarm_low", "alarm_high", "debounce_s")
COMPONENT_FIELDS = ("id", "type", "name", "position")
CONNECTION_FIELDS = ("source", "target", "kind")


@st.composite
def profiles(draw: st.DrawFn) -> dict[str, Any]:
    data = copy.deepcopy(RIG)
    for _ in range(draw(st.integers(0, 4))):
        where = draw(st.sampled_from(["sensor", "limit", "component", "connection", "top", "add"]))
        lists = ("sensors", "components", "connections")
        if not all(isinstance(data.get(k), list) and data[k] for k in lists) or not all(
            isinstance(item, dict) for k in lists for item in data[k]
        ):
            where = "top"  # an earlier step replaced a whole list: only top-level edits now
        if where == "sensor":
            sensor = draw(st.sampled_from(data["sensors"]))
            sensor[draw(st.sampled_from(SENSOR_FIELDS))] = draw(NASTY)
        elif where == "limit":
            sensor = draw(st.sampled_from(data["sensors"]))
            if not isinstance(sensor.get("limits"), dict):
                sensor["limits"] = {}
            sensor["limits"][draw(st.sampled_from(LIMIT_FIELDS))] = draw(NASTY)
        elif where == "component":
            component = draw(st.sampled_from(data["components"]))
            component[draw(st.sampled_from(COMPONENT_FIELDS))] = draw(NASTY)
        elif where == "connection":
            connection = draw(st.sampled_from(data["connections"]))
            connection[draw(st.sampled_from(CONNECTION_FIELDS))] = draw(NASTY)
        elif where == "top":
            data[
                draw(st.sampled_from(["id", "name", "kind", "version", "components", "sensors"]))
            ] = draw(NASTY)
        else:  # a plausible new connection: the way loops get in
            ids = [c["id"] for c in data["components"] if isinstance(c.get("id"), str)] or ["X"]
            data["connections"].append(
                {
                    "source": draw(st.sampled_from(ids)),
                    "target": draw(st.sampled_from(ids)),
                    "kind": draw(
                        st.sampled_from(
                            ["pressure_line", "return_line", "shaft", "thermal", "drain_line"]
                        )
                    ),
                }
            )
    return data


def _numbers(value: Any) -> list[float]:
    if isinstance(value, float):
        return [value]
    if isinstance(value, dict):
        return [n for v in value.values() for n in _numbers(v)]
    if isinstance(value, list | tuple):
        return [n for v in value for n in _numbers(v)]
    return []


@examples(750)
@given(data=profiles(), as_text=st.booleans())
def test_generated_profiles_are_valid_through_and_through_or_refused_by_field(
    data: dict[str, Any], as_text: bool
) -> None:
    count("profiles")
    refused: ProfileError | None = None
    try:
        if as_text:
            profile = parse_profile_text(yaml.safe_dump(data, allow_unicode=True), "mine.yaml")
        else:
            profile = validate_profile_data(data, "mine.yaml")
    except ProfileError as exc:
        refused = exc
    if refused is None:
        _check_valid(profile)
        return
    assert refused.problems
    for problem in refused.problems:
        assert problem.location and problem.location != "(profile)", str(refused)
        assert problem.message, str(refused)


def _check_valid(profile: EquipmentProfile) -> None:
    body = profile.model_dump(mode="json")
    assert all(math.isfinite(n) for n in _numbers(body)), body
    assert all(unit_problem(s.quantity, s.unit) is None for s in profile.sensors)
    assert _loop_problems(profile) == []
    # what the workspace stores is what comes back (a non-finite number once came back null)
    assert validate_profile_data(json.loads(profile.model_dump_json())) == profile
    with STORE.transaction() as con:
        equipment = f"eq-{abs(hash(profile.model_dump_json())) % 10**9}"
        ensure_equipment(con, equipment, profile)
        assert equipment_profile(con, equipment) == profile
        con.execute("DELETE FROM equipment WHERE id = ?", [equipment])


SENSORS = [s["id"] for s in RIG["sensors"]]


@st.composite
def register_maps(draw: st.DrawFn) -> str:
    groups = draw(
        st.lists(
            st.fixed_dictionaries(
                {
                    "name": st.sampled_from(["fast", "slow", "default", "", "fast"]),
                    "period_s": st.one_of(
                        st.sampled_from([0.01, 1.0, 0, -1, float("inf"), float("nan"), 5000]),
                        st.floats(allow_nan=True),
                    ),
                }
            ),
            max_size=3,
        )
    )
    entries = draw(
        st.lists(
            st.fixed_dictionaries(
                {
                    "sensor": st.one_of(st.sampled_from(SENSORS), st.sampled_from(["NOPE", ""])),
                    "table": st.sampled_from(["input", "holding", "coil"]),
                    "address": st.one_of(
                        st.integers(0, 40), st.sampled_from([-1, 65534, 65535, 70000])
                    ),
                    "type": st.sampled_from(
                        ["float32", "int16", "uint16", "int32", "uint32", "double"]
                    ),
                },
                optional={
                    "scale": st.sampled_from([1.0, 0.1, 0, float("inf"), float("nan"), -2.5]),
                    "offset": st.sampled_from([0.0, 273.15, float("-inf")]),
                    "group": st.sampled_from(["fast", "slow", "default", "missing"]),
                },
            ),
            max_size=8,
        )
    )
    data: dict[str, Any] = {
        "device_id": draw(st.sampled_from([1, 0, 255, 256, -1])),
        "registers": entries,
    }
    if groups:
        data["groups"] = groups
    text = yaml.safe_dump(data, sort_keys=False)
    if draw(st.booleans()):  # damage the text itself
        cut = draw(st.integers(0, len(text)))
        text = text[:cut] + draw(st.sampled_from(["", ":", "- [", "\t", "{{", "'"])) + text[cut:]
    return text


@examples(650)
@given(text=register_maps())
def test_generated_register_maps_are_consistent_or_refused_by_line(text: str) -> None:
    count("register maps")
    refused: RegisterMapError | None = None
    try:
        register_map = parse_register_map(text, "plc.yaml", SENSORS)
    except RegisterMapError as exc:
        refused = exc
    if refused is not None:
        assert refused.problems and str(refused).startswith("plc.yaml")
        for line, message in refused.problems:
            assert message
            assert line is None or line >= 1
        return
    names = [g.name for g in register_map.groups]
    assert len(names) == len(set(names))
    for table in Table:
        used: set[int] = set()
        for entry in (e for e in register_map.registers if e.table is table):
            assert entry.group in names and entry.sensor in SENSORS
            assert math.isfinite(entry.scale) and entry.scale != 0 and math.isfinite(entry.offset)
            span = set(range(entry.address, entry.end))
            assert not used & span and entry.end <= 65536
            used |= span
    assert all(math.isfinite(g.period_s) and g.period_s > 0 for g in register_map.groups)


@pytest.mark.parametrize("name", ["zema-test-rig.yaml", "tracked-excavator.yaml"])
def test_shipped_profiles_pass_the_same_checks(name: str) -> None:
    path = RIG_FILE.parent / name
    _check_valid(parse_profile_text(path.read_text(encoding="utf-8"), str(path)))
