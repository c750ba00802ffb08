"""faust's own ceiling: a worker whose one agent takes each record and drops it.

    python -m benchmarks.faust_floor BOOTSTRAP TOPIC GROUP [stock]

The app has the options of an ews worker (:func:`pipeline.app.faust_options`),
the same fetch loop and ack rule (:mod:`pipeline.fetch`,
:func:`pipeline.worker.commit_only_what_agents_took`) and one agent on
``TOPIC`` that reads every event and does nothing with it: no decoding, no
table, nothing published. Its offsets are committed as group ``GROUP``, so
:func:`benchmarks.rig.follow` times it like a worker. Between the bare
consumer and this floor lies what faust costs per record; between this
floor and the flood agent, what ews's own work costs. It runs until it is
stopped (SIGTERM, faust's clean shutdown). With ``stock`` it keeps faust's
own fetch loop and ack, to show what ews's replacements cost.
"""

from __future__ import annotations

import sys
from pathlib import Path

import faust

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script
    sys.path.insert(0, str(REPO))

from pipeline import fetch  # noqa: E402
from pipeline.app import faust_options  # noqa: E402
from pipeline.settings import Settings  # noqa: E402
from pipeline.worker import commit_only_what_agents_took  # noqa: E402


def floor_app(bootstrap: str, topic: str, group: str) -> faust.App:
    """The app of the floor: one agent on ``topic`` that drops every event."""
    options = faust_options(Settings(bootstrap=bootstrap, app_id=group))
    app = faust.App(group, **options)
    source = app.topic(topic, key_serializer="raw", value_serializer="raw")

    async def drop(stream: faust.StreamT) -> None:
        async for _event in stream.events():
            pass

    app.agent(source, name="floor_agent")(drop)
    return app


def main(argv: list[str]) -> None:
    bootstrap, topic, group, *stock = argv
    if stock != ["stock"]:
        commit_only_what_agents_took()
        fetch.install()
    app = floor_app(bootstrap, topic, group)
    sys.argv = ["ews-floor", "worker", "--loglevel", "warn", "--without-web"]
    app.main()


if __name__ == "__main__":
    main(sys.argv[1:])
