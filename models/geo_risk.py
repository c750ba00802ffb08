"""Geological-hazard risk of a town: blue, yellow, orange or red.

Three kinds of evidence are combined, in this order:

1. **Rain.** The exceedance ratio of the town's rainfall threshold
   (:mod:`models.landslide`; the higher of the cumulative and the
   intensity-duration ratio when both are evaluated) falls in a band::

       band 0   ratio < 0.7          below
       band 1   0.7 <= ratio < 1.0   approaching the threshold
       band 2   1.0 <= ratio < 1.5   threshold reached
       band 3   ratio >= 1.5         well past it

2. **Slope sensors.** The worst alarm level of the town's sensors
   (:mod:`models.slope_sensors`): 0 none, 1 attention, 2 warning, 3 alarm.

3. **Earthquake.** A recent earthquake near the town (:mod:`models.quake`)
   raises the result by one colour; no risk becomes blue, red stays red.

The combination table (rows: rain band; columns: sensor level), as shipped
in ``data/rules/geo_risk.toml``::

                 sensor 0   sensor 1   sensor 2   sensor 3
                 (none)     (attent.)  (warning)  (alarm)
    rain band 0  -          blue       yellow     red
    rain band 1  blue       yellow     orange     red
    rain band 2  yellow     orange     orange     red
    rain band 3  orange     orange     red        red

Reading it: rain alone reaches at most orange, since a threshold says that
landslides become likely somewhere, not on this slope; a sensor in alarm is
a measurement on the slope itself and gives red whatever the rain; in
between, each kind of evidence adds to the other. Band edges, the table and
the earthquake step are data; the loader refuses a table in which more
rain or a worse sensor would lower the risk.

Example: ratio 1.2 (band 2) with a sensor at attention (1) is orange; add an
M4.8 earthquake 20 km away two days ago and it is red.
"""

from __future__ import annotations

import bisect
import logging
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from models import lifecycle
from models.rules import COLOURS
from schemas.errors import ConfigError, PhysicalError

log = logging.getLogger(__name__)

HAZARD = "geological"
DEFAULT_RULES = Path(__file__).resolve().parents[1] / "data/rules/geo_risk.toml"
SENSOR_LEVELS = 4
RAIN_BANDS = 4


def _rank(level: str | None) -> int:
    return -1 if level is None else COLOURS.index(level)


@dataclass(frozen=True)
class GeoRiskTable:
    """The combination table and its parameters.

    Attributes
    ----------
    name : str
        Rule set name.
    rain_band_edges : tuple of float
        Three ascending exceedance ratios that begin bands 1, 2 and 3.
    table : tuple of tuple of (str or None)
        ``table[band][sensor_level]``: the colour, None for no risk.
    quake_steps : int
        Colours an earthquake adds.
    min_magnitude, max_distance_km, duration_h : float
        The earthquake rule of :func:`models.quake.quake_risk`.
    timing : lifecycle.Timing
        Validity, extension and hold of a town warning.
    """

    name: str
    rain_band_edges: tuple[float, float, float]
    table: tuple[tuple[str | None, ...], ...]
    quake_steps: int
    min_magnitude: float
    max_distance_km: float
    duration_h: float
    timing: lifecycle.Timing

    def rain_band(self, ratio: float | None) -> int:
        """Band 0-3 of a rain exceedance ratio (None: no rain evaluation, band 0)."""
        if ratio is None:
            return 0
        if not ratio >= 0.0:
            raise PhysicalError(f"rain exceedance ratio {ratio!r}; expected >= 0")
        return bisect.bisect_right(self.rain_band_edges, ratio)

    def level(
        self, rain_ratio: float | None, sensor_level: int, quake: bool
    ) -> str | None:
        """The town's risk colour, or None for no risk.

        Parameters
        ----------
        rain_ratio : float or None
            Exceedance ratio of the town's rainfall threshold (1 = reached).
        sensor_level : int
            Worst sensor alarm level of the town, 0 to 3.
        quake : bool
            Whether a recent earthquake raises the town.
        """
        if sensor_level not in range(SENSOR_LEVELS):
            raise PhysicalError(f"sensor alarm level {sensor_level!r}; expected 0 to 3")
        colour = self.table[self.rain_band(rain_ratio)][sensor_level]
        if quake and self.quake_steps:
            colour = COLOURS[min(_rank(colour) + self.quake_steps, len(COLOURS) - 1)]
        return colour


def _colour(text: str, where: str) -> str | None:
    if text == "none":
        return None
    if text not in COLOURS:
        raise ConfigError(f"{where}: {text!r}; expected none or one of {COLOURS}")
    return text


def parse_geo_risk(data: Mapping[str, Any], source: str = "<rules>") -> GeoRiskTable:
    """Build a :class:`GeoRiskTable` from a decoded TOML table, checking it."""
    try:
        edges = tuple(float(e) for e in data["rain_band_edges"])
        rows = tuple(
            tuple(
                _colour(str(c), f"{source} table.rain_{b}")
                for c in data["table"][f"rain_{b}"]
            )
            for b in range(RAIN_BANDS)
        )
        quake, warning = data["quake"], data["warning"]
        table = GeoRiskTable(
            name=str(data["name"]),
            rain_band_edges=(edges[0], edges[1], edges[2]),
            table=rows,
            quake_steps=int(quake["quake_steps"]),
            min_magnitude=float(quake["min_magnitude"]),
            max_distance_km=float(quake["max_distance_km"]),
            duration_h=float(quake["duration_h"]),
            timing=lifecycle.Timing(
                valid_h=float(warning["valid_h"]),
                extend_before_min=60.0 * float(warning["extend_before_h"]),
                hold_min=60.0 * float(warning["hold_h"]),
            ),
        )
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise ConfigError(f"{source}: bad geological risk field: {exc!r}") from exc

    if len(edges) != 3 or list(edges) != sorted(set(edges)) or edges[0] <= 0:
        raise ConfigError(
            f"{source}: rain_band_edges {list(edges)}; expected 3 rising > 0"
        )
    if any(len(row) != SENSOR_LEVELS for row in rows):
        raise ConfigError(f"{source}: every table row needs {SENSOR_LEVELS} entries")
    for b in range(RAIN_BANDS):
        for s in range(SENSOR_LEVELS):
            here = _rank(rows[b][s])
            if (s and here < _rank(rows[b][s - 1])) or (
                b and here < _rank(rows[b - 1][s])
            ):
                raise ConfigError(
                    f"{source}: table.rain_{b}[{s}] = {rows[b][s]} is lower than a cell"
                    " with less rain or a better sensor"
                )
    if table.quake_steps < 0 or table.max_distance_km <= 0 or table.duration_h <= 0:
        raise ConfigError(f"{source}: quake_steps >= 0, distance and duration > 0")
    return table


def load_geo_risk(path: str | Path = DEFAULT_RULES) -> GeoRiskTable:
    """Load the combination table (default ``data/rules/geo_risk.toml``)."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"geological risk rules {path} do not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    return parse_geo_risk(data, str(path))
