"""Display-unit conversion for sensor plots (the workspace always stores the profile's unit)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

_CONVERSIONS: dict[tuple[str, str], Callable[[np.ndarray], np.ndarray]] = {
    ("bar", "psi"): lambda v: v * 14.503773773,
    ("bar", "MPa"): lambda v: v * 0.1,
    ("°C", "°F"): lambda v: v * 1.8 + 32.0,
}


def display_unit(unit: str, pressure_unit: str = "bar", temperature_unit: str = "°C") -> str:
    if unit == "bar":
        return pressure_unit
    if unit == "°C":
        return temperature_unit
    return unit


def convert(values: np.ndarray, unit: str, target: str) -> np.ndarray:
    """Values in ``unit`` expressed in ``target`` (unchanged when no conversion is known)."""
    if unit == target:
        return values
    fn = _CONVERSIONS.get((unit, target))
    return fn(values) if fn is not None else values


def convert_scalar(value: float, unit: str, target: str) -> float:
    return float(convert(np.array([value], dtype=np.float64), unit, target)[0])
