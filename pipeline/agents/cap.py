"""From warning events to CAP 1.2 alerts.

Per warning the CAP agent keeps the messages it has published (identifier
and sent time, in a table keyed by warning id), so that an Update or a
Cancel references every earlier message of the same warning. An event whose
sequence is not newer than the last one published is a re-read record and
is skipped: that is what makes the at-least-once pipeline publish each
alert once. Every alert is validated against the CAP 1.2 schema by the
writer before it leaves; one that fails raises :class:`CapError`, which the
agent sends to the dead-letter topic instead of publishing.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from connectors.cap_writer import build_alert, envelope
from pipeline.agents.scoring import parse_time
from pipeline.settings import Settings
from schemas.errors import UnknownReferenceError

logger = logging.getLogger(__name__)


class CapPublisher:
    """Builds the CAP alert of each warning event, once.

    Parameters
    ----------
    region
        The :class:`models.region.Region` whose towns the events name.
    settings : Settings
        Sender, agency code and archive folder.
    """

    def __init__(self, region: Any, settings: Settings) -> None:
        self.region = region
        self.settings = settings
        self.archive = Path(settings.archive_dir) if settings.archive_dir else None

    def towns(self, codes: list[str]) -> list[Any]:
        """The region's towns for ``codes``.

        Raises
        ------
        UnknownReferenceError
            A code the region does not have: the event goes to dead letters.
        """
        return [self.region.town(code) for code in codes]

    def publish(
        self, event: dict[str, Any], history: dict | None
    ) -> tuple[dict, dict[str, Any] | None]:
        """The CAP envelope for ``event``, or None if it was published before.

        Returns
        -------
        (history, envelope or None)
        """
        history = dict(history or {"sequence": 0, "messages": []})
        if event["sequence"] <= history["sequence"]:
            logger.debug("skipping re-read event %s", event["event_id"])
            return history, None
        messages = history["messages"]
        try:
            towns = self.towns(event["area"]["codes"])
        except UnknownReferenceError as exc:
            raise UnknownReferenceError(
                f"warning_event/1 {event['event_id']}: {exc}"
            ) from None
        identifier, xml = build_alert(
            event,
            towns=towns,
            sender=self.settings.sender,
            agency_code=self.settings.agency_code,
            previous_identifiers=[m[0] for m in messages],
            previous_sent=[parse_time(m[1]) for m in messages],
        )
        env = envelope(identifier, xml, event)
        history["sequence"] = event["sequence"]
        history["messages"] = [*messages, [identifier, env["sent"]]]
        self._archive(identifier, xml)
        logger.info(
            "CAP %s %s for %s (%s %s)",
            env["msgType"],
            identifier,
            event["warning_id"],
            event["hazard"],
            event["level"] or "lifted",
        )
        return history, env

    def _archive(self, identifier: str, xml: bytes) -> None:
        if self.archive is None:
            return
        self.archive.mkdir(parents=True, exist_ok=True)
        (self.archive / f"{identifier}.xml").write_bytes(xml)
