"""A single-node Apache Kafka broker on loopback, for development and tests.

:class:`LocalBroker` runs the real Apache Kafka broker (KRaft mode, combined
broker and controller roles, node id 1) from jars that Maven fetches from Maven
Central into a cache outside the repository (:mod:`pipeline.kafka_jars`).

The broker's home (``var/broker`` by default) holds ``server.properties``, the
data directory ``data/``, the console log ``broker.log`` and ``broker.pid``.
Storage is formatted with a fresh cluster id on the first start only, so
topics, offsets and faust changelogs survive a restart.

``start()`` returns once the broker answers a metadata request; ``stop()`` sends
SIGTERM (a clean, controlled shutdown that takes about a second) and SIGKILL
after a grace period. Every failure raises :class:`schemas.errors.BrokerError`
with the tail of ``broker.log``.

The faust settings that work against this broker, with measured start and
stop times, are in ``docs/kafka.md``.
"""

from __future__ import annotations

import base64
import logging
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from pipeline.kafka_jars import KAFKA_FILES, KAFKA_VERSION, LOG_TAIL_LINES, fetch_kafka
from schemas.errors import BrokerError

log = logging.getLogger(__name__)

DEFAULT_HOME = Path("var/broker")
JVM_OPTIONS = ("-Xms128m", "-Xmx512m", "-XX:+UseG1GC", "-Djava.awt.headless=true")


def new_cluster_id() -> str:
    """Return a random cluster id in Kafka's form (16 bytes, URL-safe base64).

    An id starting with "-" would be read as an option by the storage tool,
    so such draws (1 in 64) are drawn again.
    """
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode("ascii")
        if not text.startswith("-"):
            return text.rstrip("=")


@dataclass(frozen=True)
class BrokerStatus:
    """What :meth:`LocalBroker.status` found."""

    running: bool
    pid: int | None
    bootstrap: str
    home: Path

    def __str__(self) -> str:
        state = f"running (pid {self.pid})" if self.running else "not running"
        return f"kafka {state} at {self.bootstrap}, home {self.home}"


