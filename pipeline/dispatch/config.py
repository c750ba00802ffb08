"""The dispatcher's configuration, read from :class:`pipeline.settings.Settings`.

Settings (defaults in brackets; times in s, ratios 0..1):

``dispatch_enabled`` [true]
    Whether a worker runs the dispatcher at all.
``dispatch_inventory`` [``zhaoqing-exercise``]
    Inventory folder, or the name of a bundled one under ``data/inventory``
    (the bundled one is synthetic, with numbers that reach nobody).
``dispatch_sms_gateway`` [``dryrun``], ``dispatch_sms2_gateway`` [none],
``dispatch_loudspeaker_gateway`` [``dryrun``]
    The gateway of each route: ``dryrun``, ``kannel`` or ``smpp`` for SMS,
    ``dryrun`` or ``mqtt`` for loudspeakers. A secondary SMS route is used
    only when named; nobody is messaged unless a real gateway is chosen.
``dispatch_journal_dir`` [``var/dispatch``]
    Where the dry-run gateways write their journals and speech is cached.
``dispatch_wave_wait_s`` [120], ``dispatch_target`` [0.95],
``dispatch_max_attempts`` [3], ``dispatch_first_wave`` [``all``]
    The escalation policy (:class:`models.escalation.Policy`).
``dispatch_people_per_recipient`` [1], ``dispatch_overlap`` [``max``]
    Coverage arithmetic (:mod:`models.coverage`).
``dispatch_drill_loudspeakers`` [none]
    Loudspeakers enrolled for exercises and tests
    (:class:`models.targeting.LoudspeakerGroup`); none by default.
``dispatch_honour_expiry`` [true]
    Stop at the alert's ``expires``; false for replays of past events,
    whose validity then counts from when the dispatcher took the alert.
``dispatch_concurrency`` [32], ``dispatch_tick_s`` [1]
    Sends in flight at once; how often timeouts and expiry are checked.
``dispatch_speech`` [false]
    Render loudspeaker announcements with espeak-ng and attach the audio.
``dispatch_dryrun_*``
    The dry-run receipt model: failure rates of the SMS routes and the
    loudspeakers, median delay and its lognormal shape, seed, and a group
    of loudspeakers that never answers (``dispatch_dryrun_offline``: ids,
    village ids, town or county codes) or answers only
    ``dispatch_dryrun_offline_s`` seconds after the gateway started.

Secrets are read here and only here, from the environment variables
``EWS_KANNEL_PASSWORD``, ``EWS_KANNEL_DLR_TOKEN``, ``EWS_SMPP_PASSWORD``
and ``EWS_MQTT_PASSWORD`` or else from the files the ``*_file`` settings
name; they are never logged and never part of the settings.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from connectors.dryrun import DryRunModel
from models.coverage import Overlap
from models.escalation import FirstWave, Policy
from models.targeting import LoudspeakerGroup
from pipeline.settings import Settings
from schemas.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
INVENTORIES = REPO / "data" / "inventory"
SMS_KINDS = ("dryrun", "kannel", "smpp")
LOUDSPEAKER_KINDS = ("dryrun", "mqtt")


def secret(env: str, file_setting: str, what: str) -> str | None:
    """A secret from ``env`` or from the file ``file_setting`` names, else None."""
    value = os.environ.get(env)
    if value:
        return value
    if file_setting:
        try:
            return Path(file_setting).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"{what}: cannot read the secret file: {exc}") from exc
    return None


def inventory_path(name: str) -> Path:
    """The folder of inventory ``name`` (a path, or a bundled inventory's name)."""
    path = Path(name)
    if path.is_dir():
        return path
    bundled = INVENTORIES / name
    if bundled.is_dir():
        return bundled
    raise ConfigError(
        f"dispatch_inventory {name!r} is neither a folder nor one of the bundled "
        f"inventories in {INVENTORIES}"
    )


@dataclass(frozen=True)
class DispatchConfig:
    """Everything the dispatcher takes from the settings."""

    inventory: Path
    journal_dir: Path
    sms_gateway: str
    sms2_gateway: str
    loudspeaker_gateway: str
    policy: Policy
    people_per_recipient: float
    overlap: Overlap
    enrolment: LoudspeakerGroup
    honour_expiry: bool
    concurrency: int
    tick_s: float
    speech: bool
    dryrun_sms: DryRunModel
    dryrun_sms2: DryRunModel
    dryrun_loudspeaker: DryRunModel
    offline: frozenset[str]
    offline_s: float

    @property
    def routes(self) -> tuple[str, ...]:
        """Route names in use: ``sms``, maybe ``sms2``, and ``loudspeaker``."""
        return (*self.policy.sms_routes, "loudspeaker")

    @classmethod
    def from_settings(cls, s: Settings) -> DispatchConfig:
        for name, kind, kinds in (
            ("dispatch_sms_gateway", s.dispatch_sms_gateway, SMS_KINDS),
            ("dispatch_sms2_gateway", s.dispatch_sms2_gateway or "dryrun", SMS_KINDS),
            (
                "dispatch_loudspeaker_gateway",
                s.dispatch_loudspeaker_gateway,
                LOUDSPEAKER_KINDS,
            ),
        ):
            if kind not in kinds:
                raise ConfigError(f"{name} is {kind!r}; expected one of {kinds}")
        if s.dispatch_overlap not in ("max", "independent"):
            raise ConfigError(
                f"dispatch_overlap is {s.dispatch_overlap!r}; "
                "expected 'max' or 'independent'"
            )
        if s.dispatch_concurrency < 1 or s.dispatch_tick_s <= 0:
            raise ConfigError(
                "dispatch_concurrency must be >= 1 and dispatch_tick_s > 0, got "
                f"{s.dispatch_concurrency} and {s.dispatch_tick_s}"
            )
        routes = ("sms", "sms2") if s.dispatch_sms2_gateway else ("sms",)
        try:
            policy = Policy(
                wait_s=s.dispatch_wave_wait_s,
                target=s.dispatch_target,
                max_attempts=s.dispatch_max_attempts,
                sms_routes=routes,
                first_wave=cast(FirstWave, s.dispatch_first_wave),
            )
        except ValueError as exc:
            raise ConfigError(f"dispatch settings: {exc}") from exc

        def model(failure: float, seed_offset: int) -> DryRunModel:
            return DryRunModel(
                delay_median_s=s.dispatch_dryrun_delay_s,
                delay_sigma=s.dispatch_dryrun_delay_sigma,
                failure_rate=failure,
                seed=s.dispatch_dryrun_seed + seed_offset,
                time_scale=1.0,
            )

        offline = {p.strip() for p in s.dispatch_dryrun_offline.split(",")}
        return cls(
            inventory=inventory_path(s.dispatch_inventory),
            journal_dir=Path(s.dispatch_journal_dir),
            sms_gateway=s.dispatch_sms_gateway,
            sms2_gateway=s.dispatch_sms2_gateway,
            loudspeaker_gateway=s.dispatch_loudspeaker_gateway,
            policy=policy,
            people_per_recipient=s.dispatch_people_per_recipient,
            overlap=cast(Overlap, s.dispatch_overlap),
            enrolment=LoudspeakerGroup.parse(s.dispatch_drill_loudspeakers),
            honour_expiry=s.dispatch_honour_expiry,
            concurrency=s.dispatch_concurrency,
            tick_s=s.dispatch_tick_s,
            speech=s.dispatch_speech,
            dryrun_sms=model(s.dispatch_dryrun_sms_failure, 0),
            dryrun_sms2=model(s.dispatch_dryrun_sms2_failure, 1),
            dryrun_loudspeaker=model(s.dispatch_dryrun_ls_failure, 2),
            offline=frozenset(p for p in offline if p),
            offline_s=s.dispatch_dryrun_offline_s,
        )


def demo_overrides(home: Path) -> dict[str, Any]:
    """Dispatch settings of a demo run: dry run, fast waves, visible faults.

    The pipeline's worker runs no dispatcher: the demo dispatches the run's
    alerts afterwards, each in its time (:mod:`pipeline.dispatch.rehearsal`).

    Receipts come after about 0.2 s; a wave waits 1 s. One SMS in ten
    fails, and the loudspeakers of three villages of Gaoyao district never
    answer, so the summary shows retries and timeouts. The exercise
    inventory is synthetic, so every loudspeaker takes part in the drill.
    """
    return {
        "dispatch_enabled": False,  # see pipeline.dispatch.rehearsal
        "dispatch_journal_dir": str(home / "dispatch"),
        "dispatch_sms_gateway": "dryrun",
        "dispatch_sms2_gateway": "",
        "dispatch_loudspeaker_gateway": "dryrun",
        "dispatch_wave_wait_s": 1.0,
        "dispatch_tick_s": 0.25,
        "dispatch_honour_expiry": False,
        "dispatch_drill_loudspeakers": "all",
        "dispatch_dryrun_sms_failure": 0.10,
        "dispatch_dryrun_ls_failure": 0.05,
        "dispatch_dryrun_delay_s": 0.2,
        "dispatch_dryrun_delay_sigma": 0.5,
        "dispatch_dryrun_offline": "441204001V001,441204001V002,441204001V003",
    }
