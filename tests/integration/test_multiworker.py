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
from pipeline.offline import score_scenario
from pipeline.replay import replay
from pipeline.settings import Settings
from pipeline.worker import WorkerProcess
from tests.integration.test_faults import (
    PIPELINE,
    Journal,
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
    wait_progress(journal, 48, pair[0], topic="obs.radar")
    while len(set(journal.by_pid) & set(pids)) < 2:
        wait_progress(journal, journal.progress() + 1, pair[0])
    shares = {pid: sorted(tps) for pid, tps in journal.by_pid.items()}
    victim = pids[journal.holder[("obs.radar", 0)]]
    survivor = next(w for w in pair if w is not victim)
    waiting = in_flight(settings)
    progress = journal.progress()
    victim.kill()
    killed_at = time.monotonic()
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
    settle(settings)
    took_over_s = time.monotonic() - killed_at
    assert survivor.proc.poll() is None
    survivor.stop()

    journal.read()
    owned = journal.by_pid[survivor.proc.pid]
    ends = source_ends(settings)
    used = {tp for tp, end in ends.items() if end > 0}
    assert used <= owned, "the survivor read every partition that holds records"
    recalled = [int(n) for n in RECALLED.findall(survivor.log())]
    assert recalled and recalled[-1] > 0, "the survivor rebuilt the radar window"
    assert journal.missing(source_ends(settings, PIPELINE)) == {}
    duplicates = check_outputs(settings, reference)
    assert waiting > 0, "the kill came while records were in flight"
    logger.info(
        "survivor caught up %.1f s after the kill, recalled %s radar frames; "
        "repeated deliveries %s; duplicate records %s",
        took_over_s,
        recalled,
        journal.repeats(),
        duplicates,
    )
