"""Generated command lines: whatever the arguments, `hydrodiag` ends with 0, with 1 and an
``error:`` sentence (never an internal error), or with argparse's usage error naming the
argument; never a traceback; and a run that fails leaves the workspace unchanged, row for row."""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.cli import main
from ingestion.workspace import open_workspace
from tests.fuzz.conftest import count, examples
from tests.fuzz.invariants import check_cli_ending, workspace_rows

ANY_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=14
)
DURATIONS = st.one_of(
    st.sampled_from(
        ["90s", "1m", "0.5s", "2h", "99999999999d", "-5", "0", "nan", "inf", "1e9999", "1h30m",
         "12", "", "5x", "1.5.5s", "10000000d"]
    ),
    ANY_TEXT,
)  # fmt: skip


def _short_or_invalid(text: str) -> bool:
    """Durations the run can afford: invalid ones, or at most 2 h (simulated at 1 Hz)."""
    from ingestion.errors import HydroDiagError
    from ingestion.simulator import parse_duration

    try:
        return parse_duration(text) <= 7200
    except HydroDiagError:
        return True


DURATIONS = DURATIONS.filter(_short_or_invalid)
LIVE_DURATIONS = st.sampled_from(
    ["0.2s", "-5", "0", "nan", "inf", "99999999999d", "", "5x", "1.5.5s", "1e9999", "10000000d"]
)
TIMES = st.one_of(
    st.sampled_from(
        ["2026-03-02T06:00:00", "2026-03-02", "02.03.2026", "9999-12-31T23:59:59", "0001-01-01",
         "2026-13-40", "yesterday", "", "2015-01-01T00:00:00Z", "2026-03-02T06:00:00+14:00"]
    ),
    ANY_TEXT,
)  # fmt: skip
NUMBERS = st.one_of(
    st.sampled_from(["0", "-1", "1e9", "nan", "inf", "0.001", "100", "3", "x"]), ANY_TEXT
)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("cli-fuzz")
    (base / "log.csv").write_text(
        "time;PS1;TS1\n2026-03-02 06:00:00;1,5;40\n2026-03-02 06:00:01;1,6;41\n"
    )
    ws = base / "ws.duckdb"
    assert main(["--workspace", str(ws), "ingest", "csv", str(base / "log.csv"), "--equipment",
                 "rig", "--profile", "zema-test-rig"]) == 0  # fmt: skip
    return base


def _run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse's usage errors
            code = int(exc.code or 0)
    return code, out.getvalue(), err.getvalue()


@st.composite
def command_lines(draw: st.DrawFn, folder: Path) -> list[str]:
    ws = ["--workspace", str(folder / "ws.duckdb")]
    kind = draw(st.sampled_from(["ingest", "diagnose", "simulate", "live", "profile", "workspace"]))
    if kind == "ingest":
        argv = [*ws, "ingest", "csv", str(folder / "log.csv"), "--equipment",
                draw(st.sampled_from(["rig", "new-one", ""])), "--dry-run"]  # fmt: skip
        for option, values in (
            ("--skip-rows", NUMBERS),
            ("--delimiter", st.one_of(st.sampled_from([";", ",", "tab", "xyz", "", '"']), ANY_TEXT)),
            ("--tz", st.one_of(st.sampled_from(["Europe/Berlin", "UTC", "Mars/Base", ""]), ANY_TEXT)),
            ("--time-format", st.one_of(st.sampled_from(["iso", "epoch-ms", "%d.%m.%Y", "%"]), ANY_TEXT)),
            ("--start", TIMES),
            ("--map", st.one_of(st.sampled_from(["PS1=PS1:psi", "2=TS1", "=", "x=NOPE", "PS1=PS1:amps"]), ANY_TEXT)),
            ("--decimal", st.sampled_from([".", ",", ";"])),
            ("--profile", st.sampled_from(["zema-test-rig", "tracked-excavator", "nope"])),
        ):  # fmt: skip
            if draw(st.booleans()):
                argv += [option, draw(values)]
        if draw(st.booleans()):
            argv.remove("--dry-run")
        return argv
    if kind == "diagnose":
        argv = [*ws, "diagnose", "--equipment", draw(st.sampled_from(["rig", "none"])), "--dry-run"]
        choice = draw(st.sampled_from(["last", "range", "cycles", "thresholds"]))
        if choice == "last":
            argv += ["--last", draw(DURATIONS)]
        elif choice == "range":
            argv += ["--from", draw(TIMES), "--to", draw(TIMES)]
        elif choice == "cycles":
            argv += [
                "--cycles",
                draw(st.one_of(st.sampled_from(["1:10", "10:1", "x", "-5:5"]), ANY_TEXT)),
            ]
        else:
            argv += ["--healthy", draw(NUMBERS), "--critical", draw(NUMBERS)]
        return argv
    if kind == "simulate":
        argv = [
            "simulate",
            "--out",
            str(folder / draw(st.sampled_from(["s.csv", "no/dir/s.csv", ""]))),
        ]
        argv += ["--duration", draw(st.one_of(st.sampled_from(["1m", "30s"]), DURATIONS))]
        argv += ["--rate", draw(st.sampled_from(["1", "0", "-1", "1e9", "nan", "inf", "0.5"]))]
        if draw(st.booleans()):
            argv += ["--start", draw(TIMES)]
        if draw(st.booleans()):
            argv += ["--conditions", draw(st.one_of(st.sampled_from(
                ["cooler=20,valve=90,pump=1,accumulator=115", "cooler=7", "pump=", "x"]), ANY_TEXT))]  # fmt: skip
        if draw(st.booleans()):
            argv += ["--scenario", draw(st.one_of(st.sampled_from(["healthy", "nope"]), ANY_TEXT))]
        return argv
    if kind == "live":
        argv = [*ws, "live", "csv", "--equipment", "rig", "--file",
                draw(st.sampled_from([str(folder / "log.csv"), str(folder), str(folder / "no.csv")])),
                "--duration", draw(LIVE_DURATIONS), "--quiet"]  # fmt: skip
        for option, values in (("--poll", NUMBERS), ("--flush-interval", NUMBERS)):
            if draw(st.booleans()):
                argv += [option, draw(values)]
        return argv
    if kind == "profile":
        text = draw(st.one_of(ANY_TEXT, st.sampled_from(["id: x", "{", "- 1", "id: [1]", ""])))
        path = folder / f"p{abs(hash(text)) % 10**6}.yaml"
        path.write_text(text, encoding="utf-8")
        return ["profile", "validate", str(path)]
    data = draw(st.binary(max_size=64))
    path = folder / f"w{abs(hash(data)) % 10**6}.duckdb"
    path.write_bytes(data)
    return ["--workspace", str(path), "workspace", "info"]


@examples(150)
@given(data=st.data())
def test_generated_command_lines_end_as_the_invariant_allows(
    folder: Path, data: st.DataObject
) -> None:
    count("cli")
    argv = data.draw(command_lines(folder))
    ws = folder / "ws.duckdb"
    with open_workspace(ws, read_only=True) as store:
        before = workspace_rows(store.con)
    code, out, err = _run(argv)
    check_cli_ending(code, out, err)
    if code != 0:
        with open_workspace(ws, read_only=True) as store:
            assert workspace_rows(store.con) == before, (argv, err)
    for leftover in folder.glob("*.part"):
        os.unlink(leftover)
