"""An escaped lone surrogate decoded, then broke every message made from it.

``"\\ud800"`` is valid JSON text for half a UTF-16 pair; Python reads it into
a string that cannot be written as UTF-8, so the agent's outputs (and its
dead letter, if the reason quoted it) failed to encode.
"""

from __future__ import annotations

import pytest

from schemas import registry
from schemas.errors import ParseError

RECORD = (
    b'{"schema": "area_rain/1", "area_code": "\\ud800", "time": '
    b'"2020-10-31T05:00:00Z", "step_s": 600, "rain_mm": 1.0, '
    b'"statistic": "q90", "pixels": 20, "source": "bom-66"}'
)


def test_a_lone_surrogate_is_a_parse_error() -> None:
    with pytest.raises(ParseError, match="lone surrogate"):
        registry.decode(RECORD, "area_rain/1")


def test_a_surrogate_pair_is_a_character() -> None:
    pair = RECORD.replace(b"\\ud800", b"\\ud83d\\udce1")  # U+1F4E1
    assert registry.decode(pair, "area_rain/1")["area_code"] == "\U0001f4e1"
