"""Running workers: in this process (``ews worker``) or as a child process.

A faust worker owns its event loop and installs signal handlers, which only
works in a main thread; so the demo and the tests start workers as child
processes, exactly as an operator would, and stop them with SIGTERM, which
gives faust's clean shutdown (offsets committed, changelogs flushed).
Before a worker starts, every topic it reads or writes exists: the
catalogue's topics with the run's prefix, and the changelog topic of each
table, compacted, with the partition count of the topic it is keyed by.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import faust

from pipeline import fetch
from pipeline.admin import ensure_topics
from pipeline.app import TABLES, changelog_topic, create_app
from pipeline.kafka_security import client_kwargs
from pipeline.settings import Settings
from pipeline.topics import ALL, TopicSpec
from schemas.errors import BrokerError

logger = logging.getLogger(__name__)

READY_MARK = "[^Worker]: Ready"


def run_specs(settings: Settings) -> list[TopicSpec]:
    """Every topic a worker with ``settings`` needs, with its real name."""
    specs = [
        TopicSpec(
            settings.topic(s.name),
            s.partitions,
            s.retention_ms,
            s.cleanup_policy,
            s.key,
            s.value_schema,
            s.description,
        )
        for s in ALL
    ]
    for table in TABLES:
        specs.append(
            TopicSpec(
                changelog_topic(settings, table),
                4,
                None,
                "compact",
                "table key",
                None,
                f"changelog of table {table}",
            )
        )
    return specs


def prepare(settings: Settings) -> None:
    """Create the run's topics up front (idempotent)."""
    ensure_topics(
        settings.bootstrap, run_specs(settings), security=client_kwargs(settings)
    )


def run_here(settings: Settings, loglevel: str = "info") -> None:
    """Run a worker in this process until it is told to stop."""
    from pipeline.metrics import make_metrics  # noqa: PLC0415

    metrics = make_metrics()
    if settings.metrics_port:
        from prometheus_client import start_http_server  # noqa: PLC0415

        start_http_server(
            settings.metrics_port, addr=settings.metrics_bind, registry=metrics.registry
        )
    commit_only_what_agents_took()
    fetch.install()
    app = create_app(settings, metrics)
    journal = settings.extra.get("offset_journal")
    if journal:
        app.sensors.add(OffsetJournal(journal))
    # faust's own command line runs the worker: it installs the signal
    # handlers and the clean shutdown that commits offsets on SIGTERM.
    sys.argv = [
        "ews-worker",
        "worker",
        "--loglevel",
        loglevel,
        "--without-web" if not settings.web_port else "--web-host=127.0.0.1",
    ]
    app.main()


def commit_only_what_agents_took() -> None:
    """Keep faust from committing records its streams dropped in a rebalance.

    While a rebalance is under way (flow control off) and for records
    fetched under an older consumer generation, faust 0.15.3's stream hands
    nothing to the agent but still acks the record, so its offset is
    committed with the next commit: the record is lost for good, whichever
    worker gets the partition next. ``tests/integration/test_faults.py``
    caught it (19 warning events never reached the CAP agent in one run of
    six kills). This wraps faust's ``Consumer.ack``: such a record is
    forgotten (so a rebalance does not wait for it) but not acked, and the
    seek to the committed offsets after the rebalance reads it again. A
    record acked just as a rebalance starts is read twice, which the
    idempotent agents absorb.
    """
    from faust.transport.consumer import Consumer  # noqa: PLC0415

    faust_ack = Consumer.ack
    if getattr(faust_ack, "ews_checked", False):
        return

    def ack(self: Consumer, message: Any) -> bool:
        app = self.app
        if app.topics.acks_enabled_for(message.topic) and (
            not app.flow_control.is_active()
            or message.generation_id != app.consumer_generation_id
        ):
            # XXX: faust acks the records it skips in a rebalance; refused
            # here by wrapping a faust method, until faust stops doing so.
            message.acked = True
            self._unacked_messages.discard(message)
            return False
        return faust_ack(self, message)

    ack.ews_checked = True  # type: ignore[attr-defined]
    Consumer.ack = ack  # type: ignore[method-assign]


class OffsetJournal(faust.Sensor):
    """Appends ``pid topic partition offset`` for every record an agent takes.

    On when the setting ``extra["offset_journal"]`` names a file. A record
    counts when faust hands it to its agent's stream; records faust drops
    without handing them over (those of an older consumer generation during
    a rebalance) are missing, which is the point: the fault tests read the
    journal of every worker of a group and check that each offset of each
    source partition was taken at least once. One unbuffered ``O_APPEND``
    write per record, so lines survive a SIGKILL and workers can share the
    file; a few microseconds per record, for tests and audits, off by default.
    """

    def __init__(self, path: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._pid = os.getpid()

    def on_stream_event_in(
        self, tp: Any, offset: int, stream: Any, event: Any
    ) -> dict | None:
        line = f"{self._pid} {tp.topic} {tp.partition} {offset}\n"
        os.write(self._fd, line.encode())
        return None


class WorkerProcess:
    """A worker in a child process, with its settings file and log."""

    def __init__(self, settings: Settings, home: Path, name: str = "worker") -> None:
        self.settings = settings
        self.restarts = 0  # by :meth:`restart`
        home.mkdir(parents=True, exist_ok=True)
        self.settings_path = home / f"{name}.settings.json"
        self.log_path = home / f"{name}.log"
        self.settings_path.write_text(settings.to_json(), encoding="utf-8")
        self.proc: subprocess.Popen | None = None
        self.name = name

    def start(self) -> None:
        """Launch the child; returns at once (see :meth:`wait_ready`)."""
        out = open(self.log_path, "ab")  # noqa: SIM115 (kept by the child)
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pipeline.commands",
                "worker",
                "--settings",
                str(self.settings_path),
            ],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=dict(os.environ, PYTHONUNBUFFERED="1"),
        )
        out.close()
        logger.info("worker %s started, pid %d", self.name, self.proc.pid)

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def wait_ready(self, timeout_s: float = 120.0) -> float:
        """Block until faust says the worker is ready; return seconds waited."""
        start = time.monotonic()
        while time.monotonic() - start < timeout_s:
            if READY_MARK in self.log():
                return time.monotonic() - start
            if self.proc is not None and self.proc.poll() is not None:
                raise BrokerError(f"worker {self.name} exited:\n{self.log()[-3000:]}")
            time.sleep(0.1)
        raise BrokerError(f"worker {self.name} not ready:\n{self.log()[-3000:]}")

    def stop(self, grace_s: float = 60.0) -> int | None:
        """SIGTERM and wait; SIGKILL if it does not stop in ``grace_s``."""
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(grace_s)
        except subprocess.TimeoutExpired:
            logger.warning("worker %s ignored SIGTERM; killing it", self.name)
            self.proc.kill()
            return self.proc.wait()

    def restart(self, *_: object) -> None:
        """Stop and start again (what a supervisor does to a stalled worker)."""
        logger.warning("restarting worker %s", self.name)
        self.stop()
        self.start()
        self.wait_ready()
        self.restarts += 1

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def settings_from_file(path: str) -> Settings:
    """Read worker settings written by :class:`WorkerProcess`."""
    return Settings.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