class LocalBroker:
    """One Apache Kafka broker in KRaft mode on 127.0.0.1.

    Parameters
    ----------
    home
        Folder for configuration, data, log and pid file; created if missing.
    port
        TCP port of the PLAINTEXT (client) listener.
    controller_port
        TCP port of the KRaft CONTROLLER listener.
    kafka_version
        Apache Kafka release to run; its jars are fetched on first use.
    extra_listeners
        More client listeners on 127.0.0.1, ``{name: (security protocol,
        port)}``, such as ``{"SASL_SSL": ("SASL_SSL", 9094)}``; the PLAINTEXT
        listener stays (the broker's own traffic and its readiness probe use
        it).
    extra_properties
        More ``server.properties`` settings (or replacements): the SASL
        mechanisms, JAAS configuration and keystores of an extra listener.
    format_args
        More arguments for the storage format of the first start, such as
        ``["--add-scram", "SCRAM-SHA-512=[name=ews,password=...]"]``.
    """

    def __init__(
        self,
        home: Path = DEFAULT_HOME,
        port: int = 9092,
        controller_port: int = 9093,
        kafka_version: str = KAFKA_VERSION,
        *,
        extra_listeners: Mapping[str, tuple[str, int]] | None = None,
        extra_properties: Mapping[str, str] | None = None,
        format_args: Sequence[str] = (),
    ) -> None:
        self.home = Path(home).resolve()
        self.port = port
        self.controller_port = controller_port
        self.kafka_version = kafka_version
        self.extra_listeners = dict(extra_listeners or {})
        self.extra_properties = dict(extra_properties or {})
        self.format_args = list(format_args)
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        """The client bootstrap address, ``127.0.0.1:PORT``."""
        return f"127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.home / "broker.log"

    @property
    def pid_path(self) -> Path:
        return self.home / "broker.pid"

    @property
    def properties_path(self) -> Path:
        return self.home / "server.properties"

    def __enter__(self) -> LocalBroker:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self, timeout_s: float = 90.0) -> None:
        """Start the broker (if not already running) and wait until it answers."""
        pid = self._running_pid()
        if pid is not None:
            log.info("kafka already running at %s (pid %d)", self.bootstrap, pid)
            self._wait_ready(timeout_s)
            return

        extra_ports = [port for _, port in self.extra_listeners.values()]
        for port in (self.port, self.controller_port, *extra_ports):
            _check_port_free(port)
        lib = fetch_kafka(self.kafka_version)
        self.home.mkdir(parents=True, exist_ok=True)
        self._write_properties()
        if not (self.home / "data" / "meta.properties").is_file():
            self._format_storage(lib)

        started = time.monotonic()
        with open(self.log_path, "ab") as out:
            self._proc = subprocess.Popen(
                [
                    *self._java(lib),
                    "kafka.Kafka",
                    str(self.properties_path),
                ],
                cwd=self.home,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.pid_path.write_text(f"{self._proc.pid}\n")
        self._wait_ready(timeout_s)
        log.info(
            "kafka %s up at %s (pid %d) in %.1f s",
            self.kafka_version,
            self.bootstrap,
            self._proc.pid,
            time.monotonic() - started,
        )

    def stop(self, grace_s: float = 30.0) -> None:
        """Stop the broker: SIGTERM, then SIGKILL if it outlives ``grace_s``."""
        pid = self._running_pid()
        if pid is None:
            self.pid_path.unlink(missing_ok=True)
            self._proc = None
            return

        log.info("stopping kafka at %s (pid %d)", self.bootstrap, pid)
        os.kill(pid, signal.SIGTERM)
        if not self._wait_exit(pid, grace_s):
            log.warning(
                "kafka pid %d ignored SIGTERM for %.0f s; killing", pid, grace_s
            )
            os.kill(pid, signal.SIGKILL)
            if not self._wait_exit(pid, 10.0):
                raise BrokerError(
                    f"kafka pid {pid} survived SIGKILL\n{self.log_tail()}"
                )
        self.pid_path.unlink(missing_ok=True)
        self._proc = None

    def status(self) -> BrokerStatus:
        """Say whether the broker of this home runs, and where."""
        pid = self._running_pid()
        return BrokerStatus(pid is not None, pid, self.bootstrap, self.home)

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        """Return the last ``lines`` lines of ``broker.log`` (empty if none)."""
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def _java(self, lib: Path) -> list[str]:
        java_home = os.environ.get("JAVA_HOME")
        java = str(Path(java_home) / "bin" / "java") if java_home else "java"
        if shutil.which(java) is None:
            raise BrokerError(
                f"java not found ({java}): Kafka {self.kafka_version} needs Java 17 "
                "or newer (apt-get install openjdk-17-jre-headless)"
            )
        log4j = KAFKA_FILES / "log4j2.yaml"
        return [
            java,
            *JVM_OPTIONS,
            f"-Dlog4j2.configurationFile={log4j}",
            "-cp",
            str(lib / "*"),
        ]

    def _write_properties(self) -> None:
        text = render_properties(
            port=self.port,
            controller_port=self.controller_port,
            data_dir=self.home / "data",
            extra_listeners=self.extra_listeners,
            extra=self.extra_properties,
        )
        self.properties_path.write_text(text)

    def _format_storage(self, lib: Path) -> None:
        cluster_id = new_cluster_id()
        log.info("formatting %s with cluster id %s", self.home / "data", cluster_id)
        result = subprocess.run(
            [
                *self._java(lib),
                "kafka.tools.StorageTool",
                "format",
                "--cluster-id",
                cluster_id,
                "--config",
                str(self.properties_path),
                "--ignore-formatted",
                *self.format_args,
            ],
            cwd=self.home,
            capture_output=True,
            text=True,
            check=False,
        )
        with open(self.log_path, "a") as out:
            out.write(result.stdout + result.stderr)
        if result.returncode != 0:
            raise BrokerError(
                f"formatting Kafka storage in {self.home / 'data'} failed "
                f"(exit {result.returncode}):\n{self.log_tail()}"
            )

    def _wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                self.pid_path.unlink(missing_ok=True)
                raise BrokerError(
                    f"kafka exited with code {self._proc.returncode} while starting "
                    f"at {self.bootstrap}:\n{self.log_tail()}"
                )
            try:
                cluster_id = answers_metadata(self.bootstrap)
            except Exception as exc:  # noqa: BLE001 - any failure means "not yet"
                last_error = exc
                time.sleep(0.25)
                continue
            ours = self._cluster_id()
            if cluster_id == ours:
                return
            raise BrokerError(
                f"the broker answering at {self.bootstrap} belongs to cluster "
                f"{cluster_id}, not to {ours} of {self.home}: the port is taken"
            )
        raise BrokerError(
            f"kafka at {self.bootstrap} did not answer a metadata request within "
            f"{timeout_s:.0f} s (last error: {last_error!r}):\n{self.log_tail()}"
        )

    def _cluster_id(self) -> str | None:
        try:
            text = (self.home / "data" / "meta.properties").read_text()
        except FileNotFoundError:
            return None
        for line in text.splitlines():
            key, _, value = line.partition("=")
            if key.strip() == "cluster.id":
                return value.strip()
        return None

    def _running_pid(self) -> int | None:
        try:
            pid = int(self.pid_path.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        return pid if _is_our_broker(pid, self.properties_path) else None

    def _wait_exit(self, pid: int, timeout_s: float) -> bool:
        if self._proc is not None and self._proc.pid == pid:
            try:
                self._proc.wait(timeout_s)
                return True
            except subprocess.TimeoutExpired:
                return False
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not _is_alive(pid):
                return True
            time.sleep(0.1)
        return False


def answers_metadata(bootstrap: str, timeout_s: float = 5.0) -> str:
    """Return the cluster id of the broker at ``bootstrap``; raise if it is silent."""
    from kafka import KafkaAdminClient

    host, _, port = bootstrap.rpartition(":")
    # A refused connection fails here at once, before kafka-python's backoff.
    socket.create_connection((host, int(port)), timeout=timeout_s).close()
    admin = KafkaAdminClient(
        bootstrap_servers=bootstrap,
        client_id="ews-probe",
        request_timeout_ms=int(timeout_s * 1000),
        bootstrap_timeout_ms=int(timeout_s * 1000),
        reconnect_backoff_max_ms=1000,
    )
    try:
        return str(admin.describe_cluster()["cluster_id"])
    finally:
        admin.close()


def render_properties(
    port: int,
    controller_port: int,
    data_dir: Path,
    extra_listeners: Mapping[str, tuple[str, int]] | None = None,
    extra: Mapping[str, str] | None = None,
) -> str:
    """Return ``server.properties`` of a single combined broker and controller.

    Internal topics get replication factor 1 (there is one node) and few
    partitions, segments are small, and topics are never created on first use:
    every topic is declared in :mod:`pipeline.topics`. ``extra_listeners``
    (``{name: (protocol, port)}``) and ``extra`` (more settings) are as in
    :class:`LocalBroker`; without them the text is the plain single listener.
    """
    settings = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@127.0.0.1:{controller_port}",
        "listeners": (
            f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}"
        ),
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "log.dirs": str(data_dir),
        "num.partitions": "1",
        "default.replication.factor": "1",
        "min.insync.replicas": "1",
        "auto.create.topics.enable": "false",
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "4",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "transaction.state.log.num.partitions": "4",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
        "log.segment.bytes": str(16 * 1024 * 1024),
        "log.index.size.max.bytes": str(1024 * 1024),
        "log.retention.check.interval.ms": "60000",
        "log.cleaner.threads": "1",
        "log.cleaner.dedupe.buffer.size": str(8 * 1024 * 1024),
        "num.network.threads": "2",
        "num.io.threads": "4",
        "num.recovery.threads.per.data.dir": "1",
    }
    for name, (protocol, extra_port) in (extra_listeners or {}).items():
        address = f"{name}://127.0.0.1:{extra_port}"
        settings["listeners"] += f",{address}"
        settings["advertised.listeners"] += f",{address}"
        settings["listener.security.protocol.map"] += f",{name}:{protocol}"
    settings.update(extra or {})
    lines = ["# Written by pipeline.broker.LocalBroker on every start; edits are lost."]
    lines += [f"{key}={value}" for key, value in settings.items()]
    return "\n".join(lines) + "\n"


def _check_port_free(port: int) -> None:
    """Raise if something listens on 127.0.0.1:``port`` already."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As the JVM does: a port held only by closed connections is free.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as exc:
            raise BrokerError(
                f"127.0.0.1:{port} is in use ({exc.strerror}): choose other ports "
                "for the broker or stop what listens there"
            ) from exc


def _is_alive(pid: int) -> bool:
    """True if ``pid`` runs and is not a zombie waiting to be reaped."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    state = stat.rsplit(")", 1)[1].split()[0]
    return state not in ("Z", "X")


def _is_our_broker(pid: int, properties: Path) -> bool:
    """True if ``pid`` is a live Kafka broker started with ``properties``."""
    if not _is_alive(pid):
        return False
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (FileNotFoundError, ProcessLookupError):
        return False
    return b"kafka.Kafka" in argv and str(properties).encode() in argv
