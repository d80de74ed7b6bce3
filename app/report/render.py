"""Lay out a :class:`ReportModel` on pages and write the PDF (or paint preview images).

Why Qt's own PDF path (QPdfWriter + QPainter + QTextDocument) and not a PDF library or a
headless browser: PySide6 is already in the app, so this adds no dependency to the bundle; it
writes vector paths and embeds (subsets of) the fonts it uses; QTextDocument gives flowing
text and tables with wrapping; and the very same painting code draws the preview images in the
GUI, so the preview is the PDF. User text only ever reaches QTextDocument HTML-escaped, and the
document refuses to load any resource, so a customer name cannot inject markup or pull in files.

Layout works in device units of a 720 dpi page (10 units per point) for both targets: the
layout is computed once against a QPdfWriter and painted either into that writer or, scaled,
into QImages.
"""

from __future__ import annotations

import html
import math
import os
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QBuffer,
    QIODevice,
    QMarginsF,
    QPointF,
    QRectF,
    QSizeF,
    Qt,
    QUrl,
    qVersion,
)
from PySide6.QtGui import (
    QColor,
    QFontDatabase,
    QFontMetricsF,
    QGuiApplication,
    QImage,
    QPageLayout,
    QPageSize,
    QPaintDevice,
    QPainter,
    QPainterPath,
    QPdfWriter,
    QPen,
    QTextDocument,
)

from app import __version__
from app.core.presentation import (
    PRIORITY_RANK,
    PRIORITY_SYMBOLS,
    STATUS_STYLES,
    most_urgent_first,
)
from app.report import charts
from app.report.builder import card_facts, trend_components
from app.report.model import (
    ALL_SECTIONS,
    SECTION_TITLES,
    Paper,
    ReportModel,
    Section,
)
from app.report.qtfix import guard_none_refcount
from gnn.recommend import grade_text
from gnn.results import ComponentResult, Status, TrendEstimate
from ingestion.errors import HydroDiagError

RESOLUTION = 720  # device units per inch
UNIT = RESOLUTION / 72.0  # device units per point
PAPER_SIZES: dict[Paper, QPageSize.PageSizeId] = {
    Paper.A4: QPageSize.PageSizeId.A4,
    Paper.LETTER: QPageSize.PageSizeId.Letter,
}
MARGIN_PT = (48.0, 56.0, 48.0, 52.0)  # left, top, right, bottom: header and footer live inside
BODY_PT = 8.5


_APP: QGuiApplication | None = None


class RenderError(HydroDiagError):
    """The PDF could not be written."""


def ensure_gui_app() -> QGuiApplication:
    """QPdfWriter and fonts need a QGuiApplication; headless machines get the offscreen platform."""
    guard_none_refcount()
    app = QGuiApplication.instance()
    if app is not None:
        return app  # type: ignore[return-value]
    if (
        sys.platform.startswith("linux")
        and not os.environ.get("DISPLAY")
        and not os.environ.get("WAYLAND_DISPLAY")
    ):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    global _APP
    # Keep a reference: a QGuiApplication collected while documents and writers live crashes.
    _APP = QGuiApplication(sys.argv[:1])
    return _APP


def _font_family() -> str:
    # DejaVu Sans has every symbol the report uses (✓ ▲ ■ ○ ☐ ↓); elsewhere the system sans.
    families = set(QFontDatabase.families())
    for name in ("DejaVu Sans", "Arial", "Helvetica", "Liberation Sans", "Segoe UI"):
        if name in families:
            return name
    return QFontDatabase.systemFont(QFontDatabase.SystemFont.GeneralFont).family()


def esc(value: object) -> str:
    """HTML-escape any text that comes from the workspace or the user."""
    return html.escape(str(value), quote=True)


def esc_multiline(value: str) -> str:
    return "<br/>".join(esc(line) for line in value.splitlines())


def breakable(value: str) -> str:
    """Escaped text with break opportunities after path separators (long file paths wrap)."""
    return esc(value).replace("/", "/\u200b").replace("\\", "\\\u200b")


class _SafeDocument(QTextDocument):
    """A QTextDocument that never loads a resource (no file:, no http:, no qrc:)."""

    def loadResource(self, type: int, name: QUrl | str) -> Any:  # noqa: N802
        return None


# --- layout ---------------------------------------------------------------------------------

Draw = Callable[[QPainter], None]


@dataclass
class _Page:
    ops: list[Draw] = field(default_factory=list)


