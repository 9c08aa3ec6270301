"""The foundation's membership table: merge rules, aging, leave, tombstones."""

from __future__ import annotations

import random
from dataclasses import replace

from gossip.membership.table import Digest, MemberEntry, Membership, MembershipConfig, State


def table(node_id: str = "a") -> Membership:
    return Membership(MemberEntry(node_id, f"{node_id}:1", 1, 0), MembershipConfig())


def entry(
    node_id: str, generation: int = 1, heartbeat: int = 1, state: State = State.ALIVE
) -> MemberEntry:
    return MemberEntry(node_id, f"{node_id}:1", generation, heartbeat, state)


def test_merge_learns_members_and_ignores_itself() -> None:
    m = table()
    events = m.merge(Digest("b", (entry("a", heartbeat=99), entry("b"), entry("c"))), now=0.0)
    assert [e.kind for e in events] == ["joined", "joined"]
    assert [x.id for x in m.alive()] == ["b", "c"]
    assert m.self_entry.heartbeat == 0


def test_newer_heartbeat_wins_and_older_is_ignored() -> None:
    m = table()
    m.merge(Digest("b", (entry("b", heartbeat=5),)), now=0.0)
    m.merge(Digest("c", (entry("b", heartbeat=3),)), now=1.0)
    assert m.members()[0].heartbeat == 5
    assert m.last_heard("b", now=1.0) == 1.0


def test_silent_member_is_suspected_then_declared_dead() -> None:
    m = table()
    m.merge(Digest("b", (entry("b"),)), now=0.0)
    assert m.tick(now=2.5) == [] and m.members()[0].state == State.SUSPECT
    events = m.tick(now=5.5)
    assert [e.kind for e in events] == ["dead"]
    assert m.alive() == [] and m.pick(random.Random(0)) is None


def test_dead_member_comes_back_with_a_newer_heartbeat() -> None:
    m = table()
    m.merge(Digest("b", (entry("b"),)), now=0.0)
    m.tick(now=6.0)
    events = m.merge(Digest("b", (entry("b", heartbeat=2),)), now=6.1)
    assert [e.kind for e in events] == ["alive"]


def test_leave_is_announced_and_not_resurrected_by_stale_gossip() -> None:
    a, b = table("a"), table("b")
    b.merge(a.digest(), now=0.0)
    a.leave()
    assert [e.kind for e in b.merge(a.digest(), now=1.0)] == ["left"]
    assert b.merge(Digest("c", (entry("a", heartbeat=0),)), now=2.0) == []
    assert b.members()[0].state == State.LEFT


def test_restart_with_new_generation_supersedes_the_tombstone() -> None:
    m = table()
    m.merge(Digest("b", (entry("b", heartbeat=50),)), now=0.0)
    m.tick(now=10.0)
    events = m.merge(Digest("b", (entry("b", generation=2, heartbeat=0),)), now=10.5)
    assert [e.kind for e in events] == ["rejoined"]
    assert m.alive()[0].generation == 2


def test_tombstones_expire() -> None:
    m = table()
    m.merge(Digest("b", (entry("b"),)), now=0.0)
    m.tick(now=6.0)
    m.tick(now=6.0 + MembershipConfig().tombstone_ttl + 1)
    assert m.members() == []


def test_own_heartbeat_advances_on_tick() -> None:
    m = table()
    m.tick(0.0)
    m.tick(0.5)
    assert m.digest().entries[0] == replace(m.self_entry) and m.self_entry.heartbeat == 2
