"""Synthetic gauge load cloned from the real Miho River Bridge record.

The demo scenario's gauge feed is the Miho River Bridge station (HRFCO
3011665), hourly stages of 10-18 July 2023 (216 readings, the Osong
flood: 1.66 m rising past its red level of 9.38 m and back). A load of
``stations`` clones takes that station record with a distinct id per
clone (``3011665-c00042``) and the real stage series, every clone reporting
every hour: step ``k`` is hour ``k`` after the record's first reading and
carries the ``k % 216``-th real stage, so a long load plays the flood again
every nine days (the wrap from 4.02 m back to 1.66 m is a fall of 2.4 m in
an hour, within what a river may do).

Every ``live_every``-th clone keeps the real warning levels and warns as
the real station does; the others get levels 100 m higher, so they are
scored like any station but stay quiet, as most stations are on any day.
Values are encoded once per step and stage (checked against the schema)
and the clone id is spliced in, so a million records are generated in
seconds.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from kafka import KafkaProducer

from connectors.scenario import Scenario
from schemas import registry

QUIET_RAISE_M = 100.0
ID_MARK = "@@ID@@"


def miho_series(scenario: Scenario) -> list[dict[str, Any]]:
    """The real ``gauge_obs/1`` messages of the scenario's gauge feed."""
    series = [r.value for r in scenario.records() if r.topic == "obs.gauge"]
    if not series or not isinstance(series[0], dict):
        raise ValueError(f"scenario {scenario.name} has no gauge feed to clone")
    return series


def clone_id(base: str, n: int) -> str:
    return f"{base}-c{n:05d}"


@dataclass
class GaugeLoad:
    """Records of ``stations`` clones of one real station, hour by hour."""

    series: list[dict[str, Any]]
    stations: int
    live_every: int = 100

    def _templates(self, step: int, live: bool) -> str:
        real = self.series[step % len(self.series)]
        msg = json.loads(json.dumps(real))
        first = datetime.fromisoformat(self.series[0]["time"])
        msg["time"] = (first + timedelta(hours=step)).isoformat()
        msg["station"]["id"] = ID_MARK
        if not live:
            levels = msg["station"]["levels"]
            msg["station"]["levels"] = {k: v + QUIET_RAISE_M for k, v in levels.items()}
        checked = dict(msg, station=dict(msg["station"], id="3011665-c00000"))
        registry.validate(checked, "gauge_obs/1")
        return json.dumps(msg, ensure_ascii=False)

    def is_live(self, n: int) -> bool:
        return self.live_every > 0 and n % self.live_every == 0

    def records(self, count: int, first_step: int = 0) -> Iterator[tuple[bytes, bytes]]:
        """``count`` (key, value) pairs: every clone's reading of each hour."""
        base = str(self.series[0]["station"]["id"])
        ids = [clone_id(base, n) for n in range(self.stations)]
        sent, step = 0, first_step
        while sent < count:
            live = self._templates(step, True)
            quiet = self._templates(step, False)
            for n, sid in enumerate(ids):
                text = (live if self.is_live(n) else quiet).replace(ID_MARK, sid)
                yield sid.encode(), text.encode()
                sent += 1
                if sent >= count:
                    return
            step += 1


def bulk_producer(bootstrap: str) -> KafkaProducer:
    """A producer tuned for loading a topic fast (big batches)."""
    return KafkaProducer(
        bootstrap_servers=bootstrap,
        acks=1,
        linger_ms=20,
        batch_size=512 * 1024,
        max_request_size=4 * 1024 * 1024,
    )


def produce(
    bootstrap: str,
    topic: str,
    records: Iterator[tuple[bytes, bytes]],
    *,
    rate_per_s: float | None = None,
) -> tuple[int, float]:
    """Send ``records`` to ``topic``; return (count, seconds).

    ``rate_per_s`` paces the sends (a steady load); ``None`` sends as fast
    as the producer goes.
    """
    prod = bulk_producer(bootstrap)
    failed: list[BaseException] = []
    t0 = time.monotonic()
    n = 0
    try:
        for key, value in records:
            if rate_per_s:
                lag = n / rate_per_s - (time.monotonic() - t0)
                if lag > 0:
                    time.sleep(lag)
            prod.send(topic, key=key, value=value).add_errback(failed.append)
            n += 1
        prod.flush()
    finally:
        prod.close()
    if failed:
        raise RuntimeError(f"{len(failed)} of {n} records not sent: {failed[0]!r}")
    return n, time.monotonic() - t0
