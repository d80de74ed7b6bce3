"""gnn.recommend: the shipped rule table is valid and gives every unhealthy component advice."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from gnn.recommend import RuleError, load_rules, recommend
from gnn.results import (
    AnomalyResult,
    ComponentResult,
    LimitViolation,
    Priority,
    SensorContribution,
    Status,
    StatusThresholds,
    TrendEstimate,
)
from ingestion.profiles import ComponentType

NOW = datetime(2026, 11, 30, 12, 0)
THRESHOLDS = StatusThresholds()


def _component(
    type_: str = "accumulator",
    *,
    status: Status = Status.CRITICAL,
    grade: int | None = 3,
    health: float | None = 0.1,
    **extra: object,
) -> ComponentResult:
    return ComponentResult(
        component_id="ACC",
        name="Accumulators A1-A4",
        type=type_,
        assessed=grade is not None,
        status=status,
        health=health,
        grade=grade,
        grade_probs=(0.0, 0.05, 0.1, 0.85) if grade is not None else (),
        confidence=0.85 if grade is not None else None,
        **extra,  # type: ignore[arg-type]
    )


def _run(*components: ComponentResult, **kw: object) -> tuple:
    return recommend(components, now=NOW, thresholds=THRESHOLDS, n_windows=120, **kw)  # type: ignore[arg-type]


def test_shipped_rules_load() -> None:
    table = load_rules()
    assert len(table.rules) >= 20
    assert {r.priority for r in table.rules} == set(Priority)


def test_critical_accumulator_gets_precharge_check_with_evidence() -> None:
    acc = _component(fault_probs={"accumulator_precharge_loss": 0.93})
    recs = _run(acc, neighbours={"ACC": [("V10", 0.41), ("LV", 0.22)]})
    assert [r.rule_id for r in recs] == ["accumulator-precharge-critical"]
    rec = recs[0]
    assert rec.priority is Priority.URGENT
    assert rec.due_date == NOW + timedelta(days=3)
    assert "charging and testing kit" in rec.action
    assert rec.title == "Accumulator ACC: gas precharge lost"
    text = "\n".join(rec.evidence)
    assert "health 10 % → critical" in text
    assert "grade 3 (near failure) with probability 0.85, averaged over 120 window(s)" in text
    assert "accumulator_precharge_loss 0.93" in text
    assert "V10 0.41" in text


def test_fault_alone_gives_the_milder_rule() -> None:
    acc = _component(
        status=Status.HEALTHY, grade=0, health=0.9, fault_probs={"accumulator_precharge_loss": 0.7}
    )
    assert [r.rule_id for r in _run(acc)] == ["accumulator-precharge-fault"]


def test_healthy_component_gets_nothing() -> None:
    acc = _component(
        status=Status.HEALTHY, grade=0, health=0.97, fault_probs={"accumulator_precharge_loss": 0.1}
    )
    assert _run(acc) == ()


def test_unassessed_component_with_anomaly_and_limit() -> None:
    tank = ComponentResult(
        component_id="T",
        name="Oil tank",
        type="tank",
        assessed=False,
        status=Status.NOT_ASSESSED,
        health=None,
        grade=None,
        anomaly=AnomalyResult(
            score=4.2,
            threshold=2.0,
            is_anomalous=True,
            top_sensors=(SensorContribution(sensor_id="TS1", contribution=0.8, error=3.1),),
        ),
        limit_violations=(
            LimitViolation(
                sensor_id="TS1",
                kind="warning_high",
                limit=60.0,
                worst_value=64.2,
                unit="°C",
                start=NOW,
                end=NOW + timedelta(minutes=2),
                duration_s=120.0,
            ),
        ),
        sensors=("TS1",),
    )
    recs = _run(tank)
    assert [r.rule_id for r in recs] == ["limit-violation", "unexplained-anomaly"]
    assert recs[0].title == "Oil tank: operating limit exceeded (TS1)"
    assert any("TS1 warning high 60 °C for 120 s" in e for e in recs[0].evidence)
    assert "The sensors TS1 behave differently" in recs[1].action


def test_fast_trend_adds_a_planning_rule() -> None:
    trend = TrendEstimate(
        enough_history=True,
        message="losing 20 per 100 h",
        n_points=300,
        span_hours=10,
        rate_per_100h=20.0,
        hours_to_critical=55.0,
    )
    pump = _component("pump", status=Status.WARNING, grade=1, health=0.6, trend=trend)
    recs = _run(pump)
    # both high priority; the one due sooner comes first
    assert [r.rule_id for r in recs] == ["fast-degradation", "pump-leakage-warning"]
    assert "about 55 operating hours" in recs[0].action
    assert recs[0].evidence[0] == "trend: losing 20 per 100 h"


@pytest.mark.parametrize("type_", [t.value for t in ComponentType])
@pytest.mark.parametrize("status", [Status.WARNING, Status.CRITICAL, Status.INSUFFICIENT_DATA])
def test_every_unhealthy_component_type_gets_advice_with_evidence(
    type_: str, status: Status
) -> None:
    insufficient = status is Status.INSUFFICIENT_DATA
    result = _component(
        type_,
        status=status,
        grade=None if insufficient else 2,
        health=None if insufficient else 0.55,
    )
    recs = _run(result, data_notes={"ACC": ["PS1 missing in 80 % of samples"]})
    assert recs, f"no recommendation for a {status.value} {type_}"
    assert all(r.evidence for r in recs)
    # specific rules win over the generic fallback
    rules = {r.id: r for r in load_rules().rules}
    fired = [rules[r.rule_id] for r in recs]
    if any("*" not in r.component_types for r in fired):
        assert not any(r.fallback for r in fired)


def test_bad_rule_table_names_the_rule(tmp_path: Path) -> None:
    bad = tmp_path / "rules.yaml"
    bad.write_text(
        "version: 1\nrules:\n"
        "  - {id: ok, component_types: [pump], when: {statuses: [warning]}, priority: high,"
        " due_days: 3, title: t, action: a}\n"
        "  - {id: broken, component_types: [pumpp], when: {statuses: [bad]}, priority: soon,"
        " due_days: 3, title: 'x {nonsense}', action: a}\n",
        encoding="utf-8",
    )
    with pytest.raises(RuleError) as err:
        load_rules(bad)
    message = str(err.value)
    assert "rules.1" in message and "(rule 'broken')" in message
    assert "priority" in message and "statuses" in message


def test_changing_grade_is_stated_in_the_evidence() -> None:
    acc = _component(grade_share=(0.5, 0.0, 0.0, 0.5), recent_grade=3, recent_health=0.05)
    (rec,) = _run(acc)
    assert (
        "grade varied over the selection: 0 in 50 %, 3 in 50 % of windows; the most recent "
        "windows: grade 3 (near failure), health 5 %"
    ) in rec.evidence


def test_urgency_words_agree_with_the_due_date() -> None:
    """A title or action that promises a time ("before next shift", "today") must not sit
    beside a due date days away: how soon is said by due_days (and so the due date) alone."""
    import re

    promises = re.compile(r"next shift|today|immediately|at once|tomorrow", re.IGNORECASE)
    table = load_rules()
    wrong = [
        (r.id, r.due_days)
        for r in table.rules
        if promises.search(f"{r.title} {r.action}") and r.due_days > 1
    ]
    assert wrong == []
