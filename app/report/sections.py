"""The sections of the diagnosis report — cover, summary, graph, trends, sensors, findings,
recommendations, appendix — written onto pages by the layout engine (app/report/layout.py).

User and workspace text reaches the documents only through ``esc`` (HTML-escaped).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import partial

from PySide6.QtCore import QPointF, QRectF, Qt, qVersion
from PySide6.QtGui import QColor, QFontMetricsF, QPainter, QPainterPath, QPen

from app.core.presentation import (
    PRIORITY_RANK,
    PRIORITY_SYMBOLS,
    STATUS_STYLES,
    most_urgent_first,
)
from app.report import charts, time_charts
from app.report.builder import card_facts, epoch_seconds, trend_components
from app.report.layout import INK, UNIT, PageFlow, breakable, esc, esc_multiline, font
from app.report.model import ALL_SECTIONS, SECTION_TITLES, ReportModel, Section
from app.report.wording import duration_text, threshold_text, time_text, trend_text
from gnn.recommend import grade_text, shown_confidence
from gnn.results import Status
from gnn.wording import health_text


def _status_html(status: Status) -> str:
    style = STATUS_STYLES[status]
    return f'<span style="color: {style.ink};">{esc(style.label)}</span>'


def _section(flow: PageFlow, section: Section, *, keep_with: float = 110.0) -> None:
    """A section's heading, kept with the first ``keep_with`` points of what follows."""
    flow.space(8)
    flow.heading(SECTION_TITLES[section], keep_with=keep_with)
    flow.mark(section.value)


def _cover(flow: PageFlow, model: ReportModel) -> None:
    d = model.diagnosis
    fields = model.inspection.fields
    flow.html(
        f'<p class="muted" style="font-size: 9pt;">HydroDiag diagnosis report</p>'
        f'<h1 style="font-size: 20pt;">{esc(model.equipment_name)}</h1>'
        f'<p style="font-size: 10pt;">Equipment <b>{esc(model.equipment_id)}</b> · '
        f"{esc(model.profile.name)} ({esc(model.profile.kind)})</p>"
    )
    flow.space(10)
    flow.block(
        _overall_box_height(flow, model), partial(_overall_box, model=model, family=flow.family)
    )
    flow.space(10)
    visit_date = model.inspection.started_at or d.created_at
    rows = [
        ("Customer", esc(fields.customer) or "—"),
        ("Site", esc(fields.site) or "—"),
        ("Inspector", esc(fields.inspector) or "—"),
        ("Inspection date", esc(time_text(visit_date, "%Y-%m-%d"))),
        (
            "Diagnosed window",
            f"{esc(time_text(d.window_start))} – {esc(time_text(d.window_end))} UTC "
            f"({esc(duration_text((d.window_end - d.window_start).total_seconds()))}; "
            f"{d.n_valid_windows} of {d.n_windows} windows valid"
            + (f"; selection: {esc(d.selection)}" if d.selection else "")
            + ")",
        ),
        (
            "Diagnosis",
            f"#{d.id if d.id is not None else '—'}, made {esc(time_text(d.created_at))} UTC",
        ),
        ("Model", f"{esc(d.model.model_id)} {esc(d.model.version)} on {esc(d.provider)}"),
        ("Report", f"generated {esc(time_text(model.generated_at))} UTC"),
    ]
    flow.html(
        '<table width="100%" cellspacing="0" cellpadding="3">'
        + "".join(
            f'<tr><td width="22%" class="muted">{k}</td><td width="78%"><b>{v}</b></td></tr>'
            for k, v in rows
        )
        + "</table>"
    )
    if fields.notes.strip():
        flow.space(6)
        # Heading and text in one document: they move to the next page together.
        flow.html(
            f"<h3>Inspector's notes</h3><p>{esc_multiline(fields.notes)}</p>", split_lines=True
        )


_BOX_TEXT_LEFT_PT = 74.0
_BOX_TEXT_RIGHT_PT = 10.0


