"""The forest-fire agent: ``obs.fire`` to county warnings on ``warnings``.

One agent reads ``fire_obs/1`` records (keyed by station id), carries each
station's FWI codes in the table ``fire_stations`` (keyed by station id, so
co-partitioned with the records) and each county's warning in
``fire_counties``, and publishes the decisions of
:class:`pipeline.hazards.fire_scoring.FireScorer`. A record that does not
decode, fails ``fire_obs/1`` or carries an impossible value goes to the
dead-letter topic (``Wiring._agent``).
"""

from __future__ import annotations

import logging
import time
import zlib
from datetime import UTC, datetime, timedelta
from typing import Any

from models.fire_danger import load_fire_rules
from models.quality import check_not_future
from models.region import Region
from pipeline.agents.scoring import parse_time
from pipeline.hazards.fire_scoring import FireScorer
from pipeline.staging import Staged

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


def partition_by_own_key(table: Any) -> None:
    """Write a table's changelog records to a partition chosen by their own key.

    faust writes a changelog record to the partition of the record being
    processed, which is right for a table keyed like its source topic. An
    entry written from records of several partitions would then have its
    history spread over several changelog partitions, and a restarted
    worker, which recovers partitions in no set order, could end with an
    older value. Here the partition is the CRC-32 of the key, modulo the
    table's partitions: one history per key, whatever the source record.
    (faust's own ``use_partitioner`` asks the producer for the topic's
    metadata, which it lacks for a changelog it has not written to yet.)
    """
    partitions = int(table.partitions)

    def partition_for_key(key: Any) -> int:
        return zlib.crc32(str(key).encode("utf-8")) % partitions

    table.partition_for_key = partition_for_key


def register(wiring: Any) -> None:
    """Attach the forest-fire agent to a :class:`pipeline.app.Wiring`."""
    fire = fire_scorer(wiring.cap.region, wiring.settings.extra.get("status", "Actual"))
    stations, counties = (wiring.tables[name] for name in TABLES)
    # A county entry is written from the records of each of its stations,
    # which may sit in different partitions.
    # XXX: correct with one worker; with several, a county whose stations are
    # read by different workers needs a county-keyed topic to meet in.
    partition_by_own_key(counties)
    skew = timedelta(seconds=wiring.settings.clock_skew_s)

    async def on_fire(message: Any, msg: dict[str, Any]) -> None:
        started = message.timestamp or time.time()
        where = f"station {msg['station']['id']}"
        check_not_future(
            parse_time(msg["time"]), datetime.now(UTC), where=where, allowed_skew=skew
        )
        held = Staged(stations), Staged(counties)
        for ev in fire.score(msg, *held):
            await wiring._warn(ev, started)
        for view in held:  # once the events are on Kafka (pipeline.staging)
            view.apply()

    wiring._agent("obs.fire", "fire_obs/1", on_fire)
