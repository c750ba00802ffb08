"""Topic administration: create the declared topics, list them, wait for a broker.

Uses kafka-python's ``KafkaAdminClient`` (synchronous), so it runs before any
faust worker starts. :func:`ensure_topics` is idempotent: it creates what is
missing and checks that what exists has the declared partition count, since
faust tables need a changelog with as many partitions as their source topic.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from kafka import KafkaAdminClient
from kafka.errors import KafkaError, TopicAlreadyExistsError

from pipeline.topics import ALL, TopicSpec
from schemas.errors import BrokerError, ConfigError

log = logging.getLogger(__name__)


@contextmanager
def admin_client(
    bootstrap: str,
    timeout_s: float = 15.0,
    security: Mapping[str, Any] | None = None,
) -> Iterator[KafkaAdminClient]:
    """Open a ``KafkaAdminClient`` on ``bootstrap`` and close it afterwards.

    ``security`` holds the client's TLS and SASL keyword arguments
    (:func:`pipeline.kafka_security.client_kwargs`); None for PLAINTEXT.
    """
    try:
        admin = KafkaAdminClient(
            bootstrap_servers=bootstrap,
            client_id="ews-admin",
            request_timeout_ms=int(timeout_s * 1000),
            bootstrap_timeout_ms=int(timeout_s * 1000),
            reconnect_backoff_max_ms=1000,
            **(security or {}),
        )
    except KafkaError as exc:
        raise BrokerError(f"no Kafka broker answers at {bootstrap}: {exc!r}") from exc
    try:
        yield admin
    finally:
        admin.close()


def wait_for_broker(
    bootstrap: str, timeout_s: float = 60.0, security: Mapping[str, Any] | None = None
) -> None:
    """Block until the broker at ``bootstrap`` answers a metadata request."""
    deadline = time.monotonic() + timeout_s
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            with admin_client(bootstrap, timeout_s=5.0, security=security) as admin:
                admin.list_topics()
            return
        except (BrokerError, KafkaError) as exc:
            last_error = exc
            time.sleep(0.5)
    raise BrokerError(
        f"no Kafka broker answered at {bootstrap} within {timeout_s:.0f} s "
        f"(last error: {last_error!r})"
    )


def list_topics(
    bootstrap: str, internal: bool = False, security: Mapping[str, Any] | None = None
) -> dict[str, int]:
    """Return ``{topic name: partition count}`` of the topics on the broker.

    Internal topics (``__consumer_offsets``, ``__transaction_state``, ...) are
    left out unless ``internal`` is true.
    """
    with admin_client(bootstrap, security=security) as admin:
        described = admin.describe_topics()
    return {
        str(topic["name"]): len(topic["partitions"])
        for topic in described
        if internal or not (topic.get("is_internal") or topic["name"].startswith("__"))
    }


def ensure_topics(
    bootstrap: str,
    specs: Iterable[TopicSpec] = ALL,
    replication_factor: int | None = None,
    security: Mapping[str, Any] | None = None,
) -> list[str]:
    """Create the topics of ``specs`` that do not exist yet; return their names.

    Parameters
    ----------
    bootstrap
        ``host:port`` of a broker.
    specs
        Topics to ensure; defaults to every declared topic.
    replication_factor
        Replicas per partition; ``None`` leaves it to the broker's
        ``default.replication.factor`` (1 locally, 3 in the deployment).
    security
        TLS and SASL keyword arguments of the admin client; None for PLAINTEXT.

    Raises
    ------
    ConfigError
        If a topic exists with a partition count other than the declared one.
    BrokerError
        If the broker cannot be reached or refuses to create a topic.
    """
    wanted = list(specs)
    existing = list_topics(bootstrap, security=security)
    _check_partitions(wanted, existing)

    missing = [spec for spec in wanted if spec.name not in existing]
    if not missing:
        log.debug("all %d topics exist on %s", len(wanted), bootstrap)
        return []

    request: dict[str, dict[str, Any]] = {
        spec.name: {
            "num_partitions": spec.partitions,
            "replication_factor": replication_factor or -1,
            "configs": spec.config(),
        }
        for spec in missing
    }
    with admin_client(bootstrap, security=security) as admin:
        try:
            admin.create_topics(request, wait_for_metadata=True)
        except TopicAlreadyExistsError:
            # Created meanwhile by someone else: check it like any existing one.
            _check_partitions(wanted, list_topics(bootstrap, security=security))
        except KafkaError as exc:
            names = ", ".join(request)
            raise BrokerError(
                f"broker {bootstrap} refused to create topics {names}: {exc!r}"
            ) from exc

    created = [spec.name for spec in missing]
    log.info("created topics on %s: %s", bootstrap, ", ".join(created))
    return created


def _check_partitions(specs: list[TopicSpec], existing: dict[str, int]) -> None:
    wrong = [
        f"{spec.name} has {existing[spec.name]} partitions, declared {spec.partitions}"
        for spec in specs
        if spec.name in existing and existing[spec.name] != spec.partitions
    ]
    if wrong:
        raise ConfigError(
            "existing topics disagree with pipeline.topics: "
            + "; ".join(wrong)
            + " (delete and recreate them, or change the declaration)"
        )
