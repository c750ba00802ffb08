"""Workers killed with SIGKILL at random points of the demo replay.

What is asserted, and why
-------------------------

Processing is at-least-once: faust commits an offset after its record was
handled (and flushes the producer before each commit), so a SIGKILL loses
what was handled since the last commit and the next worker handles it
again. A killed run may therefore put the same record on an output topic
twice; the claims are about identifiers and effects, not about records:

1. *Nothing skipped.* Every offset of every partition of every topic an
   agent reads was handed to an agent at least once, counted by the
   workers' offset journal (:class:`pipeline.worker.OffsetJournal`)
   against the partitions' end offsets. A record faust skipped in a
   rebalance and committed anyway would be missing there even if the
   run's decisions happened to match.
2. *Every decision, once by identifier.* The distinct ``event_id`` on
   ``warnings``, with their action and level, are exactly those of the
   offline reference (:func:`pipeline.offline.score_scenario`), and so are
   the distinct CAP ``identifier`` on ``alerts.cap``.
3. *A repeated record is the same record.* Every copy of an event or an
   alert is identical to its first copy, and every CAP alert is
   byte-identical to the reference alert with its identifier, references
   included. So the CAP agent's table (the sequence it published per
   warning) came back whole after each kill: a re-read event made no
   second, different alert, and each later alert names exactly the
   earlier ones. A consumer that keys on the identifier acts once.

How many duplicate records at-least-once produced is measured and logged
(``duplicate records``), not bounded: it depends on where the kills land.

Kill points are drawn with a fixed seed: some on the overall progress of
the run, some the moment the CAP agent has taken a given warning event
(the alert is being built and sent, its offset not yet committed), so the
CAP agent's idempotence is exercised, not only the scorers'.

4. *Every recipient gets each message once.* The workers run the
   dispatcher, as deployed, with dry-run gateways that fail nothing. Two
   kills land in it: just after it took an alert (planning) and just after
   its sender took an order (sending). Counted where messages leave, the
   dry-run journals: no (CAP identifier, recipient or loudspeaker) pair is
   sent twice; the dispatch of every alert it takes closes; and every
   target the dispatcher ordered a message for got it, unless a later
   message of the warning closed the alert first (then its queued orders
   are dropped on purpose; such alerts are counted, not failed).
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from connectors.scenario import load_scenario
from pipeline.demo import DEFAULT_SCENARIO, run_settings
from pipeline.dispatch.records import split_send_id
from pipeline.dispatch.report import disseminated, snapshots, wait_dispatch_over
from pipeline.lag import group_lag, wait_caught_up
from pipeline.offline import score_scenario
from pipeline.replay import replay
from pipeline.settings import Settings
from pipeline.summary import read_topic
from pipeline.worker import WorkerProcess, prepare

pytestmark = pytest.mark.integration

logger = logging.getLogger(__name__)

SEED = 20201031
# The topics whose progress places the kills, in pipeline order.
PIPELINE = ("obs.radar", "obs.gauge", "rain.area", "warnings")
OUTPUTS = ("rain.area", "warnings", "alerts.cap", "deadletter")
# Not a speed limit: a run that takes no record for this long has hung.
STALL_GUARD_S = 300.0
# A worker that takes no record for this long while records wait for it is
# restarted, as its supervisor would: faust 0.15.3 can leave a partition
# unfetched after a start or a rebalance (see pipeline.lag).
STALL_S = 45.0


@dataclass
class Journal:
    """The offset journal of a run's workers, read as it grows."""

    path: Path
    prefix: str
    taken: dict[tuple[str, int], Counter] = field(
        default_factory=lambda: defaultdict(Counter)
    )
    by_pid: dict[int, set[tuple[str, int]]] = field(
        default_factory=lambda: defaultdict(set)
    )
    holder: dict[tuple[str, int], int] = field(default_factory=dict)
    lines: Counter = field(default_factory=Counter)
    _pos: int = 0

    def read(self) -> None:
        """Take in the lines written since the last call."""
        if not self.path.exists():
            return
        with self.path.open("rb") as f:
            f.seek(self._pos)
            data = f.read()
        cut = data.rfind(b"\n") + 1
        self._pos += cut
        for line in data[:cut].decode().splitlines():
            pid, topic, partition, offset = line.split()
            tp = (topic.removeprefix(self.prefix), int(partition))
            self.taken[tp][int(offset)] += 1
            self.by_pid[int(pid)].add(tp)
            self.holder[tp] = int(pid)
            self.lines[int(pid)] += 1

    def progress(self, topic: str | None = None) -> int:
        """Distinct offsets taken of ``topic`` (None: the PIPELINE topics)."""
        topics = PIPELINE if topic is None else (topic,)
        return sum(len(c) for (t, _), c in self.taken.items() if t in topics)

    def missing(self, ends: dict[tuple[str, int], int]) -> dict[tuple[str, int], int]:
        """Per partition, how many offsets below its end were never taken."""
        out = {}
        for tp, end in ends.items():
            seen = self.taken.get(tp, Counter())
            gap = sum(1 for off in range(end) if off not in seen)
            if gap:
                out[tp] = gap
        return out

    def repeats(self) -> dict[str, int]:
        """Per topic, how many deliveries were second or later ones."""
        out: Counter = Counter()
        for (topic, _), counts in self.taken.items():
            out[topic] += sum(n - 1 for n in counts.values())
        return dict(out)


