"""Two workers in one consumer group; one is killed and the other takes over.

Both workers run the same app id, so faust spreads the partitions between
them: the four partitions of each keyed topic and the single partition of
``obs.radar``. While the replay is still being worked through, the worker
that holds ``obs.radar`` is killed with SIGKILL. Once its session times
out the group rebalances and the survivor owns every partition; it must
rebuild the radar agent's pixel window from the radar topic itself
(``_recall_radar`` in :mod:`pipeline.app`: the frames of the longest
window before its first frame) and recover the tables from their
changelogs. The run must then meet the claims of
:mod:`tests.integration.test_faults`: no offset skipped across the
rebalance, every decision and CAP alert of the reference, each repeated
record identical to its first copy.
"""

from __future__ import annotations

import logging
import re
import threading
import time

import pytest

from connectors.scenario import load_scenario
from pipeline.demo import DEFAULT_SCENARIO
from pipeline.lag import group_lag
from pipeline.offline import score_scenario
from pipeline.replay import replay
from pipeline.settings import Settings
from pipeline.worker import WorkerProcess
from tests.integration.test_faults import (
    PIPELINE,
    Journal,
    Supervisor,
    check_outputs,
    expected_progress,
    fault_settings,
    in_flight,
    settle,
    source_ends,
    spawned_workers,
    wait_progress,
)

pytestmark = pytest.mark.integration

logger = logging.getLogger(__name__)

RECALLED = re.compile(r"recalled (\d+) earlier radar frames")


@pytest.fixture(scope="module")
def scenario():
    return load_scenario(DEFAULT_SCENARIO)


@pytest.fixture(scope="module")
def reference(scenario):
    return score_scenario(scenario, Settings(archive_dir=""), keep_rain=True)


@pytest.fixture
def spawned():
    yield from spawned_workers()


def test_survivor_takes_every_partition_and_the_run_completes_the_same(
    kafka_bootstrap, scenario, reference, tmp_path, spawned
):
    settings = fault_settings(kafka_bootstrap, scenario, tmp_path)
    journal = Journal(tmp_path / "offsets", settings.topic_prefix)
    total = expected_progress(scenario, reference)
    pair = [WorkerProcess(settings, tmp_path, name=f"worker{n}") for n in (0, 1)]
    spawned.extend(pair)
    for worker in pair:
        worker.start()
    for worker in pair:
        worker.wait_ready()
    pids = {w.proc.pid: w for w in pair}

    errors: list[BaseException] = []

    def feed() -> None:
        try:
            replay(scenario, settings, progress=False)
        except BaseException as exc:  # reported below
            errors.append(exc)

    feeder = threading.Thread(target=feed, name="replay", daemon=True)
    feeder.start()
    # both hold partitions, and the radar has been read well into the storm
    supervisor = Supervisor(settings, journal)
    wait_progress(supervisor, 48, pair[0], topic="obs.radar")
    while len(set(journal.by_pid) & {w.proc.pid for w in pair}) < 2:
        wait_progress(supervisor, journal.progress() + 1, pair[0])
    pids = {w.proc.pid: w for w in pair}  # pair[0] may have been restarted
    shares = {pid: sorted(tps) for pid, tps in journal.by_pid.items()}
    victim = pids[journal.holder[("obs.radar", 0)]]
    survivor = next(w for w in pair if w is not victim)
    waiting = in_flight(settings)
    progress = journal.progress()
    survivor_pids = {survivor.proc.pid}
    victim.kill()
    killed_at = time.monotonic()
    # the victim's offsets are frozen now: what it left is the survivor's
    left = {
        (p.topic.removeprefix(settings.topic_prefix), p.partition): p
        for p in group_lag(
            settings.bootstrap, settings.app_id, [settings.topic(t) for t in PIPELINE]
        )
    }
    logger.info(
        "killed %s (radar holder) at %d of %d records, %d in flight; shares %s",
        victim.name,
        progress,
        total,
        waiting,
        shares,
    )

    feeder.join()
    assert not errors, errors
    stalls = survivor.restarts
    settle(settings, worker=survivor)
    stalls = survivor.restarts - stalls
    took_over_s = time.monotonic() - killed_at
    assert survivor.proc.poll() is None
    survivor.stop()

    journal.read()
    survivor_pids.add(survivor.proc.pid)  # a new one if it was restarted
    owned = set().union(*(journal.by_pid[pid] for pid in survivor_pids))
    ends = source_ends(settings)
    # every partition with records not committed at the kill, or written later
    due = {tp for tp, end in ends.items() if end > (left[tp].committed or 0)}
    assert due, "records were left for the survivor"
    assert due <= owned, "the survivor read every partition left to it"
    recalled = [int(n) for n in RECALLED.findall(survivor.log())]
    assert recalled and recalled[-1] > 0, "the survivor rebuilt the radar window"
    assert journal.missing(source_ends(settings, PIPELINE)) == {}
    duplicates = check_outputs(settings, reference)
    assert waiting > 0, "the kill came while records were in flight"
    logger.info(
        "survivor caught up %.1f s after the kill (%d stall restarts), recalled "
        "%s radar frames; repeated deliveries %s; duplicate records %s",
        took_over_s,
        stalls,
        recalled,
        journal.repeats(),
        duplicates,
    )