class _Layout:
    """Top-to-bottom flow of blocks over pages; text blocks are QTextDocuments."""

    def __init__(self, metric: QPaintDevice, paper: Paper, family: str) -> None:
        self.metric = metric
        self.family = family
        size = QPageSize(PAPER_SIZES[paper]).sizePoints()
        self.page_w = size.width() * UNIT
        self.page_h = size.height() * UNIT
        left, top, right, bottom = (m * UNIT for m in MARGIN_PT)
        self.content = QRectF(left, top, self.page_w - left - right, self.page_h - top - bottom)
        self.pages: list[_Page] = []
        self.y = 0.0
        self.section_pages: dict[str, int] = {}
        self.new_page()

    @property
    def page(self) -> _Page:
        return self.pages[-1]

    @property
    def remaining(self) -> float:
        return self.content.bottom() - self.y

    def new_page(self) -> None:
        self.pages.append(_Page())
        self.y = self.content.top()

    def ensure(self, height: float) -> None:
        if height > self.remaining and self.y > self.content.top() + 1:
            self.new_page()

    def space(self, points: float) -> None:
        self.y = min(self.y + points * UNIT, self.content.bottom())

    def document(
        self, body: str, *, width: float | None = None, size_pt: float = BODY_PT
    ) -> QTextDocument:
        doc = _SafeDocument()
        doc.documentLayout().setPaintDevice(self.metric)
        doc.setDefaultFont(charts.font(self.family, size_pt))
        doc.setDocumentMargin(0)
        doc.setDefaultStyleSheet(
            "th { background-color: #e6e6e6; font-weight: bold; text-align: left; }"
            "td, th { vertical-align: top; }"
            "h1 { font-size: 15pt; } h2 { font-size: 12pt; }"
            "h3 { font-size: 9.5pt; margin-top: 6px; margin-bottom: 2px; }"
            "p { margin-top: 2px; margin-bottom: 4px; }"
            ".small { font-size: 7pt; } .mono { font-family: 'DejaVu Sans Mono', monospace; }"
            ".muted { color: #555555; }"
        )
        doc.setHtml(body)
        doc.setTextWidth(width if width is not None else self.content.width())
        return doc

    def place(
        self, doc: QTextDocument, *, x: float | None = None, split_lines: bool = False
    ) -> float:
        """Put a document at the cursor; one taller than a page is split page by page.

        ``split_lines``: plain flowing text (no tables) that does not fit continues on the
        next page at a line boundary instead of moving there whole.
        """
        height = doc.size().height()
        left = self.content.left() if x is None else x
        if split_lines and height > self.remaining:
            return self._place_by_lines(doc, left)
        if height <= self.content.height():
            self.ensure(height)
            top = self.y
            self.page.ops.append(partial(_draw_doc, doc=doc, left=left, top=top))
            self.y += height
            return height
        # Taller than a page: let QTextDocument paginate (it splits table rows cleanly and
        # repeats <thead> rows), starting on a fresh page.
        if self.y > self.content.top() + 1:
            self.new_page()
        doc.setPageSize(QSizeF(doc.textWidth(), self.content.height()))
        pages = doc.pageCount()
        for i in range(pages):
            if i:
                self.new_page()
            clip = QRectF(0, i * self.content.height(), doc.textWidth(), self.content.height())
            self.page.ops.append(partial(_draw_doc, doc=doc, left=left, top=self.y, clip=clip))
        last = doc.documentLayout().blockBoundingRect(doc.lastBlock()).bottom()
        self.y = self.content.top() + (last - (pages - 1) * self.content.height())
        return height

    def _place_by_lines(self, doc: QTextDocument, left: float) -> float:
        bottoms = _line_bottoms(doc)
        height = doc.size().height()
        top = 0.0
        while top < height - 0.5:
            fitting = [b for b in bottoms if top < b <= top + self.remaining]
            if not fitting:
                if self.y <= self.content.top() + 1:  # a line taller than a page: cut it
                    fitting = [min(height, top + self.remaining)]
                else:
                    self.new_page()
                    continue
            cut = height if fitting[-1] >= max(bottoms, default=height) else fitting[-1]
            clip = QRectF(0, top, doc.textWidth(), cut - top)
            self.page.ops.append(partial(_draw_doc, doc=doc, left=left, top=self.y, clip=clip))
            self.y += cut - top
            top = cut
            if top < height - 0.5:
                self.new_page()
        return height

    def html(self, body: str, *, split_lines: bool = False, **kwargs: Any) -> float:
        return self.place(self.document(body, **kwargs), split_lines=split_lines)

    def table(
        self,
        header: Sequence[str],
        rows: Sequence[str],
        *,
        widths: Sequence[int],
        size_pt: float = BODY_PT - 0.5,
        min_rows: int = 2,
    ) -> None:
        """A table split across pages at row boundaries, header repeated on each part."""
        head = (
            "<tr>"
            + "".join(f'<th width="{w}%">{h}</th>' for h, w in zip(header, widths, strict=True))
            + "</tr>"
        )

        def make(chunk: Sequence[str]) -> QTextDocument:
            return self.document(
                '<table width="100%" cellspacing="0" cellpadding="3" border="1" '
                'style="border-collapse: collapse; border-color: #8c8c8c; border-style: solid;">'
                f"<thead>{head}</thead>{''.join(chunk)}</table>",
                size_pt=size_pt,
            )

        start = 0
        while start < len(rows):
            doc = make(rows[start:])
            if doc.size().height() <= self.remaining:
                self.place(doc)
                return
            # Most rows that fit here (binary search on the measured height).
            lo, hi = 0, len(rows) - start
            while lo < hi:
                mid = (lo + hi + 1) // 2
                if make(rows[start : start + mid]).size().height() <= self.remaining:
                    lo = mid
                else:
                    hi = mid - 1
            if lo < min(min_rows, len(rows) - start):
                if self.y <= self.content.top() + 1:
                    # A single row taller than a page: let the document paginate it.
                    self.place(make(rows[start : start + 1]))
                    start += 1
                    continue
                self.new_page()
                continue
            self.place(make(rows[start : start + lo]))
            start += lo
            self.new_page()

    def heading(self, text: str, *, keep_with: float = 110.0, level: int = 2) -> None:
        doc = self.document(f"<h{level}>{esc(text)}</h{level}>")
        self.ensure(doc.size().height() + keep_with * UNIT)
        self.place(doc)
        self.space(2)

    def section(self, section: Section, *, keep_with: float = 110.0) -> None:
        self.space(8)
        title = SECTION_TITLES[section]
        self.heading(title, keep_with=keep_with)
        self.section_pages.setdefault(section.value, len(self.pages))

    def block(self, height_pt: float, draw: Callable[[QPainter, QRectF], None]) -> None:
        height = height_pt * UNIT
        self.ensure(height)
        rect = QRectF(self.content.left(), self.y, self.content.width(), height)
        self.page.ops.append(partial(_draw_block, draw=draw, rect=rect))
        self.y += height


