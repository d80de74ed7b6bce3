"""Colours, glyphs and words for statuses: one place, so graph, tables and legend agree.

Status is never shown by colour alone: each has a glyph and a word too (colour-blind users,
grey-scale printouts). The palette is the Okabe–Ito-like set that stays distinct for the
common colour-vision deficiencies.
"""

from __future__ import annotations

from dataclasses import dataclass

from gnn.results import Priority, Status


@dataclass(frozen=True)
class StatusStyle:
    fill: str
    text: str
    border: str
    glyph: str
    word: str


STATUS_STYLES: dict[Status, StatusStyle] = {
    Status.HEALTHY: StatusStyle("#2f9e5b", "#ffffff", "#1d6b3c", "✔", "OK"),
    Status.WARNING: StatusStyle("#f0a202", "#1a1a1a", "#a66f00", "▲", "WARNING"),
    Status.CRITICAL: StatusStyle("#c8322a", "#ffffff", "#7d1b16", "✖", "CRITICAL"),
    Status.INSUFFICIENT_DATA: StatusStyle("#8c8c8c", "#ffffff", "#555555", "?", "NO DATA"),
    Status.NOT_ASSESSED: StatusStyle("#e4e8ec", "#3c4650", "#8a96a3", "–", "NOT GRADED"),
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
    return "—" if health is None else f"{health * 100:.0f} %"
