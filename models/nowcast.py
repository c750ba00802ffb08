"""Radar nowcast: the rain of the next hours from the motion of the last frames.

A nowcast here is Lagrangian persistence, the simplest nowcast that has
skill at the scale of a town for the first hour or two:

1. **Motion.** The last ``motion_frames`` frames (mm per step), turned into
   rain rate in dB (``10 log10 R``, R in mm/h, with rain below
   ``wet_mm_h`` set to a floor), give a motion field in pixels per step by
   the Lucas-Kanade optical flow of pysteps (features tracked by OpenCV and
   interpolated to a dense field).
2. **Extrapolation.** The newest frame is moved along that field by the
   semi-Lagrangian backward scheme of pysteps, one radar step at a time, up
   to ``horizon_min`` ahead. Rain that would come in from outside the grid
   is taken as none. Advection keeps a cell's intensity, but the cells of
   a convective storm decay along their tracks, so the forecast rain is
   weighted by ``forecast_weight`` (0.8) before it is added to the rain
   already fallen.
3. **Totals.** For a rule window of W hours and each lead time L within the
   horizon, every town pixel gets the total of the W hours ending at
   ``now + L``: the rain already fallen in the part of the window before
   ``now`` plus the forecast rain up to L. The town's figure for that lead
   is the area statistic (q90 by default) of these per-pixel totals, as on
   the observed side (:mod:`models.areastat`), and the forecast accumulation
   of the window is the highest figure over the lead times: the quantity
   :func:`models.rainstorm.assess` compares in its forecast branch.

Both the motion and the extrapolation run on a grid coarsened to about
``target_km`` (block means of ``factor x factor`` pixels): a 0.5 km
frame is forecast at 1 km, four times fewer pixels, and each town pixel
takes the forecast of the block it lies in. Motion at 1 km is as good as at
0.5 km for storms that move a few km per step, and rain 30 min ahead is not
known to better than a km anyway.

No forecast is made (the caller keeps only its observed branch) when there
are fewer than ``motion_frames`` frames at a regular step, or when the
newest frame is dry: less than ``min_wet_fraction`` of its pixels at
``wet_mm_h`` or more. Everything here is pure: arrays in, arrays out.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from models.areastat import DEFAULT_MIN_PIXELS, parse_statistic

logger = logging.getLogger(__name__)

DB_FLOOR = -15.0


@dataclass(frozen=True)
class NowcastParams:
    """Tunable parts of the nowcast.

    Parameters
    ----------
    horizon_min : float
        How far ahead the rain is forecast, minutes (at most 180).
    motion_frames : int
        Frames the motion is estimated from (at least 2).
    wet_mm_h : float
        Rain rate that counts as rain, mm/h.
    min_wet_fraction : float
        Share of the newest frame's pixels that must be wet for a forecast.
    target_km : float
        Pixel size the nowcast runs at, km (the frame's own when coarser).
    forecast_weight : float
        Weight of the forecast rain against the rain fallen (0-1).

    Notes
    -----
    The defaults (40 min, weight 0.8) were chosen on the one storm bundled
    with ews (Brisbane, 2020-10-31, over Zhaoqing) among horizons of 30 to
    90 min and weights of 0.6 to 1: the longest horizon whose warnings
    still verify at 80 % or more with some margin. One event cannot tell
    how they do on others.
    """

    # XXX: horizon and weight are tuned on the single bundled storm (in
    # sample); re-tune them on a season of radar and gauge data.
    horizon_min: float = 40.0
    motion_frames: int = 3
    wet_mm_h: float = 0.5
    min_wet_fraction: float = 0.002
    target_km: float = 1.0
    forecast_weight: float = 0.8

    def steps(self, step_s: int) -> int:
        """Number of radar steps within the horizon."""
        return max(0, int(round(min(self.horizon_min, 180.0) * 60.0 / step_s)))


DEFAULT_NOWCAST = NowcastParams()


def coarsen_factor(pixel_km: float, target_km: float) -> int:
    """Block size that brings ``pixel_km`` pixels to about ``target_km``."""
    return max(1, int(round(target_km / pixel_km)))


def coarsen(field_mm: np.ndarray, factor: int) -> np.ndarray:
    """Block means of ``factor x factor`` pixels; NaN counts as no rain.

    Rows and columns that do not fill a whole block are dropped (their town
    pixels take the nearest block, see :func:`block_index`).
    """
    values = np.nan_to_num(np.asarray(field_mm, dtype=np.float64), nan=0.0)
    if factor == 1:
        return values
    ny, nx = values.shape[-2] // factor, values.shape[-1] // factor
    cut = values[..., : ny * factor, : nx * factor]
    shape = (*cut.shape[:-2], ny, factor, nx, factor)
    return cut.reshape(shape).mean(axis=(-3, -1))


def block_index(
    flat_index: np.ndarray, nx: int, factor: int, shape: tuple
) -> np.ndarray:
    """Flat indices on the coarse grid of ``shape`` of fine-grid pixels."""
    rows = np.minimum(flat_index // nx // factor, shape[0] - 1)
    cols = np.minimum(flat_index % nx // factor, shape[1] - 1)
    return (rows * shape[1] + cols).astype(np.int64)


def to_db(rate_mm_h: np.ndarray, wet_mm_h: float) -> np.ndarray:
    """Rain rate in dB (10 log10 of mm/h) with dry pixels at a floor."""
    out = np.full(rate_mm_h.shape, DB_FLOOR, dtype=np.float64)
    wet = rate_mm_h >= wet_mm_h
    out[wet] = 10.0 * np.log10(rate_mm_h[wet])
    return out


def motion_field(frames_mm: np.ndarray, step_s: int, wet_mm_h: float) -> np.ndarray:
    """Lucas-Kanade motion of a stack of frames.

    Parameters
    ----------
    frames_mm : numpy.ndarray
        ``(t, ny, nx)`` rain per step, mm, oldest first, t >= 2.
    step_s : int
        Radar step, s.
    wet_mm_h : float
        Rain rate below which a pixel is dry, mm/h.

    Returns
    -------
    numpy.ndarray
        ``(2, ny, nx)`` motion (x then y), pixels per step.
    """
    from pysteps import motion  # noqa: PLC0415 (pysteps is slow to import)

    rate = np.asarray(frames_mm, dtype=np.float64) * (3600.0 / step_s)
    # XXX: pysteps' inverse-distance interpolation of the tracked vectors to
    # the dense field takes most of the nowcast's time (0.3-2.5 s a frame at
    # 256 x 256 with a storm on); motion on a coarser grid would cut it.
    return np.asarray(motion.get_method("LK")(to_db(rate, wet_mm_h), verbose=False))


def extrapolate(field_mm: np.ndarray, velocity: np.ndarray, steps: int) -> np.ndarray:
    """Semi-Lagrangian extrapolation of one frame, ``(steps, ny, nx)`` mm/step."""
    from pysteps import extrapolation  # noqa: PLC0415

    advect = extrapolation.get_method("semilagrangian")
    out = advect(np.asarray(field_mm, dtype=np.float64), velocity, steps, outval=0.0)
    return np.clip(np.nan_to_num(out, nan=0.0), 0.0, None)


def is_wet(field_mm: np.ndarray, step_s: int, params: NowcastParams) -> bool:
    """Whether enough of a frame is wet for a nowcast to be worth making."""
    rate = np.nan_to_num(np.asarray(field_mm), nan=0.0) * (3600.0 / step_s)
    return bool(np.mean(rate >= params.wet_mm_h) >= params.min_wet_fraction)


def nowcast_pixels(
    frames_mm: Sequence[np.ndarray],
    step_s: int,
    pixel_km: float,
    index: np.ndarray,
    params: NowcastParams = DEFAULT_NOWCAST,
) -> np.ndarray | None:
    """Forecast rain per step at chosen pixels of the grid.

    Parameters
    ----------
    frames_mm : sequence of numpy.ndarray
        The last frames, ``(ny, nx)`` mm per step each, oldest first, one
        radar step apart (the caller checks the times).
    step_s : int
        Radar step, s.
    pixel_km : float
        Pixel size of the frames, km.
    index : numpy.ndarray
        Flat indices of the pixels wanted (the town pixels).
    params : NowcastParams
        Horizon, motion frames, dryness test and working pixel size.

    Returns
    -------
    numpy.ndarray or None
        ``(steps, len(index))`` forecast rain, mm per step, for the steps
        ending one, two, ... radar steps from the newest frame; None when
        there are too few frames or the newest one is dry.
    """
    steps = params.steps(step_s)
    if steps == 0 or len(frames_mm) < max(2, params.motion_frames):
        return None
    newest = frames_mm[-1]
    if not is_wet(newest, step_s, params):
        return None
    factor = coarsen_factor(pixel_km, params.target_km)
    stack = coarsen(np.stack(frames_mm[-params.motion_frames :]), factor)
    velocity = motion_field(stack, step_s, params.wet_mm_h)
    ahead = params.forecast_weight * extrapolate(stack[-1], velocity, steps)
    where = block_index(np.asarray(index), newest.shape[1], factor, stack.shape[1:])
    return ahead.reshape(steps, -1)[:, where].astype(np.float32)


def window_totals(
    observed_mm: np.ndarray,
    forecast_mm: np.ndarray,
    window_steps: int,
) -> np.ndarray:
    """Per-pixel totals of the windows ending at each lead time.

    Parameters
    ----------
    observed_mm : numpy.ndarray
        ``(n, p)`` observed rain per step, mm, the newest step last; NaN is
        no rain seen. Fewer than ``window_steps`` rows means the rest of
        the window was not observed.
    forecast_mm : numpy.ndarray
        ``(k, p)`` forecast rain per step, mm, lead one step first.
    window_steps : int
        Window length in radar steps.

    Returns
    -------
    numpy.ndarray
        ``(k, p)``: row ``L - 1`` is the total over the window that ends L
        steps after the newest observation.
    """
    k, p = forecast_mm.shape
    obs = np.nan_to_num(np.asarray(observed_mm, dtype=np.float64), nan=0.0)
    obs = obs[-window_steps:] if window_steps else obs[:0]
    # fallen[j]: rain of the newest j observed steps.
    fallen = np.vstack([np.zeros((1, p)), np.cumsum(obs[::-1], axis=0)])
    ahead = np.vstack([np.zeros((1, p)), np.cumsum(forecast_mm, axis=0)])
    out = np.empty((k, p), dtype=np.float64)
    for lead in range(1, k + 1):
        keep = min(max(window_steps - lead, 0), obs.shape[0])
        first = max(0, lead - window_steps)
        out[lead - 1] = fallen[keep] + ahead[lead] - ahead[first]
    return out


def area_values(
    totals_mm: np.ndarray, statistic: str, min_pixels: int = DEFAULT_MIN_PIXELS
) -> np.ndarray | None:
    """The area statistic of ``(k, p)`` per-pixel totals, one value per row.

    The same statistic as :func:`models.areastat.area_statistic`, vectorised
    over the rows; None when a town has fewer than ``min_pixels`` pixels.
    """
    if totals_mm.shape[1] < max(1, min_pixels):
        return None
    stat = parse_statistic(statistic)
    if stat.kind == "mean":
        return totals_mm.mean(axis=1)
    if stat.kind == "max":
        return totals_mm.max(axis=1)
    return np.quantile(totals_mm, stat.q if stat.q is not None else 0.9, axis=1)


def forecast_accumulations(
    observed_mm: np.ndarray,
    forecast_mm: np.ndarray,
    masks: Mapping[str, np.ndarray],
    windows_steps: Mapping[float, int],
    statistic: str,
) -> dict[str, dict[float, float]]:
    """Highest area figure over the horizon, per town and window.

    Parameters
    ----------
    observed_mm : numpy.ndarray
        ``(n, p)`` observed rain per step at the kept pixels, mm, newest last.
    forecast_mm : numpy.ndarray
        ``(k, p)`` forecast rain per step at the same pixels, mm.
    masks : mapping of str to numpy.ndarray
        Town code to its positions among the ``p`` pixels.
    windows_steps : mapping of float to int
        Window (h) to its length in radar steps.
    statistic : str
        Area statistic (``quantile:0.9``, ``mean``, ``max``).

    Returns
    -------
    dict of str to dict of float to float
        Town code to {window (h): forecast accumulation (mm)}.
    """
    per_window = {
        w: window_totals(observed_mm, forecast_mm, n) for w, n in windows_steps.items()
    }
    out: dict[str, dict[float, float]] = {}
    for code, pos in masks.items():
        values = {}
        for w, totals in per_window.items():
            figure = area_values(totals[:, pos], statistic)
            if figure is not None:
                values[w] = float(figure.max())
        if values:
            out[code] = values
    return out
