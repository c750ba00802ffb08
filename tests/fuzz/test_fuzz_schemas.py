"""Every message schema against hostile JSON: decode, then encode again.

For each schema shipped in ``schemas/json`` a valid message is mutated
(fields deleted, replaced by hostile values, added; the bytes truncated,
nested, garbled) and given to :func:`schemas.registry.decode`. Properties:
the outcome is a message or a :class:`ParseError`/:class:`SchemaError`
naming the schema; a message decode accepts encodes again, to bytes that
decode to the same message (no NaN, no lone surrogate, nothing the schema
refuses on the way out). The agent tests fuzz the schemas their topics
carry far harder; this one holds every schema, the dispatch and receipt
messages and dead letters included, to the round trip.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from models.region import default_region
from pipeline.deadletter import dead_letter
from pipeline.hazards.fire import fire_scorer
from pipeline.hazards.geo import geo_scorer
from schemas import registry
from schemas.errors import SchemaError
from tests.fuzz import (
    test_fuzz_hazard_agents as hazards,
)
from tests.fuzz import (
    test_fuzz_radar_agent as radar,
)
from tests.fuzz import (
    test_fuzz_rain_agent as rain,
)
from tests.fuzz import (
    test_fuzz_warning_agent as warnings,
)
from tests.fuzz.harness import (
    REFUSALS,
    AgentPath,
    Tally,
    bounded_memory,
    compact,
    fuzz_settings,
)
from tests.fuzz.hostile import Hostile, hostile

BATCH = 50
RECORDS = 1_000  # per schema
GAUGE = {
    "schema": "gauge_obs/1",
    "source": "fuzz",
    "station": {
        "id": "3011665",
        "name": "Miho River Bridge",
        "river": "Miho River",
        "lon": 127.35,
        "lat": 36.62,
        "tz": "Asia/Seoul",
        "unit": "m",
        "levels": {"blue": 5.0, "yellow": 7.0, "orange": 8.0, "red": 9.38},
        "area_codes": ["441202001"],
    },
    "time": "2023-07-15T10:00:00+09:00",
    "stage": 6.5,
}
ORDER = {
    "schema": "dispatch_order/1",
    "send_id": "4412020010000-44120041600000-20201031050000-RSab12cd34-0001/R001",
    "identifier": "4412020010000-44120041600000-20201031050000-RSab12cd34-0001",
    "warning_id": "rainstorm-441202001-20201031T050000Z",
    "msgType": "Alert",
    "status": "Exercise",
    "target_id": "R001",
    "channel": "sms",
    "route": "sms",
    "wave": 1,
    "village_id": "441202001001",
    "language": "zh-CN",
    "text": "演练 暴雨橙色预警",
    "exercise": True,
    "planned_at": "2020-10-31T05:00:10+00:00",
    "deadline": "2020-10-31T05:30:00+00:00",
}
RECEIPT = {
    "schema": "receipt/1",
    "send_id": ORDER["send_id"],
    "identifier": ORDER["identifier"],
    "warning_id": ORDER["warning_id"],
    "target_id": "R001",
    "channel": "sms",
    "wave": 1,
    "state": "delivered",
    "final": True,
    "retryable": False,
    "at": "2020-10-31T05:00:15+00:00",
    "gateway": "kannel",
    "detail": "delivered",
}


def cap_alert() -> dict[str, Any]:
    path = AgentPath()
    outputs, letter = path.feed("warnings", json.dumps(warnings.EVENT).encode())
    assert letter is None
    return json.loads(outputs[0])


def letter() -> dict[str, Any]:
    return dead_letter(
        source="obs.gauge agent",
        exc=SchemaError("gauge_obs/1 at $.stage: 'x' is not of type 'number'"),
        original=b'{"stage": "x"}',
        now=datetime(2026, 1, 1, tzinfo=UTC),
        topic="obs.gauge",
        partition=0,
        offset=7,
    )


def frame() -> dict[str, Any]:
    return radar.frame_message(np.ones((radar.GRID.ny, radar.GRID.nx)), radar.START)


def geo_town() -> dict[str, Any]:
    """The town record the geological agent makes of the fuzzed gauge base."""
    scorer = geo_scorer(default_region(), "Actual")
    return scorer.site_step(hazards.RAIN, {})[0]


def fire_county() -> dict[str, Any]:
    """The county record the fire agent makes of the fuzzed station base."""
    scorer = fire_scorer(default_region(), "Actual")
    return scorer.station_step(hazards.FIRE, {})[0]


BASES = {
    "area_rain/1": lambda: rain.RADAR,
    "cap_alert/1": cap_alert,
    "deadletter/1": letter,
    "dispatch_order/1": lambda: ORDER,
    "fire_county/1": fire_county,
    "fire_obs/1": lambda: hazards.FIRE,
    "gauge_obs/1": lambda: GAUGE,
    "geo_rain/1": lambda: hazards.RAIN,
    "geo_town/1": geo_town,
    "quake_event/1": lambda: hazards.QUAKE,
    "radar_frame/1": frame,
    "receipt/1": lambda: RECEIPT,
    "slope_sensor/1": lambda: hazards.SLOPE,
    "warning_event/1": lambda: warnings.EVENT,
}


def test_every_schema_has_a_fuzzed_base() -> None:
    assert sorted(BASES) == registry.known_schemas()


@pytest.mark.parametrize("name", sorted(BASES))
def test_hostile_json_decodes_to_a_message_that_encodes_again(name: str) -> None:
    base = BASES[name]()
    registry.validate(base, name)
    tally = Tally(f"{name} messages")

    @fuzz_settings(BATCH, records=RECORDS)
    @given(hostile, st.integers(BATCH, BATCH + BATCH // 4))
    def run(h: Hostile, count: int) -> None:
        for _ in range(count):
            if h.chance(0.3):
                # the same message written another way: it must decode as itself
                raw = json.dumps(
                    base,
                    ensure_ascii=h.chance(0.5),
                    indent=h.pick([None, 0, 2]),
                    sort_keys=h.chance(0.5),
                ).encode()
                assert registry.decode(raw, name) == base
                tally.accept()
                continue
            raw = h.mutated_json(base)
            try:
                msg = registry.decode(raw, name)
            except REFUSALS as exc:
                assert name in str(exc), f"{str(exc)[:200]!r} does not name {name}"
                tally.refuse(exc.reason_class)
                continue
            except Exception as exc:
                raise AssertionError(
                    f"{type(exc).__name__} decoding {name}: {str(exc)[:300]}\n"
                    f"record: {compact(raw)}"
                ) from exc
            again = registry.encode(msg)
            assert registry.decode(again, name) == msg
            tally.accept()

    with bounded_memory(tally.kind):
        run()
    print(tally)
    tally.check_total(RECORDS)
    assert tally.accepted > 0 and sum(tally.refused.values()) > 0
