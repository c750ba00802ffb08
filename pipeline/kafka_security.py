"""Kafka client security from the settings: TLS and SASL/SCRAM for every client.

ews talks to Kafka through two client libraries: kafka-python for the admin
client, the replay producer, the lag and summary readers and the radar
recall, and aiokafka under faust for the worker. :class:`KafkaSecurity` reads
the security settings once and gives each what it takes:

- :meth:`KafkaSecurity.client_kwargs`: keyword arguments for kafka-python's
  ``KafkaProducer``, ``KafkaConsumer`` and ``KafkaAdminClient``;
- :meth:`KafkaSecurity.broker_credentials`: faust's ``broker_credentials``
  (:class:`faust.SASLCredentials` with an SSL context for ``SASL_SSL``,
  :class:`faust.SSLCredentials` for ``SSL``).

Settings (``EWS_<NAME>`` or the settings file)::

    security_protocol   PLAINTEXT (default), SSL, SASL_PLAINTEXT or SASL_SSL
    sasl_mechanism      SCRAM-SHA-512 (default for SASL), SCRAM-SHA-256 or PLAIN
    sasl_username       the SASL user
    sasl_password_file  a file holding the password (first line)
    ssl_cafile          CA certificate(s) that signed the brokers', PEM
    ssl_certfile        this client's certificate, PEM (for brokers that ask)
    ssl_keyfile         its private key, PEM

The password is never a setting: it comes from the environment variable
``EWS_SASL_PASSWORD`` or from ``sasl_password_file``, is read when a client
is made, and appears in no settings text, log line, metric or summary.
Certificates are checked against ``ssl_cafile`` (or the system store) and
the broker's name or address, always.
"""

from __future__ import annotations

import logging
import os
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faust

from pipeline.settings import Settings
from schemas.errors import ConfigError

logger = logging.getLogger(__name__)

PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
MECHANISMS = ("SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN")
PASSWORD_ENV = "EWS_SASL_PASSWORD"


@dataclass(frozen=True)
class KafkaSecurity:
    """How ews clients authenticate to Kafka and protect the connection.

    Build it with :meth:`from_settings`, which checks the combination.
    """

    protocol: str = "PLAINTEXT"
    mechanism: str = "SCRAM-SHA-512"
    username: str = ""
    password_file: str = ""
    cafile: str = ""
    certfile: str = ""
    keyfile: str = ""

    @property
    def uses_tls(self) -> bool:
        return self.protocol in ("SSL", "SASL_SSL")

    @property
    def uses_sasl(self) -> bool:
        return self.protocol.startswith("SASL_")

    @classmethod
    def from_settings(cls, settings: Settings) -> KafkaSecurity:
        """The security of ``settings``; raise ConfigError if it cannot work."""
        security = cls(
            protocol=settings.security_protocol.upper(),
            mechanism=(settings.sasl_mechanism or "SCRAM-SHA-512").upper(),
            username=settings.sasl_username,
            password_file=settings.sasl_password_file,
            cafile=settings.ssl_cafile,
            certfile=settings.ssl_certfile,
            keyfile=settings.ssl_keyfile,
        )
        security.check()
        return security

    def check(self) -> None:
        """Refuse a protocol, mechanism or file set that cannot connect."""
        if self.protocol not in PROTOCOLS:
            raise ConfigError(
                f"security_protocol {self.protocol!r}, expected one of {PROTOCOLS}"
            )
        if self.uses_sasl:
            if self.mechanism not in MECHANISMS:
                raise ConfigError(
                    f"sasl_mechanism {self.mechanism!r}, expected one of {MECHANISMS}"
                )
            if not self.username:
                raise ConfigError(
                    f"security_protocol {self.protocol} needs sasl_username"
                )
        if bool(self.certfile) != bool(self.keyfile):
            raise ConfigError("ssl_certfile and ssl_keyfile go together: give both")
        for name in ("cafile", "certfile", "keyfile"):
            path = getattr(self, name)
            if path and not self.uses_tls:
                raise ConfigError(
                    f"ssl_{name} is set but security_protocol {self.protocol} uses "
                    "no TLS; use SSL or SASL_SSL"
                )
            if path and not Path(path).is_file():
                raise ConfigError(f"ssl_{name} {path} is not a file")

    def password(self) -> str:
        """The SASL password: ``$EWS_SASL_PASSWORD``, else ``sasl_password_file``.

        Raises
        ------
        ConfigError
            Neither gives one.
        """
        from_env = os.environ.get(PASSWORD_ENV)
        if from_env:
            return from_env
        if not self.password_file:
            raise ConfigError(
                f"security_protocol {self.protocol} needs a password: set "
                f"{PASSWORD_ENV} or sasl_password_file"
            )
        try:
            text = Path(self.password_file).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(
                f"sasl_password_file {self.password_file} cannot be read "
                f"({exc.strerror})"
            ) from None
        password = text.splitlines()[0] if text else ""
        if not password:
            raise ConfigError(f"sasl_password_file {self.password_file} is empty")
        return password

    def ssl_context(self) -> ssl.SSLContext | None:
        """A verifying client TLS context, or None without TLS."""
        if not self.uses_tls:
            return None
        context = ssl.create_default_context(
            ssl.Purpose.SERVER_AUTH, cafile=self.cafile or None
        )
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        if self.certfile:
            context.load_cert_chain(self.certfile, self.keyfile)
        return context

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for kafka-python clients (empty for PLAINTEXT)."""
        if self.protocol == "PLAINTEXT":
            return {}
        kwargs: dict[str, Any] = {"security_protocol": self.protocol}
        if self.uses_tls:
            kwargs["ssl_context"] = self.ssl_context()
            kwargs["ssl_check_hostname"] = True
        if self.uses_sasl:
            kwargs["sasl_mechanism"] = self.mechanism
            kwargs["sasl_plain_username"] = self.username
            kwargs["sasl_plain_password"] = self.password()
        return kwargs

    def broker_credentials(self) -> faust.SASLCredentials | faust.SSLCredentials | None:
        """faust's ``broker_credentials`` (None for PLAINTEXT)."""
        if self.uses_sasl:
            return faust.SASLCredentials(
                username=self.username,
                password=self.password(),
                ssl_context=self.ssl_context(),
                mechanism=self.mechanism,
            )
        if self.protocol == "SSL":
            return faust.SSLCredentials(self.ssl_context())
        return None

    def describe(self) -> str:
        """One line for a log: protocol, mechanism and user, never the password."""
        if self.uses_sasl:
            return f"{self.protocol} {self.mechanism} as {self.username}"
        return self.protocol


def client_kwargs(settings: Settings) -> dict[str, Any]:
    """kafka-python keyword arguments for the security of ``settings``."""
    return KafkaSecurity.from_settings(settings).client_kwargs()


def broker_credentials(settings: Settings) -> Any:
    """faust ``broker_credentials`` for the security of ``settings``, or None."""
    return KafkaSecurity.from_settings(settings).broker_credentials()
