"""Stage forecast at a control section and the predicted time of each crossing.

A flood warning helps most before the river reaches a level, so the flood
rule also asks: at the stage forecast for the next hours, when will each
level be crossed? Two forecasts of the stage are offered:

Rate of rise (the one in use)
    The stage goes on rising at the rate of the last ``rate_window_h``
    hours: ``stage(t + L) = stage(t) + rate * L``. It needs nothing but the
    gauge, it is exact for a steady rise, and it errs on the side of an
    early warning while the rise accelerates and of a late one when it
    slows. A falling or steady river is forecast to cross nothing.
Gradient boosting (:class:`StageModel`)
    One scikit-learn gradient-boosting regressor per lead hour, trained on
    the stage changes of the last ``lags`` hours (the stage relative to
    each earlier hour, and the hour-to-hour differences) to predict the
    change of stage L hours ahead. It is trained by ``ews train`` and kept
    as a skops file with a JSON record of its data and hold-out score
    (:func:`save_model`, :func:`load_model`); a pickle is never loaded.

:func:`crossings` reads the forecast as a piecewise linear curve through
the current stage and the stages at the lead hours, and returns, for every
level above the current stage, the first time the curve reaches it.
:func:`forecast_colour` gives the highest colour whose level is predicted
to be reached within ``horizon_h``, with that time: the colour a warning
can be issued for before the crossing.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from schemas.errors import ConfigError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CrossingParams:
    """When a predicted crossing issues a warning.

    Parameters
    ----------
    horizon_h : float
        A crossing predicted within this many hours issues its colour.
    rate_window_h : float
        The rate of rise is taken over this many past hours.
    lead_step_h : float
        Spacing of the forecast lead times, hours.
    """

    horizon_h: float = 6.0
    rate_window_h: float = 1.0
    lead_step_h: float = 1.0

    def leads_h(self) -> np.ndarray:
        """Lead times of the forecast, hours, up to the horizon."""
        n = max(1, int(np.ceil(self.horizon_h / self.lead_step_h)))
        return self.lead_step_h * np.arange(1, n + 1, dtype=np.float64)


DEFAULT_CROSSING = CrossingParams()


def stage_at(history: Sequence[tuple[float, float]], t_s: float) -> float | None:
    """Stage at ``t_s`` (POSIX s) interpolated in a (time, stage) history."""
    if not history or t_s < history[0][0] or t_s > history[-1][0]:
        return None
    times = np.array([h[0] for h in history], dtype=np.float64)
    stages = np.array([h[1] for h in history], dtype=np.float64)
    return float(np.interp(t_s, times, stages))


def rate_of_rise(
    history: Sequence[tuple[float, float]], window_h: float
) -> float | None:
    """Rise over the last ``window_h`` hours of the history, per hour.

    The history holds (POSIX s, stage) pairs in time order; None when it
    does not reach back ``window_h`` hours.
    """
    if len(history) < 2:
        return None
    t_now, s_now = history[-1]
    before = stage_at(history, t_now - window_h * 3600.0)
    if before is None:
        return None
    return (s_now - before) / window_h


def rate_forecast(stage: float, rise_per_h: float, leads_h: np.ndarray) -> np.ndarray:
    """Stages at the lead times when the current rate of rise goes on."""
    return stage + rise_per_h * np.asarray(leads_h, dtype=np.float64)


def crossings(
    now_s: float,
    stage: float,
    leads_h: np.ndarray,
    forecast: np.ndarray,
    steps: Sequence[tuple[str, float]],
) -> dict[str, float]:
    """First predicted time (POSIX s) the stage reaches each level above it.

    Parameters
    ----------
    now_s : float
        Time of the current stage, POSIX s.
    stage : float
        Current stage.
    leads_h, forecast : numpy.ndarray
        Lead times (h) and the stages forecast for them, same unit as
        ``stage``.
    steps : sequence of (str, float)
        (colour, level) of the section, lowest first.

    Returns
    -------
    dict of str to float
        Colour to crossing time, for the levels reached within the leads.
    """
    t = np.concatenate([[0.0], np.asarray(leads_h, dtype=np.float64)])
    s = np.concatenate([[stage], np.asarray(forecast, dtype=np.float64)])
    out: dict[str, float] = {}
    for colour, level in steps:
        if stage >= level:
            continue
        above = np.nonzero(s >= level)[0]
        if above.size == 0:
            continue
        i = int(above[0])
        frac = (level - s[i - 1]) / (s[i] - s[i - 1])
        out[colour] = now_s + 3600.0 * (t[i - 1] + frac * (t[i] - t[i - 1]))
    return out


def forecast_colour(
    now_s: float,
    predicted: dict[str, float],
    steps: Sequence[tuple[str, float]],
    horizon_h: float,
) -> tuple[str | None, float | None]:
    """Highest colour predicted to be reached within the horizon, and when."""
    best: tuple[str | None, float | None] = (None, None)
    for colour, _ in steps:
        when = predicted.get(colour)
        if when is not None and when - now_s <= horizon_h * 3600.0:
            best = (colour, when)
    return best


def lag_features(stages: np.ndarray, lags: int) -> np.ndarray:
    """Features of hourly stages ending now: ``(n_samples, 2 * lags)``.

    For each row of ``stages`` (``lags + 1`` hourly stages, oldest first):
    the current stage minus the stage k hours before (k = 1..lags) and the
    hour-to-hour differences. Only changes of stage enter, never the stage
    itself, so a model does not learn one gauge's datum.
    """
    x = np.atleast_2d(np.asarray(stages, dtype=np.float64))
    now = x[:, -1:]
    rel = now - x[:, -2::-1][:, :lags]
    diffs = np.diff(x, axis=1)[:, ::-1][:, :lags]
    return np.hstack([rel, diffs])


def hourly_windows(
    stages: np.ndarray, lags: int, leads: int
) -> tuple[np.ndarray, np.ndarray]:
    """Training pairs from one hourly series: features and future changes."""
    s = np.asarray(stages, dtype=np.float64)
    rows, targets = [], []
    for i in range(lags, s.size - leads):
        rows.append(s[i - lags : i + 1])
        targets.append(s[i + 1 : i + 1 + leads] - s[i])
    if not rows:
        return np.zeros((0, 2 * lags)), np.zeros((0, leads))
    return lag_features(np.array(rows), lags), np.array(targets)


@dataclass
class StageModel:
    """Gradient-boosting stage change per lead hour (see the module docstring).

    Attributes
    ----------
    regressors : list
        One fitted ``GradientBoostingRegressor`` per lead hour.
    lags : int
        Hours of history the features use.
    """

    regressors: list[Any]
    lags: int

    @property
    def leads_h(self) -> np.ndarray:
        return np.arange(1, len(self.regressors) + 1, dtype=np.float64)

    @classmethod
    def fit(cls, x: np.ndarray, y: np.ndarray, lags: int, seed: int = 0) -> StageModel:
        """Fit one regressor per column of ``y`` (change at lead L, same unit)."""
        from sklearn.ensemble import GradientBoostingRegressor  # noqa: PLC0415

        regs = []
        for lead in range(y.shape[1]):
            reg = GradientBoostingRegressor(
                n_estimators=200, max_depth=2, learning_rate=0.05, random_state=seed
            )
            reg.fit(x, y[:, lead])
            regs.append(reg)
        return cls(regs, lags)

    def predict_change(self, x: np.ndarray) -> np.ndarray:
        """Stage changes ``(n, leads)`` for feature rows ``x``."""
        return np.column_stack([r.predict(x) for r in self.regressors])

    def forecast(self, hourly: np.ndarray) -> np.ndarray:
        """Stages at leads 1..n h from ``lags + 1`` hourly stages, oldest first."""
        x = lag_features(np.asarray(hourly)[None, :], self.lags)
        return float(hourly[-1]) + self.predict_change(x)[0]


def save_model(model: StageModel, path: Path, record: dict[str, Any]) -> Path:
    """Write the model as skops and its record as JSON next to it."""
    import skops.io as sio  # noqa: PLC0415

    path.parent.mkdir(parents=True, exist_ok=True)
    sio.dump({"regressors": model.regressors, "lags": model.lags}, path)
    record_path = path.with_suffix(".json")
    record_path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return record_path


def load_model(path: Path) -> StageModel:
    """Read a skops model file, trusting only scikit-learn's own types.

    Raises
    ------
    ConfigError
        The file is missing or holds a type other than the expected ones.
    """
    import skops.io as sio  # noqa: PLC0415

    if not path.exists():
        raise ConfigError(f"stage model {path} does not exist; run `ews train`")
    unknown = sio.get_untrusted_types(file=path)
    allowed = {
        "sklearn._loss.loss.HalfSquaredError",
        "sklearn._loss.link.IdentityLink",
        "sklearn._loss.link.Interval",
        "sklearn.dummy.DummyRegressor",
        "sklearn.ensemble._gb.GradientBoostingRegressor",
        "sklearn.tree._classes.DecisionTreeRegressor",
        "sklearn.tree._tree.Tree",
        "numpy.random._mt19937.MT19937",
        "numpy.random.mtrand.RandomState",
        "builtins.int",
    }
    strange = sorted(set(unknown) - allowed)
    if strange:
        raise ConfigError(f"stage model {path} holds unexpected types {strange}")
    data = sio.load(path, trusted=list(unknown))
    return StageModel(list(data["regressors"]), int(data["lags"]))
