"""`hydrodiag diagnose` end to end on a real workspace file: summary, JSON, clear errors."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from app.cli import main
from ingestion.workspace import open_workspace
from tests.gnn.test_engine import base  # noqa: F401  (module fixture: workspace + model files)
from tests.gnn.test_runtime_models import build_contract_model, save_model


@pytest.fixture
def ws(base: tuple[Path, Path], tmp_path: Path) -> Path:  # noqa: F811
    copy = tmp_path / "ws.duckdb"
    shutil.copy(base[0], copy)
    return copy


def _diagnoses(ws: Path) -> int:
    with open_workspace(ws) as store:
        row = store.con.execute("SELECT count(*) FROM diagnoses").fetchone()
    assert row is not None
    return int(row[0])


def test_summary_reads_in_ten_seconds(
    ws: Path,
    base: tuple[Path, Path],  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["--workspace", str(ws), "diagnose", "--equipment", "rig", "--cycles", "1:20"]
    assert main([*argv, "--model", str(base[1]), "--provider", "cpu"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].startswith("rig: CRITICAL: Cooler C1 critical")
    assert "20/20 windows assessed (cycles 1-20" in lines[1]
    assert "on CPUExecutionProvider" in lines[2] and "stored as diagnosis #1" in lines[2]
    row = next(line for line in lines if line.startswith("C1 Cooler C1"))
    assert "CRITICAL" in row and "degraded" in row
    assert any(line.startswith("T Oil tank") and "not assessed" in line for line in lines)
    # every row's health sits under the header's, whatever its status text
    top = next(
        i for i, line in enumerate(lines) if line.startswith("component ") and "health" in line
    )
    end = lines[top].index("health") + len("health")
    rows = lines[top + 1 : lines.index("", top)]
    assert len(rows) == 11
    assert all(re.fullmatch(r"—|\d{1,3} %", row[end - 6 : end].strip()) for row in rows), rows
    assert "recommendations (" in out and "[URGENT, due by" in out
    assert "Compare oil temperature before and after the cooler" in out
    assert _diagnoses(ws) == 1

    assert main(["--workspace", str(ws), "diagnose", "--list"]) == 0
    assert "CRITICAL" not in capsys.readouterr().out.splitlines()[0]  # header line
    assert main(["--workspace", str(ws), "diagnose", "--show", "1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["id"] == 1


def test_json_output(ws: Path, base: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    argv = ["--workspace", str(ws), "diagnose", "-e", "rig", "--last", "10min", "--json"]
    assert main([*argv, "--model", str(base[1])]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["n_windows"] == 10 and data["selection"] == "last 10 min"
    assert data["provider"] in ("CPUExecutionProvider", "CUDAExecutionProvider")
    assert {c["component_id"] for c in data["components"]} >= {"C1", "V10", "MP1", "ACC"}
    graded = {c["component_id"]: c for c in data["components"] if c["grade"] is not None}
    for c in graded.values():  # the grades the model cannot tell apart, and their probability
        low, high = c["grade_range"]
        assert low <= c["grade"] <= high and c["grade_range_probability"] > 0
    assert data["model"]["calibrated_on"] == ""


def test_a_grade_range_reads_as_one() -> None:
    from gnn.recommend import grade_text
    from gnn.results import ComponentResult, Status

    common = {"component_id": "ACC", "name": "Accumulators", "type": "accumulator"}
    unsure = ComponentResult(
        **common,
        assessed=True,
        status=Status.HEALTHY,
        health=0.86,
        grade=0,
        grade_probs=(0.6, 0.35, 0.05, 0.0),
        confidence=0.6,
        grade_range=(0, 1),
        grade_range_probability=0.95,
    )
    assert grade_text(unsure) == "0–1 optimal to slightly degraded"
    sure = unsure.model_copy(update={"grade_range": (0, 0), "grade_range_probability": 0.97})
    assert grade_text(sure) == "0 optimal"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["-e", "nope"], "no equipment 'nope'"),
        (
            ["-e", "rig", "--cycles", "900:950"],
            "no data for equipment 'rig' in the selected range (cycles 900-950)",
        ),
        (["-e", "rig", "--cycles", "1:5", "--last", "2h"], "choose one of --cycles"),
        (["-e", "rig", "--last", "soon"], "not a duration"),
        (["-e", "rig", "--from", "yesterday"], "not a date/time"),
        (["-e", "rig", "--model", "/nonexistent/model.onnx"], "model file does not exist"),
    ],
)
def test_bad_input_is_a_clear_error_and_stores_nothing(
    ws: Path,
    base: tuple[Path, Path],  # noqa: F811
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    message: str,
) -> None:
    model = [] if "--model" in extra else ["--model", str(base[1])]
    assert main(["--workspace", str(ws), "diagnose", *extra, *model]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err
    assert _diagnoses(ws) == 0


def test_model_for_another_profile_is_refused(
    ws: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = save_model(build_contract_model(profile_id="press-line"), tmp_path / "o" / "model.onnx")
    assert main(["--workspace", str(ws), "diagnose", "-e", "rig", "--model", str(other)]) == 1
    assert "trained for profile 'press-line'" in capsys.readouterr().err
    assert _diagnoses(ws) == 0


def test_labels_flag_compares_grades(
    ws: Path,
    base: tuple[Path, Path],  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["--workspace", str(ws), "diagnose", "-e", "rig", "--model", str(base[1])]
    assert main([*argv, "--labels"]) == 0
    out = capsys.readouterr().out
    assert "grades vs labels (per window):" in out
    assert any(line.split()[:3] == ["V10", "40", "100.0"] for line in out.splitlines())
    assert main([*argv, "--labels", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["label_agreement"]["V10"]["accuracy"] == 1.0
    assert data["diagnosis"]["equipment_id"] == "rig"


def test_summary_note_says_when_a_trend_is_not_significant() -> None:
    """A rate whose band includes zero is no trend, not 'losing 0.00 health/100 h'; a falling
    health is a negative change in % (gnn.wording, as in the app and the PDF)."""
    from app.commands.diagnose import _component_note
    from gnn.results import ComponentResult, Status, TrendEstimate

    def note(low: float, rate: float, high: float) -> str:
        trend = TrendEstimate(
            enough_history=True,
            message="",
            rate_per_100h=rate,
            rate_low_per_100h=low,
            rate_high_per_100h=high,
            hours_to_critical=40.0,
        )
        c = ComponentResult(
            component_id="ACC", name="Accumulators", type="accumulator", assessed=True,
            status=Status.HEALTHY, health=0.9, grade=0, trend=trend,
        )  # fmt: skip
        return _component_note(c)

    assert note(-0.004, 0.001, 0.006) == "no significant trend"
    assert note(0.08, 0.12, 0.16) == (
        "falling −12.0 % per 100 h (band −16.0 to −8.0 % per 100 h); critical in about 40 h"
    )
