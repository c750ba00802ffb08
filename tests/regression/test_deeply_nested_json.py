"""JSON nested deeper than Python reads was a RecursionError, not a ParseError."""

from __future__ import annotations

import pytest

from pipeline.hazards.geo import decode_geo
from schemas import registry
from schemas.errors import ParseError

DEEP = b"[" * 200_000 + b"]" * 200_000


def test_registry_refuses_deep_nesting_as_a_parse_error() -> None:
    with pytest.raises(ParseError, match="gauge_obs/1 record nests"):
        registry.decode(DEEP, "gauge_obs/1")


def test_geo_decoder_refuses_deep_nesting_as_a_parse_error() -> None:
    with pytest.raises(ParseError, match="obs.geo record is not UTF-8 JSON"):
        decode_geo(DEEP)
