"""Hostile fire-weather and geological records through their agents' paths.

``obs.fire`` takes ``fire_obs/1`` records (daily and hourly station weather
for the FWI codes); ``obs.geo`` takes ``geo_rain/1`` (hourly gauge rain),
``slope_sensor/1`` (crack, displacement and pore-pressure readings with the
sensor's alarm rule) and ``quake_event/1`` (USGS events). Bursts of records
for a few stations, gauges, sensors and events: humidity above 100 %, wind
below zero, temperatures and rain of 1e308, hours of rain in a daily record,
readings repeated and reversed in time, rules with negative or missing
thresholds, quakes off the globe or of magnitude 12, counties and towns the
region does not have, and records whose JSON or bytes are broken outright.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz.harness import AgentPath, Tally, bounded_memory, fuzz_settings
from tests.fuzz.hostile import OFFSETS_MIN, Hostile, hostile, iso_with_offset

BATCH = 50
START = datetime(2023, 7, 1, 4, 0, tzinfo=UTC)  # noon at +08:00
COUNTIES = ["441223", "441224", "999999", ""]
TOWNS = [["441224001"], ["441224001", "441223001"], ["999999999"], []]
FIRE = {
    "schema": "fire_obs/1",
    "source": "fuzz",
    "station": {"id": "VW85", "lon": 112.4, "lat": 23.6, "county": "441223"},
    "period": "daily",
    "time": "2023-07-01T12:00:00+08:00",
    "temp_c": 30.0,
    "rh_pct": 40.0,
    "wind_kmh": 20.0,
    "rain_24h_mm": 0.0,
}
RAIN = {
    "schema": "geo_rain/1",
    "source": "fuzz",
    "gauge": {"id": "G1", "lon": 112.12, "lat": 23.88, "area_codes": ["441224001"]},
    "time": "2023-07-01T04:00:00+00:00",
    "step_s": 3600,
    "rain_mm": 5.0,
}
SLOPE = {
    "schema": "slope_sensor/1",
    "source": "fuzz",
    "site": {"id": "S1", "lon": 112.12, "lat": 23.88, "area_codes": ["441224001"]},
    "sensor": {
        "id": "CR1",
        "kind": "crack_width",
        "lon": 112.12,
        "lat": 23.88,
        "rule": {
            "level": {"attention_mm": 10.0, "warning_mm": 20.0, "alarm_mm": 40.0},
            "rate": {
                "attention_mm_per_day": 2.0,
                "warning_mm_per_day": 5.0,
                "alarm_mm_per_day": 10.0,
            },
            "rate_window_h": 6,
            "min_readings": 4,
            "confirm_readings": 2,
        },
    },
    "time": "2023-07-01T04:00:00+00:00",
    "crack_width_mm": 5.0,
}
QUAKE = {
    "schema": "quake_event/1",
    "source": "fuzz",
    "event_id": "us1",
    "time": "2023-07-01T04:00:00+00:00",
    "updated": "2023-07-01T04:10:00+00:00",
    "lon": 112.1,
    "lat": 23.8,
    "depth_km": 10.0,
    "magnitude": 5.5,
    "magnitude_type": "mw",
    "place": "near Zhaoqing",
    "event_type": "earthquake",
    "status": "reviewed",
}


def amount(h: Hostile, typical: float, spread: float) -> float:
    roll = h.rng.random()
    if roll < 0.75:
        return round(typical + h.rng.uniform(-spread, spread), 2)
    if roll < 0.85:
        return h.pick([-1.0, 101.0, 1e6, 0.0])
    return h.float()


def stamp(h: Hostile, hours: int) -> str:
    t = START + timedelta(hours=h.rng.randint(-hours, hours))
    if h.chance(0.03):
        t = datetime.now(UTC) + timedelta(days=h.pick([1, 400]))
    return iso_with_offset(t, h.pick(OFFSETS_MIN))


def fire_record(h: Hostile) -> bytes:
    if h.chance(0.2):
        return h.mutated_json(FIRE)
    msg = json.loads(json.dumps(FIRE))
    msg["station"]["id"] = h.pick(["VW85", "VW86", "\u202e"])
    msg["station"]["county"] = h.pick(COUNTIES)
    msg["period"] = h.pick(["daily", "daily", "hourly"])
    t = START + timedelta(days=h.rng.randint(-5, 20))
    if msg["period"] == "hourly":
        t += timedelta(hours=h.rng.randint(-12, 12))
        if h.chance(0.8):
            msg["rain_1h_mm"] = amount(h, 1.0, 1.0)
            del msg["rain_24h_mm"]
    msg["time"] = iso_with_offset(t, h.pick([480, 480, 0, -360]))
    msg["temp_c"] = amount(h, 25.0, 10.0)
    msg["rh_pct"] = amount(h, 50.0, 45.0)
    msg["wind_kmh"] = amount(h, 15.0, 15.0)
    if "rain_24h_mm" in msg:
        msg["rain_24h_mm"] = amount(h, 3.0, 3.0)
    if h.chance(0.05):
        msg["season_start"] = True
        msg["winter_precip_mm"] = amount(h, 100.0, 100.0)
    return json.dumps(msg, allow_nan=True).encode()


def geo_record(h: Hostile) -> bytes:
    base = h.pick([RAIN, SLOPE, QUAKE])
    if h.chance(0.2):
        return h.mutated_json(base)
    msg: dict[str, Any] = json.loads(json.dumps(base))
    msg["time"] = stamp(h, 24)
    if base is RAIN:
        msg["gauge"]["area_codes"] = h.pick(TOWNS)
        msg["rain_mm"] = amount(h, 5.0, 5.0)
    elif base is SLOPE:
        msg["site"]["area_codes"] = h.pick(TOWNS)
        msg["sensor"]["kind"] = h.pick(["crack_width", "displacement", "nonsense"])
        msg["crack_width_mm"] = amount(h, 15.0, 15.0)
        rule = msg["sensor"]["rule"]
        if h.chance(0.2):
            key = h.pick(["rate_window_h", "min_readings", "confirm_readings"])
            rule[key] = h.pick([0, -1, 10**9, 1.5])
        if h.chance(0.1):
            rule["level"] = {"attention_mm": 30.0, "warning_mm": 20.0}
    else:
        msg["event_id"] = h.pick(["us1", "us2", "us3"])
        msg["lon"] = h.pick([112.1, 112.5, 0.0, 180.0])
        msg["lat"] = h.pick([23.8, 23.2, 90.0, -90.0])
        msg["magnitude"] = h.pick([None, 3.0, 6.5, 9.9, 12.0, -3.0])
        msg["depth_km"] = h.pick([None, 0.0, 10.0, 700.0, -50.0])
        msg["updated"] = stamp(h, 24)
    return json.dumps(msg, allow_nan=True).encode()


def run_topic(topic: str, record: Any) -> None:
    path = AgentPath()
    tally = Tally(f"records on {topic}")

    @fuzz_settings(BATCH)
    @given(hostile, st.integers(BATCH, BATCH + BATCH // 4))
    def run(h: Hostile, count: int) -> None:
        for _ in range(count):
            outputs, letter = path.feed(topic, record(h))
            if letter is None:
                tally.accept()
            else:
                tally.refuse(letter["reason_class"])

    run_once = Hostile(__import__("random").Random(0))
    path.feed(topic, record(run_once))  # rule tables, caches
    with bounded_memory(tally.kind):
        run()
    print(tally)
    tally.check_total()
    assert tally.accepted > 0 and sum(tally.refused.values()) > 0


def test_hostile_fire_weather_records_are_scored_or_dead_lettered() -> None:
    run_topic("obs.fire", fire_record)


def test_hostile_geological_records_are_scored_or_dead_lettered() -> None:
    run_topic("obs.geo", geo_record)
