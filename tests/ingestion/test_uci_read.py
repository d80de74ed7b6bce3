"""Reading UCI-layout folders: the real 1 Hz data, other rates, and every malformed-folder error."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from ingestion.errors import HydroDiagError
from ingestion.profiles import load_profile
from ingestion.uci import UCI_SENSORS, UCI_TARGETS, UciFormatError, read_uci_folder

LEVELS = [(3, 100, 0, 130, 0), (20, 90, 1, 115, 1), (100, 80, 2, 100, 0), (100, 73, 2, 90, 0)]


def write_uci_folder(
    folder: Path,
    n_cycles: int = 4,
    samples: dict[str, int] | None = None,
    *,
    labels: bool = True,
    cycles: list[int] | None = None,
    sensors: tuple[str, ...] = UCI_SENSORS,
) -> Path:
    """A small synthetic folder in the UCI layout; values encode sensor, cycle and sample."""
    folder.mkdir(parents=True, exist_ok=True)
    samples = samples or {}
    for s_index, sensor in enumerate(sensors):
        width = samples.get(sensor, 60)
        rows = []
        for cycle in range(n_cycles):
            rows.append(
                "\t".join(f"{s_index * 1000 + cycle + j / width:.6f}" for j in range(width))
            )
        (folder / f"{sensor}.txt").write_text("\n".join(rows) + "\n")
    if labels:
        lines = ["\t".join(str(v) for v in LEVELS[i % len(LEVELS)]) for i in range(n_cycles)]
        (folder / "profile.txt").write_text("\n".join(lines) + "\n")
    if cycles is not None:
        (folder / "cycles.txt").write_text("\n".join(str(c) for c in cycles) + "\n")
    return folder


def test_real_uci_folder(uci_dir: Path) -> None:
    started = time.perf_counter()
    data = read_uci_folder(uci_dir)
    elapsed = time.perf_counter() - started
    assert elapsed < 3.0  # ~0.35 s measured; generous for a loaded CI machine
    assert data.n_cycles == 1805
    assert set(data.sensors) == set(UCI_SENSORS)
    assert all(a.shape == (1805, 60) and a.dtype == np.float64 for a in data.sensors.values())
    assert set(data.rates_hz.values()) == {1.0}
    assert data.cycle_numbers[0] == 1 and data.cycle_numbers[-1] == 2205
    assert 400 in data.cycle_numbers and 401 not in data.cycle_numbers
    assert data.raw_labels is not None and data.raw_labels.shape == (1805, 5)
    assert data.stable is not None and data.stable.dtype == bool
    grades = data.grades()
    assert set(grades) == {"C1", "V10", "MP1", "ACC"}
    assert all((g >= 0).all() for g in grades.values())
    assert grades["C1"][0] == 3  # cooler at 3 % = near failure in the first cycles
    assert set(np.unique(grades["MP1"])) == {0, 1, 2}
    assert data.warnings == ()


def test_targets_match_the_rig_profile() -> None:
    rig = load_profile("zema-test-rig")
    assert {t.component_id for t in UCI_TARGETS} <= set(rig.component_ids)
    assert set(UCI_SENSORS) == set(rig.sensor_ids)
    by_id = {t.component_id: t for t in UCI_TARGETS}
    assert dict(by_id["C1"].levels) == {100: 0, 20: 2, 3: 3}
    assert dict(by_id["ACC"].levels) == {130: 0, 115: 1, 100: 2, 90: 3}


def test_native_rates_and_cycle_numbers(tmp_path: Path) -> None:
    folder = write_uci_folder(
        tmp_path / "orig", samples={"PS1": 6000, "FS1": 600}, cycles=[7, 8, 20, 21]
    )
    data = read_uci_folder(folder)
    assert data.rates_hz["PS1"] == 100.0 and data.rates_hz["FS1"] == 10.0
    assert data.rates_hz["TS1"] == 1.0
    assert data.sensors["PS1"].shape == (4, 6000)
    assert data.cycle_numbers.tolist() == [7, 8, 20, 21]
    assert data.grades()["V10"].tolist() == [0, 1, 2, 3]
    assert data.grades()["C1"].tolist() == [3, 2, 0, 0]
    assert data.stable is not None and data.stable.tolist() == [True, False, True, True]


def test_without_labels(tmp_path: Path) -> None:
    data = read_uci_folder(write_uci_folder(tmp_path / "u", labels=False))
    assert data.raw_labels is None and data.stable is None and data.grades() == {}
    assert data.cycle_numbers.tolist() == [1, 2, 3, 4]
    assert any("profile.txt" in w for w in data.warnings)


def test_trailing_tabs_and_crlf_are_accepted(tmp_path: Path) -> None:
    folder = write_uci_folder(tmp_path / "u")
    text = (folder / "PS2.txt").read_text()
    (folder / "PS2.txt").write_bytes(text.replace("\n", "\t\r\n").encode())
    data = read_uci_folder(folder)
    assert data.sensors["PS2"].shape == (4, 60)
    np.testing.assert_allclose(data.sensors["PS2"][1, :2], [1001.0, 1001 + 1 / 60])


def _error(folder: Path) -> str:
    with pytest.raises(UciFormatError) as info:
        read_uci_folder(folder)
    assert isinstance(info.value, HydroDiagError)
    return str(info.value)


def test_rows_disagree(tmp_path: Path) -> None:
    folder = write_uci_folder(tmp_path / "u")
    lines = (folder / "TS3.txt").read_text().splitlines()
    (folder / "TS3.txt").write_text("\n".join(lines[:3]) + "\n")
    text = _error(folder)
    assert "disagree" in text and "TS3.txt 3" in text and "PS1.txt 4" in text


def test_ragged_row(tmp_path: Path) -> None:
    folder = write_uci_folder(tmp_path / "u")
    lines = (folder / "FS2.txt").read_text().splitlines()
    lines[2] = "\t".join(lines[2].split("\t")[:59])
    (folder / "FS2.txt").write_text("\n".join(lines) + "\n")
    text = _error(folder)
    assert "FS2.txt, line 3" in text and "59 values" in text and "60" in text


def test_non_numeric_cell(tmp_path: Path) -> None:
    folder = write_uci_folder(tmp_path / "u")
    lines = (folder / "CE.txt").read_text().splitlines()
    cells = lines[1].split("\t")
    cells[4] = "12,5"
    lines[1] = "\t".join(cells)
    (folder / "CE.txt").write_text("\n".join(lines) + "\n")
    text = _error(folder)
    assert "CE.txt, line 2, column 5" in text and "'12,5'" in text and "not a number" in text


def test_empty_cell(tmp_path: Path) -> None:
    folder = write_uci_folder(tmp_path / "u")
    lines = (folder / "SE.txt").read_text().splitlines()
    cells = lines[3].split("\t")
    cells[10] = ""
    lines[3] = "\t".join(cells)
    (folder / "SE.txt").write_text("\n".join(lines) + "\n")
    assert "SE.txt, line 4, column 11: empty cell" in _error(folder)


def test_nan_is_kept_with_a_warning(tmp_path: Path) -> None:
    folder = write_uci_folder(tmp_path / "u")
    lines = (folder / "VS1.txt").read_text().splitlines()
    lines[0] = "nan\t" + lines[0].split("\t", 1)[1]
    (folder / "VS1.txt").write_text("\n".join(lines) + "\n")
    data = read_uci_folder(folder)
    assert np.isnan(data.sensors["VS1"][0, 0])
    assert any("VS1.txt: 1 NaN/inf" in w for w in data.warnings)


def test_missing_sensor_files_are_listed(tmp_path: Path) -> None:
    folder = write_uci_folder(tmp_path / "u")
    (folder / "PS4.txt").unlink()
    (folder / "CP.txt").unlink()
    text = _error(folder)
    assert "2 sensor file(s) missing" in text and "PS4.txt" in text and "CP.txt" in text


def test_empty_folder_and_not_a_folder(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    assert "empty" in _error(tmp_path / "empty")
    assert "not a folder" in _error(tmp_path / "nope")


def test_empty_and_binary_sensor_file(tmp_path: Path) -> None:
    folder = write_uci_folder(tmp_path / "u")
    (folder / "TS1.txt").write_text("")
    assert "TS1.txt: the file is empty" in _error(folder)
    (folder / "TS1.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00")
    assert "TS1.txt: this is a binary file" in _error(folder)


def test_bad_labels(tmp_path: Path) -> None:
    folder = write_uci_folder(tmp_path / "u")
    lines = (folder / "profile.txt").read_text().splitlines()
    lines[1] = "20\t95\t1\t115\t1"
    (folder / "profile.txt").write_text("\n".join(lines) + "\n")
    text = _error(folder)
    assert "profile.txt, line 2, column 2" in text and "95" in text and "100/90/80/73" in text
    (folder / "profile.txt").write_text("\n".join(lines[:2]) + "\n")
    assert "profile.txt: 2 rows but the sensor files hold 4 cycles" in _error(folder)


def test_duplicate_cycle_numbers(tmp_path: Path) -> None:
    folder = write_uci_folder(tmp_path / "u", cycles=[1, 2, 2, 3])
    assert "lines 2 and 3: cycle number 2 appears more than once" in _error(folder)


def test_subset_of_sensors(tmp_path: Path) -> None:
    folder = write_uci_folder(tmp_path / "u", sensors=("PS1", "TS1"))
    data = read_uci_folder(folder, sensors=("PS1", "TS1"))
    assert set(data.sensors) == {"PS1", "TS1"}
    assert "15 sensor file(s) missing" in _error(folder)
