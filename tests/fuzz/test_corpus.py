"""The corpus: the inputs of issue 19 that did not hold, kept as cases of the fuzz invariant
(exit 0 with a correct import, or exit 1 with a sentence and the workspace unchanged). The
same cases run against any checkout with timings and a before/after table in
``tests/benchmarks/bench_hardening_cases.py``."""

from __future__ import annotations

import contextlib
import hashlib
import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest
import yaml

from app.cli import main
from tests.fuzz.invariants import check_cli_ending

PROFILES = Path(__file__).resolve().parents[2] / "resources" / "profiles"


@dataclass
class Case:
    name: str
    argv: Callable[[Path], list[str]]  # builds its files in the folder, returns the command
    expect: str  # "ok", or text the error sentence must hold
    absent: str = "Traceback"  # text that must not appear in the output


def _profile(folder: Path, edit: Callable[[dict], None]) -> str:
    data = yaml.safe_load((PROFILES / "zema-test-rig.yaml").read_text(encoding="utf-8"))
    edit(data)
    path = folder / "mine.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return str(path)


def _yaml_edit(folder: Path, old: str, new: str) -> str:
    text = (PROFILES / "zema-test-rig.yaml").read_text(encoding="utf-8").replace(old, new, 1)
    path = folder / "mine.yaml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def _file(folder: Path, name: str, data: bytes | str) -> str:
    path = folder / name
    if isinstance(data, str):
        data = data.encode("utf-8")
    path.write_bytes(data)
    return str(path)


def _ws(folder: Path) -> list[str]:
    return ["--workspace", str(folder / "ws.duckdb")]


def _ingest(folder: Path, name: str, data: bytes | str, *extra: str) -> list[str]:
    return [*_ws(folder), "ingest", "csv", _file(folder, name, data), "--equipment", "rig", *extra]


FALL = "time,PS1\n" + "".join(
    f"2026-10-25 {t},{k}\n"
    for k, t in enumerate(["01:30", "02:00", "02:30", "02:59", "02:00", "02:30", "03:00"])
)

