"""The membership state machine driven by hand: manual time, explicit digests, no network."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from gossip.errors import UsageError
from gossip.membership import Digest, MemberEntry, Membership, MembershipConfig, State
from gossip.membership.core import Target

LAN = MembershipConfig.lan()


def node(node_id: str = "a", now: float = 0.0, config: MembershipConfig = LAN) -> Membership:
    return Membership(MemberEntry(node_id, f"{node_id}:1", 1, 0), config, now)


def entry(
    node_id: str, heartbeat: int = 1, state: State = State.ALIVE, generation: int = 1
) -> MemberEntry:
    return MemberEntry(node_id, f"{node_id}:1", generation, heartbeat, state)


def kinds(events: list) -> list[str]:  # type: ignore[type-arg]
    return [e.kind for e in events]


def feed(m: Membership, member: str, start: float, end: float, every: float = 0.2) -> int:
    """Heartbeats of ``member`` arriving every ``every`` s from start to end, in its replies
    to our push-pulls; the last counter."""
    hb, t = 1, start
    call = Target(f"{member}:1", member)
    while t <= end + 1e-9:
        m.merge(Digest(member, (entry(member, hb),)), t, reply_to=call)
        m.tick(t, random.Random(0))
        hb, t = hb + 1, t + every
    return hb - 1


def run(m: Membership, start: float, end: float, step: float = 0.05) -> list[str]:
    """Tick from start to end; the kinds of all events."""
    out: list[str] = []
    t = start
    while t <= end + 1e-9:
        events, _ = m.tick(t, random.Random(0))
        out += kinds(events)
        t += step
    return out


def test_merge_learns_members_and_ignores_itself() -> None:
    m = node()
    events = m.merge(
        Digest("b", (entry("a", 0), entry("b"), entry("c"))), 0.0, reply_to=Target("b:1", "b")
    )
    assert kinds(events) == ["joined", "joined"]
    assert sorted(e.id for e in m.alive()) == ["b", "c"]


def test_a_strangers_push_adds_nobody_but_its_sender() -> None:
    """Hearsay it made up would reach every node and be dialled; the sender speaks for itself."""
    m = node()
    events = m.merge(Digest("s", (entry("s"), entry("m-1"), entry("m-2", state=State.DEAD))), 0.0)
    assert kinds(events) == ["joined"] and [e.id for e in m.members()] == ["s"]
    m.merge(Digest("s", (entry("s"),)), 0.1, reply_to=Target("s:1", "s"))  # s answers us
    m.merge(Digest("s", (entry("s", 2), entry("m-1"))), 0.2)
    assert [e.id for e in m.members()] == ["m-1", "s"]


def test_newer_version_wins_and_older_is_ignored() -> None:
    m = node()
    m.merge(Digest("b", (entry("b", 5),)), 0.0)
    m.merge(Digest("c", (entry("b", 3),)), 1.0)
    assert m.members()[0].heartbeat == 5
    assert m.last_heard("b", 1.0) == 1.0


def test_a_silent_member_is_suspected_then_dead_after_a_failed_last_call() -> None:
    m = node()
    last = 2.0
    feed(m, "b", 0.0, last)
    events = run(m, last, last + 1.4)
    assert events == ["suspect"] and m.alive() == [] and m.pick(random.Random(0)) is None
    assert m.state_of("b") is State.SUSPECT
    # the suspicion times out (nobody else could confirm: the shortest one): a last direct call
    _, round_ = m.tick(last + 1.95, random.Random(0))
    assert round_ is not None and "b:1" in [t.address for t in round_.targets]
    assert m.on_failure("b", last + 2.11, started=last + 1.9) == []  # began before: no verdict
    assert kinds(m.on_failure("b", last + 2.11, started=last + 2.1)) == ["dead"]


def test_a_member_that_never_answered_gets_no_last_call_and_no_reconnects() -> None:
    m = node()
    for t in (0.0, 0.2, 0.4):  # heard only through others' gossip: it never answered us
        m.merge(Digest("c", (entry("b", int(t * 10) + 1),)), t, reply_to=Target("c:1", "c"))
    called = []
    t = 0.4
    while m.state_of("b") is not State.DEAD:
        t += 0.05
        _, round_ = m.tick(t, random.Random(0))
        called += [x.member_id for x in round_.targets if x.last_call] if round_ else []
    assert called == [] and t < 0.4 + 1.3 + LAN.suspicion_max
    _, round_ = m.tick(t + 2 * LAN.reconnect_interval, random.Random(0))
    assert round_ is not None and "b" not in [x.member_id for x in round_.targets]


def test_a_last_call_that_is_never_answered_also_convicts() -> None:
    m = node()
    feed(m, "b", 0.0, 2.0)
    events = run(m, 2.0, 5.0)
    assert events == ["suspect", "dead"]


def test_a_failed_call_alone_never_convicts() -> None:
    m = node()
    feed(m, "b", 0.0, 2.0)
    assert m.on_failure("b", 2.05) == []  # fresh heartbeat: no suspicion at all
    assert kinds(m.on_failure("b", 2.9)) == ["suspect"]  # silent for a while: suspicion
    assert m.on_failure("b", 2.95) == [] and m.state_of("b") is State.SUSPECT


def test_confirmations_shorten_the_suspicion() -> None:
    def dead_after(confirm: bool) -> float:
        m = node()
        for other in "cde":
            m.merge(Digest(other, (entry(other, 1),)), 0.0)
        t, hb = 0.0, 1
        while t <= 2.0:  # everyone beats until 2.0; then b goes silent
            m.merge(
                Digest("x", tuple(entry(o, hb) for o in "bcde")), t, reply_to=Target("x:1", "x")
            )
            m.tick(t, random.Random(0))
            t, hb = t + 0.2, hb + 1
        while m.state_of("b") is not State.DEAD:
            m.merge(Digest("x", tuple(entry(o, hb) for o in "cde")), t, reply_to=Target("x:1", "x"))
            if confirm and m.state_of("b") is State.SUSPECT:
                for o in "cde":
                    m.merge(Digest(o, (entry("b", 11, State.SUSPECT),)), t)
            m.tick(t, random.Random(0))
            m.on_failure("b", t, started=t)
            t, hb = t + 0.05, hb + 1
        return t

    assert dead_after(True) < dead_after(False) - 1.0


def test_a_pause_of_our_own_process_convicts_nobody() -> None:
    m = node()
    feed(m, "b", 0.0, 2.0)
    events, round_ = m.tick(6.0, random.Random(0))  # we were stopped for 4 s
    assert kinds(events) == ["paused"]
    assert m.state_of("b") is State.ALIVE
    assert round_ is not None and [t.address for t in round_.targets] == ["b:1"]  # everyone


def test_dead_member_comes_back_with_a_newer_heartbeat_or_generation() -> None:
    m = node()
    hb = feed(m, "b", 0.0, 2.0)
    run(m, 2.0, 5.0)
    assert m.state_of("b") is State.DEAD
    assert m.merge(Digest("c", (entry("b", hb),)), 5.1) == []  # stale: no resurrection
    assert kinds(m.merge(Digest("b", (entry("b", hb + 1),)), 5.2)) == ["alive"]
    events = m.merge(Digest("b", (entry("b", 0, generation=2),)), 5.3)
    assert kinds(events) == ["rejoined"] and m.members()[0].generation == 2


def test_left_is_final_for_a_generation_and_never_becomes_dead() -> None:
    m = node()
    feed(m, "b", 0.0, 1.0)
    assert kinds(m.merge(Digest("b", (entry("b", 7, State.LEFT),)), 1.1)) == ["left"]
    assert m.merge(Digest("c", (entry("b", 9),)), 1.2) == []
    assert "dead" not in run(m, 1.2, 20.0)
    assert m.state_of("b") is State.LEFT


def test_leave_announces_to_every_live_member() -> None:
    m = node()
    m.merge(
        Digest("x", (entry("b"), entry("c"), entry("d", state=State.DEAD))),
        0.0,
        reply_to=Target("x:1", "x"),
    )
    round_ = m.leave()
    assert sorted(t.address for t in round_.targets) == ["b:1", "c:1"]
    assert round_.digest.entries[0].state is State.LEFT
    assert m.tick(1.0, random.Random(0))[1] is None  # no more rounds


def test_tombstones_expire() -> None:
    m = node()
    m.merge(Digest("b", (entry("b", 3, State.LEFT),)), 0.0)
    assert m.state_of("b") is State.LEFT
    m.tick(LAN.tombstone_ttl + 1, random.Random(0))
    assert m.state_of("b") is None


def test_hearsay_does_not_restart_a_tombstones_life() -> None:
    """Case 5: two nodes handing an unknown member's tombstone back and forth forget it."""
    ttl = LAN.tombstone_ttl
    a, b = node("a"), node("b")
    junk = entry("junk", 5, State.DEAD)
    a.merge(Digest("attacker", (junk,)), 0.0)
    t = 0.0
    while t < 4 * ttl:  # from t=10 on (b learns it late), a and b push-pull every second
        if t >= 10:
            b.merge(a.digest(), t)
            a.merge(b.digest(), t + 0.5)
        a.tick(t + 0.5, random.Random(0))
        b.tick(t + 0.5, random.Random(0))
        t += 1.0
        if t > ttl + 13:
            assert a.state_of("junk") is None and b.state_of("junk") is None, t
    # a newer incarnation is news, not hearsay: it is taken
    a.merge(Digest("junk", (entry("junk", 1, generation=2),)), t)
    assert a.state_of("junk") is State.ALIVE


