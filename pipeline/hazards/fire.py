"""The forest-fire agents: ``obs.fire`` to county warnings on ``warnings``.

The station agent reads ``fire_obs/1`` records (keyed by station id),
carries each station's FWI codes in the table ``fire_stations`` (keyed by
station id, so co-partitioned with the records) and hands each new noon's
codes to its county on ``fire.counties`` (``fire_county/1``, keyed by
county code). The county agent reads those, keeps each county's warning in
``fire_counties`` and publishes the decisions of
:class:`pipeline.hazards.fire_scoring.FireScorer`. A county's stations sit
in different partitions of ``obs.fire``, which different workers may hold;
on ``fire.counties`` they meet in the county's one partition, so every
worker count decides a county from all its stations. A record that does not
decode, fails its schema or carries an impossible value goes to the
dead-letter topic (``Wiring._agent``).
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from models.fire_danger import load_fire_rules
from models.quality import check_not_future
from models.region import Region
from pipeline.agents.scoring import parse_time
from pipeline.hazards.fire_scoring import FireScorer
from pipeline.staging import Staged
from pipeline.topics import by_name, partition_of

logger = logging.getLogger(__name__)

TABLES = ("fire_stations", "fire_counties")


def fire_scorer(region: Region, status: str) -> FireScorer:
    """The scorer for the counties of ``region``, with the shipped rules."""
    return FireScorer(
        load_fire_rules(),
        {c.code: c.town_codes for c in region.counties},
        {t.code: t.name for t in region.towns},
        status,
    )


def register(wiring: Any) -> None:
    """Attach the forest-fire agents to a :class:`pipeline.app.Wiring`."""
    fire = fire_scorer(wiring.cap.region, wiring.settings.extra.get("status", "Actual"))
    stations, counties = (wiring.tables[name] for name in TABLES)
    partitions = by_name("fire.counties").partitions
    skew = timedelta(seconds=wiring.settings.clock_skew_s)

    async def on_fire(message: Any, msg: dict[str, Any]) -> None:
        where = f"station {msg['station']['id']}"
        check_not_future(
            parse_time(msg["time"]), datetime.now(UTC), where=where, allowed_skew=skew
        )
        held = Staged(stations)
        for record in fire.station_step(msg, held):
            county = record["county"]
            await wiring._publish(
                "fire.counties",
                county,
                record,
                message.timestamp,
                wait=True,
                partition=partition_of(county, partitions),
            )
        held.apply()  # once the records are on Kafka (pipeline.staging)

    async def on_county(message: Any, record: dict[str, Any]) -> None:
        started = message.timestamp or time.time()
        held = Staged(counties)
        for ev in fire.county_step(record, held):
            await wiring._warn(ev, started)
        held.apply()

    wiring._agent("obs.fire", "fire_obs/1", on_fire)
    wiring._agent("fire.counties", "fire_county/1", on_county)
