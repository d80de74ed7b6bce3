"""How a health trend and the time to a threshold are worded: one formatter for the engine's own
sentences, the app, the command line and the PDF report.

Health reads in % wherever it is shown, so a trend is the change of health in % per 100
operating hours, signed as the health moves (falling is negative, with a true minus sign); a
change too fast for that scale (more than the whole range per 100 h, as in the demo's few
hours) is given per operating hour instead. Numbers that round to zero print without a sign,
and a threshold already crossed is said in words, never as "in 0 h".
"""

from __future__ import annotations

from gnn.results import ComponentResult, Status, TrendEstimate

MINUS = "\N{MINUS SIGN}"
PER_100H = "per 100 h"
PER_HOUR = "per operating hour"


def health_text(health: float | None) -> str:
    """Health as every view shows it: ``30 %``; ``—`` when there is none."""
    return "—" if health is None else f"{100.0 * health:.0f} %"


def _number(value: float, decimals: int, *, signed: bool) -> str:
    """``value`` rounded, with a true minus; no sign when it rounds to zero (never "−0.0")."""
    text = f"{abs(value):,.{decimals}f}"
    if float(text.replace(",", "")) == 0.0:
        return text
    if value < 0:
        return MINUS + text
    return ("+" + text) if signed else text


def _decimals(magnitude: float) -> int:
    return 1 if magnitude < 100 else 0


def _scale(*rates_per_100h: float | None) -> tuple[float, str]:
    """(factor from "health lost per 100 h" to "health change in %", unit) for these rates:
    per 100 h unless one of them changes by more than 100 % per 100 h."""
    biggest = max((abs(r) for r in rates_per_100h if r is not None), default=0.0)
    if 100.0 * biggest > 100.0:
        return -1.0, PER_HOUR  # health lost per 100 h x 100 % / 100 h = % per hour
    return -100.0, PER_100H


def rate_text(rate_per_100h: float | None, *, scale_with: tuple[float | None, ...] = ()) -> str:
    """The health change for a rate of health lost per 100 operating hours (the engine's
    ``TrendEstimate.rate_per_100h``): ``−10.5 % per 100 h``, ``+2.0 % per 100 h``,
    ``−19 % per operating hour``; ``—`` for None."""
    if rate_per_100h is None:
        return "—"
    factor, unit = _scale(rate_per_100h, *scale_with)
    change = factor * rate_per_100h
    return f"{_number(change, _decimals(abs(change)), signed=True)} % {unit}"


def band_text(low_per_100h: float | None, high_per_100h: float | None) -> str:
    """The rate's band as health changes, lower change first: ``−12.9 to −8.2 % per 100 h``."""
    if low_per_100h is None or high_per_100h is None:
        return ""
    factor, unit = _scale(low_per_100h, high_per_100h)
    a, b = sorted((factor * low_per_100h, factor * high_per_100h))
    decimals = _decimals(max(abs(a), abs(b)))
    return f"{_number(a, decimals, signed=True)} to {_number(b, decimals, signed=True)} % {unit}"


def significant(trend: TrendEstimate) -> bool:
    """Whether the trend's band excludes zero (a measured rise or fall, not noise)."""
    lo, hi = trend.rate_low_per_100h, trend.rate_high_per_100h
    if not trend.enough_history or trend.rate_per_100h is None:
        return False
    return not (lo is not None and hi is not None and lo <= 0.0 <= hi)


def trend_text(trend: TrendEstimate | None) -> str:
    """A trend in a table cell or a line: ``falling −10.5 % per 100 h (band −12.9 to −8.2)``,
    ``rising +2.0 % per 100 h (…)``, ``stable (−0.4 % per 100 h, not significant)``, or why
    there is no trend."""
    if trend is None:
        return "—"
    if not trend.enough_history or trend.rate_per_100h is None:
        return trend.message or "not enough history"
    lo, hi = trend.rate_low_per_100h, trend.rate_high_per_100h
    if not significant(trend):
        # No rate is quoted: a step (a repair, a new operating point) fits a slope anywhere
        # in a wide band, and "−2,400 % per hour, not significant" reads as an alarm.
        return "no significant trend"
    rate = rate_text(trend.rate_per_100h, scale_with=(lo, hi))
    band = band_text(lo, hi)
    direction = "falling" if trend.rate_per_100h > 0 else "rising"
    return f"{direction} {rate}" + (f" (band {band})" if band else "")


def duration_text(hours: float) -> str:
    """``12 h``, ``40 min``, ``under a minute``: an operating time never rounds to "0 h"."""
    if hours >= 1.0:
        return f"{hours:.0f} h"
    minutes = hours * 60.0
    return f"{minutes:.0f} min" if minutes >= 1.0 else "under a minute"


def hours_text(hours: float, low: float | None = None, high: float | None = None) -> str:
    """``about 12 h, band 8–20 h``; days are added for two days and more."""
    days = f" (~{hours / 24:.0f} days of operation)" if hours >= 48 else ""
    about = f"about {duration_text(hours)}{days}"
    if low is not None and high is not None and (low, high) != (hours, hours):
        if low >= 1.0:  # "band 20–45 h"
            return f"{about}, band {low:.0f}–{duration_text(high)}"
        return f"{about}, band {duration_text(low)} to {duration_text(high)}"
    if low is not None and high is None:
        return f"{about}, possibly as soon as {duration_text(low)}"
    return about


def threshold_text(component: ComponentResult) -> str:
    """When the component reaches the warning / critical threshold at the measured rate, in
    words that agree with its status: a critical component is "below critical now", a threshold
    the fitted line has already crossed is said so, never "in 0 h"."""
    if component.health is None:
        return "—"
    if component.status is Status.CRITICAL:
        return "below critical now"
    trend = component.trend
    if trend is None or not trend.enough_history:
        return "—"
    if not significant(trend):  # noise is not extrapolated (gnn.trends gives no time then)
        return "not reached at the measured rate"
    parts: list[str] = []
    if component.status is Status.HEALTHY:
        if trend.hours_to_warning == 0.0:
            parts.append("the trend line is below warning already")
        elif trend.hours_to_warning is not None:
            parts.append(
                "warning in "
                + hours_text(
                    trend.hours_to_warning, trend.hours_to_warning_low, trend.hours_to_warning_high
                )
            )
    if trend.hours_to_critical == 0.0:
        parts.append("the trend line is below critical already")
    elif trend.hours_to_critical is not None:
        parts.append(
            "critical in "
            + hours_text(
                trend.hours_to_critical, trend.hours_to_critical_low, trend.hours_to_critical_high
            )
        )
    return "; ".join(parts) if parts else "not reached at the measured rate"
