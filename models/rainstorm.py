"""The rainstorm rule: from accumulations to a warning colour.

:func:`assess` takes the rolling accumulations of one area (observed, and
optionally a forecast for the hours ahead) and the colour in force, and
returns the colour the area should now be under:

1. A criterion is *met* when its accumulation is ``>=`` its threshold, and
   *held* when the accumulation is still ``>= (1 - hysteresis_ratio)`` times
   the threshold. Raising a colour needs a met criterion; keeping one needs
   only a held criterion, so a value hovering at a threshold does not flap.
2. The CMA signals add "and the rain may continue": when the rule set sets
   ``continuing_mm_1h``, rain that has stopped (less than that in the last
   hour) holds no warning at all.
3. The forecast branch ("will reach 50 mm within 3 h") compares, for a
   criterion of window W, the highest W-hour total (rain already fallen
   plus rain forecast) of any W-hour window that ends within the forecast
   horizon, so that a warning can be issued before the threshold is
   crossed. It is used only when the caller supplies such totals.

The function is pure: the caller supplies accumulations and the colour in
force; time-based parts of the lifecycle (hold time, validity, extension)
live in :mod:`models.lifecycle`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from models.rules import Criterion, RuleSet


@dataclass(frozen=True)
class Assessment:
    """The outcome of one rule evaluation for one area.

    Attributes
    ----------
    level : str or None
        Colour the area should be under; None for no warning.
    deciding : Criterion or None
        The criterion that set ``level``.
    value_mm : float or None
        The accumulation that ``deciding`` compared, mm.
    continuing : bool
        Whether the rain is still falling by the rule set's definition.
    branch : str
        ``"observed"`` or ``"forecast"``: which accumulation decided.
    """

    level: str | None
    deciding: Criterion | None
    value_mm: float | None
    continuing: bool
    branch: str = "observed"


def _value(
    crit: Criterion,
    observed_mm: Mapping[float, float],
    forecast_mm: Mapping[float, float] | None,
) -> tuple[float, str]:
    obs = float(observed_mm.get(crit.window_h, 0.0))
    if forecast_mm is None or crit.window_h not in forecast_mm:
        return obs, "observed"
    ahead = float(forecast_mm[crit.window_h])
    return (ahead, "forecast") if ahead > obs else (obs, "observed")


def assess(
    rules: RuleSet,
    observed_mm: Mapping[float, float],
    current: str | None,
    forecast_mm: Mapping[float, float] | None = None,
) -> Assessment:
    """Colour for one area given its accumulations.

    Parameters
    ----------
    rules : RuleSet
        The rule set in force.
    observed_mm : mapping of float to float
        Observed accumulation (mm) keyed by window (h); must hold every
        window in ``rules.windows_h``.
    current : str or None
        Colour in force for the area, None when none is.
    forecast_mm : mapping of float to float, optional
        Highest W-hour total, fallen plus forecast rain (mm), of any window
        ending within the forecast horizon, keyed by W (h).

    Returns
    -------
    Assessment
    """
    last_hour = float(observed_mm.get(1.0, 0.0))
    if forecast_mm is not None:
        last_hour = max(last_hour, float(forecast_mm.get(1.0, 0.0)))
    need = rules.continuing_mm_1h
    if current is not None:
        need *= 1.0 - rules.hysteresis_ratio
    continuing = rules.continuing_mm_1h <= 0 or last_hour >= need
    if not continuing:
        return Assessment(None, None, None, False)

    best: Assessment = Assessment(None, None, None, True)
    for crit in rules.criteria:
        value, branch = _value(crit, observed_mm, forecast_mm)
        met = value >= crit.threshold_mm
        held = (
            current is not None
            and rules.rank(crit.level) <= rules.rank(current)
            and value >= crit.threshold_mm * (1.0 - rules.hysteresis_ratio)
        )
        if not (met or held):
            continue
        if best.level is None or rules.rank(crit.level) > rules.rank(best.level):
            best = Assessment(crit.level, crit, value, True, branch)
    return best
