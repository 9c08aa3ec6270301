"""A run's evaluation records, in bounded memory however long the run.

A node evaluates every ``--eval-interval`` for as long as it runs: weeks of
records would grow without end. The history keeps at most ``limit`` records,
evenly spaced over the whole run, and always the newest last: when one more
would be kept, every other one goes and from then on only every other
evaluation is kept (the spacing doubles), as a long plot would show anyway.
"""

from __future__ import annotations

from typing import Any

LIMIT = 4096
"""Records kept at most (an hour and eight minutes at one evaluation a second)."""

Record = dict[str, Any]


class History(list[Record]):
    """Evaluation records, oldest first, at most ``limit`` (+1: the newest, off the spacing)."""

    def __init__(self, limit: int = LIMIT) -> None:
        super().__init__()
        self.limit = limit
        self._spacing = 1  # keep every n-th record
        self._added = 0
        self._newest_off_spacing = False  # the last record is only the newest: replaced next

    def add(self, record: Record) -> None:
        if self._newest_off_spacing:
            self.pop()
        kept = self._added % self._spacing == 0
        self._added += 1
        self.append(record)
        self._newest_off_spacing = not kept
        if kept and len(self) > self.limit:
            # limit + 1 evenly spaced records, the newest at an even position: it stays
            del self[1::2]
            self._spacing *= 2