def _overall_box_height(flow: PageFlow, model: ReportModel) -> float:
    """Points the verdict box needs: headline plus the verdict wrapped to the box width."""
    width = flow.content.width() - (_BOX_TEXT_LEFT_PT + _BOX_TEXT_RIGHT_PT) * UNIT
    big = QFontMetricsF(font(flow.family, 15, bold=True), flow.metric)
    small = QFontMetricsF(font(flow.family, 10, italic=True), flow.metric)
    verdict = small.boundingRect(
        QRectF(0, 0, width, 1e9), int(Qt.TextFlag.TextWordWrap), model.diagnosis.verdict
    )
    return max(74.0, (big.height() + verdict.height()) / UNIT + 5 + 18 + 2)


def _overall_box(painter: QPainter, rect: QRectF, model: ReportModel, family: str) -> None:
    """The verdict box: a status stripe (tint, hatch and symbol) and plain text on white."""
    d = model.diagnosis
    u = UNIT
    painter.save()
    painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
    stripe = QPainterPath()
    stripe.addRect(QRectF(rect.left(), rect.top(), 62 * u, rect.height()))
    outline = QPainterPath()
    outline.addRoundedRect(rect, 6 * u, 6 * u)
    painter.setClipPath(outline)
    painter.fillPath(outline, QColor("white"))
    charts.status_fill(painter, stripe, d.overall_status, u, light=False)
    painter.setClipping(False)
    centre = QPointF(rect.left() + 31 * u, rect.center().y())
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(QColor("white"))
    painter.drawEllipse(centre, 22 * u, 22 * u)
    charts.status_marker(painter, centre, 14 * u, d.overall_status, u)
    painter.setPen(QPen(QColor(INK), 1.2 * u))
    painter.setBrush(Qt.BrushStyle.NoBrush)
    painter.drawPath(outline)
    painter.drawLine(
        QPointF(rect.left() + 62 * u, rect.top()), QPointF(rect.left() + 62 * u, rect.bottom())
    )
    inner = QRectF(
        rect.left() + _BOX_TEXT_LEFT_PT * u,
        rect.top() + 9 * u,
        rect.width() - (_BOX_TEXT_LEFT_PT + _BOX_TEXT_RIGHT_PT) * u,
        rect.height() - 18 * u,
    )
    big = font(family, 15, bold=True)
    health = health_text(d.overall_health)
    label = STATUS_STYLES[d.overall_status].label
    headline = (
        f"Overall health {health} — {label}"
        if d.overall_health is not None
        else f"Overall: {label}"
    )
    fm = QFontMetricsF(big, painter.device())
    painter.setFont(big)
    painter.setPen(INK)
    painter.drawText(QRectF(inner.left(), inner.top(), inner.width(), fm.height()), headline)
    painter.setFont(font(family, 10, italic=True))
    painter.drawText(
        QRectF(
            inner.left(),
            inner.top() + fm.height() + 5 * u,
            inner.width(),
            inner.height() - fm.height() - 5 * u,
        ),
        int(Qt.TextFlag.TextWordWrap),
        d.verdict,
    )
    painter.restore()


