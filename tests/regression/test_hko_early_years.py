"""Times before year 1000 left the HKO and radar messages without a valid time.

``strftime("%Y")`` does not pad years before 1000 on glibc, so a row dated
0999 made a message whose time was ``999-...``: to_message raised
SchemaError outside the reader's refusals and stopped the replay.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from connectors.radar_codec import _iso_utc
from connectors.rain_hko import RainPoint, to_message


def test_hko_message_time_is_padded() -> None:
    t = datetime(999, 6, 20, 10, 45, tzinfo=timezone(timedelta(hours=8)))
    msg = to_message(RainPoint("RF001", "Lau Fau Shan", 113.98, 22.47, t, 1.0))
    assert msg["time"] == "0999-06-20T02:45:00Z"


def test_radar_time_is_padded() -> None:
    assert _iso_utc(datetime(999, 1, 1, tzinfo=UTC)) == "0999-01-01T00:00:00Z"
