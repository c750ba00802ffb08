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
        Prometheus exporter port on 127.0.0.1 (0 disables it).
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
    flood_valid_h: float = 12.0
    flood_hold_min: float = 60.0
    flood_extend_before_min: float = 60.0
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
