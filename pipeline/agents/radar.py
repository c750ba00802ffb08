"""From radar frames to rain per town.

Each ``radar_frame/1`` message is decoded and placed on the Earth as it says
(for a transposed frame, an azimuthal equidistant grid centred on its
origin). The pixels that fall in some town are kept, per radar, for the
longest window the rules need; for each window the per-pixel totals are
summed first and the area statistic is taken of those totals. The order
matters: the statistic of sums never exceeds the wettest pixel's total,
whereas a sum of per-step statistics would add the rain of different
pixels and could report 100 mm in 3 h where no pixel had more than 89.

The pixel window is held in memory and rebuilt after a restart from the
radar topic itself (the frames of the last window before the first frame
the worker reads), so no per-pixel state needs a changelog.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from connectors.radar_codec import decode_frame
from models.areastat import area_statistic, parse_statistic
from models.nowcast import (
    DEFAULT_NOWCAST,
    NowcastParams,
    forecast_accumulations,
    nowcast_pixels,
)
from models.region import pixel_masks
from pipeline.agents.scoring import iso, parse_time
from schemas.errors import FutureTimeError, SchemaError

logger = logging.getLogger(__name__)


@dataclass
class PixelWindow:
    """Town pixels of recent frames of one radar placement.

    Attributes
    ----------
    masks : dict
        Town code to positions in the kept pixel vector.
    index : numpy.ndarray
        Flat grid indices of the kept pixels (every town's, once).
    frames : OrderedDict
        Frame end time (POSIX s) to its kept pixel values, mm per step.
    """

    masks: dict[str, np.ndarray]
    index: np.ndarray
    step_s: int
    frames: OrderedDict[float, np.ndarray] = field(default_factory=OrderedDict)
    recent: OrderedDict[float, np.ndarray] = field(default_factory=OrderedDict)

    def keep_full(self, ts: float, frame_mm: np.ndarray, count: int) -> None:
        """Keep the whole frame ending at ``ts`` for the nowcast (the newest few)."""
        self.recent[ts] = frame_mm
        self.recent = OrderedDict(sorted(self.recent.items())[-count:])

    def motion_frames(self, end_ts: float, count: int) -> list[np.ndarray]:
        """The ``count`` whole frames up to ``end_ts``, one step apart, or []."""
        times = [t for t in self.recent if t <= end_ts][-count:]
        expected = [end_ts - k * self.step_s for k in range(count - 1, -1, -1)]
        if len(times) < count or any(
            abs(a - b) > 1 for a, b in zip(times, expected, strict=True)
        ):
            return []
        return [self.recent[t] for t in times]

    def observed(self, end_ts: float, window_h: float) -> np.ndarray:
        """Per-step values of the window ending at ``end_ts``, oldest first."""
        lo = end_ts - window_h * 3600.0
        picked = [v for t, v in self.frames.items() if lo < t <= end_ts]
        if not picked:
            return np.zeros((0, self.index.size), dtype=np.float32)
        return np.stack(picked)

    def add(self, ts: float, values: np.ndarray, keep_h: float) -> None:
        """Keep ``values`` for the frame ending at ``ts``; drop old frames."""
        self.frames[ts] = values
        if len(self.frames) > 1 and ts < next(reversed(self.frames)):
            self.frames = OrderedDict(sorted(self.frames.items()))
        newest = next(reversed(self.frames))
        for old in [t for t in self.frames if t <= newest - keep_h * 3600.0]:
            del self.frames[old]

    def totals(self, end_ts: float, window_h: float) -> tuple[np.ndarray, float]:
        """Per-pixel totals over the window ending at ``end_ts`` and its coverage."""
        lo = end_ts - window_h * 3600.0
        picked = [v for t, v in self.frames.items() if lo < t <= end_ts]
        expected = max(1, round(window_h * 3600.0 / self.step_s))
        if not picked:
            return np.zeros(self.index.size, dtype=np.float32), 0.0
        # NaN (no data) in one step counts as no rain seen in that step.
        total = np.nansum(np.stack(picked), axis=0, dtype=np.float64)
        return total, min(1.0, len(picked) / expected)


class RadarAreas:
    """Reduces radar frames to per-town rain over the rules' windows.

    Parameters
    ----------
    region
        The :class:`models.region.Region` of the warning areas.
    statistic : str or None
        Area statistic (``quantile:0.9``, ``mean``, ``max``).
    windows_h : tuple of float
        Windows to report, hours.
    nowcast : NowcastParams or None
        Radar nowcast for the forecast totals (``forecast_mm``); None for
        none.
    """

    def __init__(
        self,
        region: Any,
        statistic: str | None,
        windows_h: tuple[float, ...] = (1.0, 3.0, 6.0, 12.0),
        nowcast: NowcastParams | None = DEFAULT_NOWCAST,
    ) -> None:
        self.region = region
        self.statistic = statistic or "quantile:0.9"
        self.windows_h = windows_h
        self.nowcast = nowcast
        self._windows: dict[tuple, PixelWindow] = {}
        self._no_forecast: dict[str, str] = {}

    @staticmethod
    def check_time(msg: dict[str, Any], now: datetime, skew_s: float) -> None:
        """Refuse an observation stamped later than ``now`` plus ``skew_s``."""
        try:
            t = parse_time(msg["valid_time"])
        except (KeyError, ValueError) as exc:
            raise SchemaError(f"observation time unreadable: {exc}") from exc
        if t > now + timedelta(seconds=skew_s):
            raise FutureTimeError(
                f"observation time {iso(t)} is later than the clock {iso(now)} "
                f"by more than the allowed {skew_s:g} s"
            )

    def window(self, placed: Any) -> PixelWindow:
        """The pixel window of a placed grid, made on first use."""
        g = placed.frame.grid
        key = (
            placed.frame.radar_id,
            g.id,
            g.ny,
            g.nx,
            g.dx_km,
            g.dy_km,
            g.x0_km,
            g.y0_km,
            placed.origin_lon,
            placed.origin_lat,
        )
        if key not in self._windows:
            flat = pixel_masks(self.region, g, placed.origin_lon, placed.origin_lat)
            flat = {code: idx for code, idx in flat.items() if idx.size}
            index = (
                np.unique(np.concatenate(list(flat.values())))
                if flat
                else (np.zeros(0, dtype=np.int64))
            )
            masks = {code: np.searchsorted(index, idx) for code, idx in flat.items()}
            self._windows[key] = PixelWindow(masks, index, int(placed.frame.step_s))
            logger.info(
                "radar %s grid %s placed at (%.3f, %.3f): %d towns, %d pixels",
                placed.frame.radar_id,
                g.id,
                placed.origin_lon,
                placed.origin_lat,
                len(masks),
                index.size,
            )
        return self._windows[key]

    def needs_history(self, msg: dict[str, Any]) -> bool:
        """True when no frame of this radar is held yet (a fresh worker)."""
        return not any(
            k[0] == msg.get("radar_id") and w.frames for k, w in self._windows.items()
        )

    def remember(self, msg: dict[str, Any]) -> PixelWindow:
        """Take a frame into its window without reporting anything."""
        placed = decode_frame(msg)
        win = self.window(placed)
        values = placed.frame.precip_mm.ravel()[win.index].astype(np.float32)
        win.add(placed.frame.valid_time.timestamp(), values, max(self.windows_h))
        if self.nowcast is not None:
            ts = placed.frame.valid_time.timestamp()
            win.keep_full(ts, placed.frame.precip_mm, self.nowcast.motion_frames)
        return win

    def forecast(
        self, win: PixelWindow, placed: Any, end_ts: float
    ) -> dict[str, dict[float, float]]:
        """Forecast accumulations per town for the frame ending at ``end_ts``."""
        if self.nowcast is None:
            return {}
        frame = placed.frame
        win.keep_full(end_ts, frame.precip_mm, self.nowcast.motion_frames)
        frames = win.motion_frames(end_ts, self.nowcast.motion_frames)
        ahead = None
        if frames:
            ahead = nowcast_pixels(
                frames, int(frame.step_s), frame.grid.dx_km, win.index, self.nowcast
            )
        reason = "too few frames" if not frames else "a dry field"
        if ahead is None:
            if self._no_forecast.get(frame.radar_id) != reason:
                logger.info(
                    "radar %s at %s: no nowcast (%s); observed totals only",
                    frame.radar_id,
                    iso(frame.valid_time),
                    reason,
                )
            self._no_forecast[frame.radar_id] = reason
            return {}
        self._no_forecast.pop(frame.radar_id, None)
        longest = max(self.windows_h)
        steps = {w: max(1, round(w * 3600.0 / win.step_s)) for w in self.windows_h}
        observed = win.observed(end_ts, longest)
        return forecast_accumulations(observed, ahead, win.masks, steps, self.statistic)

    def areas(self, msg: dict[str, Any], settings: Any = None) -> list[dict[str, Any]]:
        """The ``area_rain/1`` records of one frame, one per covered town."""
        placed = decode_frame(msg)
        frame = placed.frame
        win = self.window(placed)
        step_values = frame.precip_mm.ravel()[win.index].astype(np.float32)
        end_ts = frame.valid_time.timestamp()
        win.add(end_ts, step_values, max(self.windows_h))
        totals = {w: win.totals(end_ts, w) for w in self.windows_h}
        label = parse_statistic(self.statistic).label
        ahead = self.forecast(win, placed, end_ts)

        out = []
        for code, pos in win.masks.items():
            step = area_statistic(step_values[pos], self.statistic)
            if step is None:
                continue
            acc, cover = {}, {}
            for w, (total, coverage) in totals.items():
                stat = area_statistic(total[pos], self.statistic)
                acc[f"{w:g}"] = round(float(stat.value_mm), 3) if stat else 0.0
                cover[f"{w:g}"] = round(coverage, 4)
            record = {
                "schema": "area_rain/1",
                "area_code": code,
                "time": iso(frame.valid_time),
                "step_s": int(frame.step_s),
                "rain_mm": round(float(step.value_mm), 3),
                "statistic": label,
                "pixels": int(step.pixels),
                "source": frame.radar_id,
                "accumulations_mm": acc,
                "coverage": cover,
            }
            if code in ahead:
                record["forecast_mm"] = {
                    f"{w:g}": round(v, 3) for w, v in ahead[code].items()
                }
            out.append(record)
        return out
