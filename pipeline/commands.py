"""The pipeline's subcommands: worker, replay, demo, region.

Each ``add_*`` function declares one subcommand on an argparse
sub-parser set and points it at its ``cmd_*`` function, which returns the
process exit code. :mod:`pipeline.cli` collects them.
"""

from __future__ import annotations

import argparse
import logging
from datetime import datetime
from pathlib import Path

from rich.console import Console

from pipeline.settings import Settings

logger = logging.getLogger(__name__)


def _settings(args: argparse.Namespace) -> Settings:
    base = Settings.from_env()
    if getattr(args, "settings", None):
        base = Settings.from_file(args.settings)
    if getattr(args, "bootstrap", None):
        from dataclasses import replace  # noqa: PLC0415

        base = replace(base, bootstrap=args.bootstrap)
    return base


def instant(text: str) -> datetime:
    """An ISO-8601 instant with its UTC offset, for ``--since``/``--until``."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO-8601 time such as 2020-10-31T04:00+10:00"
        ) from None
    if value.utcoffset() is None:
        raise argparse.ArgumentTypeError(
            f"{text!r} has no UTC offset; add one, such as +08:00 or Z"
        )
    return value


def add_window(p: argparse.ArgumentParser) -> None:
    """The ``--since``/``--until`` options: replay one stretch of a scenario."""
    p.add_argument(
        "--since", type=instant, help="replay records timed from here (ISO 8601)"
    )
    p.add_argument(
        "--until", type=instant, help="replay records timed up to here (ISO 8601)"
    )


def scenario_of(args: argparse.Namespace, folder: Path):
    """The scenario in ``folder``, cut to the command's window if it has one."""
    from connectors.scenario import load_scenario  # noqa: PLC0415

    scenario = load_scenario(folder)
    if args.since is None and args.until is None:
        return scenario
    return scenario.window(args.since, args.until)


def add_worker(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("worker", help="run the faust agents in this process")
    p.add_argument("--settings", help="JSON file of worker settings")
    p.add_argument("--bootstrap", help="Kafka bootstrap servers (host:port)")
    p.add_argument("--loglevel", default="info")
    p.set_defaults(func=cmd_worker)


def cmd_worker(args: argparse.Namespace) -> int:
    from pipeline.worker import prepare, run_here  # noqa: PLC0415

    settings = _settings(args)
    prepare(settings)
    run_here(settings, loglevel=args.loglevel)
    return 0


def add_replay(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "replay", help="publish a scenario's feeds to Kafka in time order"
    )
    p.add_argument("scenario", type=Path, help="scenario folder (with manifest.toml)")
    p.add_argument(
        "--speed",
        type=float,
        default=None,
        help="time compression (60: an hour a minute); default as fast as possible",
    )
    p.add_argument("--settings", help="JSON file of settings (topic prefix, bootstrap)")
    p.add_argument("--bootstrap", help="Kafka bootstrap servers (host:port)")
    add_window(p)
    p.set_defaults(func=cmd_replay)


def cmd_replay(args: argparse.Namespace) -> int:
    from pipeline.replay import replay  # noqa: PLC0415
    from pipeline.worker import prepare  # noqa: PLC0415

    settings = _settings(args)
    scenario = scenario_of(args, args.scenario)
    prepare(settings)
    stats = replay(scenario, settings, speed=args.speed)
    Console().print(
        f"sent {stats.total} records {dict(stats.sent)}; dead letters: {stats.dead}"
    )
    return 0


def add_demo(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo", help="replay the bundled exercise end to end and summarise"
    )
    p.add_argument("--scenario", type=Path, default=None, help="scenario folder")
    p.add_argument(
        "--summary-json", type=Path, default=None, help="write the summary here"
    )
    p.add_argument("--speed", type=float, default=None, help="replay time compression")
    p.add_argument("--bootstrap", help="Kafka bootstrap (default 127.0.0.1:9092)")
    p.add_argument("--home", type=Path, default=Path("var/demo"), help="run folder")
    add_window(p)
    p.set_defaults(func=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    from pipeline.demo import DEFAULT_SCENARIO, run_demo  # noqa: PLC0415

    summary = run_demo(
        scenario=scenario_of(args, args.scenario or DEFAULT_SCENARIO),
        base=_settings(args),
        home=args.home,
        speed=args.speed,
        summary_json=args.summary_json,
    )
    return 0 if summary.cap_published == summary.cap_valid else 1


def add_region(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("region", help="import real town boundaries from GeoJSON")
    rsub = p.add_subparsers(dest="region_command", required=True)
    imp = rsub.add_parser("import", help="read a bureau's GeoJSON export")
    imp.add_argument("geojson", type=Path)
    imp.add_argument("out_dir", type=Path)
    imp.set_defaults(func=cmd_region_import)


def cmd_region_import(args: argparse.Namespace) -> int:
    from connectors.region_import import import_region  # noqa: PLC0415

    result = import_region(args.geojson, args.out_dir)
    Console().print(f"region written to {args.out_dir}: {result}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Declare every subcommand of this module."""
    for add in (add_worker, add_replay, add_demo, add_region):
        add(sub)


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry, used until the full CLI collects these commands."""
    parser = argparse.ArgumentParser(prog="ews")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
