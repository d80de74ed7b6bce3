"""How diagnoses look wherever they are shown, in the app's views and in the PDF report alike:
the colour, glyph and word of each status and priority, and where components go on a schematic.

Qt-free. Status is never shown by colour alone: each has a glyph and a word too (colour-blind
users, grey-scale printouts). The palette is the Okabe–Ito-like set that stays distinct for the
common colour-vision deficiencies.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from gnn.results import Priority, Recommendation, Status
from gnn.wording import health_text
from ingestion.profiles import EquipmentProfile


@dataclass(frozen=True)
class StatusStyle:
    fill: str  # background of a badge, a node or a tinted area
    text: str  # text on that background
    border: str  # outline of a badge or node
    ink: str  # the status as text or thin lines on white (tables, hatching, the PDF)
    glyph: str
    word: str

    @property
    def label(self) -> str:
        """Glyph and word, e.g. "✖ CRITICAL": how a status reads in text."""
        return f"{self.glyph} {self.word}"


STATUS_STYLES: dict[Status, StatusStyle] = {
    Status.HEALTHY: StatusStyle("#2f9e5b", "#ffffff", "#1d6b3c", "#1d6b3c", "✔", "OK"),
    Status.WARNING: StatusStyle("#f0a202", "#1a1a1a", "#a66f00", "#a66f00", "▲", "WARNING"),
    Status.CRITICAL: StatusStyle("#c8322a", "#ffffff", "#7d1b16", "#c8322a", "✖", "CRITICAL"),
    Status.INSUFFICIENT_DATA: StatusStyle(
        "#8c8c8c", "#ffffff", "#555555", "#555555", "?", "NO DATA"
    ),
    Status.NOT_ASSESSED: StatusStyle("#e4e8ec", "#3c4650", "#8a96a3", "#3c4650", "–", "NOT GRADED"),
}

PRIORITY_RANK: dict[Priority, int] = {
    Priority.URGENT: 0,
    Priority.HIGH: 1,
    Priority.MEDIUM: 2,
    Priority.LOW: 3,
}
PRIORITY_COLORS: dict[Priority, str] = {
    Priority.URGENT: "#c8322a",
    Priority.HIGH: "#e36c0a",
    Priority.MEDIUM: "#f0a202",
    Priority.LOW: "#5b8db8",
}
# For print, where colour may be lost: more marks, more urgent.
PRIORITY_SYMBOLS: dict[Priority, str] = {
    Priority.URGENT: "!!!",
    Priority.HIGH: "!!",
    Priority.MEDIUM: "!",
    Priority.LOW: "·",
}

# Series colours for components / sensors in plots (distinct, print-safe).
SERIES_COLORS: tuple[str, ...] = (
    "#0072b2",
    "#d55e00",
    "#009e73",
    "#cc79a7",
    "#e69f00",
    "#56b4e9",
    "#7f3c8d",
    "#3b3b3b",
    "#a6761d",
    "#1b9e77",
    "#e7298a",
    "#666666",
)

ATTENTION_COLOR = "#1f4e79"


def status_style(status: Status) -> StatusStyle:
    return STATUS_STYLES[status]


def series_color(index: int) -> str:
    return SERIES_COLORS[index % len(SERIES_COLORS)]


def format_health(health: float | None) -> str:
    """Health in % (``30 %``), as the engine's sentences word it too (:mod:`gnn.wording`)."""
    return health_text(health)


def most_urgent_first(recommendations: Iterable[Recommendation]) -> list[Recommendation]:
    """Recommendations in the order a technician works through them: priority, then due date."""
    return sorted(
        recommendations, key=lambda r: (PRIORITY_RANK[r.priority], r.due_date, r.component_id)
    )


def schematic_positions(profile: EquipmentProfile) -> dict[str, tuple[float, float]]:
    """Where each component goes, in profile units (x right, y down): its schematic position
    from the profile, else a slot on a grid below the placed ones (one unit apart)."""
    out = {
        c.id: (float(c.position[0]), float(c.position[1]))
        for c in profile.components
        if c.position is not None
    }
    missing = [c for c in profile.components if c.position is None]
    if missing:
        bottom = max((y for _, y in out.values()), default=-1.0) + 1.3
        cols = max(3, math.ceil(math.sqrt(len(missing))))
        for i, comp in enumerate(missing):
            out[comp.id] = (float(i % cols), bottom + i // cols)
    return out
