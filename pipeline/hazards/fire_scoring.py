"""From fire-weather observations to FWI codes per station and county warnings.

:class:`FireScorer` takes one ``fire_obs/1`` record and the two table
entries it touches and returns the warning events to publish; the faust
agent (:mod:`pipeline.hazards.fire`) and the offline reference
(:mod:`pipeline.offline`) both call it, with faust tables or plain dicts.

Station entry (keyed by station id)
    the three carried codes after the last noon observation applied
    (``ffmc``, ``dmc``, ``dc``), that noon's time (``noon``, POSIX s) and
    its six codes (``codes``); for a station that reports hourly, the rain
    of its hours of the last day (``hours``: ``[end of hour, mm]`` pairs).

County entry (keyed by county code)
    the warning state of :mod:`models.lifecycle` (``warning``), the local
    date of the last noon (``day``), the codes of each station for that noon
    (``stations``), the county FWI decided on (``decided_fwi``) and the
    member stations with the time of their last noon (``members``).

Rules of the carry-over, beyond :mod:`models.fwi`:

- A noon observation that is not later than the station's last one is a
  re-read record (delivery is at least once) or a late one, and is
  skipped: a day never advances the codes twice.
- A season starts at a station's first observation, at one flagged
  ``season_start``, or after more than ``season_gap_days`` without one:
  FFMC 85, DMC 6 and DC 15, or, when the record gives the precipitation of
  the winter (``winter_precip_mm``), the overwintered DC of the last DC of
  the season before (:func:`models.fwi.overwinter_dc`).
- Days missing within a season leave the codes as they were.
- An hourly record adds its rain to the station's last 24 hours; the one at
  12:00 local standard time (the offset the record carries) is that day's
  noon observation, with the rain of the 24 hours ending then.

A county takes the highest FWI of its stations for the same noon
(:func:`models.fire_danger.decide`); its members are the stations that
reported a noon in the last 36 hours (``members``). Stations report one by
one, so a noon is decided as they come, in the one direction that is safe:
a colour higher than the one in force is decided at once (and decided again
when a later station of the same noon reports a higher FWI), while a lower
colour or a cancel waits until every member has reported that noon. A
member that misses a noon drops out after 36 hours, so a silent station
holds a warning one day at most.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from models import fwi
from models.fire_danger import HAZARD, FireDangerRules, assess_county, decide
from models.lifecycle import WarningState
from models.quality import check_rain_mm
from models.rules import COLOURS
from pipeline.agents.scoring import iso, parse_time, warning_event
from schemas.errors import SchemaError, UnknownReferenceError

logger = logging.getLogger(__name__)

DAY_S = 86400.0
# A station that reported a noon within this many seconds is a member of its
# county: a lower colour waits until every member has reported the noon.
MEMBER_S = 1.5 * DAY_S
CODES = ("ffmc", "dmc", "dc", "isi", "bui", "fwi")


@dataclass
class FireScorer:
    """FWI codes per station, danger classes and warnings per county.

    Parameters
    ----------
    rules : FireDangerRules
        Breakpoints, warning classes and lifecycle times.
    counties : mapping of str to sequence of str
        County code to the codes of its towns (the warned area).
    names : mapping of str to str
        Town code to name.
    status : str
        CAP status of the warnings (Actual, Exercise, Test).
    lat_adjust : bool
        Latitude-band day lengths of :func:`models.fwi.step`.
    season_gap_days : float
        A gap without observations longer than this, days, starts a season.
    carry_over, wetting_efficiency : float or str
        The overwintering fractions of :func:`models.fwi.overwinter_dc`.
    """

    rules: FireDangerRules
    counties: Mapping[str, Sequence[str]]
    names: Mapping[str, str]
    status: str = "Actual"
    lat_adjust: bool = True
    season_gap_days: float = 30.0
    carry_over: float | str = "stopped_early"
    wetting_efficiency: float | str = "moderately_drained"

    def score(
        self,
        msg: dict[str, Any],
        stations: MutableMapping[str, Any],
        counties: MutableMapping[str, Any],
    ) -> list[dict[str, Any]]:
        """Take one ``fire_obs/1`` record; update both tables; return events.

        :meth:`station_step` then :meth:`county_step`, as one worker holding
        every county would; the agent runs the two steps on either side of
        the county-keyed topic ``fire.counties``.
        """
        events: list[dict[str, Any]] = []
        for record in self.station_step(msg, stations):
            events += self.county_step(record, counties)
        return events

    def station_step(
        self, msg: dict[str, Any], stations: MutableMapping[str, Any]
    ) -> list[dict[str, Any]]:
        """Take one ``fire_obs/1`` record; update its station; return the
        ``fire_county/1`` record of a new noon's codes (none otherwise).

        Raises
        ------
        UnknownReferenceError
            The station reports for a county the region does not have.
        SchemaError
            A daily record with an hour's rain, or an hourly one with a day's.
        PhysicalError
            More rain than can fall in the period, or weather the FWI
            equations cannot take.
        """
        station = msg["station"]
        sid, county = station["id"], station["county"]
        where = f"station {sid} at {msg['time']}"
        if county not in self.counties:
            raise UnknownReferenceError(
                f"{where}: county {county!r} is not in the region; expected one of "
                f"{sorted(self.counties)}"
            )
        t = parse_time(msg["time"])
        entry = dict(stations.get(sid) or {})

        if msg["period"] == "hourly":
            entry, rain_mm = self._hourly(msg, t, entry, where)
            if rain_mm is None:
                stations[sid] = entry
                return []
        else:
            if "rain_1h_mm" in msg:
                raise SchemaError(
                    f"{where}: a daily record carries rain_1h_mm; expected rain_24h_mm"
                )
            rain_mm = check_rain_mm(float(msg["rain_24h_mm"]), DAY_S, where=where)

        last = entry.get("noon")
        if last is not None and t.timestamp() <= last:
            logger.debug("%s: not after the last noon applied; skipped", where)
            return []
        start = self._season(entry, msg, t, sid)
        state, codes = fwi.step(
            start,
            float(msg["temp_c"]),
            float(msg["rh_pct"]),
            float(msg["wind_kmh"]),
            rain_mm,
            t.month,
            float(station["lat"]),
            lat_adjust=self.lat_adjust,
        )

        entry.update(state.to_dict(), noon=t.timestamp(), codes=codes.to_dict())
        stations[sid] = entry
        return [
            {
                "schema": "fire_county/1",
                "county": county,
                "station": sid,
                "time": msg["time"],
                "codes": codes.to_dict(),
            }
        ]

    def county_step(
        self, record: dict[str, Any], counties: MutableMapping[str, Any]
    ) -> list[dict[str, Any]]:
        """Take one ``fire_county/1`` record; update the county; return events.

        A record read twice (a worker stopped before its station entry was
        written reads its observation again) finds its noon decided and
        changes nothing.
        """
        return self._county(
            record["county"],
            record["station"],
            record["codes"],
            parse_time(record["time"]),
            counties,
        )

    def _hourly(
        self, msg: dict[str, Any], t: datetime, entry: dict[str, Any], where: str
    ) -> tuple[dict[str, Any], float | None]:
        """Keep an hour's rain; at local noon, return the 24-h rain (mm)."""
        if "rain_24h_mm" in msg:
            raise SchemaError(
                f"{where}: an hourly record carries rain_24h_mm; expected rain_1h_mm"
            )
        rain_mm = check_rain_mm(float(msg["rain_1h_mm"]), 3600.0, where=where)
        end = t.timestamp()
        hours = [h for h in entry.get("hours", []) if h[0] > end - DAY_S]
        if hours and hours[-1][0] >= end:
            logger.debug("%s: hour already taken; skipped", where)
            return entry, None
        hours.append([end, rain_mm])
        entry = dict(entry, hours=hours)
        if (t.hour, t.minute, t.second) != (12, 0, 0):
            return entry, None
        # XXX: an hour missing from the feed counts as dry in the 24-h rain.
        return entry, sum(mm for _, mm in hours)

    def _season(
        self, entry: dict[str, Any], msg: dict[str, Any], t: datetime, sid: str
    ) -> fwi.FwiState:
        """Yesterday's codes, or the start of a new season."""
        last = entry.get("noon")
        if last is not None and not msg.get("season_start"):
            gap_days = (t.timestamp() - last) / DAY_S
            if gap_days <= self.season_gap_days:
                if gap_days > 1.5:
                    logger.warning(
                        "station %s: %.0f days without observation before %s; "
                        "codes carried over",
                        sid,
                        gap_days - 1,
                        iso(t),
                    )
                return fwi.FwiState.from_dict(entry)
        winter_mm = msg.get("winter_precip_mm")
        if last is not None and winter_mm is not None:
            dc = fwi.overwinter_dc(
                float(entry["dc"]),
                float(winter_mm),
                self.carry_over,
                self.wetting_efficiency,
            )
            logger.info(
                "station %s: season starts %s, overwintered DC %.1f", sid, iso(t), dc
            )
            return fwi.FwiState.start(dc)
        logger.info("station %s: season starts %s", sid, iso(t))
        return fwi.FwiState.start()

    def _county(
        self,
        county: str,
        sid: str,
        codes: Mapping[str, float],
        t: datetime,
        table: MutableMapping[str, Any],
    ) -> list[dict[str, Any]]:
        """The county decision for the noon ``t``."""
        entry = dict(table.get(county) or {})
        ts, day = t.timestamp(), t.date().isoformat()
        same_day = entry.get("day") == day
        by_station = dict(entry.get("stations") or {}) if same_day else {}
        by_station[sid] = {k: codes[k] for k in CODES}
        members = {
            s: last
            for s, last in (entry.get("members") or {}).items()
            if last >= ts - MEMBER_S
        }
        members[sid] = ts
        entry.update(day=day, stations=by_station, members=members)
        station_fwi = {s: c["fwi"] for s, c in by_station.items()}
        state = WarningState.from_dict(entry.get("warning"))

        due = assess_county(county, station_fwi, state.level, self.rules).due
        waiting = sorted(set(members) - set(by_station))
        if waiting and _rank(due) < _rank(state.level):
            logger.debug("county %s at %s: waiting for %s", county, iso(t), waiting)
            table[county] = entry
            return []
        if same_day and state.last_obs is not None and ts <= state.last_obs:
            if max(station_fwi.values()) <= entry.get("decided_fwi", 0.0):
                table[county] = entry
                return []
            # The lifecycle ignores a time it has seen; set its last
            # observation back a second so this noon is decided again.
            state = replace(state, last_obs=ts - 1.0)

        state, decision, danger = decide(state, county, station_fwi, t, self.rules)
        table[county] = dict(entry, decided_fwi=danger.fwi, warning=state.to_dict())
        if decision is None:
            return []

        deciding = by_station[danger.station]
        trigger: dict[str, Any] = {
            "station": danger.station,
            "fwi": round(danger.fwi, 2),
            "danger_class": danger.danger_class,
            "class_name": danger.class_name,
            "stations": len(by_station),
        }
        trigger |= {k: round(deciding[k], 2) for k in CODES if k != "fwi"}
        trigger["branch"] = "observed"
        towns = list(self.counties[county])
        return [
            warning_event(
                decision,
                hazard=HAZARD,
                ruleset=self.rules.name,
                codes=towns,
                names=[self.names.get(c, c) for c in towns],
                status=self.status,
                trigger=trigger,
            )
        ]


def _rank(level: str | None) -> int:
    return -1 if level is None else COLOURS.index(level)