def test_members_and_tombstones_are_capped() -> None:
    """Case 5: a flood of announced members fills the caps and evicts nobody known."""
    config = replace(LAN, max_members=10, max_tombstones=5)
    m = node(config=config)
    m.merge(Digest("b", (entry("b", 1),)), 0.0)
    flood = tuple(entry(f"j{i}", 1) for i in range(100))
    dead = tuple(entry(f"d{i}", 1, State.DEAD) for i in range(100))
    events = m.merge(
        Digest("attacker", flood + dead), 0.1, reply_to=Target("attacker:1", "attacker")
    )
    assert kinds(events).count("full") == 100 - 9
    states = [e.state for e in m.members()]
    assert states.count(State.ALIVE) == 10 and "b" in {e.id for e in m.alive()}
    assert len(states) == 15
    run(m, 0.2, 10.0)  # the junk dies: tombstones beyond the cap are forgotten, oldest first
    assert len([e for e in m.members() if e.state is State.DEAD]) <= 5


def test_an_invalid_digest_sender_is_dropped() -> None:
    m = node()
    events = m.merge(Digest("bad\nsender", (entry("b", 1),)), 0.0)
    assert kinds(events) == ["malformed"] and m.members() == []


@pytest.mark.parametrize(
    "bad",
    [
        MemberEntry("", "x:1", 1, 1),
        MemberEntry("x", "", 1, 1),
        MemberEntry("x", "no-port", 1, 1),
        MemberEntry("x", "x:99999", 1, 1),
        MemberEntry("x", "x:1", 0, 1),
        MemberEntry("x", "x:1", 1, 1 << 60),
        MemberEntry("x" * 1000, "x:1", 1, 1),
        MemberEntry("x\n00:00 FAKE", "x:1", 1, 1),  # case 9: control characters
        MemberEntry("x\x1b[31m", "x:1", 1, 1),
        MemberEntry("x", "x\x00:1", 1, 1),
        MemberEntry("x", "x:0", 1, 1),
        MemberEntry("x", "h" * 200 + ":1", 1, 1),
    ],
)
def test_malformed_entries_are_dropped_and_reported(bad: MemberEntry) -> None:
    """Case 9: ids and addresses outside gossip.names' rules are dropped at the edge."""
    m = node()
    m.merge(Digest("b", (entry("b", 1),)), 0.0)
    events = m.merge(Digest("b", (bad, entry("b", 2))), 0.1)
    assert kinds(events) == ["malformed"]
    assert [e.id for e in m.alive()] == ["b"] and m.members()[0].heartbeat == 2


