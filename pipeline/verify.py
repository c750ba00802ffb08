"""``ews verify``: score the warnings of a run against its observations.

A scenario is replayed through :func:`pipeline.offline.score_scenario` (or
the ``warnings``, ``rain.area`` and ``obs.gauge`` topics of a run through
the broker are read back, with ``--bootstrap`` and ``--prefix``), and the
decisions are scored with :mod:`models.verification`: rainstorm warnings
per town and colour against the radar's observed town totals, flood
warnings against the upward crossings of each section's levels. A table is
printed, plots are written (``--plots DIR``) and ``--summary-json`` writes
the figures.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from models.flood import ladder
from models.rules import COLOURS, RuleSet, load_ruleset
from models.stage_forecast import rate_of_rise
from models.verification import (
    Counts,
    CrossingVerifier,
    WarningVerifier,
    criterion_level,
    total,
    warning_steps,
)
from pipeline.agents.scoring import parse_time
from schemas.errors import ConfigError

logger = logging.getLogger(__name__)

#: Lead of the predicted stage drawn against the observed one, hours.
PLOT_LEAD_H = 3.0


@dataclass
class Report:
    """What a verification found."""

    rain_by_colour: dict[str, Counts]
    flood: CrossingVerifier
    per_town: dict[str, Counts] = field(default_factory=dict)
    stages: dict[str, dict[str, Any]] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """The figures ``--summary-json`` and the demo summary carry."""
        rain = total(self.rain_by_colour.values()).scores()
        rain["by_colour"] = {c: n.scores() for c, n in self.rain_by_colour.items()}
        flood = self.flood.scores()
        flood["by_crossing"] = [
            {
                "station": c.station,
                "colour": c.colour,
                "level": c.level,
                "time": _iso(c.time),
                "lead_min": c.lead_min,
            }
            for c in self.flood.crossings
        ]
        return {"rainstorm": rain, "flood": flood}


def _iso(ts: float) -> str:
    from datetime import UTC, datetime  # noqa: PLC0415

    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def verify_records(
    events: Iterable[dict[str, Any]],
    area_rain: Iterable[dict[str, Any]],
    gauges: Iterable[dict[str, Any]],
    rules: RuleSet,
) -> Report:
    """Score warning events against area rain and gauge observations.

    Parameters
    ----------
    events : iterable of dict
        ``warning_event/1`` records.
    area_rain : iterable of dict
        ``area_rain/1`` records with their observed ``accumulations_mm``.
    gauges : iterable of dict
        ``gauge_obs/1`` records.
    rules : RuleSet
        The rainstorm rule set whose criteria the observations are held to.
    """
    timeline: list[tuple[float, int, str, dict[str, Any]]] = []
    for ev in events:
        timeline.append((parse_time(ev["observed_at"]).timestamp(), 0, "warn", ev))
    for msg in area_rain:
        if msg.get("accumulations_mm"):
            timeline.append((parse_time(msg["time"]).timestamp(), 1, "rain", msg))
    for msg in gauges:
        timeline.append((parse_time(msg["time"]).timestamp(), 1, "gauge", msg))
    timeline.sort(key=lambda x: (x[0], x[1]))

    rain = WarningVerifier()
    flood = CrossingVerifier()
    stages: dict[str, dict[str, Any]] = {}
    for t, _, kind, msg in timeline:
        if kind == "warn":
            valid_to = parse_time(msg["valid_to"]).timestamp()
            if msg["hazard"] == "rainstorm":
                rain.add_warning(msg["area"]["codes"][0], msg["level"], t, valid_to)
            elif msg["hazard"] == "flood":
                sid = str(msg["trigger"].get("station", msg["area"]["codes"][0]))
                flood.add_warning(sid, msg["level"], t, valid_to)
                stages.setdefault(sid, _stage_record(sid))["warnings"].append(
                    (t, msg["level"], msg["action"])
                )
        elif kind == "rain":
            totals = {float(k): float(v) for k, v in msg["accumulations_mm"].items()}
            rain.add_observation(msg["area_code"], criterion_level(rules, totals), t)
        else:
            station = msg["station"]
            sid = station["id"]
            scheme = station.get("level_scheme") or _scheme(station["levels"])
            steps = ladder(station["levels"], scheme)
            flood.add_stage(sid, float(msg["stage"]), t, warning_steps(steps, scheme))
            rec = stages.setdefault(sid, _stage_record(sid))
            rec["levels"] = steps
            rec["observed"].append((t, float(msg["stage"])))
            rise = rate_of_rise(rec["observed"][-3:], 1.0)
            if rise is not None:
                lead = PLOT_LEAD_H * 3600.0
                rec["predicted"].append(
                    (t + lead, float(msg["stage"]) + rise * PLOT_LEAD_H)
                )
    by_colour = rain.counts()
    return Report(by_colour, flood, rain.per_area(), stages)


def _scheme(levels: dict[str, float]) -> str:
    """The level scheme a station's level names imply (as the flood agent reads)."""
    return "colour" if set(levels) <= set(COLOURS) else "cn_hydro"


