"""River stage against a control section's flood levels.

Two ways of declaring levels are understood, both in the station's own unit
(m or ft, as it publishes them):

``cn_hydro``, the Chinese hydrological levels (the default)
    ``warning`` (警戒水位), ``guarantee`` (保证水位) and ``record`` (the
    highest stage on record). Yellow at or above the warning level, orange
    at or above the guarantee level, red at or above the record level. Blue
    while the stage is *approaching* the warning level: within
    ``approach_margin_m`` of it, or rising fast enough to reach it within
    ``rise_horizon_h`` at the current rate.

``colour``
    A stage per colour (``blue``, ``yellow``, ``orange``, ``red``), for a
    station whose authority publishes its own ladder (the Miho Bridge
    exercise station declares 5.0, 7.0, 8.0 and 9.38 m).

Raising a colour needs the stage at or above its level (``>=``). Keeping a
colour needs the stage no lower than its level minus ``hysteresis_m``, so a
stage that wobbles by a few centimetres around a level does not flap; a
stage that truly falls back and rises again makes a new upgrade.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from models.rules import COLOURS
from schemas.errors import ConfigError, UnitError

FT_PER_M = 1.0 / 0.3048
CN_LEVELS = {"warning": "yellow", "guarantee": "orange", "record": "red"}


@dataclass(frozen=True)
class FloodParams:
    """Tunable parts of the flood rule.

    Parameters
    ----------
    hysteresis_m : float
        Fall below a level, m, before its colour is given up.
    approach_margin_m : float
        Distance below the warning level, m, that counts as approaching it.
    rise_horizon_h : float
        Blue when the current rate of rise reaches the warning level within
        this many hours.
    """

    hysteresis_m: float = 0.10
    approach_margin_m: float = 0.50
    rise_horizon_h: float = 3.0


def unit_per_m(unit: str) -> float:
    """Length of one metre in ``unit`` ("m" or "ft")."""
    if unit == "m":
        return 1.0
    if unit == "ft":
        return FT_PER_M
    raise UnitError(f"stage unit {unit!r} is not understood; expected 'm' or 'ft'")


def ladder(levels: Mapping[str, float], scheme: str) -> list[tuple[str, float]]:
    """The (colour, stage) steps a station declares, lowest first.

    For ``cn_hydro`` the blue step is not a stage of its own (it depends on
    the approach margin and the rate of rise) and is left out here.
    """
    if scheme == "colour":
        steps = [(c, float(levels[c])) for c in COLOURS if c in levels]
    elif scheme == "cn_hydro":
        steps = [(CN_LEVELS[k], float(levels[k])) for k in CN_LEVELS if k in levels]
    else:
        raise ConfigError(f"level scheme {scheme!r} unknown; use colour or cn_hydro")
    if not steps:
        raise ConfigError(f"no flood levels declared in {dict(levels)!r}")
    stages = [s for _, s in steps]
    if stages != sorted(stages):
        raise ConfigError(f"flood levels must rise with the colour: {steps}")
    return steps


def flood_level(
    stage: float,
    rise_per_h: float | None,
    current: str | None,
    levels: Mapping[str, float],
    scheme: str,
    unit: str,
    params: FloodParams = FloodParams(),
) -> str | None:
    """Colour a control section should be under.

    Parameters
    ----------
    stage : float
        Observed stage, in ``unit``.
    rise_per_h : float or None
        Rate of rise, ``unit`` per hour (None when unknown).
    current : str or None
        Colour in force.
    levels : mapping
        The station's declared levels, in ``unit``.
    scheme : str
        ``"cn_hydro"`` or ``"colour"``.
    unit : str
        ``"m"`` or ``"ft"``.
    params : FloodParams
        Hysteresis and approach parameters (metres, converted to ``unit``).

    Returns
    -------
    str or None
    """
    k = unit_per_m(unit)
    hyst = params.hysteresis_m * k
    cur_rank = -1 if current is None else COLOURS.index(current)

    due: str | None = None
    for colour, level in ladder(levels, scheme):
        rank = COLOURS.index(colour)
        keep = rank <= cur_rank and stage >= level - hyst
        if stage >= level or keep:
            due = colour

    if scheme == "cn_hydro" and due is None and "warning" in levels:
        warning = float(levels["warning"])
        margin = params.approach_margin_m * k
        near = stage >= warning - margin or (
            current == "blue" and stage >= warning - margin - hyst
        )
        rising = (
            rise_per_h is not None
            and rise_per_h > 0
            and stage + rise_per_h * params.rise_horizon_h >= warning
        )
        if near or rising:
            due = "blue"
    return due
