"""Write a :class:`ReportModel` as a PDF, or lay it out for the preview images.

Why Qt's own PDF path (QPdfWriter + QPainter + QTextDocument) and not a PDF library or a
headless browser: PySide6 is already in the app, so this adds no dependency to the bundle; it
writes vector paths and embeds (subsets of) the fonts it uses; QTextDocument gives flowing
text and tables with wrapping; and the very same painting code draws the preview images in the
GUI, so the preview is the PDF. User text only ever reaches QTextDocument HTML-escaped, and the
document refuses to load any resource, so a customer name cannot inject markup or pull in files.

The pages are laid out by app/report/layout.py; what is on them comes from
app/report/sections.py.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QMarginsF
from PySide6.QtGui import QPageLayout, QPageSize, QPaintDevice, QPainter, QPdfWriter

from app import __version__
from app.report.layout import (
    PAPER_SIZES,
    RESOLUTION,
    PageFlow,
    Pages,
    RunningText,
    ensure_gui_app,
    font_family,
    metric_writer,
)
from app.report.model import ALL_SECTIONS, Paper, ReportModel, Section
from app.report.printable import printable_model
from app.report.sections import write_report
from app.report.wording import time_text
from ingestion.errors import HydroDiagError


class RenderError(HydroDiagError):
    """The PDF could not be written."""


def running_text(model: ReportModel) -> RunningText:
    """Header: the report, equipment, diagnosis and date; footer: customer · site, when and by
    which version it was made."""
    d = model.diagnosis
    fields = model.inspection.fields
    version = model.software.get("HydroDiag", __version__)
    return RunningText(
        head_left=f"HydroDiag diagnosis report · {model.equipment_name} ({model.equipment_id})",
        head_right=(
            f"Diagnosis #{d.id if d.id is not None else '—'} · {time_text(d.created_at, '%Y-%m-%d')}"
        ),
        foot_left=" · ".join(x for x in (fields.customer, fields.site) if x) or model.equipment_id,
        foot_centre=f"Generated {time_text(model.generated_at)} UTC · HydroDiag {version}",
    )


def layout_report(
    model: ReportModel,
    paper: Paper = Paper.A4,
    sections: Iterable[Section] = ALL_SECTIONS,
    *,
    metric: QPaintDevice | None = None,
) -> Pages:
    """Lay the report out (no painting yet). The cover is always first."""
    ensure_gui_app()
    keep = None
    if metric is None:
        keep = metric_writer()
        metric = keep[0]
    flow = PageFlow(metric, paper, font_family())
    model = printable_model(model, flow.family)  # no boxes, no reordered words
    write_report(flow, model, sections)
    pages = Pages(flow, running_text(model))
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
    model = printable_model(model, font_family())
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
    count, marks = pages.count, dict(pages.marks)
    pages.dispose()  # the documents go on this thread (render_pdf may run in a worker)
    del writer
    try:
        tmp.replace(out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise RenderError(f"{out}: cannot write the PDF ({exc}). Pick another --out.") from None
    return RenderResult(
        path=out,
        pages=count,
        paper=paper,
        seconds=time.perf_counter() - started,
        section_pages=marks,
    )
