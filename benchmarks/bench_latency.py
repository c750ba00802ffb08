"""Observation-to-CAP latency at a steady gauge load.

Clones of the Miho River Bridge station (see :mod:`benchmarks.gauge_load`)
report hour after hour at a fixed rate of records per second, well under
what one worker can take, while one worker runs. Every CAP alert of a
flood warning is matched to the gauge record that caused it (the station
of its warning id and its ``sent`` time, which is the observation's time)
and its latency is the Kafka timestamp of the alert minus that of the
gauge record: producer, broker, flood agent, ``warnings`` topic, CAP agent
(with its CAP 1.2 schema check) and broker again.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import numpy as np

from benchmarks.gauge_load import GaugeLoad, miho_series, produce
from benchmarks.rig import Rig, follow
from pipeline.lag import end_offsets
from pipeline.summary import read_topic


def _obs_key(station: str, when: str) -> tuple[str, float]:
    return station, datetime.fromisoformat(when.replace("Z", "+00:00")).timestamp()


def latencies_ms(bootstrap: str, gauge_topic: str, cap_topic: str) -> list[float]:
    """Per CAP alert of a flood warning: its timestamp minus its gauge record's."""
    produced = {}
    for rec in read_topic(bootstrap, gauge_topic):
        msg = json.loads(rec.value)
        produced[_obs_key(msg["station"]["id"], msg["time"])] = rec.timestamp
    out = []
    for rec in read_topic(bootstrap, cap_topic):
        env = json.loads(rec.value)
        if env["hazard"] != "flood":
            continue
        station = env["warning_id"].split(":")[1]
        cause = produced.get(_obs_key(station, env["sent"]))
        if cause is not None:
            out.append(float(rec.timestamp - cause))
    return out


def run(
    rig: Rig, rate_per_s: float = 250.0, stations: int = 50, live_every: int = 5
) -> dict[str, Any]:
    """One steady run through the whole Miho series; the latency figures."""
    load = GaugeLoad(
        miho_series(rig.scenario), stations=stations, live_every=live_every
    )
    settings = rig.run("lat")
    gauge, cap = settings.topic("obs.gauge"), settings.topic("alerts.cap")
    procs = rig.workers(settings, 1)
    count = stations * len(load.series)
    sent, seconds = produce(
        rig.bootstrap, gauge, load.records(count), rate_per_s=rate_per_s
    )
    follow(rig.bootstrap, settings.app_id, gauge, sent)
    warnings = settings.topic("warnings")
    follow(
        rig.bootstrap,
        settings.app_id,
        warnings,
        end_offsets(rig.bootstrap, [warnings])[warnings],
    )
    rig.stop(procs)
    lat = np.asarray(latencies_ms(rig.bootstrap, gauge, cap))
    return {
        "rate_per_s": rate_per_s,
        "achieved_rate_per_s": round(sent / seconds, 1),
        "records": sent,
        "stations": stations,
        "live_stations": sum(1 for n in range(stations) if load.is_live(n)),
        "alerts": int(lat.size),
        "p50_ms": float(np.percentile(lat, 50)) if lat.size else None,
        "p99_ms": float(np.percentile(lat, 99)) if lat.size else None,
        "max_ms": float(lat.max()) if lat.size else None,
    }
