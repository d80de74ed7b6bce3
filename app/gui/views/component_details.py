"""ComponentDetailsPanel: everything the diagnosis says about one component.

Grade probabilities, health and confidence, a health sparkline over the windows, trend, fault
probabilities, anomaly score with the sensors that drove it, limit violations and the
recommendations for this component.
"""

from __future__ import annotations

import html

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QLabel, QScrollArea, QVBoxLayout, QWidget

from app.core.presentation import PRIORITY_COLORS, format_health
from app.gui.views.widgets import BarList, Sparkline, StatusBadge
from gnn import wording
from gnn.contract import GRADE_NAMES
from gnn.recommend import grade_text, shown_confidence
from gnn.results import ComponentResult, Diagnosis

# "0 optimal", "1 slightly degraded", ...: the bar labels of the grade probabilities
GRADE_LABELS = tuple(f"{g} {name}" for g, name in enumerate(GRADE_NAMES))


def _heading(text: str) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setStyleSheet("font-weight: bold; color: #1f2933; margin-top: 8px;")
    return label


def _text(text: str, *, rich: bool = False) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setTextFormat(Qt.TextFormat.RichText if rich else Qt.TextFormat.PlainText)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


def trend_text(result: ComponentResult) -> str:
    """The trend and the times to the thresholds, worded as everywhere (:mod:`gnn.wording`)."""
    trend = result.trend
    if trend is None:
        return "No trend (component not graded)."
    text = wording.trend_text(trend)
    text = f"{text[:1].upper()}{text[1:]}."
    if not trend.enough_history or trend.rate_per_100h is None:
        return text
    ahead = wording.threshold_text(result)
    return text + ("" if ahead in ("—", "") else f"\n{ahead[:1].upper()}{ahead[1:]}.")


class ComponentDetailsPanel(QScrollArea):
    """Details of the selected component; rebuilt on each selection (a handful of widgets)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setMinimumWidth(300)
        self.component_id: str | None = None
        self.sections: list[str] = []
        self.show_component(None, None)

    def show_component(self, diagnosis: Diagnosis | None, component_id: str | None) -> None:
        self.component_id = component_id
        self.sections = []
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(10, 8, 10, 8)
        layout.setSpacing(4)
        self.setWidget(body)
        body.show()
        if diagnosis is None or component_id is None:
            layout.addWidget(
                _text(
                    "Click a component in the graph to see its grade, health, trend, faults, "
                    "anomalous sensors, limit violations and recommendations."
                )
            )
            layout.addStretch(1)
            return
        try:
            result = diagnosis.component(component_id)
        except KeyError:
            layout.addWidget(_text(f"{component_id} is not part of this diagnosis."))
            layout.addStretch(1)
            return
        self._fill(layout, diagnosis, result)
        layout.addStretch(1)

    def _section(self, layout: QVBoxLayout, title: str) -> None:
        self.sections.append(title)
        layout.addWidget(_heading(title))

    def _fill(self, layout: QVBoxLayout, diagnosis: Diagnosis, result: ComponentResult) -> None:
        title = QLabel(
            f"{html.escape(result.name)} <span style='color:#5f6b76'>({result.component_id})</span>"
        )
        title.setTextFormat(Qt.TextFormat.RichText)
        title.setStyleSheet("font-size: 15px; font-weight: bold;")
        title.setWordWrap(True)
        layout.addWidget(title)
        badge = StatusBadge(result.status)
        badge.setAlignment(Qt.AlignmentFlag.AlignCenter)
        badge.setMaximumWidth(160)
        layout.addWidget(badge)
        if not result.assessed:
            layout.addWidget(
                _text(
                    "The model was not trained to grade this component; it is shown for the "
                    "attention and the sensors it carries."
                )
            )
        else:
            confidence = shown_confidence(result)
            conf = f", confidence {confidence:.0%}" if confidence is not None else ""
            layout.addWidget(
                _text(f"Health {format_health(result.health)}, grade {grade_text(result)}{conf}")
            )
        if result.grade_probs:
            self._section(layout, "Grade probabilities")
            layout.addWidget(
                BarList(
                    GRADE_LABELS[: len(result.grade_probs)],
                    result.grade_probs,
                    highlight=result.grade,
                )
            )
        history = [
            w.health[result.component_id]
            for w in diagnosis.windows
            if result.component_id in w.health
        ]
        if len(history) >= 2:
            self._section(layout, f"Health over {len(history)} windows")
            layout.addWidget(
                Sparkline(
                    history,
                    warning=diagnosis.thresholds.healthy,
                    critical=diagnosis.thresholds.critical,
                )
            )
        if result.assessed:
            self._section(layout, "Trend")
            layout.addWidget(_text(trend_text(result)))
        if result.fault_probs:
            self._section(layout, "Fault probabilities (trained fault types only)")
            faults = sorted(result.fault_probs.items(), key=lambda kv: -kv[1])
            layout.addWidget(
                BarList(
                    [k.replace("_", " ") for k, _ in faults],
                    [v for _, v in faults],
                    color="#d55e00",
                )
            )
        if result.anomaly is not None:
            self._section(layout, "Anomaly")
            a = result.anomaly
            verdict = "ANOMALOUS" if a.is_anomalous else "within normal"
            layout.addWidget(_text(f"Score {a.score:.2f} (threshold {a.threshold:.2f}): {verdict}"))
            if a.top_sensors:
                layout.addWidget(
                    BarList(
                        [f"{s.sensor_id} (error {s.error:.2f})" for s in a.top_sensors],
                        [s.contribution for s in a.top_sensors],
                        color="#cc79a7",
                    )
                )
        if result.limit_violations:
            self._section(layout, "Limit violations")
            for v in result.limit_violations:
                layout.addWidget(
                    _text(
                        f"{v.sensor_id}: {v.kind.replace('_', ' ')} {v.limit:g} {v.unit}, worst "
                        f"{v.worst_value:g} {v.unit}, {v.duration_s:.0f} s from "
                        f"{v.start:%Y-%m-%d %H:%M:%S}"
                    )
                )
        recs = [r for r in diagnosis.recommendations if r.component_id == result.component_id]
        if recs:
            self._section(layout, "Recommendations")
            for r in recs:
                color = PRIORITY_COLORS[r.priority]
                layout.addWidget(
                    _text(
                        f"<b style='color:{color}'>{r.priority.value.upper()}</b> — due "
                        f"{r.due_date:%Y-%m-%d} — <b>{html.escape(r.title)}</b><br>"
                        f"{html.escape(r.action)}",
                        rich=True,
                    )
                )
        if result.sensors:
            self._section(layout, "Sensors on this component")
            layout.addWidget(_text(", ".join(result.sensors)))
