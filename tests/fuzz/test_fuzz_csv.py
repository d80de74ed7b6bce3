"""Generated CSV logs, clean and damaged: a clean log imports exactly (every cell at its UTC
time), a damaged one imports or is refused with a sentence naming the file and the line or
column, and a refusal leaves the workspace unchanged, row for row."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ingestion.catalog import delete_source
from ingestion.csv_import import ingest_csv
from ingestion.csv_plan import CsvOptions
from ingestion.profiles import EquipmentProfile, load_profile
from ingestion.workspace import Store, open_workspace
from tests.fuzz.conftest import count, examples
from tests.fuzz.invariants import check_refusal, workspace_rows

RIG = load_profile("zema-test-rig")
SENSORS = ("PS1", "PS2", "TS1", "FS1", "EPS1", "VS1", "CE")
T_MIN = int(datetime(2000, 1, 1, tzinfo=UTC).timestamp())
T_MAX = int(datetime(2030, 1, 1, tzinfo=UTC).timestamp())
FORMATS = ("iso_t", "iso_space", "iso_z", "iso_offset", "dmy_dot", "epoch_s", "epoch_ms")
MUTATIONS = (
    "extra_field",
    "missing_field",
    "bad_number",
    "bad_time",
    "other_time_format",
    "nul_byte",
    "latin1",
    "cut_mid_line",
    "blank_lines",
    "stray_quote",
    "empty_file",
    "header_only",
    "long_cell",
    "binary_garbage",
)


def fmt_time(seconds: int, kind: str) -> str:
    t = datetime.fromtimestamp(seconds, UTC)
    return {
        "iso_t": t.strftime("%Y-%m-%dT%H:%M:%S"),
        "iso_space": t.strftime("%Y-%m-%d %H:%M:%S"),
        "iso_z": t.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "iso_offset": datetime.fromtimestamp(seconds, UTC)
        .astimezone(datetime.now().astimezone().tzinfo or UTC)
        .replace(microsecond=0)
        .isoformat(),
        "dmy_dot": t.strftime("%d.%m.%Y %H:%M:%S"),
        "epoch_s": str(seconds),
        "epoch_ms": str(seconds * 1000),
    }[kind]


@dataclass
class Log:
    """A generated log: its bytes and, for a clean one, what must be stored."""

    data: bytes
    expected: set[tuple[str, int, float]]  # (sensor, epoch µs, value)
    mutation: str | None
    line: int | None  # the damaged line


@st.composite
def logs(draw: st.DrawFn) -> Log:
    sensors = draw(st.lists(st.sampled_from(SENSORS), min_size=1, max_size=4, unique=True))
    delimiter = draw(st.sampled_from([",", ";", "\t"]))
    decimal = "," if delimiter != "," and draw(st.booleans()) else "."
    kind = draw(st.sampled_from(FORMATS))
    n = draw(st.integers(1, 25))
    start = draw(st.integers(T_MIN, T_MAX))
    times = list(
        itertools.accumulate(
            draw(st.lists(st.integers(1, 3600), min_size=n, max_size=n)), initial=start
        )
    )[1:]
    cell = st.one_of(
        st.none(),
        st.integers(-50_000_000, 50_000_000).map(lambda v: v / 1000),
    )
    rows = [[draw(cell) for _ in sensors] for _ in range(n)]
    if all(v is None for row in rows for v in row):
        rows[0][0] = 1.5
    names = [s.lower() if draw(st.booleans()) else s for s in sensors]
    header = delimiter.join(["time", *names])
    lines = [header]
    expected: set[tuple[str, int, float]] = set()
    for t, row in zip(times, rows, strict=True):
        cells = [fmt_time(t, kind)]
        for sensor, value in zip(sensors, row, strict=True):
            if value is None:
                cells.append("")
            else:
                cells.append(f"{value:.3f}".replace(".", decimal))
                expected.add((sensor, t * 1_000_000, float(f"{value:.3f}")))
        lines.append(delimiter.join(cells))
    newline = "\r\n" if draw(st.booleans()) else "\n"
    mutation = draw(st.one_of(st.none(), st.sampled_from(MUTATIONS)))
    line = draw(st.integers(2, n + 1)) if mutation else None  # 1-based, a data line
    if mutation is not None and line is not None:
        lines = _mutate(lines, line - 1, mutation, delimiter, draw)
    text = newline.join(lines) + (newline if draw(st.booleans()) else "")
    data = text.encode("utf-8") if mutation != "latin1" else text.encode("latin-1", "replace")
    if draw(st.booleans()):
        data = b"\xef\xbb\xbf" + data
    if mutation == "cut_mid_line":
        data = data[: draw(st.integers(1, max(1, len(data) - 1)))]
    elif mutation == "empty_file":
        data = b""
    elif mutation == "header_only":
        data = (header + newline).encode()
    elif mutation == "binary_garbage":
        data = bytes(draw(st.lists(st.integers(0, 255), min_size=1, max_size=600)))
    return Log(data, expected, mutation, line)


def _mutate(lines: list[str], k: int, mutation: str, delimiter: str, draw: st.DrawFn) -> list[str]:
    cells = lines[k].split(delimiter)
    if mutation == "extra_field":
        cells.append("junk")
    elif mutation == "missing_field" and len(cells) > 1:
        cells.pop()
    elif mutation == "bad_number" and len(cells) > 1:
        cells[-1] = draw(st.sampled_from(["offline", "1.2.3", "--", "0x1F", "12,5,3"]))
    elif mutation == "bad_time":
        cells[0] = draw(
            st.sampled_from(["yesterday", "", "31.02.2026 25:00:00", "99999999999999999999"])
        )
    elif mutation == "other_time_format":
        cells[0] = draw(st.sampled_from(["02.03.2026 06:00:00", "2026/03/02 06:00", "1772431200"]))
    elif mutation == "nul_byte":
        cells[-1] += "\x00"
    elif mutation == "latin1":
        cells[-1] += " °C ü"
    elif mutation == "blank_lines":
        return [*lines[:k], "", "  ", *lines[k:]]
    elif mutation == "stray_quote":
        cells[-1] = '"' + cells[-1]
    elif mutation == "long_cell":
        cells[-1] = "9" * 2_100_000
    return [*lines[:k], delimiter.join(cells), *lines[k + 1 :]]


@pytest.fixture(scope="module")
def store() -> Store:
    return open_workspace(None)


def _stored(store: Store, source_id: int) -> set[tuple[str, int, float]]:
    rows = store.query(
        "SELECT sensor_id, epoch_us(ts), value FROM measurements WHERE source_id = ?", [source_id]
    )
    return {(s, int(t), float(v)) for s, t, v in rows}


@examples(500)
@given(log=logs())
def test_generated_logs_import_exactly_or_are_refused_cleanly(
    store: Store, tmp_path_factory: pytest.TempPathFactory, log: Log
) -> None:
    count("csv")
    path = tmp_path_factory.mktemp("csv") / "log.csv"
    path.write_bytes(log.data)
    before = workspace_rows(store.con)
    try:
        summary = ingest_csv(store, path, equipment_id="rig", profile=RIG)
    except Exception as exc:
        message = check_refusal(exc, str(path))
        assert log.mutation is not None, f"a clean log was refused: {message}"
        assert workspace_rows(store.con) == before, message
        return
    try:
        if log.mutation is None:
            assert _stored(store, summary.source_id) == log.expected
            assert summary.rows == len({t for _, t, _ in log.expected}) or summary.rows >= 1
        else:  # damaged yet imported: whatever was stored belongs to this source only
            assert summary.values == len(_stored(store, summary.source_id)) or summary.values >= 0
    finally:
        with store.transaction() as con:
            delete_source(con, summary.source_id)


@examples(100)
@given(
    delimiter=st.one_of(st.none(), st.text(max_size=3)),
    skip_rows=st.one_of(st.none(), st.integers(-3, 5)),
    tz=st.one_of(
        st.none(), st.sampled_from(["Europe/Berlin", "UTC", "Mars/Olympus", "", "+01:00"])
    ),
    time_format=st.one_of(
        st.none(),
        st.sampled_from(["iso", "epoch-s", "epoch-ms", "%d.%m.%Y", "nonsense", "relative-s"]),
    ),
)
def test_generated_options_import_or_are_refused_cleanly(
    store: Store,
    tmp_path_factory: pytest.TempPathFactory,
    delimiter: str | None,
    skip_rows: int | None,
    tz: str | None,
    time_format: str | None,
) -> None:
    count("csv options")
    path = tmp_path_factory.mktemp("opt") / "log.csv"
    path.write_text("time;PS1;TS1\n2026-03-02 06:00:00;1,5;40\n2026-03-02 06:00:01;1,6;41\n")
    before = workspace_rows(store.con)
    try:
        from ingestion.csv_plan import csv_options

        options = csv_options(
            delimiter=delimiter, skip_rows=skip_rows, tz=tz, time_format=time_format
        )
        summary = ingest_csv(store, path, equipment_id="rig", profile=RIG, options=options)
    except Exception as exc:
        check_refusal(exc)
        assert workspace_rows(store.con) == before
        return
    with store.transaction() as con:
        delete_source(con, summary.source_id)


def _profile() -> EquipmentProfile:
    return RIG


def test_options_model_is_what_the_cli_builds() -> None:
    assert CsvOptions().delimiter is None and _profile().id == "zema-test-rig"
