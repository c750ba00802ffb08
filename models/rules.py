"""Rainstorm rule sets: warning criteria kept as data.

A rule set is a TOML file (see ``models/rulesets/``) that names its levels
from lowest to highest and lists criteria ``(level, window_h, threshold_mm)``.
A criterion is met when the accumulation over its window is at least its
threshold (``>=``, as the published criteria read). Several criteria may
name the same level; the level holds when any of them is met.

The rule set also carries the lifecycle parameters that belong to it: the
hysteresis ratio for downgrades, the minimum time a level is held, the
validity of an issued warning and when it is extended, and the "rain may
continue" condition of the CMA signals.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from schemas.errors import ConfigError

COLOURS = ("blue", "yellow", "orange", "red")


@dataclass(frozen=True)
class Criterion:
    """One warning criterion.

    Parameters
    ----------
    level : str
        Colour the criterion raises.
    window_h : float
        Accumulation window, hours.
    threshold_mm : float
        Accumulation that meets the criterion, mm (``>=``).
    """

    level: str
    window_h: float
    threshold_mm: float


@dataclass(frozen=True)
class RuleSet:
    """A named set of rainstorm criteria and its lifecycle parameters."""

    name: str
    hazard: str
    title: str
    levels: tuple[str, ...]
    criteria: tuple[Criterion, ...]
    area_statistic: str = "quantile:0.9"
    continuing_mm_1h: float = 0.0
    hysteresis_ratio: float = 0.1
    hold_min: float = 30.0
    settle_min: float = 20.0
    valid_h: float = 3.0
    extend_before_min: float = 30.0
    signals: dict[str, str] = field(default_factory=dict)

    @property
    def windows_h(self) -> tuple[float, ...]:
        """Every accumulation window the criteria need, hours, ascending."""
        needed = {c.window_h for c in self.criteria}
        if self.continuing_mm_1h > 0:
            needed.add(1.0)
        return tuple(sorted(needed))

    def rank(self, level: str | None) -> int:
        """Position of ``level`` on the colour scale; -1 for no warning."""
        if level is None:
            return -1
        return COLOURS.index(level)

    def criteria_for(self, level: str) -> tuple[Criterion, ...]:
        """The criteria that raise ``level``."""
        return tuple(c for c in self.criteria if c.level == level)

    def signal(self, level: str) -> str:
        """The rule set's own name for a colour (HKO's amber, red, black)."""
        return self.signals.get(level, level)


def _criterion(raw: dict, source: str, levels: tuple[str, ...]) -> Criterion:
    try:
        crit = Criterion(
            level=str(raw["level"]),
            window_h=float(raw["window_h"]),
            threshold_mm=float(raw["threshold_mm"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(
            f"{source}: a criterion needs level, window_h and threshold_mm "
            f"(numbers); got {raw!r}"
        ) from exc
    if crit.level not in levels:
        raise ConfigError(f"{source}: criterion level {crit.level!r} not in {levels}")
    if crit.window_h <= 0 or crit.threshold_mm <= 0:
        raise ConfigError(f"{source}: window_h and threshold_mm must be > 0: {raw!r}")
    return crit


def parse_ruleset(data: dict, source: str = "<rule set>") -> RuleSet:
    """Build a :class:`RuleSet` from a decoded TOML table, checking every field."""
    levels = tuple(data.get("levels", ()))
    unknown = [lv for lv in levels if lv not in COLOURS]
    if not levels or unknown:
        raise ConfigError(
            f"{source}: levels must be a non-empty list of {COLOURS}; got {levels}"
        )
    criteria = tuple(_criterion(c, source, levels) for c in data.get("criteria", ()))
    if not criteria:
        raise ConfigError(f"{source}: no [[criteria]] given")
    try:
        return RuleSet(
            name=str(data["name"]),
            hazard=str(data.get("hazard", "rainstorm")),
            title=str(data.get("title", data["name"])),
            levels=levels,
            criteria=criteria,
            area_statistic=str(data.get("area_statistic", "quantile:0.9")),
            continuing_mm_1h=float(data.get("continuing_mm_1h", 0.0)),
            hysteresis_ratio=float(data.get("hysteresis_ratio", 0.1)),
            hold_min=float(data.get("hold_min", 30.0)),
            settle_min=float(data.get("settle_min", 20.0)),
            valid_h=float(data.get("valid_h", 3.0)),
            extend_before_min=float(data.get("extend_before_min", 30.0)),
            signals={str(k): str(v) for k, v in data.get("signals", {}).items()},
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"{source}: bad rule set field: {exc}") from exc


def load_ruleset(name_or_path: str | Path) -> RuleSet:
    """Load a bundled rule set by name (``cma-rainstorm``) or a TOML file by path."""
    path = Path(name_or_path)
    if path.suffix == ".toml" and path.exists():
        text, source = path.read_text(encoding="utf-8"), str(path)
    else:
        bundled = resources.files("models") / "rulesets" / f"{name_or_path}.toml"
        if not bundled.is_file():
            raise ConfigError(
                f"no rule set {name_or_path!r}: not a .toml file and not bundled"
            )
        text, source = bundled.read_text(encoding="utf-8"), str(name_or_path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from exc
    return parse_ruleset(data, source)
