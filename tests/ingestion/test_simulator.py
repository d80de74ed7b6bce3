"""The rig simulator: reproducible, statistics-only parameters, conditions move the signals the
way the data says, faster channels keep each second's mean, scenarios, CSV output and CLI."""

from __future__ import annotations

import csv
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from app.cli import main
from ingestion.errors import HydroDiagError
from ingestion.simulator import (
    CYCLE_SECONDS,
    SCENARIOS,
    Conditions,
    RigSimulator,
    RigValueSource,
    get_scenario,
    load_simulator_params,
    parse_conditions,
    parse_duration,
    simulate_cycles,
    write_simulated_csv,
)

START = datetime(2026, 1, 5, 6, 0, 0)


def _cycles(seed: int, conditions: Conditions, n: int = 5, rate: float | None = 1.0) -> np.ndarray:
    sim = RigSimulator(seed, rate_hz=rate)
    return np.stack([sim.next_cycle(conditions) for _ in range(n)])


def test_same_seed_same_cycles_and_other_seed_differs() -> None:
    a = _cycles(3, Conditions())
    b = _cycles(3, Conditions())
    c = _cycles(4, Conditions())
    assert np.array_equal(a, b)
    assert not np.allclose(a, c)


def test_parameters_are_statistics_not_rows_of_the_data() -> None:
    params = load_simulator_params("zema-test-rig")
    # Shapes of fitted statistics: coefficients per level, K components, no cycle dimension.
    assert params.coef.shape[1:] == (17, CYCLE_SECONDS) and params.coef.shape[0] < 300
    assert params.components.shape[0] <= 100
    assert params.components.shape[1] == 17 * CYCLE_SECONDS
    assert np.all((params.phi >= 0) & (params.phi < 1))
    npz = Path(__file__).resolve().parents[2] / "resources" / "simulator" / "zema-test-rig.npz"
    assert npz.stat().st_size < 2_000_000


def test_conditions_move_the_signals_as_on_the_rig() -> None:
    sensors = load_simulator_params().sensors
    healthy = _cycles(1, Conditions(), n=20).mean(axis=(0, 2))
    cooler_failed = _cycles(1, Conditions(cooler=3), n=20).mean(axis=(0, 2))
    leaking = _cycles(1, Conditions(pump=2), n=20).mean(axis=(0, 2))
    ce = sensors.index("CE")
    assert cooler_failed[ce] < 0.5 * healthy[ce]  # cooling efficiency collapses
    se = sensors.index("SE")
    fs1 = sensors.index("FS1")
    assert leaking[fs1] < healthy[fs1] or leaking[se] < healthy[se]  # leakage costs flow/efficiency


def test_continuous_condition_interpolates_between_levels() -> None:
    params = load_simulator_params()
    at_115 = params.mean_cycle(Conditions(accumulator=115))
    at_100 = params.mean_cycle(Conditions(accumulator=100))
    halfway = params.mean_cycle(Conditions(accumulator=107.5))
    assert np.allclose(halfway, (at_115 + at_100) / 2, atol=1e-6)


def test_fast_channels_keep_each_seconds_mean() -> None:
    sim = RigSimulator(0)  # profile rates: PS* 100 Hz, FS* 10 Hz, TS* 1 Hz
    cycle = sim.next_cycle(Conditions())
    samples = sim.upsample(cycle)
    sensors = sim.sensors
    assert len(samples["PS1"]) == 100 * CYCLE_SECONDS
    assert len(samples["FS1"]) == 10 * CYCLE_SECONDS
    assert len(samples["TS1"]) == CYCLE_SECONDS
    params = load_simulator_params()
    for sensor, rate in (("PS1", 100), ("PS2", 100), ("FS1", 10)):
        per_second = samples[sensor].reshape(CYCLE_SECONDS, rate).mean(axis=1)
        # exact, also in PS2's zero-pressure seconds, where a clipped spread biased the mean
        np.testing.assert_allclose(per_second, cycle[sensors.index(sensor)], atol=1e-9)
        assert samples[sensor].min() >= params.lower[sensors.index(sensor)] - 1e-12


