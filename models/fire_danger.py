"""Forest-fire danger classes and the county forest-fire warning.

The daily Fire Weather Index of every station (:mod:`models.fwi`) is turned
into a danger class from 1 (low) to 5 (extreme) by four breakpoints kept as
data (``data/rules/fire_danger.toml``): class ``k`` holds when
``FWI >= breakpoints[k - 2]``.

A county takes the highest FWI among its stations. The colour due for the
county is the highest colour whose lowest class (``[warning.classes]``, by
default yellow 3, orange 4, red 5) is reached. A colour already in force is
kept while the county FWI stays at or above ``(1 - hysteresis_ratio)`` times
the breakpoint of that colour's class, so an FWI hovering at a breakpoint
does not raise and lower the warning on alternate days. Issue, upgrade,
downgrade, extension and cancellation then follow :mod:`models.lifecycle`
with the rule file's validity, extension and hold times (hours).

Example: with breakpoints 5, 14, 21, 33 an FWI of 22.0 is class 4 (orange);
the next day an FWI of 19.5 keeps orange (19.5 >= 0.9 x 21 = 18.9), an FWI
of 18.0 lowers it to yellow (class 3 at 14), an FWI of 4 cancels it.
"""

from __future__ import annotations

import bisect
import logging
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from models import lifecycle
from models.rules import COLOURS
from schemas.errors import ConfigError, PhysicalError

log = logging.getLogger(__name__)

HAZARD = "forest_fire"
DEFAULT_RULES = Path(__file__).resolve().parents[1] / "data/rules/fire_danger.toml"
WARNING_COLOURS = ("yellow", "orange", "red")


def _rank(colour: str | None) -> int:
    return -1 if colour is None else COLOURS.index(colour)


@dataclass(frozen=True)
class FireDangerRules:
    """FWI breakpoints, warning classes and lifecycle times of one rule file.

    Attributes
    ----------
    name : str
        Rule set name, carried into warnings as their ``ruleset``.
    breakpoints : tuple of float
        Four ascending FWI values at which classes 2, 3, 4 and 5 begin.
    class_names : tuple of str
        Names of classes 1 to 5.
    colour_classes : mapping of str to int
        Lowest class that raises each warning colour.
    hysteresis_ratio : float
        Fraction below a breakpoint that still keeps its colour in force.
    timing : lifecycle.Timing
        Validity, extension and hold times (in minutes, from the file's hours).
    """

    name: str
    breakpoints: tuple[float, ...]
    class_names: tuple[str, ...]
    colour_classes: Mapping[str, int]
    hysteresis_ratio: float
    timing: lifecycle.Timing

    def danger_class(self, fwi: float) -> int:
        """The danger class, 1 to 5, of an FWI value."""
        if not fwi >= 0.0:
            raise PhysicalError(f"FWI {fwi!r}; expected a number >= 0")
        return 1 + bisect.bisect_right(self.breakpoints, fwi)

    def class_floor(self, danger_class: int) -> float:
        """The lowest FWI of a class (0 for class 1)."""
        return 0.0 if danger_class <= 1 else self.breakpoints[danger_class - 2]

    def colour_for_class(self, danger_class: int) -> str | None:
        """The highest warning colour a class reaches; None below yellow."""
        reached = [c for c, k in self.colour_classes.items() if danger_class >= k]
        return max(reached, key=COLOURS.index) if reached else None


@dataclass(frozen=True)
class CountyDanger:
    """The assessment of one county on one day."""

    county: str
    fwi: float
    station: str
    danger_class: int
    class_name: str
    due: str | None


