"""Memory of one worker over a soak of a million gauge records.

1,000 clones of the Miho River Bridge station (see
:mod:`benchmarks.gauge_load`; every hundredth warns as the real station
does) report hour after hour, a million records in all, loaded while the
worker consumes them. The worker's resident set size is read from
``/proc`` at every poll. Growth is the last reading against the reading
once a tenth of the records were committed (imports, tables and buffers
are in place by then), in per cent.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from benchmarks.gauge_load import GaugeLoad, miho_series, produce
from benchmarks.rig import Rig, follow, rss_bytes

MIB = 2**20


def run(rig: Rig, records: int = 1_000_000, stations: int = 1000) -> dict[str, Any]:
    """The memory figures of one soak."""
    load = GaugeLoad(miho_series(rig.scenario), stations=stations, live_every=100)
    settings = rig.run("soak")
    topic = settings.topic("obs.gauge")
    (worker,) = rig.workers(settings, 1)
    pid = worker.proc.pid
    samples: list[tuple[float, int, int]] = []
    loaded: list[tuple[int, float]] = []

    def load_topic() -> None:
        loaded.append(produce(rig.bootstrap, topic, load.records(records)))

    feeder = threading.Thread(target=load_topic, name="soak-load", daemon=True)
    t0 = time.monotonic()
    feeder.start()
    progress = follow(
        rig.bootstrap,
        settings.app_id,
        topic,
        records,
        poll_s=1.0,
        on_poll=lambda t, done: samples.append((t, done, rss_bytes(pid))),
    )
    seconds = time.monotonic() - t0
    feeder.join()
    rig.stop([worker])

    base = next(s for s in samples if s[1] >= records // 10)
    last = samples[-1]
    peak = max(s[2] for s in samples)
    return {
        "records": records,
        "stations": stations,
        "seconds": round(seconds, 1),
        "rate": progress.rate(),
        "rss_start_mib": round(samples[0][2] / MIB, 1),
        "rss_at_10pct_mib": round(base[2] / MIB, 1),
        "rss_end_mib": round(last[2] / MIB, 1),
        "rss_peak_mib": round(peak / MIB, 1),
        "rss_growth_pct": round((last[2] - base[2]) / base[2] * 100.0, 1),
        "load_seconds": round(loaded[0][1], 1) if loaded else None,
        "rss_series_mib": [
            (round(t, 1), done, round(rss / MIB, 1)) for t, done, rss in samples[::10]
        ],
    }
