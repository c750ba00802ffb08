"""A time that exists in its own zone but not in UTC passed the schema.

``0001-01-01T00:00:00+01:00`` is valid RFC 3339 text; in UTC it falls in
year 0, which a Python datetime cannot hold, and the flood agent raised
OverflowError formatting it. The same held for the readers' ISO times.
"""

from __future__ import annotations

import json

import pytest

from models.quality import parse_time
from schemas import registry
from schemas.errors import ParseError, SchemaError
from tests.regression.test_flood_levels_of_the_record import RECORD


@pytest.mark.parametrize(
    "text", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-12:00"]
)
def test_the_schema_refuses_an_instant_outside_utc(text: str) -> None:
    raw = json.dumps(dict(RECORD, time=text)).encode()
    with pytest.raises(SchemaError, match="is not a date-time"):
        registry.decode(raw, "gauge_obs/1")


def test_the_same_instant_in_utc_itself_is_fine() -> None:
    raw = json.dumps(dict(RECORD, time="0001-01-01T00:00:00+00:00")).encode()
    assert registry.decode(raw, "gauge_obs/1")["time"].startswith("0001")


def test_readers_refuse_it_too() -> None:
    with pytest.raises(ParseError, match="outside the years 1-9999 in UTC"):
        parse_time("0001-01-01T00:00:00+01:00", where="test")
