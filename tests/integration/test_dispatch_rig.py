"""Running the dispatcher in a real worker process against the test broker.

:class:`DispatchRun` writes a worker's settings (its own app id and topic
prefix, so runs never mix), creates the topics, starts
:class:`pipeline.worker.WorkerProcess`, publishes ``cap_alert/1`` records
on ``alerts.cap`` as the CAP agent does, and reads back what the
dispatcher wrote: its coverage snapshots (the ``dispatch_coverage``
changelog), the ``dispatch`` orders and the ``receipts``. No test here.
"""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from kafka import KafkaProducer

from pipeline.dispatch.report import snapshots
from pipeline.settings import Settings
from pipeline.summary import read_topic
from pipeline.worker import WorkerProcess, prepare
from schemas import registry

WAIT_S = 120.0
_runs = itertools.count(1)


class DispatchRun:
    """One worker with the dispatcher, on its own topics."""

    def __init__(self, bootstrap: str, home: Path, settings: Settings) -> None:
        n = next(_runs)
        stamp = f"dt{int(time.time())}{n}"
        self.settings = replace(
            settings,
            bootstrap=bootstrap,
            app_id=f"ews-{stamp}",
            topic_prefix=f"{stamp}.",
            archive_dir="",
        )
        self.home = home
        prepare(self.settings)
        self.workers: list[WorkerProcess] = []

    def start(self, name: str = "worker") -> WorkerProcess:
        worker = WorkerProcess(self.settings, self.home, name=name)
        worker.start()
        worker.wait_ready()
        self.workers.append(worker)
        return worker

    def stop(self) -> None:
        for worker in self.workers:
            worker.stop()

    def publish(self, *records: dict[str, Any]) -> None:
        producer = KafkaProducer(bootstrap_servers=self.settings.bootstrap)
        try:
            for record in records:
                producer.send(
                    self.settings.topic("alerts.cap"),
                    key=record["warning_id"].encode(),
                    value=registry.encode(record),
                )
            producer.flush()
        finally:
            producer.close()

    def wait_closed(self, *identifiers: str, timeout_s: float = WAIT_S) -> dict:
        """The coverage snapshots, once dispatch of every identifier is over."""
        deadline = time.monotonic() + timeout_s
        while True:
            snaps = snapshots(self.settings)
            if all((snaps.get(i) or {}).get("state") == "closed" for i in identifiers):
                return snaps
            for worker in self.workers:
                if worker.proc is not None and worker.proc.poll() is not None:
                    if worker.proc.returncode not in (0, -9):
                        raise AssertionError(f"worker died:\n{worker.log()[-3000:]}")
            if time.monotonic() > deadline:
                log = self.workers[-1].log()[-4000:] if self.workers else ""
                raise AssertionError(f"dispatch not over in {timeout_s} s:\n{log}")
            time.sleep(0.5)

    def records(self, topic: str) -> list[dict[str, Any]]:
        """Every record of one of the run's topics, decoded."""
        return [
            json.loads(r.value)
            for r in read_topic(self.settings.bootstrap, self.settings.topic(topic))
        ]

    def log(self) -> str:
        return "\n".join(w.log() for w in self.workers)
