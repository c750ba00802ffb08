"""Table writes held back until the records they stand for are on Kafka.

An agent's table says what it has already done: a warning issued at
orange, an alert published for an event. If that entry reaches the
table's changelog before the record it stands for reaches its topic, a
worker killed in between comes back believing the record was sent, skips
it when the input is read again, and the warning or alert is lost for good.
So an agent scores against :class:`Staged` views of its tables, publishes
its outputs and waits for the broker to take them, and only then calls
:meth:`Staged.apply`. Killed before that, the input is read again against
the old entries and the same outputs (their identifiers depend on the input
only) are published again: a repeat, never a loss.
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from typing import Any

_GONE = object()


class Staged(MutableMapping[Any, Any]):
    """A view of ``table`` whose writes stay here until :meth:`apply`."""

    def __init__(self, table: MutableMapping[Any, Any]) -> None:
        self.table = table
        self._writes: dict[Any, Any] = {}

    def __getitem__(self, key: Any) -> Any:
        if key in self._writes:
            value = self._writes[key]
            if value is _GONE:
                raise KeyError(key)
            return value
        return self.table[key]

    def __setitem__(self, key: Any, value: Any) -> None:
        self._writes[key] = value

    def __delitem__(self, key: Any) -> None:
        if key not in self:
            raise KeyError(key)
        self._writes[key] = _GONE

    def __contains__(self, key: object) -> bool:
        if key in self._writes:
            return self._writes[key] is not _GONE
        return key in self.table

    def __iter__(self) -> Iterator[Any]:
        for key in self.table:
            if key not in self._writes:
                yield key
        for key, value in self._writes.items():
            if value is not _GONE:
                yield key

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def apply(self) -> None:
        """Write the held-back entries to the table."""
        for key, value in self._writes.items():
            if value is _GONE:
                self.table.pop(key, None)
            else:
                self.table[key] = value
        self._writes.clear()
