"""Canadian Forest Fire Weather Index (FWI) System, one station, one day at a time.

The FWI System turns four noon weather observations into six numbers. Three
are fuel moisture codes that carry over from day to day, each with its own
response time:

====  ==========================  ==========  ======================
code  fuel layer                  lag (days)  driven by
====  ==========================  ==========  ======================
FFMC  litter and fine fuels       2/3         T, H, W, rain
DMC   loose duff, about 7 cm      12          T, H, rain, day length
DC    deep compact organic layer  52          T, rain, day length
====  ==========================  ==========  ======================

and three are indices computed from them on the day: the Initial Spread
Index (ISI, from FFMC and wind), the Buildup Index (BUI, from DMC and DC)
and the Fire Weather Index (FWI, from ISI and BUI). The Daily Severity
Rating is ``DSR = 0.0272 * FWI ** 1.77``.

Inputs are the noon local standard time observations: air temperature in
degrees C, relative humidity in %, 10-m wind speed in km/h and the rain of
the 24 hours ending at noon in mm. The equations are those of Van Wagner
(1987), numbered as there, with the refinements the Canadian Forest Service
reference implementation (the R package cffdrs) makes:

- Eq. 1 and 10 use the FFMC scale constant 147.27723 (= 250 * 59.5 / 101,
  which makes FFMC 101 a moisture content of exactly 0) instead of the
  rounded 147.2, in FFMC and in ISI alike;
- Eq. 12 uses ``20 + 280 * exp(-0.023 * P)`` for the duff moisture content
  before rain;
- the day length of the DMC (Eq. 16) and the day-length factor of the DC
  (Eq. 22) come from tables for the latitude band of the station when
  ``lat_adjust`` is true (Lawson and Armitage 2008), and from the Canadian
  46 N tables otherwise.

A station's state is the three carried codes (:class:`FwiState`). A new
season starts at FFMC 85, DMC 6 and DC 15, or, where the winter was too dry
to wet the deep layer again, at an overwintered DC (:func:`overwinter_dc`,
Lawson and Armitage 2008, with the carry-over and wetting-efficiency
fractions of their Table 9 as named options).

References
----------
Van Wagner, C.E. 1987. Development and structure of the Canadian Forest Fire
Weather Index System. Canadian Forestry Service, Forestry Technical Report
35, Ottawa. 37 p.
Van Wagner, C.E.; Pickett, T.L. 1985. Equations and FORTRAN program for the
Canadian Forest Fire Weather Index System. Forestry Technical Report 33.
Lawson, B.D.; Armitage, O.B. 2008. Weather guide for the Canadian Forest
Fire Danger Rating System. Natural Resources Canada, Canadian Forest
Service, Northern Forestry Centre, Edmonton. 84 p.

Examples
--------
>>> state = FwiState.start()
>>> state, codes = step(state, 17.0, 42.0, 25.0, 0.0, month=4, lat=40.0)
>>> round(codes.ffmc, 2), round(codes.fwi, 2)
(87.65, 10.04)
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass
from typing import Any

from schemas.errors import ConfigError, PhysicalError

log = logging.getLogger(__name__)

FFMC_START = 85.0
DMC_START = 6.0
DC_START = 15.0

FFMC_SCALE = 250.0 * 59.5 / 101.0
"""Moisture content (%) of fine fuel per FFMC step, Eq. 1 and 10 (147.27723)."""

# Effective day length Le (hours) of the DMC by month, January first.
_DAY_LENGTH_46N = (6.5, 7.5, 9.0, 12.8, 13.9, 13.9, 12.4, 10.9, 9.4, 8.0, 7.0, 6.0)
_DAY_LENGTH_20N = (7.9, 8.4, 8.9, 9.5, 9.9, 10.2, 10.1, 9.7, 9.1, 8.6, 8.1, 7.8)
_DAY_LENGTH_20S = (10.1, 9.6, 9.1, 8.5, 8.1, 7.8, 7.9, 8.3, 8.9, 9.4, 9.9, 10.2)
_DAY_LENGTH_40S = (11.5, 10.5, 9.2, 7.9, 6.8, 6.2, 6.5, 7.4, 8.7, 10.0, 11.2, 11.8)
_DAY_LENGTH_EQUATOR = 9.0

# Day-length factor Lf of the DC by month, January first.
_DC_FACTOR_NORTH = (-1.6, -1.6, -1.6, 0.9, 3.8, 5.8, 6.4, 5.0, 2.4, 0.4, -1.6, -1.6)
_DC_FACTOR_SOUTH = (6.4, 5.0, 2.4, 0.4, -1.6, -1.6, -1.6, -1.6, -1.6, 0.9, 3.8, 5.8)
_DC_FACTOR_EQUATOR = 1.4

# Fraction a of last fall's deep-layer moisture kept over winter. to_freeze_up:
# the daily DC ran until 1 November, continuous snow cover or freeze-up;
# stopped_early: it stopped before that, or chinooks leave the ground bare;
# dry_fall: forest with long drying spells in fall or winter.
CARRY_OVER_FRACTIONS = {"to_freeze_up": 1.0, "stopped_early": 0.75, "dry_fall": 0.5}

# Fraction b of winter precipitation that recharges the deep layer.
# poorly_drained: boggy sites, deep organic layers; moderately_drained: frost
# comes late if at all and most snowmelt soaks in; well_drained: chinook
# country, early deep frost, fast percolation or runoff before the thaw.
WETTING_EFFICIENCIES = {
    "poorly_drained": 0.9,
    "moderately_drained": 0.75,
    "well_drained": 0.5,
}


@dataclass(frozen=True)
class FwiState:
    """The three carried codes of one station, after the last day computed.

    An FFMC above 101 is accepted as a start value, as cffdrs accepts it.
    """

    ffmc: float
    dmc: float
    dc: float

    def __post_init__(self) -> None:
        for name in ("ffmc", "dmc", "dc"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0.0:
                raise PhysicalError(
                    f"FwiState.{name} is {value!r}; expected a finite code >= 0"
                )

    @classmethod
    def start(cls, dc: float = DC_START) -> FwiState:
        """The state of a station at the start of its fire season."""
        return cls(FFMC_START, DMC_START, dc)

    def to_dict(self) -> dict[str, float]:
        """The state as a JSON-ready mapping (``ffmc``, ``dmc``, ``dc``)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FwiState:
        """Rebuild a state written by :meth:`to_dict`."""
        try:
            return cls(float(data["ffmc"]), float(data["dmc"]), float(data["dc"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise PhysicalError(
                f"FwiState mapping {data!r} is unusable ({exc}); expected numbers "
                "under the keys ffmc, dmc and dc"
            ) from exc


@dataclass(frozen=True)
class FwiCodes:
    """The six FWI System values of one station-day, and the DSR (unitless)."""

    ffmc: float
    dmc: float
    dc: float
    isi: float
    bui: float
    fwi: float
    dsr: float

    def to_dict(self) -> dict[str, float]:
        """The codes as a JSON-ready mapping."""
        return asdict(self)


def _check_weather(
    temp_c: float | None = None,
    rh_pct: float | None = None,
    wind_kmh: float | None = None,
    rain_mm: float | None = None,
    month: int | None = None,
    lat: float | None = None,
) -> None:
    """Raise PhysicalError on an input the equations cannot take."""
    if temp_c is not None and not math.isfinite(temp_c):
        raise PhysicalError(f"temperature {temp_c!r} C is not a finite number")
    if rh_pct is not None and not 0.0 <= rh_pct <= 100.0:
        raise PhysicalError(f"relative humidity {rh_pct!r} %; expected 0 to 100")
    if wind_kmh is not None and not 0.0 <= wind_kmh < math.inf:
        raise PhysicalError(f"wind speed {wind_kmh!r} km/h; expected >= 0")
    if rain_mm is not None and not 0.0 <= rain_mm < math.inf:
        raise PhysicalError(f"24-h rain {rain_mm!r} mm; expected >= 0")
    if month is not None and month not in range(1, 13):
        raise PhysicalError(f"month {month!r}; expected 1 to 12")
    if lat is not None and not -90.0 <= lat <= 90.0:
        raise PhysicalError(f"latitude {lat!r} degrees; expected -90 to 90")


def _moisture_from_ffmc(ffmc: float) -> float:
    """Fine fuel moisture content (%) of an FFMC value, Eq. 1."""
    return FFMC_SCALE * (101.0 - ffmc) / (59.5 + ffmc)


def fine_fuel_moisture_code(
    ffmc_prev: float, temp_c: float, rh_pct: float, wind_kmh: float, rain_mm: float
) -> float:
    """Today's FFMC (0 to 101) from yesterday's and the noon weather (Eq. 1-10).

    The weather arguments are those of :func:`step`, in the same units.
    """
    _check_weather(temp_c, rh_pct, wind_kmh, rain_mm)
    moisture = _moisture_from_ffmc(ffmc_prev)

    if rain_mm > 0.5:
        moisture = _wet_fine_fuel(moisture, rain_mm - 0.5)

    moisture = _dry_or_wet_fine_fuel(moisture, temp_c, rh_pct, wind_kmh)

    ffmc = 59.5 * (250.0 - moisture) / (FFMC_SCALE + moisture)
    return min(max(ffmc, 0.0), 101.0)


def _wet_fine_fuel(moisture: float, rain_eff_mm: float) -> float:
    """Fine fuel moisture (%) after the canopy-reduced rain, Eq. 3a/3b, cap 250."""
    gain = (
        42.5
        * rain_eff_mm
        * math.exp(-100.0 / (251.0 - moisture))
        * (1.0 - math.exp(-6.93 / rain_eff_mm))
    )
    if moisture > 150.0:
        gain += 0.0015 * (moisture - 150.0) ** 2 * math.sqrt(rain_eff_mm)
    return min(moisture + gain, 250.0)


def _dry_or_wet_fine_fuel(
    moisture: float, temp_c: float, rh_pct: float, wind_kmh: float
) -> float:
    """Fine fuel moisture (%) after a day towards equilibrium, Eq. 4-9."""
    humidity = rh_pct / 100.0
    temp_term = 0.18 * (21.1 - temp_c) * (1.0 - math.exp(-0.115 * rh_pct))
    wet_tail = math.exp((rh_pct - 100.0) / 10.0)
    emc_drying = 0.942 * math.pow(rh_pct, 0.679) + 11.0 * wet_tail + temp_term
    emc_wetting = 0.618 * math.pow(rh_pct, 0.753) + 10.0 * wet_tail + temp_term
    speed = 0.581 * math.exp(0.0365 * temp_c)

    if moisture > emc_drying:
        log_rate = 0.424 * (1.0 - humidity**1.7) + 0.0694 * math.sqrt(wind_kmh) * (
            1.0 - humidity**8
        )
        return emc_drying + (moisture - emc_drying) * math.pow(10.0, -log_rate * speed)
    if moisture < emc_wetting:
        dryness = 1.0 - humidity
        log_rate = 0.424 * (1.0 - dryness**1.7) + 0.0694 * math.sqrt(wind_kmh) * (
            1.0 - dryness**8
        )
        gap = emc_wetting - moisture
        return emc_wetting - gap * math.pow(10.0, -log_rate * speed)
    return moisture


def dmc_day_length(month: int, lat: float, lat_adjust: bool = True) -> float:
    """Effective day length Le (hours) of the DMC for a month and latitude."""
    _check_weather(month=month, lat=lat)
    if not lat_adjust or lat >= 30.0:
        return _DAY_LENGTH_46N[month - 1]
    if lat >= 10.0:
        return _DAY_LENGTH_20N[month - 1]
    if lat >= -10.0:
        return _DAY_LENGTH_EQUATOR
    if lat >= -30.0:
        return _DAY_LENGTH_20S[month - 1]
    return _DAY_LENGTH_40S[month - 1]


def dc_day_length_factor(month: int, lat: float, lat_adjust: bool = True) -> float:
    """Day-length factor Lf of the DC for a month and latitude."""
    _check_weather(month=month, lat=lat)
    if not lat_adjust or lat > 20.0:
        return _DC_FACTOR_NORTH[month - 1]
    if lat > -20.0:
        return _DC_FACTOR_EQUATOR
    return _DC_FACTOR_SOUTH[month - 1]


def duff_moisture_code(
    dmc_prev: float,
    temp_c: float,
    rh_pct: float,
    rain_mm: float,
    month: int,
    lat: float,
    lat_adjust: bool = True,
) -> float:
    """Today's DMC (>= 0) from yesterday's and the noon weather (Eq. 11-17).

    The arguments are those of :func:`step`. Below -1.1 C the duff does not
    dry, and up to 1.5 mm of rain does not wet it.
    """
    _check_weather(temp_c, rh_pct, rain_mm=rain_mm, month=month, lat=lat)
    dmc = dmc_prev

    if rain_mm > 1.5:
        dmc = _wet_duff(dmc_prev, rain_mm)

    day_length_h = dmc_day_length(month, lat, lat_adjust)
    drying = 1.894 * (max(temp_c, -1.1) + 1.1) * (100.0 - rh_pct) * day_length_h
    return max(dmc + drying * 1e-4, 0.0)


def _wet_duff(dmc_prev: float, rain_mm: float) -> float:
    """DMC after rain, before the day's drying, Eq. 11-15 (>= 0)."""
    rain_eff_mm = 0.92 * rain_mm - 1.27
    moisture = 20.0 + 280.0 * math.exp(-0.023 * dmc_prev)

    if dmc_prev <= 33.0:
        slope = 100.0 / (0.5 + 0.3 * dmc_prev)
    elif dmc_prev <= 65.0:
        slope = 14.0 - 1.3 * math.log(dmc_prev)
    else:
        slope = 6.2 * math.log(dmc_prev) - 17.2

    moisture += 1000.0 * rain_eff_mm / (48.77 + slope * rain_eff_mm)
    return max(43.43 * (5.6348 - math.log(moisture - 20.0)), 0.0)


def drought_code(
    dc_prev: float,
    temp_c: float,
    rain_mm: float,
    month: int,
    lat: float,
    lat_adjust: bool = True,
) -> float:
    """Today's DC (>= 0) from yesterday's and the noon weather (Eq. 18-23).

    The arguments are those of :func:`step`. A temperature below -2.8 C is
    taken as -2.8 C, and up to 2.8 mm of rain does not wet the deep layer.
    """
    _check_weather(temp_c, rain_mm=rain_mm, month=month, lat=lat)
    dc = dc_prev

    if rain_mm > 2.8:
        rain_eff_mm = 0.83 * rain_mm - 1.27
        moisture_eq = 800.0 * math.exp(-dc_prev / 400.0) + 3.937 * rain_eff_mm
        dc = max(400.0 * math.log(800.0 / moisture_eq), 0.0)

    factor = dc_day_length_factor(month, lat, lat_adjust)
    evapotranspiration = max(0.36 * (max(temp_c, -2.8) + 2.8) + factor, 0.0)
    return max(dc + 0.5 * evapotranspiration, 0.0)


def initial_spread_index(ffmc: float, wind_kmh: float, fbp: bool = False) -> float:
    """ISI (>= 0) from today's FFMC and the noon wind in km/h (Eq. 24-26).

    With ``fbp`` the Fire Behaviour Prediction System wind function is used,
    which levels off above 40 km/h (FCFDG 1992, Eq. 53a).
    """
    _check_weather(wind_kmh=wind_kmh)
    moisture = _moisture_from_ffmc(ffmc)

    if fbp and wind_kmh >= 40.0:
        wind_term = 12.0 * (1.0 - math.exp(-0.0818 * (wind_kmh - 28.0)))
    else:
        wind_term = math.exp(0.05039 * wind_kmh)

    fuel_term = 91.9 * math.exp(-0.1386 * moisture) * (1.0 + moisture**5.31 / 4.93e7)
    return float(0.208 * wind_term * fuel_term)


def buildup_index(dmc: float, dc: float) -> float:
    """BUI from today's DMC and DC (Eq. 27a/27b), >= 0."""
    if dmc == 0.0 and dc == 0.0:
        return 0.0
    if dmc <= 0.4 * dc:
        return 0.8 * dmc * dc / (dmc + 0.4 * dc)
    weight = 1.0 - 0.8 * dc / (dmc + 0.4 * dc)
    return max(dmc - weight * (0.92 + math.pow(0.0114 * dmc, 1.7)), 0.0)


def fire_weather_index(isi: float, bui: float) -> float:
    """FWI from today's ISI and BUI (Eq. 28-30)."""
    if bui <= 80.0:
        duff_term = 0.626 * math.pow(bui, 0.809) + 2.0
    else:
        duff_term = 1000.0 / (25.0 + 108.64 * math.exp(-0.023 * bui))
    intensity = 0.1 * isi * duff_term

    if intensity <= 1.0:
        return intensity
    return math.exp(2.72 * math.pow(0.434 * math.log(intensity), 0.647))


def daily_severity_rating(fwi: float) -> float:
    """DSR from the FWI (Van Wagner 1970)."""
    return 0.0272 * math.pow(fwi, 1.77)


def step(
    state: FwiState,
    temp_c: float,
    rh_pct: float,
    wind_kmh: float,
    rain_mm: float,
    month: int,
    lat: float,
    *,
    lat_adjust: bool = True,
) -> tuple[FwiState, FwiCodes]:
    """Advance one station by one day.

    Parameters
    ----------
    state : FwiState
        Yesterday's codes (or :meth:`FwiState.start` on the first day).
    temp_c : float
        Noon air temperature, degrees C.
    rh_pct : float
        Noon relative humidity, %.
    wind_kmh : float
        Noon 10-m wind speed, km/h.
    rain_mm : float
        Rain in the 24 h ending at noon, mm.
    month : int
        Month of the day, 1 to 12.
    lat : float
        Station latitude, degrees north.
    lat_adjust : bool
        Latitude-band day lengths (True) or the Canadian 46 N tables.

    Returns
    -------
    tuple of (FwiState, FwiCodes)
        Today's state, to carry to tomorrow, and today's codes.
    """
    _check_weather(temp_c, rh_pct, wind_kmh, rain_mm, month, lat)
    ffmc = fine_fuel_moisture_code(state.ffmc, temp_c, rh_pct, wind_kmh, rain_mm)
    dmc = duff_moisture_code(state.dmc, temp_c, rh_pct, rain_mm, month, lat, lat_adjust)
    dc = drought_code(state.dc, temp_c, rain_mm, month, lat, lat_adjust)

    isi = initial_spread_index(ffmc, wind_kmh)
    bui = buildup_index(dmc, dc)
    fwi = fire_weather_index(isi, bui)
    codes = FwiCodes(ffmc, dmc, dc, isi, bui, fwi, daily_severity_rating(fwi))
    log.debug("FWI step %s -> %s", state, codes)
    return FwiState(ffmc, dmc, dc), codes


def overwinter_dc(
    final_fall_dc: float,
    winter_precip_mm: float,
    carry_over: float | str = "stopped_early",
    wetting_efficiency: float | str = "moderately_drained",
    min_dc: float = DC_START,
) -> float:
    """The spring start-up DC after a winter (Lawson and Armitage 2008, Eq. 2-4).

    The last fall DC becomes a moisture equivalent ``Qf = 800 exp(-DCf/400)``
    (units of 0.254 mm); a fraction ``a`` of it carries over, and a fraction
    ``b`` of the winter precipitation is added (3.94 units per mm):
    ``Qs = a Qf + 3.94 b Pw``. The start-up DC is ``400 ln(800 / Qs)``, but
    not below ``min_dc``.

    Parameters
    ----------
    final_fall_dc : float
        The DC on the last day computed in the fall.
    winter_precip_mm : float
        Precipitation (water equivalent) from then to the spring start-up, mm.
    carry_over : float or str
        Carry-over fraction ``a``, 0 to 1, or a key of CARRY_OVER_FRACTIONS.
    wetting_efficiency : float or str
        Wetting-efficiency fraction ``b``, 0 to 1, or a key of
        WETTING_EFFICIENCIES.
    min_dc : float
        The lowest start-up DC returned, normally the usual start value 15.

    Returns
    -------
    float
        The start-up DC.
    """
    a = _fraction(carry_over, CARRY_OVER_FRACTIONS, "carry_over")
    b = _fraction(wetting_efficiency, WETTING_EFFICIENCIES, "wetting_efficiency")
    if not 0.0 <= final_fall_dc < math.inf:
        raise PhysicalError(f"final fall DC {final_fall_dc!r}; expected >= 0")
    if not 0.0 <= winter_precip_mm < math.inf:
        raise PhysicalError(f"winter precipitation {winter_precip_mm!r} mm; >= 0")

    moisture_eq = a * 800.0 * math.exp(-final_fall_dc / 400.0)
    moisture_eq += b * 3.94 * winter_precip_mm
    if moisture_eq <= 0.0:
        raise PhysicalError(
            f"no moisture carried over nor added (a={a}, rain {winter_precip_mm} mm);"
            " the start-up DC is undefined"
        )
    return max(400.0 * math.log(800.0 / moisture_eq), min_dc)


def _fraction(value: float | str, named: dict[str, float], what: str) -> float:
    """A fraction given as a number in [0, 1] or by its name in ``named``."""
    if isinstance(value, str):
        if value not in named:
            raise ConfigError(
                f"{what} {value!r} is not one of {sorted(named)} nor a number"
            )
        return named[value]
    if not 0.0 <= value <= 1.0:
        raise ConfigError(f"{what} {value!r}; expected a fraction from 0 to 1")
    return float(value)