def _stage_record(sid: str) -> dict[str, Any]:
    return {
        "station": sid,
        "observed": [],
        "predicted": [],
        "warnings": [],
        "levels": [],
    }


def verify_scenario(path: Path) -> Report:
    """Replay a scenario offline and score its warnings."""
    from connectors.scenario import load_scenario  # noqa: PLC0415
    from pipeline.offline import score_scenario  # noqa: PLC0415
    from pipeline.settings import Settings  # noqa: PLC0415

    scenario = load_scenario(path)
    run = score_scenario(scenario, Settings(archive_dir=""), keep_rain=True)
    gauges = [
        r.value
        for r in scenario.records()
        if r.topic == "obs.gauge" and isinstance(r.value, dict)
    ]
    rules = load_ruleset(scenario.rulesets.get("rainstorm", "cma-rainstorm"))
    return verify_records(run.events, run.area_rain, gauges, rules)


def verify_topics(
    bootstrap: str,
    prefix: str,
    ruleset: str,
    security: Mapping[str, Any] | None = None,
) -> Report:
    """Score the warnings of a run read back from its topics.

    ``security`` holds the consumer's TLS and SASL keyword arguments
    (:func:`pipeline.kafka_security.client_kwargs`); None for PLAINTEXT.
    """
    from pipeline.summary import read_topic  # noqa: PLC0415

    def values(topic: str) -> list[dict[str, Any]]:
        out = []
        for rec in read_topic(bootstrap, f"{prefix}{topic}", security=security):
            try:
                out.append(json.loads(rec.value))
            except (TypeError, ValueError):
                continue  # a bad record went to the dead letters
        return out

    events = {ev["event_id"]: ev for ev in values("warnings")}
    gauges = [g for g in values("obs.gauge") if isinstance(g.get("station"), dict)]
    return verify_records(
        events.values(), values("rain.area"), gauges, load_ruleset(ruleset)
    )


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def render(report: Report, console: Console) -> None:
    """Print the scores by colour and the flood crossings."""
    summary = report.summary()
    rain = summary["rainstorm"]
    table = Table(title="Rainstorm warnings, town level")
    cols = ("issued", "verified", "hits", "missed", "accuracy", "pod", "far", "csi")
    for col in ("colour", *cols, "mean lead min", "share lead >= 20"):
        table.add_column(col)
    rows = [(c, rain["by_colour"][c]) for c in COLOURS] + [("all", rain)]
    for name, s in rows:
        table.add_row(
            name,
            *(_fmt(s[k]) for k in cols),
            _fmt(s["mean_lead_min"]),
            _fmt(s["share_lead_ge_20"]),
        )
    console.print(table)
    flood = summary["flood"]
    table = Table(title="Flood: upward crossings of the warning level and above")
    for col in ("station", "colour", "level", "crossed (UTC)", "lead min"):
        table.add_column(col)
    for c in flood["by_crossing"]:
        table.add_row(
            c["station"], c["colour"], _fmt(c["level"]), c["time"], _fmt(c["lead_min"])
        )
    console.print(table)
    console.print(
        f"flood issuance rate: {_fmt(flood['issuance_rate'])} "
        f"({flood['warned']}/{flood['crossings']}), "
        f"shortest lead {_fmt(flood['min_lead_min'])} min"
    )


