"""Writes examples/logger.csv: a synthetic 1 Hz logger export of the example press.

Synthetic, made for the README's commands, not measured on a machine: 40-second press cycles
(pressure builds to ~200 bar, holds, releases), the oil warming slowly, and from 01:10 on a pump
that delivers less flow at the same pressure (internal leakage). It is written the way a German
logger exports: ';' between columns, a decimal comma, and the pump pressure in psi under its
own name ("Druck P1"), so the README shows --map, and with the logger's own 0/1 fault flag
("Stoerung", set once the leak has begun) for --label-column. Run it again to regenerate the
file; the seed makes it the same every time.
"""

from __future__ import annotations

import csv
import math
import random
from datetime import datetime, timedelta
from pathlib import Path

PSI_PER_BAR = 14.5038
START = datetime(2026, 3, 2, 8, 0, 0)
SECONDS = 2 * 3600
LEAK_FROM = 70 * 60  # the pump starts to leak after 70 minutes


def _row(t: int, rng: random.Random) -> list[str]:
    phase = t % 40
    if phase < 8:
        pressure = 20 + 22 * phase  # building up
    elif phase < 28:
        pressure = 196 + 4 * math.sin(t / 3)  # pressing
    else:
        pressure = max(12.0, 196 - 30 * (phase - 28))  # releasing
    leak = 0.0 if t < LEAK_FROM else min(1.0, (t - LEAK_FROM) / 1800)
    flow = (38 - 0.06 * pressure) * (1 - 0.18 * leak * pressure / 200)
    cylinder = max(0.0, pressure - 6 - 0.02 * flow)
    temperature = 38 + 12 * (1 - math.exp(-t / 2400)) + 2.5 * leak
    values = (
        pressure * PSI_PER_BAR + rng.gauss(0, 8),
        cylinder + rng.gauss(0, 0.6),
        flow + rng.gauss(0, 0.3),
        temperature + rng.gauss(0, 0.1),
    )
    stamp = (START + timedelta(seconds=t)).strftime("%d.%m.%Y %H:%M:%S")
    fault = "1" if t >= LEAK_FROM else "0"
    return [stamp, *(f"{v:.2f}".replace(".", ",") for v in values), fault]


def main() -> None:
    rng = random.Random(7)
    out = Path(__file__).with_name("logger.csv")
    with out.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, delimiter=";")
        writer.writerow(["Zeit", "Druck P1", "PS2", "FS1", "TS1", "Stoerung"])
        for t in range(SECONDS):
            writer.writerow(_row(t, rng))


if __name__ == "__main__":
    main()