def _summary(flow: PageFlow, model: ReportModel) -> None:
    d = model.diagnosis
    _section(flow, Section.SUMMARY)
    rows = []
    for comp in d.components:
        health = health_text(comp.health)
        shown = shown_confidence(comp)  # a grade range's probability where there is one
        confidence = f"{shown:.0%}" if shown is not None else "—"
        rows.append(
            "<tr>"
            f"<td><b>{esc(comp.component_id)}</b><br/><span class='small'>{esc(comp.name)}</span></td>"
            f"<td>{esc(grade_text(comp))}</td>"
            f"<td align='right'><b>{health}</b></td>"
            f"<td>{_status_html(comp.status)}</td>"
            f"<td>{esc(trend_text(comp.trend))}</td>"
            f"<td>{esc(threshold_text(comp))}</td>"
            f"<td align='right'>{confidence}</td>"
            "</tr>"
        )
    flow.table(
        [
            "Component",
            "Grade",
            "Health",
            "Status",
            "Trend (health, %)",
            "Time to threshold",
            "Conf.",
        ],
        rows,
        widths=[20, 14, 8, 13, 20, 18, 7],
    )
    t = d.thresholds
    flow.space(3)
    flow.html(
        "<p class='small muted'>Status: "
        f"{esc(STATUS_STYLES[Status.HEALTHY].label)} (health ≥ {health_text(t.healthy)}), "
        f"{esc(STATUS_STYLES[Status.WARNING].label)} ({health_text(t.critical)}–{health_text(t.healthy)}), "
        f"{esc(STATUS_STYLES[Status.CRITICAL].label)} (&lt; {health_text(t.critical)}), "
        f"{esc(STATUS_STYLES[Status.NOT_ASSESSED].label)} (the model is not trained to grade "
        "this component; it still feeds its neighbours), "
        f"{esc(STATUS_STYLES[Status.INSUFFICIENT_DATA].label)} (too little valid data to grade "
        "it). Grades: 0 optimal, 1 slightly degraded, 2 severely degraded, 3 near failure. "
        "Grade, health and status are the current state: the latest windows of the diagnosed "
        "range. Confidence = probability of the chosen grade, averaged over those windows; a "
        "range such as 1–2 means the model cannot tell those grades apart, and its confidence "
        "is the range's. Calibrated models: how often such a grade was right on runs the model "
        "had not seen. "
        "Trend = measured change of health in % per 100 operating hours (per operating hour "
        "when faster), with its uncertainty band; time to threshold from that band.</p>"
    )


def _graph(flow: PageFlow, model: ReportModel) -> None:
    _section(flow, Section.GRAPH, keep_with=280)
    flow.block(
        280,
        lambda p, r: charts.draw_component_graph(
            p, r, model.profile, model.diagnosis, flow.family, UNIT
        ),
    )
    flow.html(
        "<p class='small muted'>Boxes are components at their place in the circuit; pattern, "
        "symbol and text give the status. Line width shows how much attention the model paid "
        "along each connection (mean of both directions over heads, time steps, windows and "
        "layers, relative to the strongest); it says where the model looked, not that a "
        "connection is faulty.</p>"
    )


def _trends(flow: PageFlow, model: ReportModel) -> None:
    d = model.diagnosis
    _section(flow, Section.TRENDS, keep_with=170)
    components = trend_components(d)
    if not components:
        flow.html(
            "<p>No assessed component is in the warning or critical range; no trend chart is needed.</p>"
        )
        return
    histories = {h.component_id: h for h in model.histories}
    for comp in components:
        series = histories.get(comp.component_id)
        health = health_text(comp.health)
        flow.ensure(175 * UNIT)
        flow.html(
            f"<p><b>{esc(comp.component_id)}</b> {esc(comp.name)} — health {health}, "
            f"{_status_html(comp.status)}; {esc(trend_text(comp.trend))}; "
            f"{esc(threshold_text(comp))}"
            + (f" <span class='small muted'>({series.n_windows} windows)</span>" if series else "")
            + "</p>"
        )
        if series is None:
            flow.html("<p class='muted'>No health history is stored for this component.</p>")
            continue
        flow.block(
            150,
            partial(
                time_charts.draw_health_trend,
                series=series,
                result=comp,
                thresholds=d.thresholds,
                family=flow.family,
                unit=UNIT,
            ),
        )
        flow.space(8)


