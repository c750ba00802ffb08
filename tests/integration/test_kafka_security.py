"""Kafka over TLS with SASL/SCRAM-SHA-512: the real broker, ews's own clients.

The module makes a certificate authority, a broker certificate for
127.0.0.1 and a client certificate with openssl, a PKCS12 keystore and
truststore for the broker (openssl and the JRE's keytool), and starts a
:class:`pipeline.broker.LocalBroker` with an extra ``SASL_SSL`` listener
that asks for a client certificate and accepts SCRAM-SHA-512, the user
created at storage format time (``kafka-storage format --add-scram``).
Every client is configured through :mod:`pipeline.kafka_security` from
:class:`Settings`, as ews configures its own.
"""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import uuid
from dataclasses import replace
from pathlib import Path

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError

from connectors.scenario import load_scenario
from pipeline.admin import ensure_topics, wait_for_broker
from pipeline.broker import LocalBroker
from pipeline.demo import DEFAULT_SCENARIO, OUTPUTS, SOURCES, run_settings
from pipeline.kafka_security import PASSWORD_ENV, KafkaSecurity, client_kwargs
from pipeline.lag import wait_caught_up
from pipeline.replay import replay
from pipeline.settings import Settings
from pipeline.summary import collect
from pipeline.topics import TopicSpec
from pipeline.worker import WorkerProcess, prepare
from tests.conftest import find_free_port

pytestmark = pytest.mark.integration

USER = "ews"


def run(*args: str | Path, cwd: Path) -> None:
    subprocess.run([str(a) for a in args], cwd=cwd, check=True, capture_output=True)


def make_certificates(home: Path, store_password: str) -> dict[str, Path]:
    """A CA, a broker certificate for 127.0.0.1, a client certificate, stores."""
    openssl = shutil.which("openssl")
    keytool = shutil.which("keytool")
    if openssl is None or keytool is None:
        pytest.fail("openssl and keytool (openjdk-17) are needed for the TLS tests")
    days = "2"
    run(openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", days,
        "-subj", "/CN=ews test CA", "-keyout", "ca.key", "-out", "ca.pem",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=home)  # fmt: skip
    extensions = {
        "broker": "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
        "extendedKeyUsage=serverAuth\n",
        "client": "extendedKeyUsage=clientAuth\n",
    }
    for name, ext in extensions.items():
        (home / f"{name}.ext").write_text(ext)
        run(openssl, "req", "-newkey", "rsa:2048", "-nodes",
            "-subj", f"/CN=ews {name}", "-keyout", f"{name}.key",
            "-out", f"{name}.csr", cwd=home)  # fmt: skip
        run(openssl, "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem",
            "-CAkey", "ca.key", "-CAcreateserial", "-days", days,
            "-extfile", f"{name}.ext", "-out", f"{name}.pem", cwd=home)  # fmt: skip
    run(openssl, "pkcs12", "-export", "-in", "broker.pem", "-inkey", "broker.key",
        "-certfile", "ca.pem", "-name", "broker", "-out", "broker.p12",
        "-passout", f"pass:{store_password}", cwd=home)  # fmt: skip
    run(keytool, "-importcert", "-noprompt", "-alias", "ca", "-file", "ca.pem",
        "-keystore", "trust.p12", "-storetype", "PKCS12",
        "-storepass", store_password, cwd=home)  # fmt: skip
    names = ("ca.pem", "broker.p12", "trust.p12", "client.pem", "client.key")
    return {name: home / name for name in names}


class SecureBroker:
    """A broker with a SASL_SSL listener, and the settings of a client of it."""

    def __init__(self, home: Path) -> None:
        self.password = secrets.token_urlsafe(24)
        store_password = secrets.token_urlsafe(16)
        certs = make_certificates(home, store_password)
        ports: set[int] = set()
        while len(ports) < 3:
            ports.add(find_free_port())
        self.port, plain, controller = sorted(ports)
        self.broker = LocalBroker(
            home=home / "kafka",
            port=plain,
            controller_port=controller,
            extra_listeners={"SASL_SSL": ("SASL_SSL", self.port)},
            extra_properties={
                "sasl.enabled.mechanisms": "SCRAM-SHA-512",
                "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config": (
                    "org.apache.kafka.common.security.scram.ScramLoginModule required;"
                ),
                "ssl.keystore.type": "PKCS12",
                "ssl.keystore.location": str(certs["broker.p12"]),
                "ssl.keystore.password": store_password,
                "ssl.key.password": store_password,
                "ssl.truststore.type": "PKCS12",
                "ssl.truststore.location": str(certs["trust.p12"]),
                "ssl.truststore.password": store_password,
                # Kafka ignores the bare ssl.client.auth on a SASL_SSL
                # listener: only the listener's own setting asks for a
                # client certificate there
                "listener.name.sasl_ssl.ssl.client.auth": "required",
            },
            format_args=[
                "--add-scram",
                f"SCRAM-SHA-512=[name={USER},password={self.password}]",
            ],
        )
        password_file = home / "sasl-password"
        password_file.write_text(self.password + "\n")
        password_file.chmod(0o600)
        self.settings = Settings(
            bootstrap=f"127.0.0.1:{self.port}",
            security_protocol="SASL_SSL",
            sasl_mechanism="SCRAM-SHA-512",
            sasl_username=USER,
            sasl_password_file=str(password_file),
            ssl_cafile=str(certs["ca.pem"]),
            ssl_certfile=str(certs["client.pem"]),
            ssl_keyfile=str(certs["client.key"]),
            archive_dir="",
        )