@pytest.fixture(scope="module")
def scenario():
    return load_scenario(DEFAULT_SCENARIO)


@pytest.fixture(scope="module")
def reference(scenario):
    return score_scenario(scenario, Settings(archive_dir=""), keep_rain=True)


def spawned_workers() -> Iterator[list[WorkerProcess]]:
    """Worker processes a test starts; killed at its end, whatever happened."""
    procs: list[WorkerProcess] = []
    yield procs
    for worker in procs:
        worker.kill()


@pytest.fixture
def spawned():
    yield from spawned_workers()


def expected_counts(scenario, reference) -> dict[str, int]:
    """Records each PIPELINE topic will hold, duplicates aside."""
    counts = Counter(r.topic for r in scenario.records())
    return {
        "obs.radar": counts["obs.radar"],
        "obs.gauge": counts["obs.gauge"],
        "rain.area": len(reference.area_rain),
        "warnings": len(reference.events),
    }


def expected_progress(scenario, reference) -> int:
    return sum(expected_counts(scenario, reference).values())


# The dispatcher in the worker, dry run, nothing failing: each target is
# sent one message per alert, so a second one can only be a repeat.
DISPATCH = {
    "dispatch_enabled": True,
    "dispatch_dryrun_sms_failure": 0.0,
    "dispatch_dryrun_sms2_failure": 0.0,
    "dispatch_dryrun_ls_failure": 0.0,
    "dispatch_dryrun_offline": "",
}
DISPATCH_TOPICS = ("alerts.cap", "dispatch", "receipts")


def fault_settings(
    bootstrap: str, scenario, home: Path, *, dispatch: bool = False
) -> Settings:
    """A fresh run (own app id and topics) with the offset journal on."""
    run_id = f"f{uuid.uuid4().hex[:8]}"
    settings = run_settings(Settings(bootstrap=bootstrap), scenario, run_id, home)
    settings = replace(
        settings,
        extra=dict(settings.extra, offset_journal=str(home / "offsets")),
        **(DISPATCH if dispatch else {}),
    )
    prepare(settings)
    return settings


def consumed_topics(journal: Journal) -> list[str]:
    """The PIPELINE topics and every other topic some agent took records of."""
    return sorted(set(PIPELINE) | {t for t, _ in journal.taken})


def source_ends(
    settings: Settings, topics: tuple[str, ...] | list[str] = PIPELINE
) -> dict[tuple[str, int], int]:
    """End offset of every partition of ``topics``."""
    lags = group_lag(
        settings.bootstrap, settings.app_id, [settings.topic(t) for t in topics]
    )
    return {
        (p.topic.removeprefix(settings.topic_prefix), p.partition): p.end for p in lags
    }


def in_flight(settings: Settings, topics: tuple[str, ...] = PIPELINE) -> int:
    """Records on ``topics`` that the group has not committed."""
    lags = group_lag(
        settings.bootstrap, settings.app_id, [settings.topic(t) for t in topics]
    )
    return sum(p.lag for p in lags)


def settle(
    settings: Settings,
    topics: tuple[str, ...] = PIPELINE,
    worker: WorkerProcess | None = None,
) -> None:
    """Wait until the group has read ``topics`` and its outputs stand still.

    ``worker`` (the group's running worker) is restarted if the group stalls.
    """
    wait_caught_up(
        settings.bootstrap,
        settings.app_id,
        [settings.topic(t) for t in topics],
        [settings.topic(t) for t in sorted(set(OUTPUTS) | set(topics))],
        on_stall=None if worker is None else worker.restart,
    )


