"""One number of rain for a town from the radar pixels over it.

A rainstorm rule asks "how much rain fell on this town", but the radar
gives a few hundred pixel values per town per step. :func:`area_statistic`
reduces them to one accumulation (mm over the step) with one of:

``mean``
    The town's average depth. It dilutes a convective cell: a storm that
    drops 60 mm on a tenth of a town and nothing elsewhere reads as 6 mm,
    and a warning meant for the people under the cell is never raised.
``max``
    The wettest pixel. It reacts to any single pixel, and single radar
    pixels are where the product is least reliable (clutter, hail and
    bright-band contamination, ground echoes that survived the filters).
    One bad pixel would raise a red warning for a whole town.
``quantile:q`` (default ``quantile:0.9``)
    The depth exceeded over a fraction ``1 - q`` of the town's valid pixels.
    At q = 0.9, about a tenth of the town must be that wet: a real cell
    over part of a town still counts, a handful of spurious pixels does
    not. Quantiles use linear interpolation between order statistics
    (``numpy.quantile`` default).

Only valid pixels (finite values) enter the statistic; NaN means the radar
did not see the pixel. A town with fewer than ``min_pixels`` valid pixels
gets no value (``None``) rather than a number taken from a few pixels:
"no data" must never read as "no rain".

A quantile of step values is not the quantile of a window total: a rule
that sums one town's per-step values over 3 h gets a different figure from
the quantile of the pixels' 3-h totals. When a cell crosses a town the
wettest tenth moves from step to step, and the sum of step quantiles is
usually the larger of the two.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from schemas.errors import ConfigError

DEFAULT_STATISTIC = "quantile:0.9"
DEFAULT_MIN_PIXELS = 16


@dataclass(frozen=True)
class Statistic:
    """A parsed statistic: ``kind`` is ``mean``, ``max`` or ``quantile``."""

    kind: str
    q: float | None = None

    @property
    def label(self) -> str:
        """Short name used on ``area_rain/1`` (``q90``, ``mean``, ``max``)."""
        if self.kind != "quantile":
            return self.kind
        assert self.q is not None
        percent = self.q * 100
        return f"q{percent:g}" if percent != round(percent) else f"q{round(percent)}"


@dataclass(frozen=True)
class AreaStat:
    """The rain of one town in one step.

    Parameters
    ----------
    value_mm : float
        The statistic of the valid pixels, mm over the step.
    pixels : int
        Number of valid pixels it was taken over.
    total_pixels : int
        Number of pixels of the town on the grid, valid or not.
    statistic : str
        Its label (``q90``, ``mean``, ``max``).
    """

    value_mm: float
    pixels: int
    total_pixels: int
    statistic: str

    @property
    def valid_fraction(self) -> float:
        """Share of the town's pixels that had data (0-1)."""
        return self.pixels / self.total_pixels if self.total_pixels else 0.0


@lru_cache(maxsize=64)
def parse_statistic(spec: str) -> Statistic:
    """Read ``mean``, ``max``, ``quantile:q`` (0 <= q <= 1) or ``qNN``.

    Raises
    ------
    ConfigError
        The text names none of these.
    """
    text = spec.strip().lower()
    if text in ("mean", "max"):
        return Statistic(text)
    if text.startswith("quantile:"):
        number = text.partition(":")[2]
        scale = 1.0
    elif text.startswith("q") and text[1:].replace(".", "", 1).isdigit():
        number = text[1:]
        scale = 100.0
    else:
        raise ConfigError(
            f"area statistic {spec!r}: expected 'mean', 'max', 'quantile:q' or 'q90'"
        )
    try:
        q = float(number) / scale
    except ValueError:
        raise ConfigError(
            f"area statistic {spec!r}: {number!r} is not a number"
        ) from None
    if not 0.0 <= q <= 1.0:
        raise ConfigError(f"area statistic {spec!r}: quantile {q} is not in [0, 1]")
    return Statistic("quantile", q)


def area_statistic(
    values_mm: np.ndarray,
    statistic: str = DEFAULT_STATISTIC,
    *,
    pixels: np.ndarray | None = None,
    min_pixels: int = DEFAULT_MIN_PIXELS,
) -> AreaStat | None:
    """Area statistic of a step accumulation over one town.

    Parameters
    ----------
    values_mm : numpy.ndarray
        Accumulations over the step, mm; NaN where there is no data. Either
        the town's pixel values, or a whole frame indexed by ``pixels``.
    statistic : str
        ``mean``, ``max`` or ``quantile:q``; see the module docstring.
    pixels : numpy.ndarray, optional
        Flat indices of the town's pixels into ``values_mm``.
    min_pixels : int
        Fewest valid pixels for a value.

    Returns
    -------
    AreaStat or None
        None when fewer than ``min_pixels`` pixels are valid.
    """
    stat = parse_statistic(statistic)
    values = np.asarray(values_mm, dtype=np.float64).ravel()
    if pixels is not None:
        values = values[np.asarray(pixels, dtype=np.int64)]
    valid = values[np.isfinite(values)]
    if valid.size < max(1, min_pixels):
        return None

    if stat.kind == "mean":
        value = float(valid.mean())
    elif stat.kind == "max":
        value = float(valid.max())
    else:
        value = float(np.quantile(valid, stat.q if stat.q is not None else 0.9))
    return AreaStat(
        value_mm=value,
        pixels=int(valid.size),
        total_pixels=int(values.size),
        statistic=stat.label,
    )