@pytest.fixture(scope="module")
def secure(tmp_path_factory: pytest.TempPathFactory):
    rig = SecureBroker(tmp_path_factory.mktemp("secure"))
    rig.broker.start()
    try:
        wait_for_broker(rig.settings.bootstrap, security=client_kwargs(rig.settings))
        yield rig
    finally:
        rig.broker.stop()


def test_the_right_credentials_produce_and_consume(secure: SecureBroker) -> None:
    topic = f"secure-{uuid.uuid4().hex[:8]}"
    security = client_kwargs(secure.settings)
    ensure_topics(
        secure.settings.bootstrap,
        [TopicSpec(topic, 1, None, "delete", "key", None, "a test topic")],
        security=security,
    )
    producer = KafkaProducer(bootstrap_servers=secure.settings.bootstrap, **security)
    for n in range(5):
        producer.send(topic, key=b"k", value=f"record {n}".encode())
    producer.flush()
    producer.close()

    consumer = KafkaConsumer(
        bootstrap_servers=secure.settings.bootstrap,
        enable_auto_commit=False,
        **security,
    )
    tp = TopicPartition(topic, 0)
    consumer.assign([tp])
    consumer.seek_to_beginning(tp)
    got: list[bytes] = []
    for _ in range(100):
        got += [r.value for r in consumer.poll(timeout_ms=200).get(tp, [])]
        if len(got) >= 5:
            break
    consumer.close()
    assert got == [f"record {n}".encode() for n in range(5)]


def refused(kwargs: dict) -> BaseException | None:
    """The error a client meets when it connects with ``kwargs``, if any."""
    try:
        admin = KafkaAdminClient(request_timeout_ms=5000, **kwargs)
    except KafkaError as exc:
        return exc
    try:
        admin.list_topics()
    except KafkaError as exc:
        return exc
    finally:
        admin.close()
    return None


def test_a_wrong_password_is_refused(
    secure: SecureBroker, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PASSWORD_ENV, "not-the-password")
    security = client_kwargs(secure.settings)
    assert security["sasl_plain_password"] == "not-the-password"
    error = refused({"bootstrap_servers": secure.settings.bootstrap, **security})
    assert error is not None, "the broker took a wrong password"
    monkeypatch.delenv(PASSWORD_ENV)
    right = client_kwargs(secure.settings)
    assert refused({"bootstrap_servers": secure.settings.bootstrap, **right}) is None


def test_a_client_without_its_certificate_or_without_tls_is_refused(
    secure: SecureBroker,
) -> None:
    no_cert = replace(secure.settings, ssl_certfile="", ssl_keyfile="")
    plain = replace(
        no_cert, security_protocol="PLAINTEXT", ssl_cafile="", sasl_username=""
    )
    for settings in (no_cert, plain):
        kwargs = {"bootstrap_servers": settings.bootstrap, **client_kwargs(settings)}
        assert refused(kwargs) is not None, settings.security_protocol


def test_a_worker_scores_records_over_sasl_ssl(
    secure: SecureBroker, tmp_path: Path
) -> None:
    scenario = load_scenario(DEFAULT_SCENARIO)
    run_id = f"s{uuid.uuid4().hex[:8]}"
    settings = run_settings(secure.settings, scenario, run_id, tmp_path)
    settings = replace(settings, archive_dir="")
    prepare(settings)
    gauge = [r for r in scenario.records() if r.topic == "obs.gauge"]
    worker = WorkerProcess(settings, tmp_path)
    worker.start()
    try:
        worker.wait_ready()
        stats = replay(scenario, settings, records=gauge, rejections=False,
                       progress=False)  # fmt: skip
        wait_caught_up(
            settings.bootstrap,
            settings.app_id,
            [settings.topic(t) for t in SOURCES],
            [settings.topic(t) for t in OUTPUTS],
            security=client_kwargs(settings),
        )
    finally:
        worker.stop()
    summary = collect(settings)
    assert stats.sent["obs.gauge"] == len(gauge) > 0
    # the Miho River Bridge series crosses every colour level of its station
    levels = {w["level"] for w in summary.warnings if w["hazard"] == "flood"}
    assert {"blue", "yellow", "orange", "red"} <= levels
    assert summary.cap_published == summary.cap_valid == len(summary.warnings)
    # the password reached the broker, never the worker's log or its settings
    assert secure.password not in worker.log()
    assert secure.password not in worker.settings_path.read_text()
    assert secure.password not in json.dumps(settings.public())
    assert (
        KafkaSecurity.from_settings(settings).describe()
        == "SASL_SSL SCRAM-SHA-512 as ews"
    )
