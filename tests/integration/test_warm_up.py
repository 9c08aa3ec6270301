"""A node loads its codecs in the background: it serves and meets its members meanwhile."""

from __future__ import annotations

import threading

import pytest

from gossip.averaging.compressed import Mixer

from .conftest import wait_for
from .inprocess import running


def test_members_meet_while_codecs_load_and_exchanges_wait_for_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    loaded = threading.Event()
    load = Mixer.warm_up

    def slow_warm_up(self: Mixer, neighbours: int = 1) -> None:
        loaded.wait(30)  # as a cold numba cache on a busy machine would take
        load(self, neighbours)

    monkeypatch.setattr(Mixer, "warm_up", slow_warm_up)
    fast = {"max_steps": 0, "gossip_interval": 0.05}
    with running(id="a", **fast) as a, running(id="b", peers=(a.address,), **fast) as b:
        assert a.membership is not None and b.membership is not None
        views = (a.membership, b.membership)
        wait_for(lambda: [[m.id for m in v.reachable()] for v in views] == [["b"], ["a"]],
                 15, "each to see the other")  # fmt: skip
        assert a.exchanger.counts()["ok"] == b.exchanger.counts()["ok"] == 0
        loaded.set()
        wait_for(lambda: a.exchanger.counts()["ok"] > 0, 15, "an exchange")
