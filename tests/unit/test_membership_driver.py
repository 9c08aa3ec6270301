"""The membership driver on the in-memory network with a manual clock: rounds, seeds, counts."""

from __future__ import annotations

import logging
import random

import pytest

from gossip.clock import ManualClock
from gossip.membership import MemberEntry, MembershipConfig
from gossip.membership.core import Target
from gossip.membership.types import Digest
from gossip.membership_driver import STRANGER_BACKLOG, MembershipDriver
from gossip.status import Status
from gossip.transport.memory import InMemoryNetwork


class _Peer:
    """Just enough of a node for the in-memory transport: membership only."""

    def __init__(self, driver: MembershipDriver) -> None:
        self.driver = driver

    def on_push_pull(self, digest: Digest) -> Digest:
        return self.driver.merge(digest)

    def on_status(self) -> Status:
        return Status()


def cluster(
    n: int, clock: ManualClock, seeds: tuple[str, ...], network: InMemoryNetwork | None = None
) -> list[MembershipDriver]:
    network = network or InMemoryNetwork(seed=0)
    drivers = []
    for i in range(n):
        transport = network.transport()
        me = MemberEntry(f"d{i}", f"127.0.0.{i + 1}:7000", 1 + i, 0)
        driver = MembershipDriver(
            me, MembershipConfig.lan(), transport, clock, seeds, random.Random(i)
        )
        transport.serve(me.address, _Peer(driver))  # type: ignore[arg-type]
        drivers.append(driver)
    return drivers


def formed(
    n: int, clock: ManualClock, network: InMemoryNetwork | None = None
) -> list[MembershipDriver]:
    """``n`` drivers seeded with the first, after 10 rounds of 0.2 s: everyone knows everyone."""
    drivers = cluster(n, clock, ("127.0.0.1:7000",), network)
    for _ in range(10):
        for d in drivers:
            d.round()
        clock.advance(0.2)
    return drivers


def test_rounds_through_the_wire_form_the_cluster_and_count_events() -> None:
    drivers = formed(4, ManualClock())
    for d in drivers:
        members = d.status()
        assert len(members) == 3 and {m.state for m in members} == {"alive"}
        assert d.event_counts()["joined"] == 3
        assert set(d.event_counts()) == {
            *("joined", "suspect", "alive", "dead", "left", "rejoined"),
            *("malformed", "full"),
        }
    drivers[3].leave()
    assert all(d.event_counts()["left"] == 1 for d in drivers[:3])
    assert drivers[0].pick() is not None and drivers[0].pick().id != "d3"  # type: ignore[union-attr]


def test_a_seed_that_does_not_resolve_is_logged_once_and_retried(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = ManualClock()
    (driver,) = cluster(1, clock, ("nosuchhost.invalid:7000",))
    with caplog.at_level(logging.WARNING, logger="gossip.membership"):
        for _ in range(3):
            driver.round()
            clock.advance(11.0)  # past the DNS cache: asked again, not logged again
    lines = [r.getMessage() for r in caplog.records if "does not resolve" in r.getMessage()]
    assert len(lines) == 1 and "nosuchhost.invalid" in lines[0]


def test_partners_are_the_members_that_answered_not_hearsay() -> None:
    clock = ManualClock()
    drivers = formed(3, clock)
    hearsay = MemberEntry("ghost", "10.9.9.9:1", 1, 5)  # announced, never answers
    drivers[0].merge(Digest("d1", (hearsay,)))
    assert "ghost" in {m.id for m in drivers[0].alive()}
    assert {m.id for m in drivers[0].reachable()} == {"d1", "d2"}
    (alone,) = cluster(1, clock, ())
    alone.merge(Digest("d1", (hearsay,)), reply_to=Target("seed:1", None))  # its seed's reply
    assert [m.id for m in alone.reachable()] == ["ghost"]  # nobody reached yet: all alive


class _Recorder:
    """An executor that only records what it is given (the calls never run)."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def submit(self, fn: object, target: Target, stranger: bool) -> None:
        self.calls.append(target.address)


def test_calls_to_members_that_never_answered_are_bounded_and_apart() -> None:
    clock = ManualClock()
    driver = formed(2, clock)[0]  # d1 answered it
    hearsay = tuple(MemberEntry(f"ghost-{i}", f"10.0.{i}.1:1", 1, 1) for i in range(200))
    driver.merge(Digest("d1", hearsay))
    members, strangers = _Recorder(), _Recorder()
    driver._pool, driver._stranger_pool = members, strangers  # type: ignore[assignment]
    for entry in hearsay:
        driver._submit(Target(entry.address, entry.id))
    driver._submit(Target("127.0.0.2:7000", "d1"))
    assert len(strangers.calls) == STRANGER_BACKLOG  # the rest skipped while those wait
    assert members.calls == ["127.0.0.2:7000"]  # never behind them
    assert driver.partner_count() == 1 and len(driver.alive()) == 201


def test_a_member_we_cannot_reach_but_others_can_is_never_suspected() -> None:
    """Indirect probes through the wire: a cut link between two members is not a crash."""
    clock, network = ManualClock(), InMemoryNetwork(seed=0)
    drivers = formed(5, clock, network)
    network.partition({"127.0.0.1:7000"}, {"127.0.0.5:7000"})  # d0 and d4 cannot talk
    for _ in range(100):
        for d in drivers:
            d.round()
        clock.advance(0.2)
    assert all(d.event_counts()["suspect"] == 0 for d in drivers)
    assert {m.id for m in drivers[0].alive()} == {"d1", "d2", "d3", "d4"}
    network.down.add("127.0.0.5:7000")  # now d4 is gone for everyone
    for _ in range(40):
        for d in drivers[:4]:
            d.round()
        clock.advance(0.2)
    assert all(d.event_counts()["dead"] == 1 for d in drivers[:4])