@dataclass
class Supervisor:
    """Restarts a worker whose journal stands still while records wait.

    ``check`` is called in a test's polling loop. It fails the test when no
    new offset of ``topics`` was taken for :data:`STALL_GUARD_S`, restarts
    included: a stall that restarts do not cure is a hang.
    """

    settings: Settings
    journal: Journal
    topics: tuple[str, ...] = PIPELINE
    restarts: int = 0
    note: str = ""  # what the test is waiting for, for the failure message
    _seen: int = -1
    _moved_at: float = field(default_factory=time.monotonic)
    _acted_at: float = field(default_factory=time.monotonic)

    def check(self, worker: WorkerProcess) -> None:
        assert worker.proc is not None and worker.proc.poll() is None, (
            f"worker {worker.name} exited:\n{worker.log()[-3000:]}"
        )
        now = time.monotonic()
        seen = sum(self.journal.progress(t) for t in self.topics)
        if seen != self._seen:
            self._seen, self._moved_at, self._acted_at = seen, now, now
            return
        if now - self._moved_at >= STALL_GUARD_S:
            taken = {t: self.journal.progress(t) for t in self.topics}
            raise AssertionError(
                f"no record taken for {STALL_GUARD_S:.0f} s, {self.restarts} "
                f"restarts; taken {taken}, waiting "
                f"{in_flight(self.settings, self.topics)}, ends "
                f"{source_ends(self.settings, self.topics)}, {self.note}:\n"
                f"{worker.log()[-3000:]}"
            )
        if now - self._acted_at < STALL_S:
            return
        self._acted_at = now
        if in_flight(self.settings, self.topics) > 0:
            logger.warning(
                "worker %s took nothing for %.0f s with records waiting",
                worker.name,
                now - self._moved_at,
            )
            worker.restart()
            self.restarts += 1
            self._acted_at = time.monotonic()


def wait_progress(
    supervisor: Supervisor,
    target: int,
    worker: WorkerProcess,
    topic: str | None = None,
) -> int:
    """Block until ``target`` distinct offsets of ``topic`` were taken."""
    journal = supervisor.journal
    journal.read()
    done = journal.progress(topic)
    while done < target:
        time.sleep(0.02)
        journal.read()
        done = journal.progress(topic)
        supervisor.check(worker)
    return done


def topic_records(settings: Settings, topic: str) -> list[dict[str, Any]]:
    return [
        json.loads(r.value)
        for r in read_topic(settings.bootstrap, settings.topic(topic))
    ]


def check_outputs(settings: Settings, reference) -> dict[str, int]:
    """Assert claims 2 and 3 of the module docstring; return duplicate counts."""
    events = topic_records(settings, "warnings")
    first_event: dict[str, dict] = {}
    for ev in events:
        assert first_event.setdefault(ev["event_id"], ev) == ev, ev["event_id"]
    want = sorted((e["event_id"], e["action"], e["level"]) for e in reference.events)
    got = sorted((e["event_id"], e["action"], e["level"]) for e in first_event.values())
    assert got == want

    alerts = topic_records(settings, "alerts.cap")
    expected = {a["identifier"]: a for a in reference.alerts}
    first_alert: dict[str, dict] = {}
    for env in alerts:
        assert first_alert.setdefault(env["identifier"], env) == env, env["identifier"]
    assert sorted(first_alert) == sorted(expected)
    for identifier, env in first_alert.items():
        assert env["references"] == expected[identifier]["references"], identifier
        assert env["xml"] == expected[identifier]["xml"], identifier
    return {
        "warnings": len(events) - len(first_event),
        "alerts.cap": len(alerts) - len(first_alert),
    }