def test_an_id_claimed_from_another_address_does_not_evict_a_live_member() -> None:
    m = node()
    m.merge(Digest("b", (entry("b", 1),)), 0.0)
    forged = [
        MemberEntry("b", "evil:1", 1, 100),
        MemberEntry("b", "evil:1", 2, 0),
        MemberEntry("b", "b:1", 1, 50, State.DEAD),
    ]
    events = m.merge(Digest("evil", tuple(forged[:2])), 0.1)
    assert kinds(events) == ["conflict", "conflict"]
    assert m.members()[0].address == "b:1" and m.state_of("b") is State.ALIVE
    # a dead claim about a newer counter is taken only as what it is: somebody's conviction
    assert kinds(m.merge(Digest("evil", (forged[2],)), 0.2)) == ["dead"]
    assert kinds(m.merge(Digest("b", (entry("b", 51),)), 0.3)) == ["alive"]


def test_we_refute_what_others_say_about_us() -> None:
    m = node()
    assert kinds(m.merge(Digest("b", (entry("a", 0, State.SUSPECT),)), 0.1)) == ["refuted"]
    assert m.me.heartbeat == 1
    assert kinds(m.merge(Digest("b", (entry("a", 40),)), 0.2)) == ["refuted"]
    assert m.me.heartbeat == 41
    claim = replace(entry("a", 1), address="elsewhere:1")
    assert kinds(m.merge(Digest("b", (claim,)), 0.3)) == ["conflict"]
    assert m.me.address == "a:1"


def test_a_restart_with_a_smaller_generation_catches_up() -> None:
    m = Membership(MemberEntry("a", "a:1", 5, 0), LAN, 0.0)
    events = m.merge(Digest("b", (MemberEntry("a", "a:1", 9, 100, State.DEAD),)), 0.1)
    assert kinds(events) == ["refuted"] and m.me.generation == 10