def test_scenarios_end_where_they_say() -> None:
    decline = list(
        simulate_cycles(get_scenario("accumulator-decline"), 8 * 3600, start=START, rate_hz=1.0)
    )
    assert len(decline) == 480
    assert decline[0].conditions.grades()["ACC"] == 0
    assert decline[-1].conditions.grades()["ACC"] == 3
    assert decline[-1].conditions.accumulator == pytest.approx(90.0)
    for name, scenario in SCENARIOS.items():
        assert scenario.path(0.0) is not None, name
        assert scenario.path(1.0) is not None, name


def test_parsing_durations_and_conditions() -> None:
    assert parse_duration("8h") == 8 * 3600
    assert parse_duration("1h30m") == 5400
    assert parse_duration("90") == 90
    with pytest.raises(HydroDiagError, match="duration"):
        parse_duration("soon")
    assert parse_conditions("cooler=20, accumulator=115") == Conditions(cooler=20, accumulator=115)
    with pytest.raises(HydroDiagError, match="NAME=VALUE"):
        parse_conditions("fan=3")
    with pytest.raises(HydroDiagError, match="accumulator"):
        parse_conditions("accumulator=300")
    with pytest.raises(HydroDiagError, match="unknown scenario"):
        get_scenario("meltdown")


def test_wide_csv_at_profile_rates(tmp_path: Path) -> None:
    out = tmp_path / "log.csv"
    rows = write_simulated_csv(out, get_scenario("healthy"), 120, start=START, seed=1)
    assert rows == 2 * CYCLE_SECONDS * 100
    with out.open(encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        first, second = next(reader), next(reader)
    assert header[0] == "timestamp" and "PS1" in header and "TS4" in header
    assert first[0].startswith("2026-01-05 06:00:00")
    assert second[0].startswith("2026-01-05 06:00:00.01")
    assert second[header.index("PS1")] != "" and second[header.index("TS1")] == ""
    again = tmp_path / "again.csv"
    write_simulated_csv(again, get_scenario("healthy"), 120, start=START, seed=1)
    assert again.read_bytes() == out.read_bytes()


def test_value_source_follows_time() -> None:
    source = RigValueSource(get_scenario("healthy"), 600, seed=2)
    first = source.values_at(0.0)
    later = source.values_at(61.5)
    assert set(first) == set(load_simulator_params().sensors)
    assert first != later


def test_cli_simulate_writes_csv_and_map(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "shift.csv"
    map_file = tmp_path / "map.yaml"
    code = main(
        [
            "simulate",
            "--scenario",
            "pump-leak",
            "--duration",
            "3m",
            "--rate",
            "1",
            "--out",
            str(out),
            "--seed",
            "5",
            "--write-map",
            str(map_file),
            "--start",
            "2026-01-05T06:00:00",
        ]
    )
    assert code == 0
    assert len(out.read_text().splitlines()) == 1 + 3 * CYCLE_SECONDS
    assert "registers:" in map_file.read_text()
    assert "3 cycles" in capsys.readouterr().out


def test_cli_simulate_refuses_nonsense(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "--scenario", "meltdown", "--out", "x.csv"]) == 1
    assert "unknown scenario" in capsys.readouterr().err


@pytest.mark.slow
def test_fit_script_reproduces_the_shipped_parameters(uci_dir: Path, tmp_path: Path) -> None:
    from training.fit_simulator import main as fit_main

    assert fit_main([str(uci_dir), "--out", str(tmp_path)]) == 0
    shipped = Path(__file__).resolve().parents[2] / "resources" / "simulator" / "zema-test-rig.npz"
    with np.load(shipped) as a, np.load(tmp_path / "zema-test-rig.npz") as b:
        assert sorted(a.files) == sorted(b.files)
        assert np.allclose(a["coef"], b["coef"], atol=1e-3)
        assert np.allclose(a["scale"], b["scale"], rtol=1e-4)
        # principal components are defined up to sign
        assert np.allclose(np.abs(a["components"][:10]), np.abs(b["components"][:10]), atol=1e-3)
