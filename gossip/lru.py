"""A mapping with a capacity that forgets its least recently used key.

Per-sender state (when a warning was last logged, strikes towards a
quarantine, notices about bad gossip) is keyed by ids a peer chooses: a
stream of new ids would grow a plain dict forever. :class:`Lru` keeps at most
``capacity`` keys; the cost of forgetting one is a repeated log line or a
strike count that starts again, never a wrong answer.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class Lru(Generic[K, V]):
    """At most ``capacity`` entries; a read or write makes a key the most recent. Not locked."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be >= 1")
        self.capacity = capacity
        self.evictions = 0
        self._data: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        value = self._data.get(key)
        if value is not None:
            self._data.move_to_end(key)
        return value

    def __setitem__(self, key: K, value: V) -> None:
        self._data[key] = value
        self._data.move_to_end(key)
        while len(self._data) > self.capacity:
            self._data.popitem(last=False)
            self.evictions += 1

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __len__(self) -> int:
        return len(self._data)

    def items(self) -> Iterator[tuple[K, V]]:
        return iter(list(self._data.items()))

    def pop(self, key: K) -> V | None:
        return self._data.pop(key, None)
