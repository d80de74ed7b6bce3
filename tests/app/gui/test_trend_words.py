"""One trend formatter (gnn.wording) for the app, the command line and the PDF report.

The app printed "+10.480 health per 100 h" for a pump whose health fell from 1.0 to 0.6 while
the PDF said −10.480; "19.086 health per 100 h" was on a 0–1 scale where the app shows %;
"−0.000" and "critical in about 0 h (already below)" appeared. Here the same trend text is
looked for in each of the three, on the sample's latest diagnosis.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from app.core.sample import SampleWorkspace
from gnn import wording
from gnn.results import ComponentResult, Status, TrendEstimate

pytestmark = pytest.mark.gui


def _trend(rate: float, low: float, high: float, **extra: float | None) -> TrendEstimate:
    return TrendEstimate(
        enough_history=True,
        message="",
        n_points=100,
        span_hours=3.0,
        rate_per_100h=rate,
        rate_low_per_100h=low,
        rate_high_per_100h=high,
        **extra,  # type: ignore[arg-type]
    )


def test_rates_are_signed_as_health_moves_in_percent() -> None:
    # health lost per 100 h -> health change in % (per 100 h, or per hour when faster)
    assert wording.rate_text(0.10480) == "−10.5 % per 100 h"
    assert wording.rate_text(-0.02) == "+2.0 % per 100 h"
    assert wording.rate_text(19.086) == "−19.1 % per operating hour"
    assert wording.rate_text(-0.0000004) == "0.0 % per 100 h"  # never "−0.0"
    assert wording.rate_text(None) == "—"
    falling = _trend(0.10480, 0.08, 0.13)
    assert wording.trend_text(falling) == (
        "falling −10.5 % per 100 h (band −13.0 to −8.0 % per 100 h)"
    )
    stable = _trend(0.00001, -0.002, 0.003)
    assert wording.trend_text(stable) == "no significant trend"
    step = _trend(24.0, -0.5, 30.0)  # a step in health: any slope in a wide band
    assert wording.trend_text(step) == "no significant trend"
    assert wording.band_text(-0.002, 0.003) == "−0.3 to +0.2 % per 100 h"
    assert wording.hours_text(0.3, 0.0, 9.2) == "about 18 min, band under a minute to 9 h"


def test_a_crossed_threshold_is_said_in_words() -> None:
    def component(status: Status, health: float, trend: TrendEstimate) -> ComponentResult:
        return ComponentResult(
            component_id="MP1", name="Main pump MP1", type="pump", assessed=True,
            status=status, health=health, grade=0, trend=trend,
        )  # fmt: skip

    below = _trend(10.0, 8.0, 12.0, hours_to_warning=0.0, hours_to_critical=0.0)
    text = wording.threshold_text(component(Status.HEALTHY, 0.8, below))
    assert "0 h" not in text and "already below" not in text
    assert text == (
        "the trend line is below warning already; the trend line is below critical already"
    )
    assert wording.threshold_text(component(Status.CRITICAL, 0.3, below)) == "below critical now"
    ahead = _trend(1.0, 0.8, 1.2, hours_to_critical=30.0, hours_to_critical_low=20.0,
                   hours_to_critical_high=45.0)  # fmt: skip
    assert wording.threshold_text(component(Status.WARNING, 0.6, ahead)) == (
        "critical in about 30 h, band 20–45 h"
    )


def _plain(text: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", text)).strip()


def test_app_cli_and_pdf_word_the_trend_alike(
    qtbot, sample_template: SampleWorkspace, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    from pypdf import PdfReader
    from PySide6.QtWidgets import QLabel

    from app.commands.diagnose import summary
    from app.core.queries import health_history
    from app.gui.views.component_details import ComponentDetailsPanel
    from app.gui.views.health_trend import HealthTrendPanel
    from app.report.builder import build_report_model
    from app.report.render import render_pdf

    d = sample_template.diagnosis
    trended = [c for c in d.components if c.trend is not None and c.trend.enough_history]
    assert trended, "the sample's latest diagnosis carries trends"
    falling = [c for c in trended if wording.significant(c.trend) and c.trend.rate_per_100h > 0]  # type: ignore[arg-type,operator]
    assert falling, "the sample's accumulator is on its way down"

    details = ComponentDetailsPanel()
    qtbot.addWidget(details)
    trends = HealthTrendPanel()
    qtbot.addWidget(trends)
    with sample_template.open(read_only=True) as store:
        trends.set_history(health_history(store, d.equipment_id), d)
        assert d.id is not None
        pdf = render_pdf(build_report_model(store, d.equipment_id, d.id), tmp_path / "r.pdf")
    pdf_text = _plain(" ".join(p.extract_text() or "" for p in PdfReader(pdf.path).pages))
    cli_text = _plain(summary(d))
    trends_text = _plain(trends.trend_label.text())
    for comp in trended:
        assert comp.trend is not None
        words = wording.trend_text(comp.trend)
        details.show_component(d, comp.component_id)
        details_text = _plain(" ".join(w.text() for w in details.findChildren(QLabel)))
        assert words[:1].upper() + words[1:] in details_text, comp.component_id
        assert words in trends_text, comp.component_id
        assert words in cli_text, comp.component_id
        assert words in pdf_text, comp.component_id
    for text in (pdf_text, cli_text, trends_text):
        assert "health per 100" not in text and "−0.000" not in text and "-0.000" not in text
        assert "0 h (already below)" not in text and "in 0 h" not in text
    for comp in falling:  # falling health is a negative change everywhere
        assert comp.trend is not None and "falling −" in wording.trend_text(comp.trend)