CASES = [
    Case("dst-fall-back", lambda f: _ingest(f, "fall.csv", FALL, "--tz", "Europe/Berlin"), "ok"),
    Case(
        "dst-spring-forward",
        lambda f: _ingest(
            f,
            "spring.csv",
            "time,PS1\n2026-03-29 01:59,1\n2026-03-29 02:30,2\n",
            "--tz",
            "Europe/Berlin",
        ),
        "line 3",
    ),
    Case(
        "profile-max-inf",
        lambda f: ["profile", "validate", _yaml_edit(f, "max: 250,", "max: .inf,")],
        "finite",
    ),
    Case(
        "profile-min-1e400",
        lambda f: ["profile", "validate", _yaml_edit(f, "min: 0,", "min: -1e400,")],
        "finite",
    ),
    Case(
        "profile-min-nan-ingest",
        lambda f: _ingest(
            f,
            "a.csv",
            "time,PS1\n2026-01-01T00:00:00,1\n",
            "--profile",
            _yaml_edit(f, "min: 0,", "min: .nan,"),
        ),
        "sensors[0].min",
    ),
    Case(
        "profile-loop",
        lambda f: [
            "profile",
            "validate",
            _profile(
                f,
                lambda d: d["connections"].append(
                    {"source": "ACC", "target": "V10", "kind": "pressure_line"}
                ),
            ),
        ],
        "closed loop",
    ),
    Case(
        "profile-pressure-in-amps",
        lambda f: [
            "profile",
            "validate",
            _profile(f, lambda d: d["sensors"][0].update(unit="amps")),
        ],
        "measures current, not pressure",
    ),
    Case(
        "skip-rows-negative",
        lambda f: _ingest(f, "a.csv", "time,PS1\n2026-01-01T00:00:00,1\n", "--skip-rows", "-1"),
        "--skip-rows -1",
    ),
    Case(
        "delimiter-xyz",
        lambda f: _ingest(f, "a.csv", "time,PS1\n2026-01-01T00:00:00,1\n", "--delimiter", "xyz"),
        "--delimiter 'xyz'",
    ),
    Case(
        "one-long-line",
        lambda f: _ingest(f, "long.csv", "time,PS1," + "x" * 300_000),
        "no line break",
    ),
    Case(
        "huge-cell",
        lambda f: _ingest(
            f,
            "cell.csv",
            "time,PS1\n2026-01-01T00:00:00,1\n2026-01-01T00:00:01,"
            + "9" * 2_100_000
            + "\n2026-01-01T00:00:02,3\n",
            "--profile",
            "zema-test-rig",
        ),
        "line 3",
    ),
    Case(
        "epoch-s-and-ms",
        lambda f: _ingest(
            f,
            "epoch.csv",
            "time,PS1\n1772431200,1\n1772431201000,2\n",
            "--profile",
            "zema-test-rig",
        ),
        "ok",
    ),
    Case(
        "mixed-date-format",
        lambda f: _ingest(
            f,
            "mixed.csv",
            "time,PS1\n2026-03-02T06:00:00,1\n2026-03-02T06:00:01,2\n02.03.2026 06:00:02,3\n",
            "--profile",
            "zema-test-rig",
        ),
        "line 4",
    ),
    Case(
        "utf16-without-bom",
        lambda f: _ingest(
            f,
            "u16.csv",
            "time,PS1\n2026-03-02T06:00:00,1\n".encode("utf-16-le"),
            "--profile",
            "zema-test-rig",
        ),
        "ok",
    ),
    Case(
        "last-overflow",
        lambda f: [*_ws(f), "diagnose", "--equipment", "rig", "--last", "99999999999d"],
        "--last",
    ),
    Case(
        "from-after-to",
        lambda f: [
            *_ws(f),
            "diagnose",
            "--equipment",
            "rig",
            "--from",
            "2026-02-01",
            "--to",
            "2026-01-01",
        ],
        "is not before",
        absent="[type=",
    ),
    Case(
        "simulate-overflow",
        lambda f: ["simulate", "--duration", "99999999999d", "--out", str(f / "s.csv")],
        "ten years",
    ),
    Case(
        "simulate-missing-folder",
        lambda f: ["simulate", "--out", str(f / "no" / "s.csv")],
        "does not exist",
    ),
    Case(
        "live-csv-binary",
        lambda f: [
            *_ws(f),
            "live",
            "csv",
            "--equipment",
            "rig",
            "--profile",
            "zema-test-rig",
            "--file",
            _file(f, "bin.csv", bytes(range(256)) * 8),
            "--duration",
            "1s",
        ],
        "binary",
    ),
    Case(
        "live-csv-folder",
        lambda f: [
            *_ws(f),
            "live",
            "csv",
            "--equipment",
            "rig",
            "--profile",
            "zema-test-rig",
            "--file",
            str(f),
            "--duration",
            "1s",
        ],
        "is a folder",
    ),
    Case(
        "live-csv-missing",
        lambda f: [
            *_ws(f),
            "live",
            "csv",
            "--equipment",
            "rig",
            "--profile",
            "zema-test-rig",
            "--file",
            str(f / "nope.csv"),
            "--duration",
            "1s",
        ],
        "no such file",
    ),
    Case(
        "register-map-rejected",
        lambda f: [
            *_ws(f),
            "live",
            "modbus",
            "--equipment",
            "rig",
            "--profile",
            "zema-test-rig",
            "--map",
            _file(f, "m.yaml", "registers:\n  - {sensor: NOPE, address: 0}\n"),
            "--host",
            "127.0.0.1",
            "--port",
            "1",
            "--duration",
            "1s",
        ],
        "'NOPE' is not in the equipment's profile",
    ),
    # found by the fuzz suite: '' meant "record until Ctrl-C", and '1.5.5s' a ValueError
    *(
        Case(
            f"live-csv-duration-{text or 'empty'}",
            lambda f, text=text: [
                *_ws(f),
                "live",
                "csv",
                "--equipment",
                "rig",
                "--profile",
                "zema-test-rig",
                "--file",
                _file(f, "g.csv", "timestamp,PS1\n1772431200,1\n"),
                "--duration",
                text,
            ],
            f"duration {text!r}",
        )
        for text in ("", "1.5.5s")
    ),
    Case(
        "report-out-folder",
        lambda f: [*_ws(f), "report", "--equipment", "rig", "--out", str(f)],
        "is a folder",
    ),
    Case(
        "malicious-pt",
        lambda f: [
            "export-onnx",
            _file(f, "evil.pt", b"PK\x03\x04not a checkpoint"),
            "--out",
            str(f / "m.onnx"),
        ],
        "not a HydroDiag checkpoint",
        absent="weights_only",
    ),
]
FOREIGN_CASES = ["workspace info", "ingest"]


def _run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:
            code = int(exc.code or 0)
    return code, out.getvalue(), err.getvalue()


def _seed(folder: Path) -> Path:
    """A workspace holding one import, so that 'unchanged' is a real check."""
    log = folder / "seed.csv"
    log.write_text("time,PS1,TS1\n2026-01-01T00:00:00,100,40\n2026-01-01T00:00:01,101,41\n")
    ws = folder / "ws.duckdb"
    code, _, err = _run(
        [
            "--workspace",
            str(ws),
            "ingest",
            "csv",
            str(log),
            "--equipment",
            "rig",
            "--profile",
            "zema-test-rig",
        ]
    )
    assert code == 0, err
    return ws


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_issue_case(case: Case, tmp_path: Path) -> None:
    ws = _seed(tmp_path)
    argv = case.argv(tmp_path)
    before = _digest(ws)
    code, out, err = _run(argv)
    check_cli_ending(code, out, err)
    assert case.absent not in out + err
    if case.expect == "ok":
        assert code == 0, err
        return
    assert code == 1 and case.expect in err, err
    assert _digest(ws) == before, "a refused input changed the workspace"


@pytest.mark.parametrize("command", FOREIGN_CASES)
def test_foreign_database_is_refused_and_not_modified(command: str, tmp_path: Path) -> None:
    path = tmp_path / "erp.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE invoices (id INTEGER)")
    con.close()
    before = sorted((p.name, _digest(p)) for p in tmp_path.iterdir())
    log = tmp_path / "a.csv"
    log.write_text("time,PS1\n2026-01-01T00:00:00,1\n")
    argv = ["--workspace", str(path), *command.split()]
    if command == "ingest":
        argv += ["csv", str(log), "--equipment", "rig", "--profile", "zema-test-rig"]
    code, out, err = _run(argv)
    check_cli_ending(code, out, err)
    assert code == 1 and "not a HydroDiag workspace" in err
    log.unlink()
    assert sorted((p.name, _digest(p)) for p in tmp_path.iterdir()) == before
