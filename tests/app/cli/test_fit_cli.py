"""A new user's session on a machine HydroDiag has never seen: write a profile, import a log with
its label column, `fit` on its normal stretch, `diagnose`, `evaluate anomalies` — and the
sentences bad input gets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.cli import main
from ingestion.workspace import open_workspace
from tests.pump_rig_proxy import PROFILE_YAML, make_log, write_log


def run(ws: Path, *argv: str) -> int:
    return main(["--workspace", str(ws), *argv])


@pytest.mark.slow
def test_profile_import_fit_diagnose_evaluate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ws = tmp_path / "ws.duckdb"
    profile = tmp_path / "pump.yaml"
    profile.write_text(PROFILE_YAML, encoding="utf-8")
    assert run(ws, "profile", "validate", str(profile)) == 0
    csv = write_log(make_log(7), tmp_path / "log.csv")
    assert (
        run(
            ws,
            "ingest",
            "csv",
            str(csv),
            "--equipment",
            "p7",
            "--profile",
            str(profile),
            "--label-column",
            "anomaly",
            "--skip",
            "changepoint",
        )
        == 0
    )
    assert "label ranges" in capsys.readouterr().out
    code = run(
        ws,
        "fit",
        "-e",
        "p7",
        "--to",
        "2026-03-02 09:06:40",
        "--epochs",
        "2",
        "--activate",
        "--out",
        str(tmp_path / "m"),
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert "fitted p7-normal@1.0.0" in out and "equipment p7 now uses p7-normal@1.0.0" in out
    assert (tmp_path / "m" / "card.json").is_file()
    assert run(ws, "model", "list", "-e", "p7") == 0
    assert "anomaly" in capsys.readouterr().out
    assert run(ws, "diagnose", "-e", "p7") == 0
    out = capsys.readouterr().out
    assert "anomalous" in out and "anomaly episodes" in out
    assert "not assessed (no sensors): Inlet valve V2" in out
    assert run(ws, "diagnose", "-e", "p7", "--json", "--dry-run") == 0
    body = json.loads(capsys.readouterr().out)
    assert body["model_kind"] == "anomaly" and body["episodes"]
    assert body["overall_health"] is None
    assert run(ws, "evaluate", "anomalies", "-e", "p7", "--json", "-") == 0
    report = json.loads(capsys.readouterr().out)
    assert report["points"]["f1"] > 0.5 and report["events_detected"] == 1
    with open_workspace(ws, read_only=True) as store:
        assert store.query("SELECT count(*) FROM diagnoses")[0][0] == 1


def test_bad_input_gets_a_sentence(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ws = tmp_path / "ws.duckdb"
    profile = tmp_path / "pump.yaml"
    profile.write_text(PROFILE_YAML, encoding="utf-8")
    csv = write_log(make_log(3), tmp_path / "log.csv")
    run(
        ws,
        "ingest",
        "csv",
        str(csv),
        "--equipment",
        "p3",
        "--profile",
        str(profile),
        "--skip",
        "anomaly",
        "--skip",
        "changepoint",
    )
    capsys.readouterr()
    assert run(ws, "fit", "-e", "p3", "--to", "2026-03-02 09:01:00") == 1
    assert "too little normal data to learn from" in capsys.readouterr().err
    assert run(ws, "fit", "-e", "p3", "--from", "2026-03-02 09:05", "--before", "2026-03-02") == 1
    assert "choose one of" in capsys.readouterr().err
    assert run(ws, "fit", "-e", "nope") == 1
    assert "nope" in capsys.readouterr().err
    assert run(ws, "evaluate", "anomalies", "-e", "p3") == 1
    err = capsys.readouterr().err
    assert "grades conditions" in err or "no model fits" in err
    assert run(ws, "fit", "-e", "p3", "--false-alarm-budget", "2") == 1
    assert "fit options" in capsys.readouterr().err
