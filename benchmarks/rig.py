"""The bench: one broker, fresh runs on it, workers, and what to read off them.

:class:`Rig` starts a :class:`pipeline.broker.LocalBroker` in a temporary
home on free loopback ports (or uses a broker given by address), so every
benchmark of a run measures against the same broker. Each benchmark takes
a fresh run from :meth:`Rig.run` (its own topic prefix and app id, the
topics created up front) and workers from :meth:`Rig.workers`, exactly the
child processes an operator would start.

Progress is read from the broker's side: :func:`committed` sums a group's
committed offsets on a topic, and :func:`follow` polls it until the group
has committed everything. :meth:`Progress.rate` is taken from the poll
that saw a fifth of the records committed to the one that saw them all,
which leaves start-up, group joins and table recovery out.
"""

from __future__ import annotations

import logging
import os
import platform
import shutil
import socket
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from kafka import KafkaAdminClient

from connectors.scenario import Scenario, load_scenario
from pipeline.broker import KAFKA_VERSION, LocalBroker
from pipeline.demo import DEFAULT_SCENARIO, run_settings
from pipeline.lag import group_lag
from pipeline.settings import Settings
from pipeline.worker import WorkerProcess, prepare

logger = logging.getLogger(__name__)

# Not a speed limit: a benchmark that makes no progress for this long has hung.
STALL_S = 300.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def machine() -> dict[str, Any]:
    """The machine a run measured on: CPU, cores, memory, load, versions."""
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_kb = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    except OSError:
        pass
    return {
        "cpu": cpu or platform.processor(),
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kb / 2**20, 1),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "kafka": KAFKA_VERSION,
        "system": f"{platform.system()} {platform.release()}",
    }


def rss_bytes(pid: int) -> int:
    """Resident set size of process ``pid``, bytes (0 if it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def committed(bootstrap: str, group: str, topic: str) -> int:
    """Sum of ``group``'s committed offsets over the partitions of ``topic``."""
    return sum(p.committed or 0 for p in group_lag(bootstrap, group, [topic]))


def group_members(bootstrap: str, group: str) -> int:
    """Members of ``group`` once it is stable (0 while it rebalances)."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="ews-bench")
    try:
        info = admin.describe_groups([group])[group]
        state = info.get("group_state") or info.get("state")
        return len(info.get("members") or ()) if state == "Stable" else 0
    finally:
        admin.close()


@dataclass
class Progress:
    """A group's committed offsets on a topic, polled: (seconds, committed)."""

    samples: list[tuple[float, int]]
    total: int

    def rate(self, from_share: float = 0.2) -> float:
        """Records per second from the poll that saw ``from_share`` of the total
        committed to the poll that saw all of it.

        Starting at a share leaves out start-up, the group's first rebalance
        and table recovery, which a long run would make negligible.
        """
        t_end, c_end = next(s for s in self.samples if s[1] >= self.total)
        t_lo, c_lo = next(s for s in self.samples if s[1] >= from_share * self.total)
        return (c_end - c_lo) / (t_end - t_lo) if t_end > t_lo else 0.0

    @property
    def seconds(self) -> float:
        """From the first poll to the one that saw everything committed, s."""
        return next(t for t, c in self.samples if c >= self.total)


def follow(
    bootstrap: str,
    group: str,
    topic: str,
    total: int,
    *,
    poll_s: float = 0.25,
    on_poll: Callable[[float, int], None] | None = None,
) -> Progress:
    """Poll ``group``'s committed offsets on ``topic`` until they reach ``total``.

    ``on_poll(seconds, committed)`` is called after every poll (the soak
    samples memory there).
    """
    t0 = time.monotonic()
    samples: list[tuple[float, int]] = []
    last_move, last = t0, -1
    while True:
        now = time.monotonic()
        done = committed(bootstrap, group, topic)
        samples.append((now - t0, done))
        if on_poll is not None:
            on_poll(now - t0, done)
        if done > last:
            last_move, last = now, done
        if done >= total:
            return Progress(samples, total)
        if now - last_move > STALL_S:
            raise RuntimeError(
                f"group {group} stuck at {done} of {total} on {topic} for {STALL_S} s"
            )
        time.sleep(poll_s)


class Rig:
    """A broker and the runs and workers of one benchmark session."""

    def __init__(self, home: Path, bootstrap: str) -> None:
        self.home = home
        self.bootstrap = bootstrap
        self.scenario: Scenario = load_scenario(DEFAULT_SCENARIO)
        self._workers: list[WorkerProcess] = []

    def run(self, name: str, **changes: Any) -> Settings:
        """A fresh run: own topic prefix and app id, topics created."""
        run_id = f"b{name}{uuid.uuid4().hex[:6]}"
        home = self.home / run_id
        home.mkdir(parents=True, exist_ok=True)
        settings = run_settings(
            Settings(bootstrap=self.bootstrap), self.scenario, run_id, home
        )
        settings = replace(settings, archive_dir="", **changes)
        prepare(settings)
        return settings

    def group(self, settings: Settings, name: str) -> Settings:
        """``settings`` with another app id (consumer group, changelogs)."""
        other = replace(settings, app_id=f"{settings.app_id}-{name}")
        prepare(other)
        return other

    def workers(
        self, settings: Settings, count: int = 1, *, wait_stable: bool = True
    ) -> list[WorkerProcess]:
        """Start ``count`` workers of ``settings``' group (ready, and the group
        stable with all of them unless ``wait_stable`` is false)."""
        home = self.home / settings.app_id
        started = [
            WorkerProcess(settings, home, name=f"worker{n}") for n in range(count)
        ]
        for worker in started:
            worker.start()
        for worker in started:
            worker.wait_ready()
        self._workers += started
        deadline = time.monotonic() + STALL_S
        while wait_stable and group_members(self.bootstrap, settings.app_id) != count:
            if time.monotonic() > deadline:
                raise RuntimeError(f"group {settings.app_id} not stable with {count}")
            time.sleep(0.25)
        return started

    def stop(self, workers: list[WorkerProcess]) -> None:
        for worker in workers:
            worker.stop()

    def close(self) -> None:
        self.stop(self._workers)


@contextmanager
def open_rig(bootstrap: str | None = None) -> Iterator[Rig]:
    """A rig on the broker at ``bootstrap``, or on a fresh local one."""
    home = Path(tempfile.mkdtemp(prefix="ews-bench-"))
    broker = None
    if bootstrap is None:
        broker = LocalBroker(
            home / "kafka", port=free_port(), controller_port=free_port()
        )
        broker.start()
        bootstrap = broker.bootstrap
    rig = Rig(home, bootstrap)
    try:
        yield rig
    except BaseException:
        logger.error("benchmark failed; worker logs kept in %s", home)
        raise
    else:
        shutil.rmtree(home, ignore_errors=True)
    finally:
        rig.close()
        if broker is not None:
            broker.stop()
