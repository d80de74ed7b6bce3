"""The foundation commands end to end through `app.cli.main`: profile, ingest, workspace info."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from app.cli import main
from tests.ingestion.test_uci_read import write_uci_folder

REPO = Path(__file__).resolve().parents[3]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_profile_list_show_validate(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = run(capsys, "profile", "list")
    assert code == 0 and "zema-test-rig" in out and "tracked-excavator" in out
    code, out, _ = run(capsys, "profile", "list", "--json")
    ids = {p["id"] for p in json.loads(out)}
    assert {"zema-test-rig", "tracked-excavator"} <= ids
    code, out, _ = run(capsys, "profile", "show", "zema-test-rig")
    assert code == 0 and "PS1" in out and "Accumulators A1-A4" in out and "suction_line" in out
    code, out, _ = run(capsys, "profile", "show", "tracked-excavator", "--json")
    body = json.loads(out)
    assert len(body["sensors"]) >= 20 and any(c["type"] == "swivel" for c in body["components"])

    good = REPO / "resources/profiles/tracked-excavator.yaml"
    code, out, _ = run(capsys, "profile", "validate", str(good))
    assert code == 0 and "valid profile 'tracked-excavator'" in out

    data = yaml.safe_load(good.read_text(encoding="utf-8"))
    data["sensors"][0]["component"] = "TURBO"
    data["sensors"][1]["rate_hz"] = -5
    bad = tmp_path / "mine.yaml"
    bad.write_text(yaml.safe_dump(data), encoding="utf-8")
    code, _, err = run(capsys, "profile", "validate", str(bad))
    assert code == 1
    assert "sensors[0].component" in err and "TURBO" in err and "unknown component" in err
    assert "sensors[1].rate_hz" in err and "-5" in err


def test_ingest_and_info(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    ws = str(tmp_path / "ws.duckdb")
    folder = write_uci_folder(tmp_path / "uci", n_cycles=3)
    code, out, _ = run(
        capsys, "--workspace", ws, "ingest", "uci", str(folder), "--equipment", "rig"
    )
    assert code == 0 and "3 cycles" in out and "imported" in out
    code, out, _ = run(
        capsys, "--workspace", ws, "ingest", "uci", str(folder), "--equipment", "rig"
    )
    assert code == 0 and "already imported" in out and "--force" in out

    csv = tmp_path / "log.csv"
    csv.write_text(
        "Zeit;PS1 [psi];Operator\n02.03.2026 06:00:00;2000,5;anna\n02.03.2026 06:00:01;2001;anna\n"
    )
    code, _, err = run(capsys, "--workspace", ws, "ingest", "csv", str(csv), "--equipment", "rig")
    assert code == 1 and "column 3 ('Operator')" in err and "--skip" in err
    code, out, _ = run(
        capsys,
        "--workspace",
        ws,
        "ingest",
        "csv",
        str(csv),
        "--equipment",
        "rig",
        "--skip",
        "Operator",
        "--tz",
        "Europe/Berlin",
        "--dry-run",
    )
    assert code == 0 and "-> PS1 (psi" in out and "Europe/Berlin" in out
    code, out, _ = run(
        capsys,
        "--workspace",
        ws,
        "ingest",
        "csv",
        str(csv),
        "--equipment",
        "rig",
        "--skip",
        "Operator",
        "--tz",
        "Europe/Berlin",
    )
    assert code == 0 and "2 rows, 2 values, 1 sensors" in out
    assert "2026-03-02 05:00:00" in out  # CET = UTC+1

    code, out, _ = run(capsys, "--workspace", ws, "workspace", "info", "--json")
    info = json.loads(out)
    (eq,) = info["equipment"]
    assert eq["id"] == "rig" and eq["cycles"] == 3
    assert {lab["component_id"] for lab in eq["labels"]} == {"C1", "V10", "MP1", "ACC"}
    ps1 = next(s for s in eq["sensors"] if s["sensor_id"] == "PS1")
    assert ps1["rows"] == 3 * 60 + 2
    kinds = [(s["kind"], s["status"]) for s in info["sources"]]
    assert kinds == [("uci", "complete"), ("csv", "complete")]
    assert all(len(s["sha256"]) == 64 for s in info["sources"])
    code, out, _ = run(capsys, "--workspace", ws, "workspace", "info")
    assert code == 0 and "equipment rig" in out and "sources:" in out and "labels V10" in out


def test_ingest_errors_are_sentences(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    ws = str(tmp_path / "ws.duckdb")
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = run(capsys, "--workspace", ws, "ingest", "uci", str(empty), "--equipment", "x")
    assert code == 1 and err.startswith("error: ") and "empty" in err
    csv = tmp_path / "a.csv"
    csv.write_text("time,PS1\n2026-03-02T06:00:00,1\n")
    code, _, err = run(capsys, "--workspace", ws, "ingest", "csv", str(csv), "--equipment", "new")
    assert code == 1 and "--profile" in err
    code, _, err = run(capsys, "--workspace", str(tmp_path / "none.duckdb"), "workspace", "info")
    assert code == 1 and "no workspace there yet" in err


def test_workspace_env_variable(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = tmp_path / "env.duckdb"
    monkeypatch.setenv("HYDRODIAG_WORKSPACE", str(ws))
    folder = write_uci_folder(tmp_path / "uci", n_cycles=2)
    code, _, _ = run(capsys, "ingest", "uci", str(folder), "--equipment", "rig")
    assert code == 0 and ws.exists()


def test_commands_named_in_messages_and_docs_exist() -> None:
    """Every `hydrodiag X` an error message, the README or a doc tells a user to run is a
    sub-command of the CLI (messages once said `hydrodiag export`, which does not exist)."""
    import argparse
    import re

    from app.cli import build_parser

    commands: set[str] = set()
    for action in build_parser()._actions:
        if isinstance(action, argparse._SubParsersAction):
            commands.update(action.choices)
    assert {"diagnose", "export-onnx", "ingest"} <= commands
    named = re.compile(r"`hydrodiag ([a-z][a-z-]*)")
    sources = [REPO / "README.md", *(REPO / "docs").glob("*.md")]
    for package in ("app", "gnn", "ingestion", "training"):
        sources += (REPO / package).rglob("*.py")
    wrong = sorted(
        f"{path.relative_to(REPO)}: hydrodiag {name}"
        for path in sources
        for name in named.findall(path.read_text(encoding="utf-8"))
        if name not in commands
    )
    assert commands and not wrong, wrong


def test_a_data_folder_that_cannot_be_made_is_a_sentence(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "a file"
    blocker.write_text("")
    monkeypatch.setenv("HYDRODIAG_DATA_DIR", str(blocker / "HydroDiag"))
    assert main(["demo", "--no-gui"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: cannot use {blocker / 'HydroDiag'} as HydroDiag's data folder")
    assert "HYDRODIAG_DATA_DIR" in err and "Traceback" not in err
    assert blocker.read_text() == ""
