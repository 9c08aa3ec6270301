"""A node's evaluation history stays bounded however long it runs, and spans the whole run."""

from __future__ import annotations

import itertools
import json

from gossip.history import History


def test_history_is_bounded_evenly_spaced_and_ends_with_the_newest() -> None:
    history = History(limit=64)
    for t in range(10_000):
        history.add({"t": t})
        assert len(history) <= 65
        assert history[-1] == {"t": t}  # the newest is always there
    times = [r["t"] for r in history]
    assert times[0] == 0 and len(times) >= 32  # the start stays; thinned, not emptied
    spacing = times[1] - times[0]
    assert all(b - a == spacing for a, b in itertools.pairwise(times[:-1]))
    assert 10_000 / 65 <= spacing <= 2 * 10_000 / 64  # even over the whole run
    assert json.loads(json.dumps(history)) == [{"t": t} for t in times]  # a report writes it


def test_a_short_run_keeps_every_record() -> None:
    history = History(limit=64)
    for t in range(64):
        history.add({"t": t})
    assert [r["t"] for r in history] == list(range(64))
