"""The main job: a replay of the bundled real feeds through the whole pipeline.

:func:`run_demo` starts the local broker if none answers, creates the run's
topics (a fresh prefix per run, so runs never mix), starts a worker, replays
the scenario, waits until every agent has caught up, reads back what the run
produced, prints the summary and stops what it started. The default
scenario is an exercise: the Brisbane storm of 2020-10-31 transposed over
Zhaoqing and the Miho Bridge gauge of July 2023 standing in for a West
River control section; its alerts carry CAP status ``Exercise``.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console

from connectors.scenario import Scenario, load_scenario
from pipeline.broker import LocalBroker, answers_metadata
from pipeline.dispatch.config import demo_overrides
from pipeline.dispatch.rehearsal import dispatch_after
from pipeline.dispatch.report import dispatch_rows
from pipeline.lag import wait_caught_up
from pipeline.replay import replay
from pipeline.settings import Settings
from pipeline.summary import RunSummary, collect, render
from pipeline.worker import WorkerProcess, prepare
from schemas.errors import BrokerError

logger = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SCENARIO = REPO / "data" / "scenarios" / "zhaoqing-exercise"
SOURCES = ("obs.radar", "obs.gauge", "rain.area", "warnings")
# the hazard feeds, and the hand-over topics their agents read back
SOURCES += ("obs.fire", "obs.geo", "fire.counties", "geo.towns")
OUTPUTS = ("rain.area", "warnings", "alerts.cap", "deadletter")


def run_settings(base: Settings, scenario: Any, run_id: str, home: Path) -> Settings:
    """Settings of one demo run: its own app id, topic prefix and archive."""
    return replace(
        base,
        app_id=f"ews-{run_id}",
        topic_prefix=f"{run_id}.",
        archive_dir=str(home / "cap"),
        region=scenario.region,
        rainstorm_ruleset=scenario.rulesets.get("rainstorm", base.rainstorm_ruleset),
        extra=dict(base.extra, status=scenario.status),
        **demo_overrides(home),
    )


def run_demo(
    *,
    scenario_path: Path = DEFAULT_SCENARIO,
    scenario: Scenario | None = None,
    base: Settings | None = None,
    home: Path = Path("var/demo"),
    speed: float | None = None,
    summary_json: Path | None = None,
    console: Console | None = None,
) -> RunSummary:
    """Run a scenario end to end and return its summary.

    ``scenario`` (a loaded one, perhaps cut to a window) takes the place of
    the one in ``scenario_path``.
    """
    console = console or Console()
    base = base or Settings.from_env()
    scenario = scenario or load_scenario(scenario_path)
    run_id = "demo-" + datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    run_home = home / run_id
    run_home.mkdir(parents=True, exist_ok=True)

    broker = _broker_if_needed(base, home, console)
    worker: WorkerProcess | None = None
    try:
        settings = run_settings(base, scenario, run_id, run_home)
        prepare(settings)
        worker = WorkerProcess(settings, run_home)
        worker.start()
        ready_s = worker.wait_ready()
        console.print(f"worker ready in {ready_s:.1f} s (log: {worker.log_path})")
        console.print(
            f"run {run_id}: topic prefix {settings.topic_prefix}, "
            f"app id {settings.app_id}"
        )

        if scenario.since or scenario.until:
            ends = (
                t.isoformat() if t else "open" for t in (scenario.since, scenario.until)
            )
            console.print("replaying the records timed from {} to {}".format(*ends))
        t0 = time.monotonic()
        stats = replay(scenario, settings, speed=speed, progress=console.is_terminal)
        console.print(
            f"replayed {stats.total} records of [bold]{scenario.name}[/] "
            f"({', '.join(f'{k}: {v}' for k, v in sorted(stats.sent.items()))}) "
            f"in {time.monotonic() - t0:.1f} s"
        )
        waited = wait_caught_up(
            settings.bootstrap,
            settings.app_id,
            [settings.topic(t) for t in SOURCES],
            [settings.topic(t) for t in OUTPUTS],
            on_stall=worker.restart,
        )
        console.print(f"agents caught up {waited:.1f} s after the replay ended")
        dispatched, took = dispatch_after(settings, run_home)
        console.print(f"dispatched the run's alerts, each in its time, in {took:.1f} s")
        summary = collect(settings)
        summary.extra["dispatch"] = dispatch_rows(dispatched)
        summary.extra["scenario"] = {
            "name": scenario.name,
            "status": scenario.status,
            "records": stats.total,
            "topic_prefix": settings.topic_prefix,
            "since": scenario.since.isoformat() if scenario.since else None,
            "until": scenario.until.isoformat() if scenario.until else None,
        }
    finally:
        if worker is not None:
            worker.stop()
        if broker is not None:
            broker.stop()
            console.print("local broker stopped")

    render(summary, console)
    if summary_json is not None:
        summary_json.parent.mkdir(parents=True, exist_ok=True)
        summary_json.write_text(
            json.dumps(summary.as_json(), ensure_ascii=False, indent=2),
            encoding="utf-8",
        )
        console.print(f"summary written to {summary_json}")
    return summary


def _broker_if_needed(
    base: Settings, home: Path, console: Console
) -> LocalBroker | None:
    try:
        answers_metadata(base.bootstrap, timeout_s=2.0)
        console.print(f"using the Kafka broker at {base.bootstrap}")
        return None
    except Exception:  # nothing answers: start our own below
        logger.debug("no broker at %s", base.bootstrap, exc_info=True)
    host, _, port = base.bootstrap.partition(",")[0].rpartition(":")
    if host not in ("127.0.0.1", "localhost"):
        raise BrokerError(f"no Kafka broker answers at {base.bootstrap}")
    broker = LocalBroker(port=int(port), controller_port=int(port) + 1)
    console.print(f"starting a local Kafka broker on {broker.bootstrap} ...")
    broker.start()
    console.print(f"local broker up ({broker.log_path})")
    return broker
