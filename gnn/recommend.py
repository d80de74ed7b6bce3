"""Maintenance recommendations from the rule table in ``resources/rules/recommendations.yaml``.

Every title and action is text from the table; the only run-time content is placeholders
filled with values of the diagnosis (component, grade, health, sensors, trend), and the
evidence lines that say which of those values made the rule fire.
"""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from gnn import contract
from gnn.contract import GRADE_NAMES
from gnn.results import (
    ComponentResult,
    Priority,
    Recommendation,
    Status,
    StatusThresholds,
)
from gnn.wording import health_text, rate_text
from ingestion.errors import HydroDiagError
from ingestion.profiles import ComponentType
from ingestion.resources import resources_dir

PLACEHOLDERS = frozenset(
    {
        "component",
        "component_name",
        "grade",
        "grade_name",
        "health",
        "confidence",
        "fault_prob",
        "top_sensors",
        "limit_sensors",
        "rate",
        "hours_to_critical",
        "sensors",
    }
)
ANY_TYPE = "*"
_PRIORITY_ORDER = {Priority.URGENT: 0, Priority.HIGH: 1, Priority.MEDIUM: 2, Priority.LOW: 3}


class RuleError(HydroDiagError):
    """The recommendation rule table is not valid."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RuleWhen(_Frozen):
    """Conditions of a rule; all that are set must hold."""

    statuses: tuple[Status, ...] = ()
    min_grade: int | None = Field(default=None, ge=0, le=3)
    fault: str | None = None
    anomaly: bool | None = None
    limit_violation: bool | None = None
    min_hours_to_critical_below: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _not_empty(self) -> RuleWhen:
        if not any(v not in (None, ()) for v in self.model_dump(exclude_defaults=False).values()):
            raise ValueError("a rule needs at least one condition under `when`")
        return self


class Rule(_Frozen):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9\-_.]*$")
    group: str | None = None
    fallback: bool = False
    component_types: tuple[str, ...] = Field(min_length=1)
    when: RuleWhen
    priority: Priority
    due_days: int = Field(ge=0, le=3650)
    title: str = Field(min_length=1)
    action: str = Field(min_length=1)

    @model_validator(mode="after")
    def _check(self) -> Rule:
        known = {t.value for t in ComponentType} | {ANY_TYPE}
        unknown = [t for t in self.component_types if t not in known]
        if unknown:
            raise ValueError(
                f"component_types: unknown {unknown}; use {ANY_TYPE!r} or one of "
                f"{sorted(known - {ANY_TYPE})}"
            )
        for field in ("title", "action"):
            text = getattr(self, field)
            try:
                names = {name for _, name, _, _ in string.Formatter().parse(text) if name}
            except ValueError as exc:
                raise ValueError(f"{field}: {exc}") from None
            bad = names - PLACEHOLDERS
            if bad:
                raise ValueError(
                    f"{field}: unknown placeholder(s) {sorted(bad)}; allowed: {sorted(PLACEHOLDERS)}"
                )
        return self

    def applies_to(self, component_type: str) -> bool:
        return ANY_TYPE in self.component_types or component_type in self.component_types


class RuleTable(_Frozen):
    version: Literal[1] = 1
    fault_threshold: float = Field(default=0.5, gt=0.0, lt=1.0)
    rules: tuple[Rule, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> RuleTable:
        seen: set[str] = set()
        for rule in self.rules:
            if rule.id in seen:
                raise ValueError(f"rule id {rule.id!r} is used more than once")
            seen.add(rule.id)
        return self


def default_rules_path() -> Path:
    return resources_dir() / "rules" / "recommendations.yaml"


def load_rules(path: Path | None = None) -> RuleTable:
    """Load and validate a rule table (default: the shipped one), naming the rule at fault."""
    file = path or default_rules_path()
    return _load_rules_cached(str(file), file.stat().st_mtime_ns if file.exists() else 0)


@lru_cache(maxsize=4)
def _load_rules_cached(file: str, _mtime: int) -> RuleTable:
    try:
        data = yaml.safe_load(Path(file).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RuleError(f"{file}: recommendation rule table does not exist.") from None
    except yaml.YAMLError as exc:
        raise RuleError(f"{file}: not valid YAML: {exc}") from None
    try:
        return RuleTable.model_validate(data)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc = list(err["loc"])
            where = ".".join(str(p) for p in loc)
            if len(loc) >= 2 and loc[0] == "rules" and isinstance(loc[1], int):
                rules = data.get("rules") if isinstance(data, dict) else None
                if isinstance(rules, list) and loc[1] < len(rules):
                    rid = rules[loc[1]].get("id") if isinstance(rules[loc[1]], dict) else None
                    where += f" (rule {rid!r})"
            lines.append(f"  - {where}: {str(err['msg']).removeprefix('Value error, ')}")
        raise RuleError(
            f"{file}: {len(lines)} problem(s) in the recommendation rules:\n"
            + "\n".join(lines)
            + "\nFix these entries; the table is read again on the next diagnosis."
        ) from None


# --------------------------------------------------------------------------- evidence


def _pct(x: float) -> str:
    return f"{100.0 * x:.0f} %"


MIXED_SHARE = 0.8  # below this share for the commonest grade, the condition changed


def grade_varied(result: ComponentResult) -> bool:
    """Whether no grade held in at least :data:`MIXED_SHARE` of the windows: the condition
    changed within the selection, so the aggregate grade and mean health describe a mixture."""
    share = result.grade_share
    return len(share) == 4 and max(share) < MIXED_SHARE


def grade_label(result: ComponentResult) -> str:
    """The grade as a one-line summary names it: ``optimal``, or ``grade varied`` when it
    changed within the selection (its aggregate would contradict the status beside it: a
    valve graded 0 in a third of the windows and 3 in another third averages to a warning)."""
    if result.grade is None:
        return "?"
    if grade_varied(result):
        return "grade varied"
    if is_grade_range(result) and result.grade_range is not None:
        lo, hi = result.grade_range
        return f"{GRADE_NAMES[lo]} to {GRADE_NAMES[hi]}"
    return GRADE_NAMES[result.grade]


def is_grade_range(result: ComponentResult) -> bool:
    """The model cannot tell the component's grade from its neighbour (``grade_range`` spans
    more than one grade: ``training.calibration``)."""
    return result.grade_range is not None and result.grade_range[0] != result.grade_range[1]


def grade_text(result: ComponentResult) -> str:
    """The grade as a table cell shows it: ``0 optimal``, ``0–1 optimal to slightly degraded``
    where the model cannot tell those grades apart, ``varied (recent: 3 near failure)`` when it
    changed within the selection, ``—`` when there is none. One wording for the app, the CLI
    and the PDF."""
    if result.grade is None:
        return "—"
    if grade_varied(result) and result.recent_grade is not None:
        return f"varied (recent: {result.recent_grade} {GRADE_NAMES[result.recent_grade]})"
    if is_grade_range(result) and result.grade_range is not None:
        lo, hi = result.grade_range
        return f"{contract.grade_label(lo, hi)} {GRADE_NAMES[lo]} to {GRADE_NAMES[hi]}"
    return f"{result.grade} {GRADE_NAMES[result.grade]}"


def shown_confidence(result: ComponentResult) -> float | None:
    """The confidence shown beside :func:`grade_text`: the probability of the grade range where
    there is one, else of the grade."""
    if is_grade_range(result) and result.grade_range_probability is not None:
        return result.grade_range_probability
    return result.confidence


def grade_mix(result: ComponentResult) -> str | None:
    """A line saying the grade changed within the windows it is taken from; else None."""
    if not grade_varied(result):
        return None
    share = result.grade_share
    parts = ", ".join(f"{g} in {100 * v:.0f} %" for g, v in enumerate(share) if v > 0)
    if result.current_windows:  # the current-state rule: the share is over the latest windows
        return f"grade varied over the latest {result.current_windows} windows: {parts} of them"
    line = f"grade varied over the selection: {parts} of windows"
    if result.recent_grade is not None and result.recent_health is not None:
        line += (
            f"; the most recent windows: grade {result.recent_grade} "
            f"({GRADE_NAMES[result.recent_grade]}), health {health_text(result.recent_health)}"
        )
    return line


def current_basis(result: ComponentResult, n_windows: int) -> str:
    """Which windows the grade and health are from: 'the latest 10 of 240 windows'."""
    if result.current_windows and result.current_windows < max(n_windows, result.n_windows):
        return f"the latest {result.current_windows} of {max(n_windows, result.n_windows)} windows"
    return f"{n_windows} window(s)"


def selection_line(result: ComponentResult, thresholds: StatusThresholds) -> str | None:
    """The mean over the whole selection, when it reads differently from the current state."""
    if result.selection_health is None or result.health is None:
        return None
    if result.current_windows >= result.n_windows:
        return None  # the current windows are the whole selection
    mean_status = thresholds.status(result.selection_health)
    if mean_status is result.status and abs(result.selection_health - result.health) < 0.05:
        return None
    return (
        f"mean over the selection's {result.n_windows} windows: health "
        f"{health_text(result.selection_health)} ({mean_status.value}); the status is the current one"
    )


def earlier_lines(result: ComponentResult) -> list[str]:
    """'critical earlier: 2026-11-30 06:10–06:40, lowest health 0.31 (30 windows)'."""
    return [
        f"{e.status.value} earlier: {e.start:%Y-%m-%d %H:%M}–{e.end:%H:%M}, lowest health "
        f"{health_text(e.lowest_health)} ({e.n_windows} windows)"
        for e in result.worse_earlier
    ]


def component_evidence(
    result: ComponentResult,
    *,
    thresholds: StatusThresholds,
    n_windows: int,
    neighbours: Sequence[tuple[str, float]] = (),
    fault_threshold: float = 0.5,
    data_notes: Sequence[str] = (),
) -> dict[str, str]:
    """Evidence lines of a component by kind (grade, health, fault, trend, anomaly, limit, ...)."""
    ev: dict[str, str] = {}
    if result.grade is not None and result.confidence is not None:
        ev["grade"] = (
            f"grade {result.grade} ({GRADE_NAMES[result.grade]}) with probability "
            f"{result.confidence:.2f}, averaged over {current_basis(result, n_windows)}"
        )
    if result.health is not None:
        ev["health"] = (
            f"health {health_text(result.health)} → {result.status.value} (healthy ≥ "
            f"{health_text(thresholds.healthy)}, critical < {health_text(thresholds.critical)})"
        )
    mix = grade_mix(result)
    if mix:
        ev["mix"] = mix
    mean = selection_line(result, thresholds)
    if mean:
        ev["selection"] = mean
    earlier = earlier_lines(result)
    if earlier:
        ev["earlier"] = "; ".join(earlier)
    faults = sorted(
        ((p, f) for f, p in result.fault_probs.items() if p >= fault_threshold), reverse=True
    )
    if faults:
        ev["fault"] = "fault probability " + ", ".join(f"{f} {p:.2f}" for p, f in faults)
    if result.trend is not None:
        ev["trend"] = f"trend: {result.trend.message}"
    if result.anomaly is not None and result.anomaly.is_anomalous:
        tops = ", ".join(
            f"{s.sensor_id} {_pct(s.contribution)}" for s in result.anomaly.top_sensors
        )
        ev["anomaly"] = (
            f"anomaly score {result.anomaly.score:.1f} (threshold {result.anomaly.threshold:.1f})"
            + (f"; sensors contributing most: {tops}" if tops else "")
        )
    if result.limit_violations:
        ev["limit"] = "; ".join(
            f"{v.sensor_id} {v.kind.replace('_', ' ')} {v.limit:g} {v.unit} for {v.duration_s:.0f} s "
            f"(worst {v.worst_value:.4g} {v.unit}, from {v.start:%Y-%m-%d %H:%M:%S})"
            for v in result.limit_violations[:3]
        )
    if neighbours:
        ev["attention"] = "attention from neighbours: " + ", ".join(
            f"{n} {w:.2f}" for n, w in neighbours[:3]
        )
    if data_notes:
        ev["data"] = "data: " + "; ".join(data_notes[:3])
    return ev


def _placeholders(
    result: ComponentResult,
    rule: Rule,
    name: str,
    neighbour_sensors: Sequence[str],
) -> dict[str, str]:
    trend = result.trend
    fault_prob = (
        f"{result.fault_probs[rule.when.fault]:.2f}"
        if rule.when.fault and rule.when.fault in result.fault_probs
        else "n/a"
    )
    tops = result.anomaly.top_sensors if result.anomaly else ()
    sensors = list(result.sensors) + [s for s in neighbour_sensors if s not in result.sensors]
    return {
        "component": result.component_id,
        "component_name": name,
        "grade": "n/a" if result.grade is None else str(result.grade),
        "grade_name": "n/a" if result.grade is None else GRADE_NAMES[result.grade],
        "health": "n/a" if result.health is None else health_text(result.health),
        "confidence": "n/a" if result.confidence is None else f"{result.confidence:.2f}",
        "fault_prob": fault_prob,
        "top_sensors": ", ".join(s.sensor_id for s in tops) or "none",
        "limit_sensors": ", ".join(sorted({v.sensor_id for v in result.limit_violations}))
        or "none",
        "rate": rate_text(trend.rate_per_100h if trend is not None else None),
        "hours_to_critical": "n/a"
        if trend is None or trend.hours_to_critical is None
        else f"{trend.hours_to_critical:.0f}",
        "sensors": ", ".join(sensors) or "none on this component",
    }


def _matches(rule: Rule, result: ComponentResult, fault_threshold: float) -> list[str]:
    """The evidence kinds that made ``rule`` fire, or [] if it does not match."""
    when = rule.when
    kinds: list[str] = []
    status_kinds: list[str] = []  # listed after the more specific triggers below
    if when.statuses:
        if result.status not in when.statuses:
            return []
        status_kinds = ["health", "grade"] if result.health is not None else ["data"]
    if when.min_grade is not None:
        if result.grade is None or result.grade < when.min_grade:
            return []
        kinds.append("grade")
    if when.fault is not None:
        if result.fault_probs.get(when.fault, 0.0) < fault_threshold:
            return []
        kinds.append("fault")
    anomalous = result.anomaly is not None and result.anomaly.is_anomalous
    if when.anomaly is not None:
        if anomalous != when.anomaly:
            return []
        kinds.append("anomaly")
    if when.limit_violation is not None:
        if bool(result.limit_violations) != when.limit_violation:
            return []
        kinds.append("limit")
    if when.min_hours_to_critical_below is not None:
        trend = result.trend
        if (
            trend is None
            or trend.hours_to_critical is None
            or trend.hours_to_critical >= when.min_hours_to_critical_below
            or trend.hours_to_critical == 0.0
        ):
            return []
        kinds.append("trend")
    return kinds + status_kinds


def recommend(
    components: Sequence[ComponentResult],
    *,
    now: datetime,
    thresholds: StatusThresholds,
    n_windows: int,
    names: Mapping[str, str] | None = None,
    neighbours: Mapping[str, Sequence[tuple[str, float]]] | None = None,
    neighbour_sensors: Mapping[str, Sequence[str]] | None = None,
    data_notes: Mapping[str, Sequence[str]] | None = None,
    rules: RuleTable | None = None,
) -> tuple[Recommendation, ...]:
    """Recommendations for ``components``, most urgent first, each with its evidence."""
    table = rules or load_rules()
    out: list[Recommendation] = []
    for result in components:
        neigh = (neighbours or {}).get(result.component_id, ())
        evidence = component_evidence(
            result,
            thresholds=thresholds,
            n_windows=n_windows,
            neighbours=neigh,
            fault_threshold=table.fault_threshold,
            data_notes=(data_notes or {}).get(result.component_id, ()),
        )
        fired_groups: set[str] = set()
        typed_fired = False
        for rule in table.rules:
            if not rule.applies_to(result.type):
                continue
            if rule.group is not None and rule.group in fired_groups:
                continue
            if rule.fallback and typed_fired:
                continue
            kinds = _matches(rule, result, table.fault_threshold)
            if not kinds:
                continue
            if rule.group is not None:
                fired_groups.add(rule.group)
            if ANY_TYPE not in rule.component_types:
                typed_fired = True
            # The triggering evidence first, then the context an engineer wants beside it.
            order = [
                *kinds,
                "grade",
                "mix",
                "health",
                "selection",
                "earlier",
                "fault",
                "trend",
                "anomaly",
                "limit",
                "attention",
                "data",
            ]
            lines = tuple(dict.fromkeys(evidence[k] for k in order if k in evidence))
            values = _placeholders(
                result,
                rule,
                (names or {}).get(result.component_id, result.name),
                (neighbour_sensors or {}).get(result.component_id, ()),
            )
            out.append(
                Recommendation(
                    rule_id=rule.id,
                    component_id=result.component_id,
                    priority=rule.priority,
                    due_days=rule.due_days,
                    due_date=now + timedelta(days=rule.due_days),
                    title=_fill(rule.title, values),
                    action=_fill(" ".join(rule.action.split()), values),
                    evidence=lines,
                )
            )
    out.sort(key=lambda r: (_PRIORITY_ORDER[r.priority], r.due_days, r.component_id))
    return tuple(out)


def _fill(template: str, values: Mapping[str, Any]) -> str:
    return template.format_map(dict(values))
