"""The ``ews`` command line.

Every command is a function ``(args) -> exit code`` attached to its parser
with ``parser.set_defaults(func=...)``. A module that brings commands exposes
``register(sub)``, which adds its parsers to the top-level subparsers ``sub``;
:func:`build_parser` calls the ``register`` of this module and of every module
named in :data:`COMMAND_MODULES` that exists. Adding a command therefore takes
a few lines where it belongs::

    def add_replay(sub: argparse._SubParsersAction) -> None:
        parser = sub.add_parser("replay", help="publish a scenario's feeds")
        parser.add_argument("scenario", type=Path)
        parser.set_defaults(func=cmd_replay)

and a group of commands (``ews broker start``) is one :func:`group` call.
Errors of the :class:`schemas.errors.EwsError` tree end a command with exit
code 1 and their message on standard error; nothing else is caught.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from pipeline.broker import DEFAULT_HOME, LocalBroker
from pipeline.kafka_jars import KAFKA_VERSION, fetch_kafka
from schemas.errors import EwsError

log = logging.getLogger(__name__)

Handler = Callable[[argparse.Namespace], int]

# Modules with a ``register(sub)`` of their own, collected when present.
COMMAND_MODULES = (
    "pipeline.commands",
    "pipeline.status",
    "pipeline.lag_exporter",
    "pipeline.train",
    "pipeline.verify",
)


def group(
    sub: argparse._SubParsersAction, name: str, help_text: str
) -> argparse._SubParsersAction:
    """Add ``ews NAME ACTION`` and return the subparsers of its actions."""
    parser = sub.add_parser(name, help=help_text, description=help_text)
    return parser.add_subparsers(dest=f"{name}_action", metavar="ACTION", required=True)


def action(
    sub: argparse._SubParsersAction, name: str, func: Handler, help_text: str
) -> argparse.ArgumentParser:
    """Add the command ``name`` that runs ``func``; return its parser."""
    parser = sub.add_parser(name, help=help_text, description=help_text)
    parser.set_defaults(func=func)
    return parser


# -- ews broker -----------------------------------------------------------------


def _broker_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--home", type=Path, default=DEFAULT_HOME, help="broker folder (var/broker)"
    )
    parser.add_argument("--port", type=int, default=9092, help="client port")
    parser.add_argument(
        "--controller-port", type=int, default=9093, help="KRaft controller port"
    )
    parser.add_argument(
        "--kafka-version", default=KAFKA_VERSION, help="Apache Kafka release"
    )


def _broker(args: argparse.Namespace) -> LocalBroker:
    return LocalBroker(args.home, args.port, args.controller_port, args.kafka_version)


def broker_start(args: argparse.Namespace) -> int:
    broker = _broker(args)
    broker.start()
    print(broker.status())
    return 0


def broker_stop(args: argparse.Namespace) -> int:
    broker = _broker(args)
    broker.stop()
    print(broker.status())
    return 0


def broker_status(args: argparse.Namespace) -> int:
    status = _broker(args).status()
    print(status)
    return 0 if status.running else 1


def broker_fetch(args: argparse.Namespace) -> int:
    print(fetch_kafka(args.kafka_version))
    return 0


def add_broker(sub: argparse._SubParsersAction) -> None:
    actions = group(sub, "broker", "the local single-node Kafka broker")
    for name, func, help_text in (
        ("start", broker_start, "start the broker and wait until it answers"),
        ("stop", broker_stop, "stop the broker (SIGTERM, then SIGKILL)"),
        ("status", broker_status, "say whether the broker runs (exit 1 if not)"),
        ("fetch", broker_fetch, "fetch the Kafka jars into the cache"),
    ):
        _broker_options(action(actions, name, func, help_text))


# -- ews topics -----------------------------------------------------------------


def _bootstrap_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--bootstrap",
        default=os.environ.get("EWS_BOOTSTRAP", "127.0.0.1:9092"),
        help="host:port of a broker ($EWS_BOOTSTRAP, else 127.0.0.1:9092)",
    )


def topics_create(args: argparse.Namespace) -> int:
    from pipeline.admin import ensure_topics

    created = ensure_topics(args.bootstrap, replication_factor=args.replication_factor)
    print(f"created: {', '.join(created)}" if created else "all topics exist")
    return 0


def topics_list(args: argparse.Namespace) -> int:
    from pipeline.admin import list_topics
    from pipeline.topics import ALL

    present = list_topics(args.bootstrap)
    declared = {spec.name for spec in ALL}
    for spec in ALL:
        found = present.get(spec.name)
        state = "missing" if found is None else f"{found} partitions"
        print(f"{spec.name:<12} {state:<14} {spec.description}")
    for name in sorted(set(present) - declared):
        print(f"{name} {present[name]} partitions (not declared)")
    return 0


def add_topics(sub: argparse._SubParsersAction) -> None:
    actions = group(sub, "topics", "the declared Kafka topics")
    create = action(actions, "create", topics_create, "create the declared topics")
    _bootstrap_option(create)
    create.add_argument(
        "--replication-factor",
        type=int,
        default=None,
        help="replicas per partition (default: the broker's own default)",
    )
    _bootstrap_option(action(actions, "list", topics_list, "list the topics"))


def register(sub: argparse._SubParsersAction) -> None:
    """Declare the commands of this module: ``broker`` and ``topics``."""
    add_broker(sub)
    add_topics(sub)


def build_parser() -> argparse.ArgumentParser:
    """Return the ``ews`` parser with the commands of every command module."""
    parser = argparse.ArgumentParser(
        prog="ews", description="multi-hazard early-warning pipeline"
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="debug logging, kafka's too"
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="warnings only")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    register(sub)
    for name in COMMAND_MODULES:
        if importlib.util.find_spec(name) is not None:
            importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``ews`` command line; return its exit code."""
    args = build_parser().parse_args(argv)
    level = logging.DEBUG if args.verbose else logging.INFO
    level = logging.WARNING if args.quiet else level
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if not args.verbose:
        # kafka-python logs every refused connection while it retries.
        logging.getLogger("kafka").setLevel(logging.CRITICAL)
    try:
        return int(args.func(args))
    except EwsError as exc:
        print(f"ews: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
