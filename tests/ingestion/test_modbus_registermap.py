"""Register maps: every malformed entry is refused with its YAML line and the reason; values
survive an encode/decode round trip in every type and byte/word order; batches are contiguous."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingestion.modbus.registermap import (
    DataType,
    Order,
    RegisterEntry,
    RegisterMap,
    RegisterMapError,
    Table,
    decode_batch,
    encode_value,
    load_register_map,
    parse_register_map,
    plan_batches,
    simulator_register_map,
)

GOOD = """\
device_id: 3
groups:
  - {name: fast, period_s: 0.01}
  - {name: slow, period_s: 1}
registers:
  - {sensor: PS1, table: input, address: 0, type: float32, unit: bar, group: fast}
  - {sensor: PS2, table: input, address: 2, type: float32, unit: bar, group: fast}
  - {sensor: TS1, table: holding, address: 100, type: int16, scale: 0.1, unit: °C, group: slow}
"""


def _problem(text: str, **kwargs: object) -> RegisterMapError:
    with pytest.raises(RegisterMapError) as info:
        parse_register_map(text, "map.yaml", **kwargs)  # type: ignore[arg-type]
    return info.value


def test_a_good_map_parses_and_plans_one_read_per_contiguous_run() -> None:
    register_map = parse_register_map(GOOD, "map.yaml", sensors=["PS1", "PS2", "TS1"])
    assert register_map.device_id == 3
    plan = plan_batches(register_map)
    assert [(b.table, b.address, b.count) for b in plan["fast"]] == [(Table.INPUT, 0, 4)]
    assert [(b.table, b.address, b.count) for b in plan["slow"]] == [(Table.HOLDING, 100, 1)]


def test_overlapping_entries_name_both_lines() -> None:
    text = GOOD.replace("address: 2, type: float32", "address: 1, type: float32")
    error = _problem(text)
    assert len(error.problems) == 1
    line, message = error.problems[0]
    assert line == 7
    assert "overlaps" in message and "line 6" in message
    assert "map.yaml:7" in str(error)


def test_invalid_fields_are_reported_with_their_lines() -> None:
    text = (
        GOOD.replace("type: int16", "type: int24")
        .replace("address: 0,", "address: -4,")
        .replace("group: slow}", "group: medium}")
    )
    error = _problem(text)
    lines = {line for line, _ in error.problems}
    messages = " ".join(m for _, m in error.problems)
    assert 6 in lines and 8 in lines
    assert "int24" in messages or "type" in messages
    assert "address" in messages


def test_unknown_group_duplicate_sensor_and_unknown_sensor() -> None:
    text = GOOD.replace("group: slow}", "group: medium}").replace("sensor: PS2", "sensor: PS1")
    error = _problem(text, sensors=["PS1", "PS2", "TS1"])
    messages = [m for _, m in error.problems]
    assert any("unknown poll group 'medium'" in m for m in messages)
    assert any("already mapped on line 6" in m for m in messages)
    error = _problem(GOOD, sensors=["PS1", "PS2"])
    assert any("'TS1' is not in the equipment's profile" in m for _, m in error.problems)


def test_values_past_the_register_space_and_zero_scale() -> None:
    error = _problem(GOOD.replace("address: 100, type: int16", "address: 65535, type: uint32"))
    assert any("65535" in m for _, m in error.problems)
    error = _problem(GOOD.replace("scale: 0.1", "scale: 0"))
    assert any("scale 0" in m for _, m in error.problems)


def test_not_yaml_and_missing_file(tmp_path: Path) -> None:
    error = _problem("registers: [\n  {sensor: PS1,\n")
    assert "not valid YAML" in error.problems[0][1]
    error = _problem("- just a list\n")
    assert "registers" in error.problems[0][1]
    with pytest.raises(RegisterMapError, match="does not exist"):
        load_register_map(tmp_path / "nope.yaml")


@pytest.mark.parametrize("data_type", list(DataType))
@pytest.mark.parametrize("byte_order", list(Order))
@pytest.mark.parametrize("word_order", list(Order))
def test_round_trip_every_type_and_order(
    data_type: DataType, byte_order: Order, word_order: Order
) -> None:
    entry = RegisterEntry(sensor="X", address=10, type=data_type, scale=0.5, offset=-3.0)
    register_map = RegisterMap(byte_order=byte_order, word_order=word_order, registers=(entry,))
    batch = plan_batches(register_map)["default"][0]
    signed = data_type in (DataType.INT16, DataType.INT32, DataType.FLOAT32)
    for value in [-1003.5, -3.0, 0.0, 17.5, 1234.5] if signed else [-3.0, 0.0, 17.5, 1234.5]:
        words = encode_value(entry, value, register_map)
        assert len(words) == data_type.width
        assert all(0 <= w <= 0xFFFF for w in words)
        assert decode_batch(batch, words, register_map)[0] == pytest.approx(value, abs=1e-3)


def test_word_and_byte_order_match_the_usual_abcd_names() -> None:
    entry = RegisterEntry(sensor="X", address=0, type=DataType.FLOAT32)
    # 1.0f = 0x3F800000: ABCD = [0x3F80, 0x0000]; CDAB = [0x0000, 0x3F80]; BADC = [0x803F, 0]
    cases = {
        (Order.BIG, Order.BIG): [0x3F80, 0x0000],
        (Order.BIG, Order.LITTLE): [0x0000, 0x3F80],
        (Order.LITTLE, Order.BIG): [0x803F, 0x0000],
        (Order.LITTLE, Order.LITTLE): [0x0000, 0x803F],
    }
    for (byte_order, word_order), expected in cases.items():
        register_map = RegisterMap(byte_order=byte_order, word_order=word_order, registers=(entry,))
        assert encode_value(entry, 1.0, register_map) == expected


def test_batches_split_at_gaps_and_at_125_registers() -> None:
    sensors = [(f"S{i:03d}", "bar", 10.0) for i in range(70)]  # 140 registers of float32
    register_map = simulator_register_map(sensors)
    batches = plan_batches(register_map)["10hz"]
    assert [b.count for b in batches] == [124, 16]
    assert batches[1].address == 124
    spaced = RegisterMap(
        registers=(
            RegisterEntry(sensor="A", address=0, type=DataType.UINT16),
            RegisterEntry(sensor="B", address=3, type=DataType.UINT16),
        )
    )
    assert len(plan_batches(spaced)["default"]) == 2
    assert [b.count for b in plan_batches(spaced, max_gap=2)["default"]] == [4]


def test_written_map_reads_back_identical(tmp_path: Path) -> None:
    register_map = simulator_register_map([("PS1", "bar", 100.0), ("TS1", "°C", 1.0)])
    path = tmp_path / "map.yaml"
    path.write_text(register_map.to_yaml(), encoding="utf-8")
    assert load_register_map(path) == register_map
