"""A NUL in a warning event's town names or trigger crashed the CAP writer.

lxml refuses NUL and the other control characters XML 1.0 has none of with
a ValueError; the CAP agent filed it as a bug.
"""

from __future__ import annotations

import pytest

from connectors.cap_writer import build_alert
from models.region import default_region
from schemas.errors import SchemaError

EVENT = {
    "schema": "warning_event/1",
    "event_id": "rainstorm-441202001-20201031T050000Z:1",
    "warning_id": "rainstorm-441202001-20201031T050000Z",
    "hazard": "rainstorm",
    "ruleset": "cma-rainstorm",
    "area": {"codes": ["441202001"], "names": ["端州区\x00"]},
    "level": "orange",
    "previous_level": None,
    "action": "issue",
    "sequence": 1,
    "observed_at": "2020-10-31T05:00:00+00:00",
    "valid_from": "2020-10-31T05:00:00+00:00",
    "valid_to": "2020-10-31T08:00:00+00:00",
    "status": "Exercise",
    "trigger": {"branch": "observed"},
}


@pytest.mark.parametrize(
    "event",
    [
        EVENT,
        dict(EVENT, area=dict(EVENT["area"], names=["端州区"]), trigger={"x": "\x01"}),
    ],
)
def test_control_characters_are_bad_input_naming_the_event(event: dict) -> None:
    town = default_region().town("441202001")
    with pytest.raises(SchemaError, match=f"warning event {EVENT['event_id']}"):
        build_alert(
            event,
            towns=[town],
            sender="ews@zhaoqing.example",
            agency_code="44120041600000",
            previous_identifiers=[],
            previous_sent=[],
        )