def _sensors(flow: PageFlow, model: ReportModel) -> None:
    d = model.diagnosis
    _section(flow, Section.SENSORS, keep_with=150)
    if not model.sensors:
        flow.html("<p>No sensor data in the diagnosed window.</p>")
        return
    window = (epoch_seconds(d.window_start), epoch_seconds(d.window_end))
    flow.html(
        "<p class='small muted'>The diagnosed window, "
        f"{esc(time_text(d.window_start))} – {esc(time_text(d.window_end))} UTC; each chart shows the "
        "minimum–maximum band and the mean of the samples per time bucket (one model window, "
        "or longer so that there are at most 400), so short spikes stay visible.</p>"
    )
    for series in model.sensors:
        flow.ensure(150 * UNIT)
        desc = f" — {esc(series.description)}" if series.description else ""
        flow.html(
            f"<p><b>{esc(series.sensor_id)}</b> [{esc(series.unit)}] on "
            f"{esc(series.component_id)}{desc}; <i>{esc(series.reason)}</i> "
            f"<span class='small muted'>({series.n_samples:,} samples)</span></p>"
        )
        flow.block(
            118,
            partial(
                time_charts.draw_sensor_plot,
                series=series,
                window=window,
                family=flow.family,
                unit=UNIT,
            ),
        )
        flow.space(6)


def _findings(flow: PageFlow, model: ReportModel) -> None:
    d = model.diagnosis
    _section(flow, Section.FINDINGS, keep_with=60)
    findings = sorted(d.findings, key=lambda f: PRIORITY_RANK[f.severity])
    if not findings:
        flow.html(
            "<p>No findings: every assessed component is healthy and no limit was violated.</p>"
        )
    for finding in findings:
        evidence = "".join(f"<li>{esc(e)}</li>" for e in finding.evidence)
        flow.html(
            f"<p style='margin-bottom: 0px;'><b>{esc(PRIORITY_SYMBOLS.get(finding.severity, ''))} "
            f"{esc(finding.severity.value.upper())}</b> · <b>{esc(finding.component_id)}</b> · "
            f"{esc(finding.kind.replace('_', ' '))}<br/>{esc(finding.summary)}</p>"
            + (
                "<ul style='margin-top: 1px; margin-bottom: 0px; margin-left: 0px; "
                f"-qt-list-indent: 1;'>{evidence}</ul>"
                if evidence
                else ""
            )
        )
        flow.space(3)
    violations = [(c, v) for c in d.components for v in c.limit_violations]
    flow.space(4)
    flow.heading("Limit violations", level=3, keep_with=40)
    if violations:
        flow.table(
            ["Sensor", "Component", "Limit", "Worst", "From – to (UTC)", "Duration"],
            [
                "<tr>"
                f"<td><b>{esc(v.sensor_id)}</b></td><td>{esc(c.component_id)}</td>"
                f"<td>{esc(v.kind.replace('_', ' '))} {v.limit:g} {esc(v.unit)}</td>"
                f"<td>{v.worst_value:g} {esc(v.unit)}</td>"
                f"<td>{esc(time_text(v.start, '%Y-%m-%d %H:%M:%S'))} – {esc(time_text(v.end, '%H:%M:%S'))}</td>"
                f"<td>{esc(duration_text(v.duration_s))}</td>"
                "</tr>"
                for c, v in violations
            ],
            widths=[10, 12, 22, 14, 30, 12],
        )
    else:
        flow.html("<p>No sensor left its profile limits in the diagnosed window.</p>")
    flow.space(4)
    flow.heading("Anomaly scores", level=3, keep_with=40)
    scored = [c for c in d.components if c.anomaly is not None]
    references = {
        c.anomaly.reference for c in scored if c.anomaly is not None and c.anomaly.reference
    }
    if scored:
        rows = []
        for c in scored:
            a = c.anomaly
            assert a is not None
            top = ", ".join(f"{s.sensor_id} {s.contribution:.0%}" for s in a.top_sensors) or "—"
            flag = "<b>▲ anomalous</b>" if a.is_anomalous else "within reference"
            if a.reference and len(references) > 1:
                flag += f"<br/><span class='small muted'>vs {esc(a.reference)}</span>"
            faults = (
                ", ".join(f"{esc(k.replace('_', ' '))} {v:.2f}" for k, v in c.fault_probs.items())
                or "—"
            )
            rows.append(
                f"<tr><td><b>{esc(c.component_id)}</b></td><td align='right'>{a.score:.2f}</td>"
                f"<td align='right'>{a.threshold:.2f}</td><td>{flag}</td><td>{esc(top)}</td>"
                f"<td>{faults}</td></tr>"
            )
        flow.table(
            [
                "Component",
                "Score",
                "Thresh.",
                "Result",
                "Top sensors (share)",
                "Fault probabilities",
            ],
            rows,
            widths=[12, 9, 10, 15, 26, 28],
        )
        flow.html(
            "<p class='small muted'>Score = forecast error relative to the model's healthy "
            "reference (1.0 = typical)"
            + (f"; reference: {esc(next(iter(references)))}" if len(references) == 1 else "")
            + ". Fault probabilities only for fault types the model was "
            "trained on; anything else is reported as an unexplained anomaly.</p>"
        )
    else:
        flow.html("<p>No anomaly scores in this diagnosis.</p>")


