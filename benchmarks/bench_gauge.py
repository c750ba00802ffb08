"""Gauge observations per second through the flood agent, against bare reads.

The physical baseline is a bare aiokafka consumer reading the same topic
from the same broker (no decoding, no state), once as is and once with
``json.loads`` of every value. Between the two sits faust's own floor, a
worker of the same options whose agent drops every record
(:mod:`benchmarks.faust_floor`). Against them: the flood agent of one ews
worker, then of two workers in one group, each on a topic of its own that
is loaded before the workers start; the rate is taken from the moment a
fifth of the records were committed to the moment all were
(:meth:`benchmarks.rig.Progress.rate`), so start-up and the group's first
rebalance are left out. A worker's CPU time per record is read from
``/proc`` (user + system, all its threads).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from kafka import KafkaConsumer

from benchmarks.gauge_load import GaugeLoad, miho_series, produce
from benchmarks.rig import Rig, follow

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of process ``pid`` so far, s."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


async def _bare(bootstrap: str, topic: str, total: int, decode: bool) -> dict[str, Any]:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        group_id=None,
        max_partition_fetch_bytes=4 * 1024 * 1024,
        fetch_max_bytes=16 * 1024 * 1024,
    )
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in partitions(bootstrap, topic)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        count, t0 = 0, time.perf_counter()
        while count < total:
            batches = await consumer.getmany(timeout_ms=1000, max_records=10_000)
            for records in batches.values():
                count += len(records)
                if decode:
                    for rec in records:
                        json.loads(rec.value)
        span = time.perf_counter() - t0
    finally:
        await consumer.stop()
    return {"records": count, "seconds": round(span, 3), "rate": count / span}


def partitions(bootstrap: str, topic: str) -> list[int]:
    """The partition numbers of ``topic``."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, client_id="ews-bench")
    try:
        return sorted(consumer.partitions_for_topic(topic) or ())
    finally:
        consumer.close()


def bare_rate(bootstrap: str, topic: str, total: int, decode: bool = False) -> dict:
    """Records per second a bare aiokafka consumer reads off ``topic``."""
    return asyncio.run(_bare(bootstrap, topic, total, decode))


def floor_rate(
    bootstrap: str, topic: str, total: int, *, stock: bool = False
) -> dict[str, Any]:
    """Records per second faust's do-nothing agent takes off ``topic``
    (with faust's own fetch loop if ``stock``)."""
    group = f"ews-floor-{uuid.uuid4().hex[:8]}"
    log = Path(tempfile.gettempdir()) / f"{group}.log"
    command = [sys.executable, "-m", "benchmarks.faust_floor", bootstrap, topic, group]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            command + (["stock"] if stock else []),
            cwd=Path(__file__).resolve().parents[1],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        cpu0 = cpu_seconds(proc.pid)
        seen = follow(bootstrap, group, topic, total)
        cpu = cpu_seconds(proc.pid) - cpu0
    except RuntimeError as exc:
        raise RuntimeError(f"{exc}; the floor's log is {log}") from None
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return {
        "records": total,
        "rate": seen.rate(),
        "seconds": round(seen.seconds, 2),
        "cpu_us_per_record": round(cpu / total * 1e6, 1),
    }


def worker_rate(
    rig: Rig, load: GaugeLoad, records: int, workers: int
) -> tuple[dict[str, Any], str]:
    """Rate of ``workers`` ews workers on a fresh topic of ``records`` gauges."""
    settings = rig.run(f"g{workers}w")
    topic = settings.topic("obs.gauge")
    sent, produce_s = produce(rig.bootstrap, topic, load.records(records))
    procs = rig.workers(settings, workers, wait_stable=False)
    cpu0 = sum(cpu_seconds(w.proc.pid) for w in procs)
    seen = follow(rig.bootstrap, settings.app_id, topic, sent)
    cpu = sum(cpu_seconds(w.proc.pid) for w in procs) - cpu0
    rig.stop(procs)
    return {
        "workers": workers,
        "records": sent,
        "rate": seen.rate(),
        "seconds": round(seen.seconds, 2),
        "cpu_us_per_record": round(cpu / sent * 1e6, 1),
        "load_rate": round(sent / produce_s),
    }, topic


def run(rig: Rig, records: int = 100_000, stations: int = 1000) -> dict[str, Any]:
    """The throughput figures of one session."""
    load = GaugeLoad(miho_series(rig.scenario), stations=stations, live_every=100)
    one, topic = worker_rate(rig, load, records, 1)
    bare = bare_rate(rig.bootstrap, topic, one["records"])
    decoded = bare_rate(rig.bootstrap, topic, one["records"], decode=True)
    floor = floor_rate(rig.bootstrap, topic, one["records"])
    stock = floor_rate(rig.bootstrap, topic, one["records"], stock=True)
    two, _ = worker_rate(rig, load, records, 2)
    return {
        "stations": stations,
        "live_stations": sum(1 for n in range(stations) if load.is_live(n)),
        "bare_aiokafka": bare,
        "bare_aiokafka_json": decoded,
        "faust_floor": floor,
        "faust_floor_stock": stock,
        "one_worker": one,
        "two_workers": two,
        "ratio_to_bare": one["rate"] / bare["rate"],
        "ratio_to_bare_json": one["rate"] / decoded["rate"],
        "floor_to_bare": floor["rate"] / bare["rate"],
        "floor_over_stock": floor["rate"] / stock["rate"],
        "ratio_to_floor": one["rate"] / floor["rate"],
        "two_over_one": two["rate"] / one["rate"],
    }
