"""Kafka client security from settings: what each client gets, and what is refused."""

from __future__ import annotations

import json
import ssl
import subprocess
from dataclasses import replace
from pathlib import Path

import faust
import pytest

from pipeline.kafka_security import (
    PASSWORD_ENV,
    KafkaSecurity,
    broker_credentials,
    client_kwargs,
)
from pipeline.settings import Settings
from schemas.errors import ConfigError

SECRET = "s3cret-never-logged"


@pytest.fixture
def pem(tmp_path: Path) -> dict[str, Path]:
    """A self-signed certificate and its key (the CA of itself)."""
    key, cert = tmp_path / "client.key", tmp_path / "client.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=ews unit test", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return {"key": key, "cert": cert}


@pytest.fixture
def sasl_ssl(tmp_path: Path, pem, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    password = tmp_path / "password"
    password.write_text(SECRET + "\n")
    return Settings(
        bootstrap="127.0.0.1:9094",
        security_protocol="SASL_SSL",
        sasl_username="ews",
        sasl_password_file=str(password),
        ssl_cafile=str(pem["cert"]),
        ssl_certfile=str(pem["cert"]),
        ssl_keyfile=str(pem["key"]),
    )


def test_plaintext_is_the_default_and_adds_nothing() -> None:
    assert client_kwargs(Settings()) == {}
    assert broker_credentials(Settings()) is None


def test_sasl_ssl_gives_kafka_python_its_arguments(sasl_ssl: Settings) -> None:
    kwargs = client_kwargs(sasl_ssl)
    assert kwargs["security_protocol"] == "SASL_SSL"
    assert kwargs["sasl_mechanism"] == "SCRAM-SHA-512"
    assert kwargs["sasl_plain_username"] == "ews"
    assert kwargs["sasl_plain_password"] == SECRET  # first line, newline dropped
    context = kwargs["ssl_context"]
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert context.minimum_version >= ssl.TLSVersion.TLSv1_2
    assert kwargs["ssl_check_hostname"] is True


def test_sasl_ssl_gives_faust_sasl_credentials_over_tls(sasl_ssl: Settings) -> None:
    credentials = broker_credentials(sasl_ssl)
    assert isinstance(credentials, faust.SASLCredentials)
    assert credentials.protocol.value == "SASL_SSL"
    assert credentials.mechanism.value == "SCRAM-SHA-512"
    assert credentials.username == "ews" and credentials.password == SECRET
    assert SECRET not in repr(credentials)


def test_ssl_alone_gives_faust_ssl_credentials(sasl_ssl: Settings) -> None:
    tls = replace(sasl_ssl, security_protocol="SSL", sasl_username="")
    assert isinstance(broker_credentials(tls), faust.SSLCredentials)
    assert "sasl_plain_password" not in client_kwargs(tls)


def test_the_environment_password_wins_over_the_file(
    sasl_ssl: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PASSWORD_ENV, "from-the-environment")
    assert client_kwargs(sasl_ssl)["sasl_plain_password"] == "from-the-environment"


def test_the_password_is_in_no_text_form_of_the_settings(
    sasl_ssl: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PASSWORD_ENV, SECRET)
    settings = Settings.from_env(sasl_ssl)
    for text in (json.dumps(settings.public()), settings.to_json(), repr(settings)):
        assert SECRET not in text
    assert not any("password" == f for f in settings.public())
    described = KafkaSecurity.from_settings(settings).describe()
    assert described == "SASL_SSL SCRAM-SHA-512 as ews" and SECRET not in described


def test_security_settings_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("EWS_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("EWS_SASL_USERNAME", "ews")
    monkeypatch.setenv(PASSWORD_ENV, SECRET)
    kwargs = client_kwargs(Settings.from_env())
    assert kwargs["security_protocol"] == "SASL_PLAINTEXT"
    assert "ssl_context" not in kwargs and kwargs["sasl_plain_password"] == SECRET


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"security_protocol": "TLS"}, "security_protocol 'TLS'"),
        ({"sasl_mechanism": "GSSAPI"}, "sasl_mechanism 'GSSAPI'"),
        ({"sasl_username": ""}, "needs sasl_username"),
        ({"ssl_keyfile": ""}, "go together"),
        ({"ssl_cafile": "/nonexistent/ca.pem"}, "is not a file"),
        (
            {
                "security_protocol": "SASL_PLAINTEXT",
                "ssl_certfile": "",
                "ssl_keyfile": "",
            },
            "uses no TLS",
        ),
    ],
)
def test_settings_that_cannot_connect_are_refused(
    sasl_ssl: Settings, changes: dict, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        client_kwargs(replace(sasl_ssl, **changes))


def test_a_missing_or_empty_password_is_refused(
    sasl_ssl: Settings, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match=PASSWORD_ENV):
        client_kwargs(replace(sasl_ssl, sasl_password_file=""))
    empty = tmp_path / "empty"
    empty.write_text("")
    with pytest.raises(ConfigError, match="is empty"):
        client_kwargs(replace(sasl_ssl, sasl_password_file=str(empty)))
    with pytest.raises(ConfigError, match="cannot be read"):
        client_kwargs(replace(sasl_ssl, sasl_password_file=str(tmp_path / "none")))