def write_plots(report: Report, folder: Path) -> list[Path]:
    """Scores by colour, lead times, hits and misses per town, stage curves."""
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    folder.mkdir(parents=True, exist_ok=True)
    out = []
    summary = report.summary()["rainstorm"]

    fig, ax = plt.subplots(figsize=(7, 4))
    names = ("accuracy", "pod", "csi")
    for k, name in enumerate(names):
        values = [summary["by_colour"][c][name] or 0.0 for c in COLOURS]
        xs = [i + (k - 1) * 0.25 for i in range(len(COLOURS))]
        ax.bar(xs, values, width=0.25, label=name)
    ax.set_xticks(range(len(COLOURS)), COLOURS)
    ax.axhline(0.8, color="k", lw=0.8, ls="--")
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("score")
    ax.set_title("Rainstorm warnings by colour (town level)")
    ax.legend()
    out.append(_save(fig, folder / "scores_by_colour.png", plt))

    fig, ax = plt.subplots(figsize=(7, 4))
    leads = [x for c in COLOURS for x in report.rain_by_colour[c].leads_min]
    ax.hist(leads, bins=range(0, int(max(leads, default=0)) + 20, 10))
    ax.axvline(20, color="k", lw=0.8, ls="--")
    ax.set_xlabel("lead time, min (0: warned as the criterion was met, or later)")
    ax.set_ylabel("events")
    ax.set_title("Lead time of the warned events")
    out.append(_save(fig, folder / "lead_times.png", plt))

    out.append(_town_map(report, folder / "towns.png", plt))
    for sid, rec in report.stages.items():
        out.append(_stage_plot(rec, folder / f"stage_{sid}.png", plt))
    return out


def _save(fig: Any, path: Path, plt: Any) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _town_map(report: Report, path: Path, plt: Any) -> Path:
    from models.region import default_region  # noqa: PLC0415

    fig, ax = plt.subplots(figsize=(7, 7))
    for town in default_region().towns:
        counts = report.per_town.get(town.code)
        colour = "#eeeeee"
        if counts is not None and counts.misses:
            colour = "#d62728"
        elif counts is not None and counts.false_alarms:
            colour = "#ff9f1c"
        elif counts is not None and counts.hits:
            colour = "#2ca02c"
        geoms = getattr(town.polygon, "geoms", [town.polygon])
        for poly in geoms:
            x, y = poly.exterior.xy
            ax.fill(x, y, color=colour, ec="#555555", lw=0.3)
    ax.set_title("Towns: green hits only, orange a false alarm, red a miss")
    ax.set_xlabel("longitude")
    ax.set_ylabel("latitude")
    ax.set_aspect("equal")
    return _save(fig, path, plt)


def _stage_plot(rec: dict[str, Any], path: Path, plt: Any) -> Path:
    from datetime import UTC, datetime  # noqa: PLC0415

    fig, ax = plt.subplots(figsize=(9, 4))
    times = [datetime.fromtimestamp(t, UTC) for t, _ in rec["observed"]]
    ax.plot(times, [s for _, s in rec["observed"]], color="k", label="observed")
    for colour, level in rec["levels"]:
        ax.axhline(level, color=colour, lw=1, ls="--")
    for t, level, action in rec["warnings"]:
        when = datetime.fromtimestamp(t, UTC)
        ax.axvline(when, color=level or "grey", lw=0.8, alpha=0.6)
        ax.annotate(action, (when, ax.get_ylim()[1]), fontsize=6, rotation=90)
    predicted = rec.get("predicted", [])
    ax.plot(
        [datetime.fromtimestamp(t, UTC) for t, _ in predicted],
        [s for _, s in predicted],
        color="tab:blue",
        label=f"rate of rise, {PLOT_LEAD_H:g} h ahead",
    )
    ax.legend(loc="upper left", fontsize=7)
    ax.set_title(f"Section {rec['station']}: stage, levels and warnings")
    fig.autofmt_xdate()
    ax.set_ylabel("stage")
    return _save(fig, path, plt)


def cmd_verify(args: argparse.Namespace) -> int:
    if args.bootstrap:
        report = verify_topics(args.bootstrap, args.prefix, args.ruleset)
    elif args.scenario is None:
        raise ConfigError("ews verify needs a SCENARIO folder or --bootstrap")
    else:
        report = verify_scenario(args.scenario)
    console = Console()
    render(report, console)
    if args.plots:
        for path in write_plots(report, args.plots):
            console.print(f"plot written to {path}")
    if args.summary_json:
        args.summary_json.parent.mkdir(parents=True, exist_ok=True)
        args.summary_json.write_text(
            json.dumps(report.summary(), indent=2) + "\n", encoding="utf-8"
        )
        console.print(f"summary written to {args.summary_json}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Declare ``ews verify``."""
    p = sub.add_parser("verify", help="score a scenario's or a run's warnings")
    p.add_argument("scenario", type=Path, nargs="?", help="scenario folder")
    p.add_argument("--bootstrap", help="read a run's topics from this broker")
    p.add_argument("--prefix", default="", help="topic prefix of the run")
    p.add_argument("--ruleset", default="cma-rainstorm", help="rainstorm rule set")
    p.add_argument("--plots", type=Path, default=None, help="write PNG plots here")
    p.add_argument("--summary-json", type=Path, default=None, help="write figures")
    p.set_defaults(func=cmd_verify)
