"""The page layout engine of the PDF report: blocks flowing down pages, text and tables that
break at lines and rows, headings kept with what follows, a running header and footer.

Nothing here knows a diagnosis (app/report/sections.py writes the report with it). Layout works
in device units of a 720 dpi page (10 units per point) for every target: it is computed once
against a paint device at that resolution (a QPdfWriter) and painted either into that writer
or, scaled, into QImages — so the preview is the PDF.
"""

from __future__ import annotations

import functools
import html
import math
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import shiboken6
from PySide6.QtCore import QBuffer, QIODevice, QPointF, QRectF, QSizeF, Qt, QUrl
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontDatabase,
    QFontMetricsF,
    QGuiApplication,
    QImage,
    QPageSize,
    QPaintDevice,
    QPainter,
    QPdfWriter,
    QPen,
    QTextDocument,
)

from app.report.model import Paper
from app.report.qtfix import guard_none_refcount

RESOLUTION = 720  # device units per inch
UNIT = RESOLUTION / 72.0  # device units per point
PAPER_SIZES: dict[Paper, QPageSize.PageSizeId] = {
    Paper.A4: QPageSize.PageSizeId.A4,
    Paper.LETTER: QPageSize.PageSizeId.Letter,
}
MARGIN_PT = (48.0, 56.0, 48.0, 52.0)  # left, top, right, bottom: header and footer live inside
BODY_PT = 8.5
INK = QColor("#1a1a1a")


_APP: QGuiApplication | None = None


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


@functools.cache
def font_family() -> str:
    """The report's font family, looked up once (the report dialog asks first, on the GUI
    thread, so the preview built in a worker does not query the font database)."""
    # DejaVu Sans has every symbol the report uses (✔ ▲ ✖ – ☐ ↓); elsewhere the system sans.
    families = set(QFontDatabase.families())
    for name in ("DejaVu Sans", "Arial", "Helvetica", "Liberation Sans", "Segoe UI"):
        if name in families:
            return name
    return QFontDatabase.systemFont(QFontDatabase.SystemFont.GeneralFont).family()


def font(family: str, size_pt: float, *, bold: bool = False, italic: bool = False) -> QFont:
    result = QFont(family)
    result.setPointSizeF(size_pt)
    result.setBold(bold)
    result.setItalic(italic)
    # Design metrics: the layout must not depend on the device's hinting (PDF vs preview).
    result.setHintingPreference(QFont.HintingPreference.PreferNoHinting)
    # No ligatures: with them "file" is stored as "ﬁle" and PDF search and copy miss it.
    result.setFeature(QFont.Tag("liga"), 0)
    result.setFeature(QFont.Tag("clig"), 0)
    return result


def esc(value: object) -> str:
    """HTML-escape any text that comes from the workspace or the user."""
    return html.escape(str(value), quote=True)


def esc_multiline(value: str) -> str:
    return "<br/>".join(esc(line) for line in value.splitlines())


def breakable(value: str) -> str:
    """Escaped text with break opportunities after path separators (long file paths wrap)."""
    return esc(value).replace("/", "/\u200b").replace("\\", "\\\u200b")


class SafeDocument(QTextDocument):
    """A QTextDocument that never loads a resource (no file:, no http:, no qrc:)."""

    def loadResource(self, type: int, name: QUrl | str) -> Any:  # noqa: N802
        return None


# --- flow -----------------------------------------------------------------------------------

Draw = Callable[[QPainter], None]


@dataclass
class Page:
    ops: list[Draw] = field(default_factory=list)


class PageFlow:
    """Top-to-bottom flow of blocks over pages; text blocks are QTextDocuments.

    ``marks`` remembers on which page (1-based) a named place first appeared (a section's
    heading, say).
    """

    def __init__(self, metric: QPaintDevice, paper: Paper, family: str) -> None:
        self.metric = metric
        self.family = family
        size = QPageSize(PAPER_SIZES[paper]).sizePoints()
        self.page_w = size.width() * UNIT
        self.page_h = size.height() * UNIT
        left, top, right, bottom = (m * UNIT for m in MARGIN_PT)
        self.content = QRectF(left, top, self.page_w - left - right, self.page_h - top - bottom)
        self.pages: list[Page] = []
        self.documents: list[QTextDocument] = []  # every text block, for Pages.dispose
        self.y = 0.0
        self.marks: dict[str, int] = {}
        self.new_page()

    @property
    def page(self) -> Page:
        return self.pages[-1]

    @property
    def remaining(self) -> float:
        return self.content.bottom() - self.y

    def new_page(self) -> None:
        self.pages.append(Page())
        self.y = self.content.top()

    def ensure(self, height: float) -> None:
        if height > self.remaining and self.y > self.content.top() + 1:
            self.new_page()

    def space(self, points: float) -> None:
        self.y = min(self.y + points * UNIT, self.content.bottom())

    def document(
        self, body: str, *, width: float | None = None, size_pt: float = BODY_PT
    ) -> QTextDocument:
        doc = SafeDocument()
        self.documents.append(doc)
        doc.documentLayout().setPaintDevice(self.metric)
        doc.setDefaultFont(font(self.family, size_pt))
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

    def mark(self, name: str) -> None:
        """Remember the current page under ``name`` (the first time only)."""
        self.marks.setdefault(name, len(self.pages))

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


