"""The geological-hazard agent: ``obs.geo`` to town warnings on ``warnings``.

``obs.geo`` carries three kinds of record, each with its own schema:
``geo_rain/1`` (keyed by the slope site the gauge serves),
``slope_sensor/1`` (keyed by site id) and ``quake_event/1`` (keyed by the
seismic network). :func:`decode_geo` decodes a record as the schema it
declares; one of another schema, or one that fails its own, goes to the
dead-letter topic like any bad record (``Wiring._agent``). The site agent keeps
the gauge and sensor windows in ``geo_sites`` (keyed by ``rain:<gauge>`` or
``sensor:<sensor>``, written from the site's own partition) and hands the
new evidence to each town the site stands for on ``geo.towns``
(``geo_town/1``, keyed by town code); an earthquake goes there once per
partition, with the towns of that partition it raises. The town agent reads
``geo.towns``, keeps the town evidence and warnings in ``geo_towns`` and
publishes the decisions of :class:`pipeline.hazards.geo_scoring.GeoScorer`.
So a town whose gauges and sensors sit in partitions of ``obs.geo`` held by
different workers is still decided from all of them, in its one partition.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from models.geo_risk import load_geo_risk
from models.landslide import load_thresholds
from models.quality import check_not_future
from models.region import Region
from pipeline.agents.scoring import parse_time
from pipeline.hazards.geo_scoring import GeoScorer
from pipeline.staging import Staged
from pipeline.topics import by_name, partition_of
from schemas import registry
from schemas.errors import ParseError, SchemaError

logger = logging.getLogger(__name__)

TABLES = ("geo_sites", "geo_towns")
GEO_SCHEMAS = ("geo_rain/1", "slope_sensor/1", "quake_event/1")


def geo_scorer(region: Region, status: str) -> GeoScorer:
    """The scorer for the towns of ``region``, with the shipped rules.

    A town's reference point for the earthquake distance is a point inside
    its polygon (``representative_point``).
    """
    points = {}
    for town in region.towns:
        point = town.polygon.representative_point()
        points[town.code] = (float(point.x), float(point.y))
    return GeoScorer(
        load_geo_risk(),
        load_thresholds(),
        points,
        {t.code: t.name for t in region.towns},
        status,
    )


def decode_geo(raw: bytes) -> dict[str, Any]:
    """Decode an ``obs.geo`` record as the schema it declares.

    Raises
    ------
    ParseError
        Not UTF-8 JSON.
    SchemaError
        It declares none of :data:`GEO_SCHEMAS`, or fails the one it declares.
    """
    try:
        declared = json.loads(bytes(raw).decode("utf-8")).get("schema")
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        # RecursionError: arrays or objects nested deeper than Python reads
        raise ParseError(
            f"obs.geo record is not UTF-8 JSON ({str(exc)[:200]})"
        ) from None
    except AttributeError:
        declared = None
    if declared not in GEO_SCHEMAS:
        raise SchemaError(
            f"obs.geo record declares schema {declared!r}; expected one of "
            f"{list(GEO_SCHEMAS)}"
        )
    return registry.decode(raw, declared)


def register(wiring: Any) -> None:
    """Attach the geological-hazard agents to a :class:`pipeline.app.Wiring`."""
    geo = geo_scorer(wiring.cap.region, wiring.settings.extra.get("status", "Actual"))
    sites, towns = (wiring.tables[name] for name in TABLES)
    partitions = by_name("geo.towns").partitions
    skew = timedelta(seconds=wiring.settings.clock_skew_s)

    async def on_geo(message: Any, msg: dict[str, Any]) -> None:
        check_not_future(
            parse_time(msg["time"]),
            datetime.now(UTC),
            where=f"obs.geo {msg['schema']} record",
            allowed_skew=skew,
        )
        held = Staged(sites)
        for record in geo.site_step(msg, held):
            for key, partition, part in _hand_over(record, partitions):
                await wiring._publish(
                    "geo.towns",
                    key,
                    part,
                    message.timestamp,
                    wait=True,
                    partition=partition,
                )
        held.apply()  # once the records are on Kafka (pipeline.staging)

    async def on_town(message: Any, record: dict[str, Any]) -> None:
        started = message.timestamp or time.time()
        held = Staged(towns)

        def mine(code: str) -> bool:
            return partition_of(code, partitions) == message.partition

        for ev in geo.town_step(record, held, mine):
            await wiring._warn(ev, started)
        held.apply()

    wiring._agent("obs.geo", decode_geo, on_geo)
    wiring._agent("geo.towns", "geo_town/1", on_town)


def _hand_over(
    record: dict[str, Any], partitions: int
) -> list[tuple[str, int, dict[str, Any]]]:
    """``(key, partition, record)`` to send for one ``geo_town/1`` record.

    Evidence goes to its town's partition; an earthquake to every
    partition, each copy raising only the towns that partition holds (and
    keyed by the event, since it stands for no one town).
    """
    if record["kind"] == "evidence":
        town = record["town"]
        return [(town, partition_of(town, partitions), record)]
    parts = []
    for p in range(partitions):
        raised = {
            code: r
            for code, r in record["raised"].items()
            if partition_of(code, partitions) == p
        }
        parts.append((record["event_id"], p, dict(record, raised=raised)))
    return parts
