"""Write the synthetic exercise series of the Huaicheng slope (readings.csv).

Nothing here is measured. Two sensors of an imagined slope answer the real
hourly rain of Everett-Paine Field (../usgs_thresh/KPAE_t.txt) from 1 to
31 March 2011, so that the exercise shows a slope reacting to a real storm:

- pore pressure (kPa): a linear reservoir of the rain, ``S(h) = S(h-1)
  exp(-1 / TAU_H) + rain(h)`` in mm, read as ``P_BASE_KPA + KPA_PER_MM *
  S(h)``;
- crack width (mm): opens at ``MM_PER_H_PER_KPA * (P - P_CREEP_KPA)`` mm/h
  while the pore pressure is above ``P_CREEP_KPA``, from ``W0_MM``.

Readings every two hours, at local standard time (UTC-8, as the rain file).
Run from the repository root: ``.venv/bin/python
data/samples/geology/exercise_slope/generate.py``.
"""

from __future__ import annotations

import csv
import math
from datetime import datetime, timedelta
from pathlib import Path

from connectors.usgs_rain import read_thresh_hourly

HERE = Path(__file__).resolve().parent
RAIN = HERE.parent / "usgs_thresh" / "KPAE_t.txt"
START = datetime(2011, 3, 1)
END = datetime(2011, 4, 1)
EVERY_H = 2

TAU_H = 72.0
P_BASE_KPA = 2.0
KPA_PER_MM = 0.9
P_CREEP_KPA = 30.0
MM_PER_H_PER_KPA = 0.01
W0_MM = 4.0


def main() -> None:
    series = read_thresh_hourly(RAIN)
    pairs = zip(series.times, series.rain_mm, strict=True)
    rain = {t.replace(tzinfo=None): mm for t, mm in pairs}
    store_mm, width_mm = 0.0, W0_MM
    hour = START - timedelta(days=10)  # spin the reservoir up
    rows = []
    while hour < END:
        store_mm = store_mm * math.exp(-1.0 / TAU_H) + rain.get(hour, 0.0)
        pressure_kpa = P_BASE_KPA + KPA_PER_MM * store_mm
        width_mm += MM_PER_H_PER_KPA * max(0.0, pressure_kpa - P_CREEP_KPA)
        end = hour + timedelta(hours=1)
        if end >= START and end.hour % EVERY_H == 0:
            stamp = end.strftime("%Y-%m-%dT%H:%M:%S-08:00")
            rows.append((stamp, "HC01-PZ1", f"{pressure_kpa:.2f}", "kPa"))
            rows.append((stamp, "HC01-CR1", f"{width_mm:.2f}", "mm"))
        hour = end
    with (HERE / "readings.csv").open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle, lineterminator="\n")
        out.writerow(("time", "sensor", "value", "unit"))
        out.writerows(rows)


if __name__ == "__main__":
    main()
