"""Worker settings: one frozen object, read from the environment or a JSON file.

Every setting has a default that suits a single machine; an environment
variable ``EWS_<NAME>`` (upper case) overrides it, and ``ews worker
--settings FILE`` reads a JSON object of the same names. Secrets are never
part of these settings' text form (see :meth:`Settings.public`).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from schemas.errors import ConfigError


@dataclass(frozen=True)
class Settings:
    """What a worker needs to know.

    Attributes
    ----------
    bootstrap : str
        Kafka bootstrap servers, ``host:port[,host:port]``.
    app_id : str
        faust application id: consumer group and changelog topic prefix.
    topic_prefix : str
        Prepended to every topic name, so runs can share a broker.
    region : str
        Region folder or GeoJSON path; ``zhaoqing`` is bundled.
    rainstorm_ruleset : str
        Bundled rule set name or TOML path.
    agency_code : str
        Issuing agency code in CAP identifiers.
    sender : str
        CAP ``sender``.
    archive_dir : str
        Folder the CAP alerts are written to ("" for none).
    clock_skew_s : float
        A record later than the clock by more than this is bad input, s.
    web_port : int
        faust's web server port on 127.0.0.1 (0 disables it).
    metrics_port : int
        Prometheus exporter port (0 disables it).
    metrics_bind : str
        Address the exporter listens on: loopback unless a container's
        Prometheus must reach it (``0.0.0.0``).
    dispatch_* : various
        The dispatcher (:mod:`pipeline.dispatch.config` explains each): the
        inventory, the gateway of each route (``dryrun`` by default, so
        nobody is messaged), the escalation policy (wave wait in s, target
        ratio, attempts) and the dry-run receipt model.
    kannel_*, smpp_*, mqtt_* : various
        Where the real gateways are. Passwords and tokens are never settings:
        they come from ``EWS_KANNEL_PASSWORD``, ``EWS_KANNEL_DLR_TOKEN``,
        ``EWS_SMPP_PASSWORD``, ``EWS_MQTT_PASSWORD`` or from the files named
        by the ``*_file`` settings.
    security_protocol, sasl_*, ssl_* : str
        How every Kafka client connects (:mod:`pipeline.kafka_security`):
        ``PLAINTEXT`` (the default), ``SSL``, ``SASL_PLAINTEXT`` or
        ``SASL_SSL``; the SASL mechanism and user; the CA, certificate and
        key files (PEM). The SASL password is never a setting either: it comes
        from ``EWS_SASL_PASSWORD`` or the file named by ``sasl_password_file``.
    """

    bootstrap: str = "127.0.0.1:9092"
    app_id: str = "ews"
    topic_prefix: str = ""
    region: str = "zhaoqing"
    rainstorm_ruleset: str = "cma-rainstorm"
    agency_code: str = "44120041600000"
    sender: str = "ews@zhaoqing.example"
    archive_dir: str = "var/cap"
    clock_skew_s: float = 300.0
    web_port: int = 0
    metrics_port: int = 0
    metrics_bind: str = "127.0.0.1"
    flood_valid_h: float = 12.0
    flood_hold_min: float = 60.0
    flood_extend_before_min: float = 60.0
    dispatch_enabled: bool = True
    dispatch_inventory: str = "zhaoqing-exercise"
    dispatch_journal_dir: str = "var/dispatch"
    dispatch_sms_gateway: str = "dryrun"
    dispatch_sms2_gateway: str = ""
    dispatch_loudspeaker_gateway: str = "dryrun"
    dispatch_wave_wait_s: float = 120.0
    dispatch_target: float = 0.95
    dispatch_max_attempts: int = 3
    dispatch_first_wave: str = "all"
    dispatch_people_per_recipient: float = 1.0
    dispatch_overlap: str = "max"
    dispatch_drill_loudspeakers: str = ""
    dispatch_honour_expiry: bool = True
    dispatch_concurrency: int = 32
    dispatch_tick_s: float = 1.0
    dispatch_speech: bool = False
    dispatch_dryrun_sms_failure: float = 0.05
    dispatch_dryrun_sms2_failure: float = 0.05
    dispatch_dryrun_ls_failure: float = 0.02
    dispatch_dryrun_delay_s: float = 5.0
    dispatch_dryrun_delay_sigma: float = 0.8
    dispatch_dryrun_seed: int = 0
    dispatch_dryrun_offline: str = ""
    dispatch_dryrun_offline_s: float = 0.0
    kannel_sendsms_url: str = "http://127.0.0.1:13013/cgi-bin/sendsms"
    kannel_username: str = "ews"
    kannel_password_file: str = ""
    kannel_sender: str = "12379"
    kannel_smsc_id: str = ""
    kannel_smsc2_id: str = ""
    kannel_rate_per_s: float = 10.0
    kannel_max_parts: int = 10
    kannel_dlr_host: str = "127.0.0.1"
    kannel_dlr_port: int = 13080
    kannel_dlr_public_url: str = ""
    kannel_dlr_token_file: str = ""
    smpp_host: str = "127.0.0.1"
    smpp_port: int = 2775
    smpp_system_id: str = "ews"
    smpp_password_file: str = ""
    smpp_source_addr: str = "12379"
    smpp_rate_per_s: float = 50.0
    mqtt_host: str = "127.0.0.1"
    mqtt_port: int = 1883
    mqtt_username: str = ""
    mqtt_password_file: str = ""
    mqtt_client_id: str = "ews-dispatch"
    mqtt_audio: str = "none"
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str = "SCRAM-SHA-512"
    sasl_username: str = ""
    sasl_password_file: str = ""
    ssl_cafile: str = ""
    ssl_certfile: str = ""
    ssl_keyfile: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def topic(self, name: str) -> str:
        """The real name of the declared topic ``name``."""
        return f"{self.topic_prefix}{name}"

    def public(self) -> dict[str, Any]:
        """The settings as a dict fit for logs (no secrets are held here)."""
        return asdict(self)

    def to_json(self) -> str:
        """JSON form, for handing to a worker process."""
        return json.dumps(asdict(self))

    @classmethod
    def from_env(cls, base: Settings | None = None) -> Settings:
        """Apply ``EWS_<NAME>`` environment variables over ``base``."""
        base = base or cls()
        changes: dict[str, Any] = {}
        for f in fields(cls):
            raw = os.environ.get(f"EWS_{f.name.upper()}")
            if raw is None or f.name == "extra":
                continue
            changes[f.name] = _coerce(f.name, raw, getattr(base, f.name))
        return replace(base, **changes)

    @classmethod
    def from_file(cls, path: str | Path) -> Settings:
        """Read a JSON object of setting names and values."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(f"settings file {path}: {exc}") from exc
        return cls.from_dict(data, source=str(path))

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "settings") -> Settings:
        """Build settings from a dict, refusing unknown names."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(
                f"{source}: unknown settings {unknown}; known: {sorted(known)}"
            )
        return cls(**data)


def _coerce(name: str, raw: str, current: Any) -> Any:
    try:
        if isinstance(current, bool):
            return raw.lower() in ("1", "true", "yes", "on")
        if isinstance(current, int):
            return int(raw)
        if isinstance(current, float):
            return float(raw)
    except ValueError as exc:
        raise ConfigError(
            f"EWS_{name.upper()}={raw!r}: expected {type(current).__name__}"
        ) from exc
    return raw
