"""The Apache Kafka broker's jars, fetched once with Maven into a cache.

::

    $EWS_CACHE/kafka-<version>/lib/*.jar      (EWS_CACHE defaults to ~/.cache/ews)

:func:`fetch_kafka` runs ``mvn dependency:copy-dependencies`` on the small
pom of ``scripts/kafka`` whose one dependency is
``org.apache.kafka:kafka_2.13``; :class:`pipeline.broker.LocalBroker` runs
the broker from that classpath.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import time
from pathlib import Path

from schemas.errors import BrokerError

log = logging.getLogger(__name__)

KAFKA_FILES = Path(__file__).resolve().parents[1] / "scripts" / "kafka"
# lines of Maven's or the broker's output quoted in an error
LOG_TAIL_LINES = 40

# Kafka 4.0 dropped the old protocol versions; aiokafka 0.14.0 and
# kafka-python 3.0 speak the new ones. 4.4.0 is the newest release served and
# passes tests/integration/test_faust_compat.py (a faust table counted, then
# recovered from its changelog by a second worker). 4.0.1, 4.0.2, 4.1.2, 4.2.0
# and 4.3.2 behave the same in that test, including faust's occasional second
# delivery of a record at start-up (docs/kafka.md), so nothing argues for an
# older pin.
KAFKA_VERSION = "4.4.0"


def cache_root() -> Path:
    """Return the directory of downloaded jars (``$EWS_CACHE`` or ~/.cache/ews)."""
    override = os.environ.get("EWS_CACHE")
    return Path(override) if override else Path.home() / ".cache" / "ews"


def kafka_lib(version: str = KAFKA_VERSION) -> Path:
    """Return the folder that holds (or will hold) the classpath of ``version``."""
    return cache_root() / f"kafka-{version}" / "lib"


def fetch_kafka(version: str = KAFKA_VERSION) -> Path:
    """Fetch the broker's jars with Maven unless already cached; return the lib dir.

    The download goes to a temporary folder that is renamed into place, so an
    interrupted fetch never leaves a half-filled classpath behind.
    """
    lib = kafka_lib(version)
    if (lib / f"kafka_2.13-{version}.jar").is_file():
        return lib

    mvn = shutil.which("mvn")
    if mvn is None:
        raise BrokerError(
            "mvn not found on PATH: Maven is needed once to fetch the Kafka "
            f"{version} jars into {lib} (apt-get install maven)"
        )
    pom = KAFKA_FILES / "pom.xml"
    if not pom.is_file():
        raise BrokerError(f"{pom} is missing: LocalBroker runs from a source checkout")

    work = lib.parent
    work.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(pom, work / "pom.xml")
    partial = work / f"lib.partial-{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    log.info("fetching Apache Kafka %s jars into %s", version, lib)
    started = time.monotonic()
    result = subprocess.run(
        [
            mvn,
            "-q",
            "-B",
            "dependency:copy-dependencies",
            f"-Dkafka.version={version}",
            f"-DoutputDirectory={partial}",
        ],
        cwd=work,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        shutil.rmtree(partial, ignore_errors=True)
        output = (result.stdout + result.stderr).strip().splitlines()
        raise BrokerError(
            f"mvn could not fetch org.apache.kafka:kafka_2.13:{version} "
            f"(exit {result.returncode}):\n" + "\n".join(output[-LOG_TAIL_LINES:])
        )
    try:
        partial.rename(lib)
    except OSError:
        # Another process finished the same fetch first; its copy is as good.
        shutil.rmtree(partial, ignore_errors=True)
    log.info("fetched Kafka %s in %.1f s", version, time.monotonic() - started)
    return lib