def _line_bottoms(doc: QTextDocument) -> list[float]:
    """Document y of the bottom of every text line (top-level blocks; no tables)."""
    layout = doc.documentLayout()
    bottoms: list[float] = []
    block = doc.begin()
    while block.isValid():
        top = layout.blockBoundingRect(block).top()
        text_layout = block.layout()
        for i in range(text_layout.lineCount()):
            line = text_layout.lineAt(i)
            bottoms.append(top + line.y() + line.height())
        block = block.next()
    return sorted(bottoms)


def _draw_block(painter: QPainter, draw: Callable[[QPainter, QRectF], None], rect: QRectF) -> None:
    draw(painter, rect)


def _draw_doc(
    painter: QPainter, doc: QTextDocument, left: float, top: float, clip: QRectF | None = None
) -> None:
    painter.save()
    if clip is None:
        painter.translate(left, top)
        doc.drawContents(painter)
    else:
        painter.translate(left, top - clip.top())
        doc.drawContents(painter, clip)
    painter.restore()


# --- formatting -----------------------------------------------------------------------------


def _dt(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return value.strftime(fmt) if value is not None else "—"


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 3 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def _status_html(status: Status) -> str:
    style = STATUS_STYLES[status]
    return f'<span style="color: {style.ink};">{esc(style.label)}</span>'


def _hours(value: float | None, low: float | None, high: float | None) -> str:
    if value is None:
        return ""
    band = f" ({low:.0f}–{high:.0f})" if low is not None and high is not None else ""
    return f"{value:.0f} h{band}"


def trend_text(trend: TrendEstimate | None) -> str:
    if trend is None:
        return "—"
    if not trend.enough_history or trend.rate_per_100h is None:
        return trend.message or "not enough history"
    rate = trend.rate_per_100h
    lo, hi = trend.rate_low_per_100h, trend.rate_high_per_100h
    if lo is not None and hi is not None and lo <= 0.0 <= hi:
        return f"stable ({-rate:+.3f} /100 h, not significant)"
    arrow = "↓ falling" if rate > 0 else "↑ rising"
    band = f" ({-hi:+.3f} … {-lo:+.3f})" if lo is not None and hi is not None else ""
    return f"{arrow} {-rate:+.3f} /100 h{band}"


def threshold_text(comp: ComponentResult) -> str:
    if comp.health is None:
        return "—"
    if comp.status == Status.CRITICAL:
        return "below critical now"
    trend = comp.trend
    if trend is None or not trend.enough_history:
        return "—"
    parts = []
    if comp.status == Status.HEALTHY and trend.hours_to_warning is not None:
        parts.append(
            "warning in "
            + _hours(
                trend.hours_to_warning, trend.hours_to_warning_low, trend.hours_to_warning_high
            )
        )
    if trend.hours_to_critical is not None:
        parts.append(
            "critical in "
            + _hours(
                trend.hours_to_critical, trend.hours_to_critical_low, trend.hours_to_critical_high
            )
        )
    return "; ".join(parts) if parts else "not reached at the measured rate"


# --- sections -------------------------------------------------------------------------------


def _cover(layout: _Layout, model: ReportModel) -> None:
    d = model.diagnosis
    fields = model.inspection.fields
    layout.html(
        f'<p class="muted" style="font-size: 9pt;">HydroDiag diagnosis report</p>'
        f'<h1 style="font-size: 20pt;">{esc(model.equipment_name)}</h1>'
        f'<p style="font-size: 10pt;">Equipment <b>{esc(model.equipment_id)}</b> · '
        f"{esc(model.profile.name)} ({esc(model.profile.kind)})</p>"
    )
    layout.space(10)
    layout.block(
        _overall_box_height(layout, model), partial(_overall_box, model=model, family=layout.family)
    )
    layout.space(10)
    visit_date = model.inspection.started_at or d.created_at
    rows = [
        ("Customer", esc(fields.customer) or "—"),
        ("Site", esc(fields.site) or "—"),
        ("Inspector", esc(fields.inspector) or "—"),
        ("Inspection date", esc(_dt(visit_date, "%Y-%m-%d"))),
        (
            "Diagnosed window",
            f"{esc(_dt(d.window_start))} – {esc(_dt(d.window_end))} UTC "
            f"({esc(_duration((d.window_end - d.window_start).total_seconds()))}; "
            f"{d.n_valid_windows} of {d.n_windows} windows valid"
            + (f"; selection: {esc(d.selection)}" if d.selection else "")
            + ")",
        ),
        ("Diagnosis", f"#{d.id if d.id is not None else '—'}, made {esc(_dt(d.created_at))} UTC"),
        ("Model", f"{esc(d.model.model_id)} {esc(d.model.version)} on {esc(d.provider)}"),
        ("Report", f"generated {esc(_dt(model.generated_at))} UTC"),
    ]
    layout.html(
        '<table width="100%" cellspacing="0" cellpadding="3">'
        + "".join(
            f'<tr><td width="22%" class="muted">{k}</td><td width="78%"><b>{v}</b></td></tr>'
            for k, v in rows
        )
        + "</table>"
    )
    if fields.notes.strip():
        layout.space(6)
        # Heading and text in one document: they move to the next page together.
        layout.html(
            f"<h3>Inspector's notes</h3><p>{esc_multiline(fields.notes)}</p>", split_lines=True
        )


_BOX_TEXT_LEFT_PT = 74.0
_BOX_TEXT_RIGHT_PT = 10.0


def _overall_box_height(layout: _Layout, model: ReportModel) -> float:
    """Points the verdict box needs: headline plus the verdict wrapped to the box width."""
    width = layout.content.width() - (_BOX_TEXT_LEFT_PT + _BOX_TEXT_RIGHT_PT) * UNIT
    big = QFontMetricsF(charts.font(layout.family, 15, bold=True), layout.metric)
    small = QFontMetricsF(charts.font(layout.family, 10, italic=True), layout.metric)
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
    painter.setPen(QPen(QColor(charts.INK), 1.2 * u))
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
    big = charts.font(family, 15, bold=True)
    health = f"{d.overall_health:.2f}" if d.overall_health is not None else "—"
    label = STATUS_STYLES[d.overall_status].label
    headline = (
        f"Overall health {health} — {label}"
        if d.overall_health is not None
        else f"Overall: {label}"
    )
    fm = QFontMetricsF(big, painter.device())
    painter.setFont(big)
    painter.setPen(charts.INK)
    painter.drawText(QRectF(inner.left(), inner.top(), inner.width(), fm.height()), headline)
    painter.setFont(charts.font(family, 10, italic=True))
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


def _summary(layout: _Layout, model: ReportModel) -> None:
    d = model.diagnosis
    layout.section(Section.SUMMARY)
    rows = []
    for comp in d.components:
        health = f"{comp.health:.2f}" if comp.health is not None else "—"
        confidence = f"{comp.confidence:.0%}" if comp.confidence is not None else "—"
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
    layout.table(
        [
            "Component",
            "Grade",
            "Health",
            "Status",
            "Trend (health per 100 h)",
            "Time to threshold",
            "Conf.",
        ],
        rows,
        widths=[20, 14, 8, 13, 20, 18, 7],
    )
    t = d.thresholds
    layout.space(3)
    layout.html(
        "<p class='small muted'>Status: "
        f"{esc(STATUS_STYLES[Status.HEALTHY].label)} (health ≥ {t.healthy:.2f}), "
        f"{esc(STATUS_STYLES[Status.WARNING].label)} ({t.critical:.2f}–{t.healthy:.2f}), "
        f"{esc(STATUS_STYLES[Status.CRITICAL].label)} (&lt; {t.critical:.2f}), "
        f"{esc(STATUS_STYLES[Status.NOT_ASSESSED].label)} (the model is not trained to grade "
        "this component; it still feeds its neighbours), "
        f"{esc(STATUS_STYLES[Status.INSUFFICIENT_DATA].label)} (too little valid data to grade "
        "it). Grades: 0 optimal, 1 slightly degraded, 2 severely degraded, 3 near failure. "
        "Confidence = probability of the chosen grade, averaged over windows. Trend = measured "
        "change of health per 100 operating hours "
        "with its uncertainty band; time to threshold from that band.</p>"
    )


def _graph(layout: _Layout, model: ReportModel) -> None:
    layout.section(Section.GRAPH, keep_with=280)
    layout.block(
        280,
        lambda p, r: charts.draw_component_graph(
            p, r, model.profile, model.diagnosis, layout.family, UNIT
        ),
    )
    layout.html(
        "<p class='small muted'>Boxes are components at their place in the circuit; pattern, "
        "symbol and text give the status. Line width shows how much attention the model paid "
        "along each connection (mean of both directions over heads, time steps, windows and "
        "layers, relative to the strongest); it says where the model looked, not that a "
        "connection is faulty.</p>"
    )


def _trends(layout: _Layout, model: ReportModel) -> None:
    d = model.diagnosis
    layout.section(Section.TRENDS, keep_with=170)
    components = trend_components(d)
    if not components:
        layout.html(
            "<p>No assessed component is in the warning or critical range; no trend chart is needed.</p>"
        )
        return
    histories = {h.component_id: h for h in model.histories}
    for comp in components:
        series = histories.get(comp.component_id)
        health = f"{comp.health:.2f}" if comp.health is not None else "—"
        layout.ensure(175 * UNIT)
        layout.html(
            f"<p><b>{esc(comp.component_id)}</b> {esc(comp.name)} — health {health}, "
            f"{_status_html(comp.status)}; {esc(trend_text(comp.trend))}; "
            f"{esc(threshold_text(comp))}"
            + (f" <span class='small muted'>({series.n_windows} windows)</span>" if series else "")
            + "</p>"
        )
        if series is None:
            layout.html("<p class='muted'>No health history is stored for this component.</p>")
            continue
        layout.block(
            150,
            partial(
                charts.draw_health_trend,
                series=series,
                result=comp,
                thresholds=d.thresholds,
                family=layout.family,
                unit=UNIT,
            ),
        )
        layout.space(8)


def _epoch(ts: datetime) -> float:
    return (ts - datetime(1970, 1, 1)).total_seconds()


def _sensors(layout: _Layout, model: ReportModel) -> None:
    d = model.diagnosis
    layout.section(Section.SENSORS, keep_with=150)
    if not model.sensors:
        layout.html("<p>No sensor data in the diagnosed window.</p>")
        return
    window = (_epoch(d.window_start), _epoch(d.window_end))
    layout.html(
        "<p class='small muted'>The diagnosed window, "
        f"{esc(_dt(d.window_start))} – {esc(_dt(d.window_end))} UTC; each chart shows the "
        "minimum–maximum band and the mean of the samples per time bucket (one model window, "
        "or longer so that there are at most 400), so short spikes stay visible.</p>"
    )
    for series in model.sensors:
        layout.ensure(150 * UNIT)
        desc = f" — {esc(series.description)}" if series.description else ""
        layout.html(
            f"<p><b>{esc(series.sensor_id)}</b> [{esc(series.unit)}] on "
            f"{esc(series.component_id)}{desc}; <i>{esc(series.reason)}</i> "
            f"<span class='small muted'>({series.n_samples:,} samples)</span></p>"
        )
        layout.block(
            118,
            partial(
                charts.draw_sensor_plot,
                series=series,
                window=window,
                family=layout.family,
                unit=UNIT,
            ),
        )
        layout.space(6)


def _findings(layout: _Layout, model: ReportModel) -> None:
    d = model.diagnosis
    layout.section(Section.FINDINGS, keep_with=60)
    findings = sorted(d.findings, key=lambda f: PRIORITY_RANK[f.severity])
    if not findings:
        layout.html(
            "<p>No findings: every assessed component is healthy and no limit was violated.</p>"
        )
    for finding in findings:
        evidence = "".join(f"<li>{esc(e)}</li>" for e in finding.evidence)
        layout.html(
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
        layout.space(3)
    violations = [(c, v) for c in d.components for v in c.limit_violations]
    layout.space(4)
    layout.heading("Limit violations", level=3, keep_with=40)
    if violations:
        layout.table(
            ["Sensor", "Component", "Limit", "Worst", "From – to (UTC)", "Duration"],
            [
                "<tr>"
                f"<td><b>{esc(v.sensor_id)}</b></td><td>{esc(c.component_id)}</td>"
                f"<td>{esc(v.kind.replace('_', ' '))} {v.limit:g} {esc(v.unit)}</td>"
                f"<td>{v.worst_value:g} {esc(v.unit)}</td>"
                f"<td>{esc(_dt(v.start, '%Y-%m-%d %H:%M:%S'))} – {esc(_dt(v.end, '%H:%M:%S'))}</td>"
                f"<td>{esc(_duration(v.duration_s))}</td>"
                "</tr>"
                for c, v in violations
            ],
            widths=[10, 12, 22, 14, 30, 12],
        )
    else:
        layout.html("<p>No sensor left its profile limits in the diagnosed window.</p>")
    layout.space(4)
    layout.heading("Anomaly scores", level=3, keep_with=40)
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
        layout.table(
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
        layout.html(
            "<p class='small muted'>Score = forecast error relative to the model's healthy "
            "reference (1.0 = typical)"
            + (f"; reference: {esc(next(iter(references)))}" if len(references) == 1 else "")
            + ". Fault probabilities only for fault types the model was "
            "trained on; anything else is reported as an unexplained anomaly.</p>"
        )
    else:
        layout.html("<p>No anomaly scores in this diagnosis.</p>")


def _recommendations(layout: _Layout, model: ReportModel) -> None:
    d = model.diagnosis
    layout.section(Section.RECOMMENDATIONS, keep_with=80)
    recs = most_urgent_first(d.recommendations)
    if not recs:
        layout.html("<p>No maintenance action is recommended by this diagnosis.</p>")
        return
    layout.html(
        "<p>Maintenance checklist, most urgent first. Tick each item when done and note who did it.</p>"
    )
    layout.space(3)
    rows = []
    for r in recs:
        evidence = "; ".join(r.evidence)
        rows.append(
            "<tr>"
            "<td align='center'><span style='font-size: 14pt;'>☐</span></td>"
            f"<td><b>{esc(r.priority.value.upper())}</b></td>"
            f"<td>{esc(_dt(r.due_date, '%Y-%m-%d'))}<br/><span class='small'>within {r.due_days} d</span></td>"
            f"<td><b>{esc(r.component_id)}</b></td>"
            f"<td><b>{esc(r.title)}</b><br/>{esc(r.action)}"
            + (
                f"<br/><span class='small muted'>Evidence: {esc(evidence)}</span>"
                if evidence
                else ""
            )
            + "</td><td>&nbsp;</td></tr>"
        )
    layout.table(
        ["Done", "Priority", "Due", "Comp.", "Action", "Done by / date"],
        rows,
        widths=[6, 10, 12, 7, 50, 15],
    )


def _appendix(layout: _Layout, model: ReportModel) -> None:
    d = model.diagnosis
    if layout.y > layout.content.top() + layout.content.height() * 0.6:
        layout.new_page()  # the appendix starts high on a page, not squeezed at the bottom
    layout.section(Section.APPENDIX, keep_with=80)
    layout.heading("Data sources", level=3, keep_with=40)
    if model.sources:
        rows = []
        for s in model.sources:
            span = f"{_dt(s.first_ts, '%Y-%m-%d %H:%M:%S')} – {_dt(s.last_ts, '%Y-%m-%d %H:%M:%S')}"
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
        layout.table(
            ["#", "Kind", "File / feed", "Rows", "Time range (UTC)", "Status"],
            rows,
            widths=[4, 8, 48, 9, 21, 10],
            size_pt=7.5,
        )
    else:
        layout.html("<p>No source of this equipment overlaps the diagnosed window.</p>")
    # Small sub-sections are one document with their heading, so they never part.
    layout.space(4)
    quality_title = "<h3>Data-quality warnings</h3>"
    if d.data_quality:
        items = "".join(
            f"<li><b>{esc(w.kind.replace('_', ' '))}</b>"
            + (f" · {esc(w.sensor_id)}" if w.sensor_id else "")
            + f": {esc(w.message)}"
            + (
                f" <span class='small muted'>({esc(_dt(w.start))} – {esc(_dt(w.end))})</span>"
                if w.start
                else ""
            )
            + "</li>"
            for w in d.data_quality
        )
        layout.html(f"{quality_title}<ul>{items}</ul>")
    else:
        layout.html(f"{quality_title}<p>None: every sensor delivered plausible data.</p>")
    layout.space(4)
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
    layout.html(
        "<h3>Model</h3>"
        '<table cellspacing="0" cellpadding="2">'
        f"<tr><td class='muted'>Model</td><td><b>{esc(m.model_id)}</b> version {esc(m.version)}</td></tr>"
        f"<tr><td class='muted'>Trained for profile</td><td>{esc(m.profile_id)}</td></tr>"
        f"<tr><td class='muted'>File</td><td>{breakable(m.path)}</td></tr>"
        f"<tr><td class='muted'>Inference provider</td><td><b>{esc(d.provider)}</b> (ONNX Runtime)"
        + (f"<br/>{esc(d.provider_note)}" if d.provider_note else "")
        + "</td></tr>"
        f"<tr><td class='muted'>Status thresholds</td><td>healthy ≥ {d.thresholds.healthy:.2f}, critical &lt; {d.thresholds.critical:.2f}</td></tr>"
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
        layout.space(3)
        layout.html(
            "<p><b>Model card</b></p>"
            '<table width="70%" cellspacing="0" cellpadding="2" border="1" '
            'style="border-collapse: collapse; border-color: #8c8c8c; border-style: solid;">'
            + card_rows
            + extra
            + "</table>"
        )
    layout.space(4)
    software = dict(model.software)
    software["Qt (runtime)"] = qVersion()
    layout.html(
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


_SECTION_WRITERS: dict[Section, Callable[[_Layout, ReportModel], None]] = {
    Section.SUMMARY: _summary,
    Section.GRAPH: _graph,
    Section.TRENDS: _trends,
    Section.SENSORS: _sensors,
    Section.FINDINGS: _findings,
    Section.RECOMMENDATIONS: _recommendations,
    Section.APPENDIX: _appendix,
}


# --- pages ----------------------------------------------------------------------------------


class ReportPages:
    """A laid-out report: paint page ``i`` on any painter whose device is at ``RESOLUTION``."""

    def __init__(self, layout: _Layout, model: ReportModel, paper: Paper) -> None:
        self._layout = layout
        self.model = model
        self.paper = paper
        self.section_pages = dict(layout.section_pages)
        self.keep_alive: object = None

    @property
    def count(self) -> int:
        return len(self._layout.pages)

    @property
    def size(self) -> QSizeF:
        return QSizeF(self._layout.page_w, self._layout.page_h)

    def paint(self, painter: QPainter, index: int) -> None:
        page = self._layout.pages[index]
        for op in page.ops:
            op(painter)
        self._header_footer(painter, index)

    def _header_footer(self, painter: QPainter, index: int) -> None:
        layout, model = self._layout, self.model
        d = model.diagnosis
        u = UNIT
        small = charts.font(layout.family, 7)
        fm = QFontMetricsF(small, painter.device())
        c = layout.content
        painter.save()
        painter.setFont(small)
        painter.setPen(QPen(QColor("#444444"), 0.5 * u))
        head_y = c.top() - 18 * u
        painter.drawLine(QPointF(c.left(), head_y + 5 * u), QPointF(c.right(), head_y + 5 * u))
        right = f"Diagnosis #{d.id if d.id is not None else '—'} · {_dt(d.created_at, '%Y-%m-%d')}"
        left = fm.elidedText(
            f"HydroDiag diagnosis report · {model.equipment_name} ({model.equipment_id})",
            Qt.TextElideMode.ElideRight,
            c.width() - fm.horizontalAdvance(right) - 20 * u,
        )
        painter.setPen(charts.INK)
        painter.drawText(QPointF(c.left(), head_y), left)
        painter.drawText(QPointF(c.right() - fm.horizontalAdvance(right), head_y), right)
        foot_y = c.bottom() + 22 * u
        painter.setPen(QPen(QColor("#444444"), 0.5 * u))
        painter.drawLine(QPointF(c.left(), foot_y - 10 * u), QPointF(c.right(), foot_y - 10 * u))
        painter.setPen(charts.INK)
        page_text = f"Page {index + 1} of {self.count}"
        fields = model.inspection.fields
        who = " · ".join(x for x in (fields.customer, fields.site) if x) or model.equipment_id
        centre = f"Generated {_dt(model.generated_at)} UTC · HydroDiag {model.software.get('HydroDiag', __version__)}"
        painter.drawText(QPointF(c.right() - fm.horizontalAdvance(page_text), foot_y), page_text)
        centre_w = fm.horizontalAdvance(centre)
        painter.drawText(QPointF(c.center().x() - centre_w / 2, foot_y), centre)
        left_w = c.width() / 2 - centre_w / 2 - 10 * u
        painter.drawText(
            QPointF(c.left(), foot_y), fm.elidedText(who, Qt.TextElideMode.ElideRight, left_w)
        )
        painter.restore()


def _metric_writer() -> tuple[QPdfWriter, QBuffer]:
    buffer = QBuffer()
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    writer = QPdfWriter(buffer)
    writer.setResolution(RESOLUTION)
    return writer, buffer


def layout_report(
    model: ReportModel,
    paper: Paper = Paper.A4,
    sections: Iterable[Section] = ALL_SECTIONS,
    *,
    metric: QPaintDevice | None = None,
) -> ReportPages:
    """Lay the report out (no painting yet). The cover is always first."""
    ensure_gui_app()
    keep: tuple[QPdfWriter, QBuffer] | None = None
    if metric is None:
        keep = _metric_writer()
        metric = keep[0]
    chosen = set(sections)
    layout = _Layout(metric, paper, _font_family())
    _cover(layout, model)
    for section in ALL_SECTIONS:
        if section in chosen:
            _SECTION_WRITERS[section](layout, model)
    pages = ReportPages(layout, model, paper)
    pages.keep_alive = keep  # the laid-out documents refer to this metric device
    return pages


@dataclass(frozen=True)
class RenderResult:
    path: Path
    pages: int
    paper: Paper
    seconds: float
    section_pages: dict[str, int]


def render_pdf(
    model: ReportModel,
    out_path: Path | str,
    paper: Paper | str = Paper.A4,
    sections: Iterable[Section | str] = ALL_SECTIONS,
) -> RenderResult:
    """Write the report as a PDF; the file appears only when complete (written next to it, then
    renamed), so a failed run never leaves a half-written report behind."""
    started = time.perf_counter()
    paper = Paper(paper)
    chosen = [Section(s) for s in sections]
    out = Path(out_path)
    if out.parent and not out.parent.exists():
        raise RenderError(
            f"{out}: the folder {out.parent} does not exist. Create it or pick another --out."
        )
    ensure_gui_app()
    tmp = out.with_name(f".{out.name}.part")
    writer = QPdfWriter(str(tmp))
    writer.setResolution(RESOLUTION)
    writer.setPdfVersion(QPdfWriter.PdfVersion.PdfVersion_1_6)
    writer.setPageLayout(
        QPageLayout(
            QPageSize(PAPER_SIZES[paper]), QPageLayout.Orientation.Portrait, QMarginsF(0, 0, 0, 0)
        )
    )
    d = model.diagnosis
    writer.setTitle(
        f"Diagnosis report — {model.equipment_name} ({model.equipment_id}), diagnosis #{d.id}"
    )
    writer.setCreator(f"HydroDiag {model.software.get('HydroDiag', __version__)}")
    pages = layout_report(model, paper, chosen, metric=writer)
    painter = QPainter()
    if not painter.begin(writer):
        tmp.unlink(missing_ok=True)
        raise RenderError(
            f"{out}: cannot write the PDF there (permission or disk?). Pick another --out."
        )
    try:
        for i in range(pages.count):
            if i:
                writer.newPage()
            pages.paint(painter, i)
    finally:
        painter.end()
    del writer
    try:
        tmp.replace(out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise RenderError(f"{out}: cannot write the PDF ({exc}). Pick another --out.") from None
    return RenderResult(
        path=out,
        pages=pages.count,
        paper=paper,
        seconds=time.perf_counter() - started,
        section_pages=pages.section_pages,
    )


def render_images(pages: ReportPages, dpi: float = 72.0) -> list[QImage]:
    """Paint every page into an image (the GUI preview). Same paint code as the PDF."""
    scale = dpi / RESOLUTION
    size = pages.size
    images: list[QImage] = []
    for i in range(pages.count):
        image = QImage(
            max(1, math.ceil(size.width() * scale)),
            max(1, math.ceil(size.height() * scale)),
            QImage.Format.Format_ARGB32_Premultiplied,
        )
        # Fonts resolve against the device's DPI: claim the layout resolution and scale the
        # painter, so text sizes match the PDF exactly.
        dots_per_metre = round(RESOLUTION / 0.0254)
        image.setDotsPerMeterX(dots_per_metre)
        image.setDotsPerMeterY(dots_per_metre)
        image.fill(QColor("white"))
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.TextAntialiasing, True)
        painter.scale(scale, scale)
        pages.paint(painter, i)
        painter.end()
        images.append(image)
    return images
