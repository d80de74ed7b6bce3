"""The model card's reliability diagram as a PNG, drawn with Qt's QPainter (offscreen).

One panel per graded component: for each bin of the shown grade's probability, a bar up to
how often that grade was right on the held-out windows, the diagonal where a calibrated model's
bars end, the windows per bin, and the expected calibration error before and after
calibration (``training.calibration.calibration_section``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from itertools import pairwise
from pathlib import Path
from typing import Any

PANEL_W, PANEL_H = 330, 300
MARGIN_L, MARGIN_R, MARGIN_T, MARGIN_B = 46, 14, 40, 44


def _gui_app() -> Any:
    """QPainter's text needs a QGuiApplication; headless machines get the offscreen platform."""
    from PySide6.QtGui import QGuiApplication

    app = QGuiApplication.instance()
    if app is not None:
        return app
    if (
        sys.platform.startswith("linux")
        and not os.environ.get("DISPLAY")
        and not os.environ.get("WAYLAND_DISPLAY")
    ):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    global _APP
    _APP = QGuiApplication(sys.argv[:1])  # kept: a collected application crashes its painters
    return _APP


_APP: Any = None


def write_reliability_png(section: Mapping[str, Any], path: Path) -> Path:
    """Draw the reliability diagram of a calibration section into ``path`` (PNG)."""
    _gui_app()
    from PySide6.QtCore import QPointF, QRectF, Qt
    from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPen

    comps = list(section["components"].items())
    cols = max(1, min(len(comps), 2))
    rows = max(1, -(-len(comps) // cols))
    image = QImage(PANEL_W * cols, PANEL_H * rows + 30, QImage.Format.Format_ARGB32)
    image.fill(QColor("white"))
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    font = QFont()
    font.setPixelSize(11)
    painter.setFont(font)
    painter.setPen(QColor("black"))
    painter.drawText(
        QRectF(0, 4, PANEL_W * cols, 22),
        Qt.AlignmentFlag.AlignCenter,
        "Reliability of the shown grade on held-out windows of new runs",
    )
    for k, (component, data) in enumerate(comps):
        x0 = (k % cols) * PANEL_W + MARGIN_L
        y0 = 30 + (k // cols) * PANEL_H + MARGIN_T
        w = PANEL_W - MARGIN_L - MARGIN_R
        h = PANEL_H - MARGIN_T - MARGIN_B

        def at(
            px: float, py: float, x0: float = x0, y0: float = y0, w: int = w, h: int = h
        ) -> QPointF:
            return QPointF(x0 + px * w, y0 + (1 - py) * h)

        painter.setPen(QPen(QColor("#999999"), 1))
        painter.drawRect(QRectF(x0, y0, w, h))
        for tick in (0.25, 0.5, 0.75):
            painter.setPen(QPen(QColor("#e5e5e5"), 1))
            painter.drawLine(at(tick, 0), at(tick, 1))
            painter.drawLine(at(0, tick), at(1, tick))
        calibrated = data["calibrated"]
        for b in calibrated["bins"]:
            if not b["n"]:
                continue
            top = at(b["low"], b["accuracy"])
            bottom = at(b["high"], 0)
            painter.fillRect(QRectF(top, bottom).adjusted(1, 0, -1, 0), QColor("#4a7fb5"))
            painter.setPen(QColor("#333333"))
            painter.drawText(
                QRectF(at(b["low"], 0).x(), y0 + h + 2, w / len(calibrated["bins"]), 14),
                Qt.AlignmentFlag.AlignCenter,
                str(b["n"]) if b["n"] < 1000 else f"{b['n'] / 1000:.1f}k",
            )
        raw = data["uncalibrated"]
        painter.setPen(QPen(QColor("#d9822b"), 2))
        points = [at(b["confidence"], b["accuracy"]) for b in raw["bins"] if b["n"]]
        for a, c in pairwise(points):
            painter.drawLine(a, c)
        for p in points:
            painter.drawEllipse(p, 2.5, 2.5)
        painter.setPen(QPen(QColor("black"), 1, Qt.PenStyle.DashLine))
        painter.drawLine(at(0, 0), at(1, 1))
        painter.setPen(QColor("black"))
        painter.drawText(
            QRectF(x0, y0 - 34, w, 16),
            Qt.AlignmentFlag.AlignLeft,
            f"{component}: ECE {100 * raw['ece']:.1f} % → {100 * calibrated['ece']:.1f} %"
            f" (T = {data['temperature']:.3g})",
        )
        painter.drawText(
            QRectF(x0, y0 - 18, w, 16),
            Qt.AlignmentFlag.AlignLeft,
            f"{data['windows']} windows; bars calibrated, line uncalibrated",
        )
        painter.drawText(
            QRectF(x0, y0 + h + 16, w, 16),
            Qt.AlignmentFlag.AlignCenter,
            "probability of the shown grade (windows per bin)",
        )
        for tick in (0.0, 0.5, 1.0):
            painter.drawText(
                QRectF(x0 - 34, at(0, tick).y() - 7, 30, 14),
                Qt.AlignmentFlag.AlignRight,
                f"{tick:.1f}",
            )
        painter.save()
        painter.translate(x0 - 38, y0 + h / 2)
        painter.rotate(-90)
        painter.drawText(QRectF(-60, -14, 120, 14), Qt.AlignmentFlag.AlignCenter, "share right")
        painter.restore()
    painter.end()
    path.parent.mkdir(parents=True, exist_ok=True)
    if not image.save(str(path)):  # PNG, from the suffix
        raise OSError(f"{path}: could not write the reliability diagram")
    return path