def _recommendations(flow: PageFlow, model: ReportModel) -> None:
    d = model.diagnosis
    _section(flow, Section.RECOMMENDATIONS, keep_with=80)
    recs = most_urgent_first(d.recommendations)
    if not recs:
        flow.html("<p>No maintenance action is recommended by this diagnosis.</p>")
        return
    flow.html(
        "<p>Maintenance checklist, most urgent first. Tick each item when done and note who did it.</p>"
    )
    flow.space(3)
    rows = []
    for r in recs:
        evidence = "; ".join(r.evidence)
        rows.append(
            "<tr>"
            "<td align='center'><span style='font-size: 14pt;'>☐</span></td>"
            f"<td><b>{esc(r.priority.value.upper())}</b></td>"
            f"<td>{esc(time_text(r.due_date, '%Y-%m-%d'))}<br/><span class='small'>within {r.due_days} d</span></td>"
            f"<td><b>{esc(r.component_id)}</b></td>"
            f"<td><b>{esc(r.title)}</b><br/>{esc(r.action)}"
            + (
                f"<br/><span class='small muted'>Evidence: {esc(evidence)}</span>"
                if evidence
                else ""
            )
            + "</td><td>&nbsp;</td></tr>"
        )
    flow.table(
        ["Done", "Priority", "Due", "Comp.", "Action", "Done by / date"],
        rows,
        widths=[6, 10, 12, 7, 50, 15],
    )