# --- pages ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunningText:
    """What the header and the footer of every page say; the footer ends in "Page i of n"."""

    head_left: str
    head_right: str
    foot_left: str
    foot_centre: str


class Pages:
    """A laid-out document: paint page ``i`` on any painter whose device is at ``RESOLUTION``."""

    def __init__(self, flow: PageFlow, running: RunningText) -> None:
        self._flow = flow
        self.running = running
        self.marks = dict(flow.marks)
        self.keep_alive: object = None  # what the laid-out documents measure against

    @property
    def count(self) -> int:
        return len(self._flow.pages)

    @property
    def size(self) -> QSizeF:
        return QSizeF(self._flow.page_w, self._flow.page_h)

    def dispose(self) -> None:
        """Destroy the text documents (and the layout device) now, on this thread.

        They are QObjects with timers that belong to the thread that laid the report out: a
        preview or PDF made in a worker must not leave them for the garbage collector to
        delete later on the GUI thread. The pages cannot be painted afterwards.
        """
        for doc in self._flow.documents:
            shiboken6.delete(doc)
        self._flow.documents.clear()
        self._flow.pages.clear()
        keep, self.keep_alive = self.keep_alive, None
        if isinstance(keep, tuple):
            for obj in keep:
                shiboken6.delete(obj)

    def paint(self, painter: QPainter, index: int) -> None:
        for op in self._flow.pages[index].ops:
            op(painter)
        self._paint_running_text(painter, index)

    def _paint_running_text(self, painter: QPainter, index: int) -> None:
        u, c, text = UNIT, self._flow.content, self.running
        small = font(self._flow.family, 7)
        fm = QFontMetricsF(small, painter.device())
        rule = QPen(QColor("#444444"), 0.5 * u)
        painter.save()
        painter.setFont(small)
        head_y = c.top() - 18 * u
        painter.setPen(rule)
        painter.drawLine(QPointF(c.left(), head_y + 5 * u), QPointF(c.right(), head_y + 5 * u))
        right_w = fm.horizontalAdvance(text.head_right)
        left = fm.elidedText(
            text.head_left, Qt.TextElideMode.ElideRight, c.width() - right_w - 20 * u
        )
        painter.setPen(INK)
        painter.drawText(QPointF(c.left(), head_y), left)
        painter.drawText(QPointF(c.right() - right_w, head_y), text.head_right)
        foot_y = c.bottom() + 22 * u
        painter.setPen(rule)
        painter.drawLine(QPointF(c.left(), foot_y - 10 * u), QPointF(c.right(), foot_y - 10 * u))
        painter.setPen(INK)
        page_text = f"Page {index + 1} of {self.count}"
        painter.drawText(QPointF(c.right() - fm.horizontalAdvance(page_text), foot_y), page_text)
        centre_w = fm.horizontalAdvance(text.foot_centre)
        painter.drawText(QPointF(c.center().x() - centre_w / 2, foot_y), text.foot_centre)
        left_w = c.width() / 2 - centre_w / 2 - 10 * u
        painter.drawText(
            QPointF(c.left(), foot_y),
            fm.elidedText(text.foot_left, Qt.TextElideMode.ElideRight, left_w),
        )
        painter.restore()


def metric_writer() -> tuple[QPdfWriter, QBuffer]:
    """A paint device to lay out against when nothing is written yet (the preview)."""
    buffer = QBuffer()
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    writer = QPdfWriter(buffer)
    writer.setResolution(RESOLUTION)
    return writer, buffer


def render_images(pages: Pages, dpi: float = 72.0) -> list[QImage]:
    """Paint every page into an image (the GUI's preview). The same paint code as the PDF."""
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