def test_rounds_pick_fanout_members_and_seeds_when_isolated() -> None:
    rng = random.Random(1)
    m = node()
    _, round_ = m.tick(0.0, rng, seeds=["s1:1", "s2:1"])
    assert round_ is not None and len(round_.targets) == 1
    assert round_.targets[0].member_id is None  # nobody known: a seed
    m.merge(Digest("x", tuple(entry(i) for i in "bcdefg")), 0.1, reply_to=Target("x:1", "x"))
    _, round_ = m.tick(0.1, rng, seeds=["b:1"])  # just joined: due at once, to everyone
    assert round_ is not None and len(round_.targets) == 6
    for target in round_.targets:  # every one answers
        assert target.member_id is not None
        m.merge(Digest(target.member_id, (entry(target.member_id),)), 0.15, reply_to=target)
    _, round_ = m.tick(0.31, rng, seeds=["b:1"])
    assert round_ is not None and len(round_.targets) == LAN.fanout
    assert round_.digest.entries[0].heartbeat == 3


def test_announced_members_that_never_answered_take_one_call_per_round() -> None:
    rng = random.Random(3)
    m = node()
    m.tick(0.0, rng)
    real = [entry(i) for i in "bcd"]
    m.merge(Digest("b", tuple(real)), 0.05, reply_to=Target("b:1", "b"))
    _, round_ = m.tick(0.05, rng)  # just joined: everyone; b, c and d answer
    assert round_ is not None
    for target in round_.targets:
        m.merge(Digest("x", (entry(target.member_id or ""),)), 0.06, reply_to=target)
    assert all(m.answered(i) for i in "bcd")
    hearsay = tuple(MemberEntry(f"ghost-{i}", f"10.0.{i}.1:1", 1, 1) for i in range(200))
    m.merge(Digest("b", hearsay), 0.1)  # b answered us: its hearsay is taken
    m.merge(Digest("b", (replace(hearsay[7], heartbeat=2),)), 0.15)  # ghost-7 advances
    _, round_ = m.tick(0.3, rng)
    assert round_ is not None
    called = [t.member_id for t in round_.targets]
    assert sorted(called[: LAN.fanout]) == ["b", "c", "d"]
    assert called[LAN.fanout :] == ["ghost-7"]  # one stranger, the one heard advancing first
    assert not m.answered("ghost-7")
    wrong_address = Target("10.9.9.9:1", "ghost-7")
    m.merge(Digest("ghost-7", ()), 0.31, reply_to=wrong_address)
    assert not m.answered("ghost-7")  # a reply from elsewhere does not vouch for its address


def test_a_joining_node_dials_a_seed_it_does_not_know_every_round() -> None:
    """Peers started together each reaching one random seed must not stay in groups."""
    rng = random.Random(3)
    m = node()
    seeds = ["b:1", "c:1", "d:1"]
    m.merge(Digest("b", (entry("b"),)), 0.0)  # one seed answered: not alone any more

    def seeds_dialled(now: float) -> list[str]:
        _, round_ = m.tick(now, rng, seeds=seeds)
        return [] if round_ is None else [t.address for t in round_.targets if t.member_id is None]

    assert seeds_dialled(0.0) != [] and seeds_dialled(LAN.interval) != []
    later = LAN.seed_interval + 1.0
    assert seeds_dialled(later) != [] and seeds_dialled(later + LAN.interval) == []


def test_only_a_node_that_was_alone_announces_itself_to_everyone() -> None:
    rng = random.Random(2)
    m = node()
    m.tick(0.0, rng)
    m.merge(Digest("b", (entry("b"),)), 0.05)
    _, round_ = m.tick(0.05, rng)
    assert round_ is not None and [t.address for t in round_.targets] == ["b:1"]
    m.merge(Digest("b", tuple(entry(i) for i in "bcdefg")), 0.1, reply_to=round_.targets[0])
    assert m.tick(0.1, rng)[1] is None  # not alone: no broadcast
    _, round_ = m.tick(0.25, rng)
    assert round_ is not None and len(round_.targets) == 2  # b, and one that never answered


def test_profiles_and_validation() -> None:
    lan, wan = MembershipConfig.lan(), MembershipConfig.wan()
    assert lan.interval < wan.interval and lan.suspicion_min < wan.suspicion_min
    slow = MembershipConfig.profile("lan", 0.5)
    assert slow.interval == 0.5 and slow.stall_threshold > 0.5
    with pytest.raises(UsageError):
        MembershipConfig(fanout=0)
    with pytest.raises(UsageError):
        MembershipConfig.profile("moon")