def _appendix(flow: PageFlow, model: ReportModel) -> None:
    d = model.diagnosis
    if flow.y > flow.content.top() + flow.content.height() * 0.6:
        flow.new_page()  # the appendix starts high on a page, not squeezed at the bottom
    _section(flow, Section.APPENDIX, keep_with=80)
    flow.heading("Data sources", level=3, keep_with=40)
    if model.sources:
        rows = []
        for s in model.sources:
            span = f"{time_text(s.first_ts, '%Y-%m-%d %H:%M:%S')} – {time_text(s.last_ts, '%Y-%m-%d %H:%M:%S')}"
            sha = esc(s.sha256) if s.sha256 else "— (live feed)"
            error = f"<br/>error: {esc(s.error)}" if s.error else ""
            rows.append(
                f"<tr><td rowspan='2'>{s.id}</td><td>{esc(s.kind)}</td>"
                f"<td>{breakable(s.uri)}</td>"
                f"<td align='right'>{s.row_count:,}</td><td>{esc(span)}</td>"
                f"<td>{esc(s.status)}{error}</td></tr>"
                f"<tr><td colspan='5'><span class='small'>sha256 </span>"
                f"<span class='small mono'>{sha}</span></td></tr>"
            )
        flow.table(
            ["#", "Kind", "File / feed", "Rows", "Time range (UTC)", "Status"],
            rows,
            widths=[4, 8, 48, 9, 21, 10],
            size_pt=7.5,
        )
    else:
        flow.html("<p>No source of this equipment overlaps the diagnosed window.</p>")
    # Small sub-sections are one document with their heading, so they never part.
    flow.space(4)
    quality_title = "<h3>Data-quality warnings</h3>"
    if d.data_quality:
        items = "".join(
            f"<li><b>{esc(w.kind.replace('_', ' '))}</b>"
            + (f" · {esc(w.sensor_id)}" if w.sensor_id else "")
            + f": {esc(w.message)}"
            + (
                f" <span class='small muted'>({esc(time_text(w.start))} – {esc(time_text(w.end))})</span>"
                if w.start
                else ""
            )
            + "</li>"
            for w in d.data_quality
        )
        flow.html(f"{quality_title}<ul>{items}</ul>")
    else:
        flow.html(f"{quality_title}<p>None: every sensor delivered plausible data.</p>")
    flow.space(4)
    m = d.model
    card_rows = "".join(
        f"<tr><td width='35%'>{esc(k)}</td><td width='65%'>{v:.3f}</td></tr>"
        for k, v in m.card_metrics.items()
    )
    extra = "".join(
        f"<tr><td width='35%'>{esc(k)}</td><td width='65%'>{esc(v)}</td></tr>"
        for k, v in card_facts(model.model_card)
        if not (k == "evaluation" and m.card_metrics)
    )
    flow.html(
        "<h3>Model</h3>"
        '<table cellspacing="0" cellpadding="2">'
        f"<tr><td class='muted'>Model</td><td><b>{esc(m.model_id)}</b> version {esc(m.version)}</td></tr>"
        f"<tr><td class='muted'>Trained for profile</td><td>{esc(m.profile_id)}</td></tr>"
        f"<tr><td class='muted'>File</td><td>{breakable(m.path)}</td></tr>"
        f"<tr><td class='muted'>Inference provider</td><td><b>{esc(d.provider)}</b> (ONNX Runtime)"
        + (f"<br/>{esc(d.provider_note)}" if d.provider_note else "")
        + "</td></tr>"
        f"<tr><td class='muted'>Status thresholds</td><td>healthy ≥ {health_text(d.thresholds.healthy)}, critical &lt; {health_text(d.thresholds.critical)}</td></tr>"
        + (
            "<tr><td class='muted'>Timings</td><td>"
            + esc(", ".join(f"{k} {v:.0f} ms" for k, v in d.timings_ms.items()))
            + "</td></tr>"
            if d.timings_ms
            else ""
        )
        + "</table>"
    )
    if card_rows or extra:
        flow.space(3)
        flow.html(
            "<p><b>Model card</b></p>"
            '<table width="70%" cellspacing="0" cellpadding="2" border="1" '
            'style="border-collapse: collapse; border-color: #8c8c8c; border-style: solid;">'
            + card_rows
            + extra
            + "</table>"
        )
    flow.space(4)
    software = dict(model.software)
    software["Qt (runtime)"] = qVersion()
    flow.html(
        "<h3>Software</h3>"
        '<table cellspacing="0" cellpadding="2">'
        + "".join(
            f"<tr><td class='muted'>{esc(k)}</td><td>{esc(v)}</td></tr>"
            for k, v in software.items()
        )
        + (
            f"<tr><td class='muted'>Workspace</td><td>{breakable(model.workspace)}</td></tr>"
            if model.workspace
            else ""
        )
        + "</table>"
    )


_SECTION_WRITERS: dict[Section, Callable[[PageFlow, ReportModel], None]] = {
    Section.SUMMARY: _summary,
    Section.GRAPH: _graph,
    Section.TRENDS: _trends,
    Section.SENSORS: _sensors,
    Section.FINDINGS: _findings,
    Section.RECOMMENDATIONS: _recommendations,
    Section.APPENDIX: _appendix,
}


def write_report(flow: PageFlow, model: ReportModel, sections: Iterable[Section]) -> None:
    """The cover, then each chosen section in the report's order."""
    chosen = set(sections)
    _cover(flow, model)
    for section in ALL_SECTIONS:
        if section in chosen:
            _SECTION_WRITERS[section](flow, model)
