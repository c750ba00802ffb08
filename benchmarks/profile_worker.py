"""Where a worker's time goes on gauge records: a worker under cProfile.

    python -m benchmarks.profile_worker [--records 50000] [--top 30]
                                        [--bootstrap HOST:PORT]

A fresh run's ``obs.gauge`` is loaded with the synthetic Miho clones
(:mod:`benchmarks.gauge_load`), then one worker runs under ``cProfile``
until the group has committed every record, and stops on SIGTERM (faust's
clean shutdown, after which the profile is written). Printed: the worker's
rate, the functions with the most time of their own, and that time summed
by package (faust and mode, aiokafka, the ews packages, the standard
library), so a change to the hot path can be judged before and after.
"""

from __future__ import annotations

import argparse
import logging
import os
import pstats
import subprocess
import sys
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script
    sys.path.insert(0, str(REPO))

from benchmarks.gauge_load import GaugeLoad, miho_series, produce  # noqa: E402
from benchmarks.rig import follow, open_rig  # noqa: E402
from pipeline.worker import READY_MARK, WorkerProcess  # noqa: E402

PACKAGES = (
    ("faust/", "faust"),
    ("mode/", "mode (faust's services)"),
    ("aiokafka/", "aiokafka"),
    ("kafka/", "kafka-python"),
    ("prometheus_client/", "prometheus_client"),
    ("/schemas/", "ews schemas"),
    ("/models/", "ews models"),
    ("/pipeline/", "ews pipeline"),
    ("/connectors/", "ews connectors"),
    ("python3.11/json/", "json"),
    ("python3.11/asyncio/", "asyncio"),
)


def package(filename: str) -> str:
    for mark, name in PACKAGES:
        if mark in filename:
            return name
    if filename.startswith("~") or filename.startswith("<"):
        return "builtins"
    return "other"


class ProfiledWorker(WorkerProcess):
    """A worker process run under cProfile, writing its profile to ``out``."""

    def __init__(self, settings, home: Path, out: Path) -> None:
        super().__init__(settings, home, name="profiled")
        self.out = out

    def start(self) -> None:
        log = open(self.log_path, "ab")  # noqa: SIM115 (kept by the child)
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "cProfile",
                "-o",
                str(self.out),
                "-m",
                "pipeline.commands",
                "worker",
                "--settings",
                str(self.settings_path),
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(os.environ, PYTHONUNBUFFERED="1"),
            cwd=REPO,
        )
        log.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--stations", type=int, default=1000)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--bootstrap", default=None)
    parser.add_argument("--out", type=Path, default=Path("/tmp/ews-worker.prof"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    with open_rig(args.bootstrap) as rig:
        load = GaugeLoad(miho_series(rig.scenario), stations=args.stations)
        settings = rig.run("prof")
        topic = settings.topic("obs.gauge")
        sent, _ = produce(rig.bootstrap, topic, load.records(args.records))
        worker = ProfiledWorker(settings, rig.home / settings.app_id, args.out)
        worker.start()
        worker.wait_ready()
        progress = follow(rig.bootstrap, settings.app_id, topic, sent)
        worker.stop()
        assert READY_MARK in worker.log()

    stats = pstats.Stats(str(args.out))
    by_package: Counter = Counter()
    total = 0.0
    for (filename, _, _), (_, _, tottime, _, _) in stats.stats.items():  # type: ignore[attr-defined]
        by_package[package(filename)] += tottime
        total += tottime
    print(f"{sent:,} gauge records at {progress.rate():,.0f} obs/s under cProfile")
    print(f"own time by package (of {total:.1f} s profiled):")
    for name, seconds in by_package.most_common():
        print(f"  {name:28s} {seconds:8.2f} s  {seconds / total:6.1%}"
              f"  {seconds / sent * 1e6:8.1f} us/record")  # fmt: skip
    stats.sort_stats("tottime").print_stats(args.top)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
