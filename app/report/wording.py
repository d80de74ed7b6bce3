"""How the report words times, durations, trends and the time to a threshold (plain text)."""

from __future__ import annotations

from datetime import datetime

from gnn.results import ComponentResult, Status, TrendEstimate


def time_text(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return value.strftime(fmt) if value is not None else "—"


def duration_text(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 3 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def _hours(value: float | None, low: float | None, high: float | None) -> str:
    if value is None:
        return ""
    band = f" ({low:.0f}–{high:.0f})" if low is not None and high is not None else ""
    return f"{value:.0f} h{band}"


def trend_text(trend: TrendEstimate | None) -> str:
    """The measured trend as health per 100 operating hours with its band, or why there is none."""
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
    """When the component reaches the warning / critical threshold at the measured rate."""
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
