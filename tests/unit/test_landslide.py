"""Rainfall thresholds for landslides on the USGS Mukilteo test data.

The published Seattle-area rule (Chleborad, Baum and Godt 2006) reads: the
threshold is exceeded when the rain of the last 3 days (72 hours), P3,
reaches 3.5 - 0.67 P15 inches, P15 being the rain of the 15 days (360 hours)
before those. The expected flags below are computed from that sentence and
the raw file alone, in whole hundredths of an inch (no floating point, no
code of the model), and compared with the model and with the four dates
data/samples/geology/SOURCES.md reports for the same gauge.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

from connectors.usgs_rain import read_landslide_dates, read_thresh_hourly
from models.landslide import (
    CumulativeThreshold,
    IntensityDurationThreshold,
    cumulative_now,
    evaluate_cumulative,
    evaluate_intensity_duration,
    flag_dates,
    load_thresholds,
    parse_thresholds,
    to_grid,
)
from schemas.errors import ConfigError, ParseError, PhysicalError

THRESH = Path(__file__).resolve().parents[2] / "data/samples/geology/usgs_thresh"
RULES = load_thresholds()
SEATTLE = RULES.cumulative["seattle"]
PST = timezone(timedelta(hours=-8))
# Dates of the Mukilteo list that SOURCES.md reports above the threshold at KPAE.
DOCUMENTED = {
    date(2011, 3, 14),
    date(2011, 3, 15),
    date(2011, 3, 18),
    date(2011, 11, 23),
}


def _raw_hundredths() -> dict[datetime, int]:
    """The KPAE file read directly: local hour -> hundredths of an inch."""
    raw = {}
    for line in (THRESH / "KPAE_t.txt").read_text().splitlines():
        stamp = datetime(
            int(line[2:6]), int(line[6:8]), int(line[8:10]), int(line[10:12])
        )
        raw[stamp] = int(line[12:15])
    return raw


def _published_rule_flags(landslides: list[date]) -> dict[date, bool]:
    """Flag a date when, at any hour of it, P3 >= 3.5 - 0.67 P15 and P3 > 0."""
    raw = _raw_hundredths()
    hour = timedelta(hours=1)
    flags = {}
    for day in landslides:
        flagged = False
        for h in range(24):
            now = datetime(day.year, day.month, day.day, h)
            p3 = sum(raw.get(now - k * hour, 0) for k in range(72))
            p15 = sum(raw.get(now - (72 + k) * hour, 0) for k in range(360))
            # in hundredths x 100: P3 * 100 >= 350 * 100 - 67 * P15
            if p3 > 0 and 100 * p3 >= 35000 - 67 * p15:
                flagged = True
        flags[day] = flagged
    return flags


def test_reader_converts_hundredths_of_an_inch_to_mm():
    series = read_thresh_hourly(THRESH / "KPAE_t.txt")
    raw = _raw_hundredths()
    assert series.station == "02"
    assert len(series.times) == len(raw) == 12521
    # 2010-07-24 00 h to 2011-12-31 23 h is 526 days; the file lacks 103 hours
    assert series.missing_h == 526 * 24 - 12521 == 103
    assert series.times[0] == datetime(2010, 7, 24, 0, tzinfo=PST)
    assert series.times[0].astimezone(UTC) == datetime(2010, 7, 24, 8, tzinfo=UTC)
    assert max(series.rain_mm) == pytest.approx(max(raw.values()) * 0.254)
    assert sum(series.rain_mm) == pytest.approx(sum(raw.values()) * 0.254)


def test_seattle_rule_flags_the_published_dates():
    landslides = read_landslide_dates(THRESH / "dates2011Muk.txt")
    assert len(landslides) == 11
    expected = _published_rule_flags(landslides)

    series = read_thresh_hourly(THRESH / "KPAE_t.txt")
    grid = to_grid(series.times, series.rain_mm)
    evaluated = evaluate_cumulative(grid, SEATTLE)
    got = flag_dates(grid, evaluated.reached, landslides)

    assert got == expected
    assert {d for d, flagged in got.items() if flagged} == DOCUMENTED


def test_knife_edge_of_14_march_2011():
    """At 23 h on 14 March, P3 = 2.08 in and P15 = 2.12 in: 2.08 >= 2.0796."""
    series = read_thresh_hourly(THRESH / "KPAE_t.txt")
    grid = to_grid(series.times, series.rain_mm)
    evaluated = evaluate_cumulative(grid, SEATTLE)
    i = grid.times.index(datetime(2011, 3, 14, 23, tzinfo=PST))
    assert evaluated.recent_mm[i] == pytest.approx(2.08 * 25.4)
    assert evaluated.antecedent_mm[i] == pytest.approx(2.12 * 25.4)
    assert evaluated.required_mm[i] == pytest.approx((3.5 - 0.67 * 2.12) * 25.4)
    assert evaluated.reached[i] and not evaluated.reached[i - 1]
    assert evaluated.ratio[i] == pytest.approx(2.08 / 2.0796)


def test_cumulative_threshold_by_hand():
    assert SEATTLE.intercept_mm == pytest.approx(88.9)
    assert (SEATTLE.recent_h, SEATTLE.antecedent_h) == (72, 360)
    assert SEATTLE.required_mm(0.0) == pytest.approx(88.9)
    assert SEATTLE.ratio(44.45, 0.0) == pytest.approx(0.5)
    # past 3.5 / 0.67 = 5.224 in of antecedent rain one tip (0.254 mm) is enough
    assert SEATTLE.required_mm(6.0 * 25.4) == pytest.approx(0.254)
    assert not SEATTLE.reached(0.0, 6.0 * 25.4)
    assert SEATTLE.reached(0.254, 6.0 * 25.4)
    with pytest.raises(PhysicalError, match="expected >= 0"):
        SEATTLE.ratio(-1.0, 0.0)


def test_missing_hours_count_as_dry_and_are_reported():
    start = datetime(2026, 6, 1, tzinfo=UTC)
    times = [start + timedelta(hours=h) for h in range(10) if h != 4]
    grid = to_grid(times, [5.0] * 9)
    assert np.isnan(grid.rain_mm[4])
    rule = CumulativeThreshold("t", 40.0, -0.5, 6, 3, 0.1)
    evaluated = evaluate_cumulative(grid, rule)
    # at hour 9: recent window 4..9 holds 5 wet hours and one missing
    assert evaluated.recent_mm[9] == 25.0
    # antecedent window 1..3 has 3 wet hours; nothing missing
    assert evaluated.antecedent_mm[9] == 15.0 and evaluated.missing_h[9] == 1
    # at hour 0 all 8 earlier hours lie before the record
    assert evaluated.missing_h[0] == 8
    end, ratio, reached, missing = cumulative_now(times, [5.0] * 9, rule)
    assert end == start + timedelta(hours=9)
    assert ratio == pytest.approx(25.0 / (40.0 - 7.5)) and not reached and missing == 1


def test_rain_event_duration_and_intensity():
    rule = IntensityDurationThreshold("t", 10.0, -0.5, 1.0, 48.0, dry_gap_h=3)
    start = datetime(2026, 6, 1, tzinfo=UTC)
    rain = [0, 10, 10, 10, 0, 0, 0, 4, 0, 0, 6]
    grid = to_grid([start + timedelta(hours=h) for h in range(len(rain))], rain)
    storms = evaluate_intensity_duration(grid, rule)
    # hours 1-3: 3 h at 10 mm/h; threshold at 3 h is 10 / sqrt(3) = 5.77 mm/h
    assert storms.duration_h[3] == 3 and storms.intensity_mm_per_h[3] == 10.0
    assert storms.ratio[3] == pytest.approx(10.0 / (10.0 * 3**-0.5))
    # one and two dry hours later: duration kept, intensity averaged to now
    assert storms.duration_h[5] == 3 and storms.intensity_mm_per_h[5] == 6.0
    # the third dry hour ends the event; hour 7 starts a new one
    assert np.isnan(storms.duration_h[6])
    assert storms.duration_h[7] == 1 and storms.intensity_mm_per_h[7] == 4.0
    # two dry hours only: hour 10 continues the event of hour 7
    assert storms.duration_h[10] == 4 and storms.intensity_mm_per_h[10] == 2.5
    assert storms.reached[3] and not storms.reached[10]


def test_published_id_threshold_in_mm():
    seattle = RULES.intensity_duration["seattle"]
    # I = 3.257 D^-1.13 in/h; at 10 h that is 0.2411 in/h
    assert seattle.threshold_mm_per_h(10.0) / 25.4 == pytest.approx(
        3.257 * 10**-1.13, rel=1e-3
    )
    assert seattle.ratio(1.0, 61.0) is None
    assert set(RULES.intensity_duration) == {"seattle", "caine1980", "guzzetti2008"}


@pytest.mark.parametrize(
    ("table", "word"),
    [
        ({"intercept_mm": 1, "intercept_in": 1}, "not both"),
        ({"slope": 0.5}, "slope <= 0"),
        ({"intercept_in": None}, "bad threshold field"),
    ],
)
def test_bad_threshold_files_are_refused(table, word):
    good = {
        "intercept_in": 3.5,
        "slope": -0.67,
        "recent_h": 72,
        "antecedent_h": 360,
        "min_recent_in": 0.01,
    }
    raw = {**good, **table}
    if raw.get("intercept_in") is None:
        del raw["intercept_in"]
        raw["intercept_mm"] = "three"
    with pytest.raises(ConfigError, match=word):
        parse_thresholds({"cumulative": {"x": raw}}, "test")


def test_reader_refuses_malformed_lines(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("022010072400000\n02201007240100\n")
    with pytest.raises(ParseError, match="line 2"):
        read_thresh_hourly(bad)
    back = tmp_path / "back.txt"
    back.write_text("022010072401000\n022010072400000\n")
    with pytest.raises(ParseError, match="not after"):
        read_thresh_hourly(back)
    nodata = tmp_path / "nodata.txt"
    nodata.write_text("022010072400000\n022010072401-99\n022010072402003\n")
    series = read_thresh_hourly(nodata)
    assert series.no_data_h == 1 and series.missing_h == 1
    assert series.rain_mm == (0.0, 3 * 0.254)
