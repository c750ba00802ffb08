"""Hostile values, times, JSON and bytes, drawn from a hypothesis-seeded source.

Hypothesis decides each example's plan and seeds a :class:`Hostile` (through
:data:`hostile`, a strategy of them); the Hostile then draws the many values
of the example's records cheaply from :class:`random.Random`. The values are
those that break readers: numbers that break arithmetic (NaN, infinities,
the largest and smallest floats, integers beyond 64 bits), strings that
break text handling (empty, NUL, lone surrogates, control characters,
70 kB), times that break clocks (no offset, +23:59, year 1 and 9999,
30 February, leap seconds), and transformations of a valid record
(:meth:`Hostile.mutated_json`) or of any bytes (:meth:`Hostile.garbled`):
truncated, oversized, deeply nested, not UTF-8.
"""

from __future__ import annotations

import copy
import json
import math
import random
from datetime import datetime, timedelta, timezone
from typing import Any

from hypothesis import strategies as st

NAN = float("nan")
INF = float("inf")

EDGE_FLOATS = [NAN, INF, -INF, 1e308, -1e308, 5e-324, -5e-324, -0.0, 0.0, -1.0]
EDGE_INTS = [0, -1, 2**31, 2**53 + 1, 2**63, 2**64, -(2**63), 10**30]
EDGE_STRINGS = [
    "",
    " ",
    "\x00",
    "\ud800",
    "\udfff",
    "\ufeff",
    "\x1b[2J",
    "\u202e",
    "NaN",
    "null",
    "<alert>&amp;</alert>",
    "../../../etc/passwd",
    "x" * 70_000,
    "\U0001f4e1",
]
EDGE_NUMBER_TEXTS = ["nan", "NaN", "inf", "-inf", "1e999", "-1e999", "0x10", "1,5"]
EDGE_TIMES = [
    "2023-07-15T10:00:00",
    "2023-07-15T10:00:00+23:59",
    "2023-07-15T10:00:00-23:59",
    "0001-01-01T00:00:00+01:00",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59-12:00",
    "9999-12-31T23:59:59Z",
    "2023-02-30T00:00:00Z",
    "2023-07-15T24:00:00Z",
    "2016-12-31T23:59:60Z",
    "2023-07-15",
    "2023-07-15T10:00:00.123456789+09:00",
    "2023-07-15T10:00:00z",
    "2023-07-15 10:00:00+09:00",
    "20230715T100000Z",
    "yesterday",
    "",
]
OFFSETS_MIN = [0, 0, 0, 60, 480, 540, -300, -360, 23 * 60 + 59]
BYTE_FAULTS = ["truncate", "flip", "bom", "latin1", "nest", "pad", "empty", "junk"]


def iso_with_offset(t: datetime, offset_min: int) -> str:
    """``t`` (aware) as ISO-8601 text in the zone ``offset_min`` east of UTC."""
    return t.astimezone(timezone(timedelta(minutes=offset_min))).isoformat()