def journal_rows(folder: Path) -> list[dict[str, Any]]:
    """Every send line of the dry-run gateways' journals in ``folder``."""
    rows = []
    for path in sorted(folder.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            if row.get("kind") == "send":
                rows.append(row)
    return rows


def check_dispatch(settings: Settings) -> dict[str, int]:
    """Assert claim 4 of the module docstring; return what was counted."""
    sent = Counter(
        split_send_id(r["send_id"])[:2]
        for r in journal_rows(Path(settings.dispatch_journal_dir))
    )
    twice = {pair: n for pair, n in sent.items() if n > 1}
    assert not twice, f"{len(twice)} targets got a message twice, e.g. {twice}"

    snaps = snapshots(settings)
    taken = disseminated(settings)
    still_open = sorted(
        i for i in taken if (snaps.get(i) or {}).get("state") != "closed"
    )
    assert not still_open, still_open

    ordered: dict[str, set[str]] = defaultdict(set)
    for order in topic_records(settings, "dispatch"):
        identifier, target, _ = split_send_id(order["send_id"])
        ordered[identifier].add(target)
    got: dict[str, set[str]] = defaultdict(set)
    for identifier, target in sent:
        got[identifier].add(target)
    closed_early = 0
    for identifier in taken:
        if got[identifier] == ordered[identifier]:
            continue
        assert got[identifier] <= ordered[identifier], identifier
        reason = snaps[identifier].get("reason") or ""
        assert snaps[identifier].get("outcome") != "reached" or reason, identifier
        closed_early += 1
    return {
        "alerts": len(taken),
        "sends": sum(sent.values()),
        "targets": len(sent),
        "closed_before_all_sent": closed_early,
    }


@dataclass
class Kill:
    """Kill the worker once ``at`` distinct offsets of ``topic`` were taken."""

    topic: str | None
    at: int


def plan_kills(rng: random.Random, counts: dict[str, int], alerts: int) -> list[Kill]:
    """Three kills on the run's overall progress, two just as the CAP agent
    has taken a warning event, one as the dispatcher has taken one of the
    ``alerts`` CAP alerts and one as its sender has taken an order."""
    total = sum(counts.values())
    kills = [Kill(None, rng.randrange(total // 20, total * 9 // 10)) for _ in range(3)]
    kills += [Kill("warnings", rng.randrange(1, counts["warnings"])) for _ in range(2)]
    kills.append(Kill("alerts.cap", rng.randrange(1, alerts)))
    kills.append(Kill("dispatch", rng.randrange(50, 500)))
    return kills


def first_take(journal: Journal, worker: WorkerProcess, wait_s: float = 120.0) -> float:
    """When ``worker`` took its first record (monotonic s; now if it took none
    within ``wait_s``, as when nothing was left uncommitted)."""
    deadline = time.monotonic() + wait_s
    while journal.lines[worker.proc.pid] == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
        journal.read()
    return time.monotonic()


def due(kill: Kill, journal: Journal) -> bool:
    return journal.progress(kill.topic) >= kill.at


def test_workers_killed_at_random_points_lose_nothing(
    kafka_bootstrap, scenario, reference, tmp_path, spawned
):
    settings = fault_settings(kafka_bootstrap, scenario, tmp_path, dispatch=True)
    journal = Journal(tmp_path / "offsets", settings.topic_prefix)
    counts = expected_counts(scenario, reference)
    pending = plan_kills(random.Random(SEED), counts, len(reference.alerts))
    logger.info("expected records %s; kills planned %s", counts, pending)

    workers = spawned
    workers.append(WorkerProcess(settings, tmp_path, name="worker0"))
    workers[0].start()
    workers[0].wait_ready()
    errors: list[BaseException] = []

    def feed() -> None:
        try:
            replay(scenario, settings, progress=False)
        except BaseException as exc:  # reported below
            errors.append(exc)

    feeder = threading.Thread(target=feed, name="replay", daemon=True)
    feeder.start()
    kills: list[dict[str, Any]] = []
    supervisor = Supervisor(settings, journal, PIPELINE + DISPATCH_TOPICS)
    while pending:
        time.sleep(0.02)
        journal.read()
        fire = [k for k in pending if due(k, journal)]
        worker = workers[-1]
        supervisor.note = f"kills pending {pending}"
        supervisor.check(worker)
        if not fire:
            continue
        waiting = in_flight(settings)
        killed_at = time.monotonic()
        worker.kill()
        journal.read()
        kill = fire[0]
        pending.remove(kill)
        kills.append(
            {"topic": kill.topic or "pipeline", "at": kill.at,
             "taken": journal.progress(kill.topic), "in_flight": waiting,
             "replaying": feeder.is_alive()}
        )  # fmt: skip
        for other in fire[1:]:  # due at the same poll: at the next record
            other.at = journal.progress(other.topic) + 1
        successor = WorkerProcess(settings, tmp_path, name=f"worker{len(workers)}")
        successor.start()
        successor.wait_ready()
        workers.append(successor)
        kills[-1]["resumed_s"] = round(first_take(journal, successor) - killed_at, 1)

    feeder.join()
    assert not errors, errors
    settle(settings, PIPELINE + DISPATCH_TOPICS, workers[-1])
    wait_dispatch_over(settings)
    settle(settings, PIPELINE + DISPATCH_TOPICS, workers[-1])
    workers[-1].stop()

    journal.read()
    assert journal.missing(source_ends(settings, consumed_topics(journal))) == {}
    duplicates = check_outputs(settings, reference)
    dispatched = check_dispatch(settings)
    assert len(kills) >= 5
    # at least one kill hit records on the broker that no worker had finished
    assert any(k["in_flight"] > 0 for k in kills), kills
    figures = {
        "kills": kills,
        "stall_restarts": supervisor.restarts,
        "repeats": journal.repeats(),
        "duplicates": duplicates,
        "dispatch": dispatched,
    }
    logger.info(
        "kills %s; stall restarts %d; repeated deliveries %s; duplicate records %s; "
        "dispatch %s",
        kills,
        supervisor.restarts,
        journal.repeats(),
        duplicates,
        dispatched,
    )
    (tmp_path / "faults.json").write_text(json.dumps(figures))
