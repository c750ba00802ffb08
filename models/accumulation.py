"""Rolling rain accumulations per area.

Each area keeps the step accumulations it has seen (mm over ``step_s``
seconds ending at ``time``) for the longest window any rule needs. The
total over a window of W hours ending at t sums the steps whose end lies in
``(t - W, t]``: a step that ends exactly W hours before t belongs to the
previous window. A repeated step (same end time) replaces the earlier one,
so replaying a record twice never counts rain twice.

The state is a plain dict of lists so that it can live in a faust table.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from datetime import datetime


@dataclass
class RainWindow:
    """Step accumulations of one area, ordered by end time.

    Parameters
    ----------
    keep_h : float
        Longest window kept, hours.
    """

    keep_h: float = 12.0
    times: list[float] = field(default_factory=list)
    steps_mm: list[float] = field(default_factory=list)

    def add(self, time: datetime, step_mm: float) -> None:
        """Record ``step_mm`` (mm) for the step ending at ``time`` (aware)."""
        ts = time.timestamp()
        i = bisect.bisect_left(self.times, ts)
        if i < len(self.times) and self.times[i] == ts:
            self.steps_mm[i] = step_mm
        else:
            self.times.insert(i, ts)
            self.steps_mm.insert(i, step_mm)
        self._trim(max(self.times))

    def total_mm(self, end: datetime, window_h: float) -> float:
        """Accumulation over ``window_h`` hours ending at ``end``, mm."""
        hi_ts = end.timestamp()
        # in seconds, not datetimes: a window reaching back before year 1
        # must not overflow
        lo_ts = hi_ts - window_h * 3600.0
        lo = bisect.bisect_right(self.times, lo_ts)
        hi = bisect.bisect_right(self.times, hi_ts)
        return float(sum(self.steps_mm[lo:hi]))

    def totals_mm(
        self, end: datetime, windows_h: tuple[float, ...]
    ) -> dict[float, float]:
        """Accumulations for every window in ``windows_h``, mm, keyed by hours."""
        return {w: self.total_mm(end, w) for w in windows_h}

    @property
    def latest(self) -> float | None:
        """End time of the newest step, POSIX seconds."""
        return self.times[-1] if self.times else None

    def _trim(self, newest_ts: float) -> None:
        cutoff = newest_ts - self.keep_h * 3600.0
        cut = bisect.bisect_right(self.times, cutoff)
        if cut:
            del self.times[:cut]
            del self.steps_mm[:cut]

    def to_dict(self) -> dict:
        """Serialisable form for a table."""
        return {"keep_h": self.keep_h, "times": self.times, "steps_mm": self.steps_mm}

    @classmethod
    def from_dict(cls, data: dict | None, keep_h: float = 12.0) -> RainWindow:
        """Inverse of :meth:`to_dict`; ``None`` gives an empty window."""
        if not data:
            return cls(keep_h=keep_h)
        return cls(
            keep_h=float(data.get("keep_h", keep_h)),
            times=[float(t) for t in data["times"]],
            steps_mm=[float(v) for v in data["steps_mm"]],
        )