def parse_fire_rules(
    data: Mapping[str, Any], source: str = "<rules>"
) -> FireDangerRules:
    """Build :class:`FireDangerRules` from a decoded TOML table, checking it."""
    try:
        breakpoints = tuple(float(b) for b in data["breakpoints"])
        names = tuple(str(n) for n in data["class_names"])
        warning = data["warning"]
        classes = {str(c): int(k) for c, k in warning["classes"].items()}
        timing = lifecycle.Timing(
            valid_h=float(warning["valid_h"]),
            extend_before_min=60.0 * float(warning["extend_before_h"]),
            hold_min=60.0 * float(warning["hold_h"]),
        )
        rules = FireDangerRules(
            name=str(data["name"]),
            breakpoints=breakpoints,
            class_names=names,
            colour_classes=classes,
            hysteresis_ratio=float(warning.get("hysteresis_ratio", 0.0)),
            timing=timing,
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ConfigError(f"{source}: bad fire danger rule field: {exc!r}") from exc

    if len(breakpoints) != 4 or list(breakpoints) != sorted(set(breakpoints)):
        raise ConfigError(
            f"{source}: breakpoints {list(breakpoints)}; expected 4 rising FWI values"
        )
    if breakpoints[0] <= 0.0 or len(names) != 5:
        raise ConfigError(f"{source}: need breakpoints > 0 and 5 class_names")
    if set(classes) - set(WARNING_COLOURS) or not classes:
        raise ConfigError(
            f"{source}: warning classes {classes}; expected keys from {WARNING_COLOURS}"
        )
    ordered = [classes[c] for c in WARNING_COLOURS if c in classes]
    if ordered != sorted(set(ordered)) or not all(2 <= k <= 5 for k in ordered):
        raise ConfigError(
            f"{source}: warning classes {classes} must rise with the colour, 2 to 5"
        )
    if not 0.0 <= rules.hysteresis_ratio < 1.0:
        raise ConfigError(f"{source}: hysteresis_ratio must be in [0, 1)")
    return rules


def load_fire_rules(path: str | Path = DEFAULT_RULES) -> FireDangerRules:
    """Load a fire danger rule file (by default ``data/rules/fire_danger.toml``)."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"fire danger rules {path} do not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    return parse_fire_rules(data, str(path))


def assess_county(
    county: str,
    station_fwi: Mapping[str, float],
    in_force: str | None,
    rules: FireDangerRules,
) -> CountyDanger:
    """The danger class and the colour due for a county.

    Parameters
    ----------
    county : str
        County code.
    station_fwi : mapping of str to float
        Today's FWI of each station reporting for the county.
    in_force : str or None
        The colour in force for the county, for the hysteresis.
    rules : FireDangerRules
        Breakpoints and warning classes.

    Returns
    -------
    CountyDanger
        The county FWI (highest station), its class and the colour due.
    """
    if not station_fwi:
        raise PhysicalError(f"county {county!r}: no station FWI given")
    station, fwi = max(station_fwi.items(), key=lambda item: item[1])
    danger = rules.danger_class(fwi)
    due = rules.colour_for_class(danger)

    if (
        in_force is not None
        and in_force in rules.colour_classes
        and _rank(due) < _rank(in_force)
    ):
        floor = rules.class_floor(rules.colour_classes[in_force])
        if fwi >= (1.0 - rules.hysteresis_ratio) * floor:
            due = in_force

    return CountyDanger(
        county, fwi, station, danger, rules.class_names[danger - 1], due
    )


def decide(
    state: lifecycle.WarningState,
    county: str,
    station_fwi: Mapping[str, float],
    now: datetime,
    rules: FireDangerRules,
) -> tuple[lifecycle.WarningState, lifecycle.Decision | None, CountyDanger]:
    """One day's forest-fire warning decision for a county.

    Parameters
    ----------
    state : lifecycle.WarningState
        What is in force for the county (``WarningState()`` for nothing).
    county : str
        County code.
    station_fwi : mapping of str to float
        Today's FWI of each station of the county.
    now : datetime
        Observation time (aware; noon local standard time).
    rules : FireDangerRules
        The rule set.

    Returns
    -------
    (WarningState, Decision or None, CountyDanger)
        New state, the decision if any (issue, upgrade, downgrade, extend,
        cancel) and the assessment that led to it.
    """
    danger = assess_county(county, station_fwi, state.level, rules)
    state, decision = lifecycle.step(
        state, danger.due, now, hazard=HAZARD, area=county, timing=rules.timing
    )
    if decision is not None and decision.action != "extend":
        log.info(
            "forest-fire %s %s: %s -> %s (FWI %.1f at %s, class %d)",
            county,
            decision.action,
            decision.previous_level,
            decision.level,
            danger.fwi,
            danger.station,
            danger.danger_class,
        )
    return state, decision, danger
