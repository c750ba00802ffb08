"""Fixtures shared by every test: free loopback ports and one real Kafka broker.

``kafka_bootstrap`` starts a :class:`pipeline.broker.LocalBroker` once per test
session, in a temporary home, on free loopback ports, and stops it at the end.
The broker's jars come from the shared cache (``$EWS_CACHE`` or
``~/.cache/ews``); the first run ever fetches them with Maven. Set
``EWS_KAFKA_VERSION`` to run the suite against another Kafka release.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable, Iterator

import pytest

from pipeline.broker import KAFKA_VERSION, LocalBroker

log = logging.getLogger(__name__)


def find_free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def free_port() -> Callable[[], int]:
    """A function that returns a different free loopback port on each call."""
    handed_out: set[int] = set()

    def pick() -> int:
        while True:
            port = find_free_port()
            if port not in handed_out:
                handed_out.add(port)
                return port

    return pick


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBroker]:
    """One real Kafka broker for the whole session (started lazily, on first use)."""
    port = find_free_port()
    controller_port = find_free_port()
    while controller_port == port:
        controller_port = find_free_port()
    broker = LocalBroker(
        home=tmp_path_factory.mktemp("kafka"),
        port=port,
        controller_port=controller_port,
        kafka_version=os.environ.get("EWS_KAFKA_VERSION", KAFKA_VERSION),
    )
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def kafka_bootstrap(kafka_broker: LocalBroker) -> str:
    """``127.0.0.1:PORT`` of the session's Kafka broker."""
    return kafka_broker.bootstrap
