"""The catalogue of every Kafka topic ews uses, declared once.

Each topic is a :class:`TopicSpec`; :data:`ALL` lists them in pipeline order
and :func:`by_name` finds one. :func:`pipeline.admin.ensure_topics` creates
them up front: the broker never creates a topic on first use
(``auto.create.topics.enable=false``) and faust must not either, or a table's
changelog and its source topic end up with different partition counts.

faust tables keep their state in compacted changelog topics named
``<app id>-<table name>-changelog``; faust declares those itself, with the
partition count of the topic the table is keyed by.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

from schemas.errors import ConfigError

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS


@dataclass(frozen=True)
class TopicSpec:
    """One topic: its name, layout, retention and what its records hold.

    Parameters
    ----------
    name
        Topic name.
    partitions
        Number of partitions; records with one key stay in one partition.
    retention_ms
        How long records are kept, in milliseconds (``None``: forever).
    cleanup_policy
        Kafka ``cleanup.policy``: ``"delete"`` or ``"compact"``.
    key
        What the record key is (in words), e.g. ``"station id"``.
    value_schema
        The ``schema`` field of the values (``"gauge_obs/1"``), or ``None``
        while that message type is not yet defined.
    description
        One line on what flows through the topic.
    """

    name: str
    partitions: int
    retention_ms: int | None
    cleanup_policy: str
    key: str
    value_schema: str | None
    description: str

    def __post_init__(self) -> None:
        if self.partitions < 1:
            raise ConfigError(
                f"topic {self.name!r}: partitions is {self.partitions}, expected >= 1"
            )
        if self.cleanup_policy not in ("delete", "compact", "compact,delete"):
            raise ConfigError(
                f"topic {self.name!r}: cleanup_policy is {self.cleanup_policy!r}, "
                "expected 'delete', 'compact' or 'compact,delete'"
            )

    def config(self) -> dict[str, str]:
        """Return the topic-level Kafka configuration to create it with."""
        settings = {"cleanup.policy": self.cleanup_policy}
        settings["retention.ms"] = (
            "-1" if self.retention_ms is None else str(self.retention_ms)
        )
        return settings


OBS_RADAR = TopicSpec(
    "obs.radar", 1, 2 * DAY_MS, "delete", "radar id", "radar_frame/1",
    "radar rain accumulation frames, one per radar and step",
)  # fmt: skip
OBS_GAUGE = TopicSpec(
    "obs.gauge", 4, 7 * DAY_MS, "delete", "station id", "gauge_obs/1",
    "river gauge stage observations",
)  # fmt: skip
OBS_GEO = TopicSpec(
    "obs.geo", 4, 7 * DAY_MS, "delete", "site id", None,
    "geotechnical (landslide) site observations",
)  # fmt: skip
OBS_FIRE = TopicSpec(
    "obs.fire", 4, 7 * DAY_MS, "delete", "station id", None,
    "fire-weather station observations",
)  # fmt: skip
GEO_TOWNS = TopicSpec(
    "geo.towns", 4, 2 * DAY_MS, "delete", "town code", "geo_town/1",
    "geological evidence and earthquake raises handed from sites to towns",
)  # fmt: skip
FIRE_COUNTIES = TopicSpec(
    "fire.counties", 4, 2 * DAY_MS, "delete", "county code", "fire_county/1",
    "a station's FWI codes for a noon, handed to its county",
)  # fmt: skip
RAIN_AREA = TopicSpec(
    "rain.area", 4, 2 * DAY_MS, "delete", "town code", "area_rain/1",
    "area rain statistics per town and accumulation step",
)  # fmt: skip
WARNINGS = TopicSpec(
    "warnings", 4, 30 * DAY_MS, "delete", "warning id", "warning_event/1",
    "warning lifecycle events: issue, upgrade, downgrade, extend, cancel",
)  # fmt: skip
ALERTS_CAP = TopicSpec(
    "alerts.cap", 4, 30 * DAY_MS, "delete", "warning id", "cap_alert/1",
    "CAP 1.2 alerts, one per warning event",
)  # fmt: skip
DEADLETTER = TopicSpec(
    "deadletter", 1, 30 * DAY_MS, "delete", "source", "deadletter/1",
    "records that could not be used, with the reason",
)  # fmt: skip
DISPATCH = TopicSpec(
    "dispatch", 4, 30 * DAY_MS, "delete", "warning id", None,
    "dissemination orders (SMS, loudspeaker) derived from CAP alerts",
)  # fmt: skip
RECEIPTS = TopicSpec(
    "receipts", 4, 30 * DAY_MS, "delete", "warning id", None,
    "delivery reports of dissemination orders",
)  # fmt: skip

ALL: tuple[TopicSpec, ...] = (
    OBS_RADAR,
    OBS_GAUGE,
    OBS_GEO,
    OBS_FIRE,
    GEO_TOWNS,
    FIRE_COUNTIES,
    RAIN_AREA,
    WARNINGS,
    ALERTS_CAP,
    DEADLETTER,
    DISPATCH,
    RECEIPTS,
)


def by_name(name: str) -> TopicSpec:
    """Return the declared topic called ``name``."""
    for spec in ALL:
        if spec.name == name:
            return spec
    known = ", ".join(spec.name for spec in ALL)
    raise ConfigError(f"no topic {name!r} is declared; declared topics: {known}")


def partition_of(key: str, partitions: int) -> int:
    """The partition of a town- or county-keyed hand-over topic for ``key``.

    The CRC-32 of the key, modulo the partitions: the sending agent picks
    the partition itself, so the receiving agent can tell which keys a
    partition holds (its earthquake clock decides only those), and the
    tables it writes, whose changelogs follow the partition of the record
    being processed, keep one history per key.
    """
    return zlib.crc32(key.encode("utf-8")) % partitions
