"""A headline over a long selection is the current state, everywhere it is shown.

The sample (the demo rig: accumulator precharge fading to critical, a pump leak appearing half
way) diagnosed over all its four hours must say what its latest half hour says — CRITICAL
accumulator, warning pump, an urgent precharge check — in the engine's result, the CLI table,
the JSON and the PDF; the mean over the four hours is there, named as such. Before the rule,
the four-hour mean turned CRITICAL 30 % into WARNING 60 % and the urgent check into a high one.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from pypdf import PdfReader

from app.core.sample import SAMPLE_EQUIPMENT, SampleWorkspace
from gnn.results import Diagnosis, Priority, Status
from gnn.wording import health_text
from ingestion.workspace import open_workspace

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def stored(
    sample_template: SampleWorkspace, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Diagnosis]:
    """A copy of the sample, and its diagnosis over all its data (240 windows) stored there."""
    from gnn.engine import Selection, diagnose

    path = tmp_path_factory.mktemp("whole") / "ws.duckdb"
    shutil.copyfile(sample_template.path, path)
    with open_workspace(path) as store:
        return path, diagnose(
            store, SAMPLE_EQUIPMENT, selection=Selection(), now=sample_template.end
        )


@pytest.fixture
def whole(stored: tuple[Path, Diagnosis]) -> Diagnosis:
    return stored[1]


def test_older_healthy_windows_do_not_dilute_a_current_critical(
    sample_template: SampleWorkspace, whole: Diagnosis
) -> None:
    latest = sample_template.diagnosis  # the last half hour
    assert latest.overall_status is Status.CRITICAL
    assert whole.n_windows == 8 * latest.n_windows
    assert whole.overall_status is Status.CRITICAL
    assert whole.overall_health is not None and whole.overall_health < 0.5
    acc, mp1 = whole.component("ACC"), whole.component("MP1")
    assert acc.status is Status.CRITICAL and mp1.status is Status.WARNING
    assert (
        "Accumulators A1-A4 critical" in whole.verdict and "Main pump MP1 warning" in whole.verdict
    )
    # the current state is the latest windows; the mean over the four hours is kept apart
    assert acc.current_windows == 10 and acc.n_windows > 200
    assert acc.current_end == whole.window_end
    assert acc.selection_health is not None and acc.health is not None
    assert acc.selection_health > acc.health + 0.2
    assert acc.health == pytest.approx(latest.component("ACC").health, abs=0.1)
    urgent = [r for r in whole.recommendations if r.component_id == "ACC"]
    assert [r.priority for r in urgent] == [Priority.URGENT]
    assert any("mean over the selection's" in line for line in urgent[0].evidence), urgent[
        0
    ].evidence


def test_a_component_that_was_worse_earlier_is_named() -> None:
    """A pump that was critical for a stretch and is healthy now: the headline is healthy, the
    earlier stretch is a finding and a part of the verdict."""
    from datetime import datetime, timedelta

    import numpy as np

    from gnn import postprocess as post
    from gnn.results import ComponentResult, StatusThresholds

    t0 = datetime(2026, 11, 30, 5, 0)
    starts = [t0 + timedelta(minutes=i) for i in range(60)]
    ends = [s + timedelta(minutes=1) for s in starts]
    health = np.full(60, 0.9)
    health[20:32] = 0.3  # twelve critical minutes
    health[40] = 0.2  # one odd window: noise, not an episode
    episodes = post.worse_episodes(
        starts, ends, health, now=Status.HEALTHY, thresholds=StatusThresholds()
    )
    assert [(e.start, e.end, e.status, e.n_windows) for e in episodes] == [
        (starts[20], ends[31], Status.CRITICAL, 12)
    ]
    assert (
        post.worse_episodes(
            starts, ends, health, now=Status.CRITICAL, thresholds=StatusThresholds()
        )
        == ()
    )
    pump = ComponentResult(
        component_id="MP1", name="Main pump MP1", type="pump", assessed=True,
        status=Status.HEALTHY, health=0.9, grade=0, current_windows=10, n_windows=70,
        worse_earlier=episodes,
    )  # fmt: skip
    found = post.findings([pump])
    assert [f.kind for f in found] == ["earlier_episode"]
    assert found[0].summary.startswith("Main pump MP1: critical earlier in the selection (05:20")
    _, status, verdict = post.overall([pump], found, n_windows=70, n_valid=70)
    assert status is Status.HEALTHY
    assert verdict.endswith("Main pump MP1 was critical earlier (05:20–05:32)")


def test_cli_table_and_json_follow_the_current_state(whole: Diagnosis) -> None:
    from app.commands.diagnose import summary

    text = summary(whole)
    row = next(line for line in text.splitlines() if line.startswith("ACC "))
    acc = whole.component("ACC")
    assert "CRITICAL" in row and health_text(acc.health) in row
    assert f"mean over the selection {health_text(acc.selection_health)}" in row
    assert "current state: the latest windows" in text
    assert "[URGENT, due by" in text
    body = json.loads(whole.model_dump_json())
    acc = next(c for c in body["components"] if c["component_id"] == "ACC")
    assert acc["status"] == "critical" and acc["selection_health"] > acc["health"]
    assert body["overall_status"] == "critical" and body["current_end"] is not None


def test_pdf_follows_the_current_state(
    qapp: object, stored: tuple[Path, Diagnosis], tmp_path: Path
) -> None:
    from app.report.builder import build_report_model
    from app.report.render import render_pdf

    path, whole = stored
    assert whole.id is not None
    with open_workspace(path) as store:
        model = build_report_model(store, SAMPLE_EQUIPMENT, whole.id)
    result = render_pdf(model, tmp_path / "report.pdf")
    text = re.sub(
        r"\s+", " ", " ".join(p.extract_text() or "" for p in PdfReader(result.path).pages)
    )
    assert "CRITICAL" in text.split("Summary", 1)[0]  # on the cover, before the summary
    assert "✔ OK 80 %" not in text and "warning in 0 h" not in text