def paths_of(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path (tuple of keys and indices) into nested dicts and lists."""
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, sub in value.items():
            out += paths_of(sub, (*prefix, key))
    elif isinstance(value, list):
        for index, sub in enumerate(value[:4]):
            out += paths_of(sub, (*prefix, index))
    return out


class Hostile:
    """A source of hostile values, seeded by hypothesis."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def pick(self, options: list[Any]) -> Any:
        return options[self.rng.randrange(len(options))]

    def float(self) -> float:
        if self.chance(0.5):
            return float(self.pick(EDGE_FLOATS))
        exponent = self.rng.randint(-320, 308)
        return self.rng.uniform(-10, 10) * 10.0 ** max(exponent, -300)

    def int(self) -> int:
        if self.chance(0.5):
            return int(self.pick(EDGE_INTS))
        return self.rng.randint(-(2**70), 2**70)

    def string(self) -> str:
        if self.chance(0.6):
            return str(self.pick(EDGE_STRINGS))
        return "".join(chr(self.rng.randint(0, 0x2FFFF)) for _ in range(6))

    def number_text(self) -> str:
        """The text of a number cell: edge forms mostly, else a huge float."""
        if self.chance(0.7):
            return str(self.pick(EDGE_NUMBER_TEXTS))
        return repr(self.float())

    def scalar(self) -> Any:
        kind = self.rng.randrange(5)
        if kind == 0:
            return self.float()
        if kind == 1:
            return self.int()
        if kind == 2:
            return self.string()
        return None if kind == 3 else self.chance(0.5)

    def value(self) -> Any:
        kind = self.rng.randrange(6)
        if kind == 4:
            return [self.scalar() for _ in range(self.rng.randrange(3))]
        if kind == 5:
            return {self.string()[:8]: self.scalar() for _ in range(2)}
        return self.scalar()

    def time_text(self, near: datetime) -> str:
        """A time near ``near`` in some zone, or an edge form."""
        if self.chance(0.15):
            return str(self.pick(EDGE_TIMES))
        t = near + timedelta(minutes=5 * self.rng.randint(-60, 60))
        return iso_with_offset(t, int(self.pick(OFFSETS_MIN)))

    def mutated_json(self, base: dict[str, Any]) -> bytes:
        """``base`` with a few fields deleted, replaced or added, as JSON bytes.

        NaN and infinities are written as the bare tokens ``NaN`` and
        ``Infinity`` (what a careless producer writes); the bytes may then be
        garbled by :meth:`garbled`.
        """
        msg = copy.deepcopy(base)
        for _ in range(self.rng.randint(1, 4)):
            paths = paths_of(msg)
            if not paths:
                break
            path = self.pick(paths)
            parent = msg
            for key in path[:-1]:
                parent = parent[key]
            op = self.pick(["set", "set", "set", "delete", "extra"])
            if op == "delete":
                del parent[path[-1]]
            elif op == "set":
                parent[path[-1]] = self.value()
            elif isinstance(parent, dict):
                parent[f"x_{path[-1]}"] = self.value()
        text = json.dumps(msg, allow_nan=True, ensure_ascii=self.chance(0.5))
        return self.garbled(text.encode("utf-8", "surrogatepass"), p=0.4)

    def garbled(self, raw: bytes, p: float = 1.0) -> bytes:
        """``raw`` truncated, padded, nested or garbled, with probability ``p``."""
        if not raw or not self.chance(p):
            return raw
        how = self.pick(BYTE_FAULTS)
        if how == "truncate":
            return raw[: self.rng.randrange(len(raw))]
        if how == "flip":
            at = self.rng.randrange(len(raw))
            return raw[:at] + bytes([self.rng.randrange(256)]) + raw[at + 1 :]
        if how == "bom":
            return b"\xef\xbb\xbf" + raw
        if how == "latin1":
            return raw + b"\xe9\xff"
        if how == "nest":
            depth = self.pick([50, 2_000, 200_000])
            return b"[" * depth + raw + b"]" * depth
        if how == "pad":
            return raw[:-1] + b" " * self.pick([1, 1_100_000]) + raw[-1:]
        if how == "empty":
            return b""
        return self.rng.randbytes(self.rng.randrange(64))

    def stage_like(self, typical: float) -> float:
        """A reading near ``typical``, a jump from it, or a hostile number."""
        roll = self.rng.random()
        if roll < 0.6:
            return typical + self.rng.uniform(-3.0, 3.0)
        if roll < 0.7:
            return typical + self.pick([20.0, -20.0, 9.9, 1e6])
        value = self.float()
        return value if self.chance(0.8) or math.isfinite(value) else 0.0


# One draw per example: the seed. Hypothesis's own instrumented Random would
# make every value a draw of its engine, many times slower.
hostile = st.integers(0, 2**64 - 1).map(lambda seed: Hostile(random.Random(seed)))
