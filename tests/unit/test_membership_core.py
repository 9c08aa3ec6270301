"""The membership state machine driven by hand: manual time, explicit digests, no network."""

from __future__ import annotations

import itertools
import random
from dataclasses import replace

import pytest

from gossip.errors import UsageError
from gossip.membership import Digest, MemberEntry, Membership, MembershipConfig, State
from gossip.membership.core import EARLY_SYNCS, Target

LAN = MembershipConfig.lan()


def node(node_id: str = "a", now: float = 0.0, config: MembershipConfig = LAN) -> Membership:
    return Membership(MemberEntry(node_id, f"{node_id}:1", 1, 0), config, now)


def entry(
    node_id: str, heartbeat: int = 1, state: State = State.ALIVE, generation: int = 1
) -> MemberEntry:
    return MemberEntry(node_id, f"{node_id}:1", generation, heartbeat, state)


def kinds(events: list) -> list[str]:  # type: ignore[type-arg]
    return [e.kind for e in events]


def hear(m: Membership, member: str, t: float, hb: int = 1) -> Target:
    """``member`` answers a call of ours at ``t``: it is known, alive and has answered."""
    call = Target(f"{member}:1", member)
    m.merge(Digest(member, (entry(member, hb),)), t, reply_to=call)
    return call


def run(
    m: Membership, start: float, end: float, step: float = 0.05, fail: bool = False
) -> list[str]:
    """Tick from start to end; the kinds of all events. ``fail``: every call made fails."""
    out: list[str] = []
    t = start
    while t <= end + 1e-9:
        events, round_ = m.tick(t, random.Random(0))
        out += kinds(events)
        for target in round_.targets if fail and round_ else ():
            if target.relay_id:
                out += kinds(m.relay_failed(target.relay_id, t))
            elif target.member_id:
                out += kinds(m.on_failure(target.member_id, t, started=t))
        t += step
    return out


def last_call(m: Membership, start: float) -> tuple[float, Target]:
    """Tick every 50 ms from ``start`` until a round holds a last call: (when, the call)."""
    t = start
    while t < start + 10.0:
        t += 0.05
        _, round_ = m.tick(t, random.Random(0))
        for target in round_.targets if round_ else ():
            if target.last_call:
                return t, target
    raise AssertionError("no last call")


def suspected(m: Membership, member: str, t: float) -> None:
    """Our call to ``member`` fails and so do the indirect probes of every helper."""
    m.on_failure(member, t)
    _, round_ = m.tick(t, random.Random(0))
    relays = [x for x in round_.targets if x.relay_id == member] if round_ else []
    for relay in relays:
        m.merge(Digest(relay.member_id or "", (entry(relay.member_id or ""),)), t, relay)
    assert m.state_of(member) is State.SUSPECT


def test_merge_learns_members_and_ignores_itself() -> None:
    m = node()
    events = m.merge(
        Digest("b", (entry("a", 0), entry("b"), entry("c"))), 0.0, reply_to=Target("b:1", "b")
    )
    assert kinds(events) == ["joined", "joined"]
    assert sorted(e.id for e in m.alive()) == ["b", "c"]


def test_newer_version_wins_and_older_is_ignored() -> None:
    m = node()
    m.merge(Digest("b", (entry("b", 5),)), 0.0)
    m.merge(Digest("c", (entry("b", 3),)), 1.0)
    assert m.members()[0].heartbeat == 5
    assert m.last_heard("b", 1.0) == 1.0


def test_a_failed_call_asks_helpers_and_suspects_only_when_none_reaches_it() -> None:
    m = node()
    for other in "bcde":
        hear(m, other, 0.0)
    assert m.on_failure("b", 0.1) == [] and m.state_of("b") is State.ALIVE
    _, round_ = m.tick(0.1, random.Random(0))
    assert round_ is not None
    relays = [t for t in round_.targets if t.relay_id]
    assert len(relays) == LAN.indirect_probes and {t.relay_id for t in relays} == {"b"}
    assert {t.relay_address for t in relays} == {"b:1"}
    assert {t.member_id for t in relays} == {"c", "d", "e"}  # never b itself
    assert relays[0].timeout(LAN) == 2 * LAN.call_timeout
    probe = m.message(relays[0])
    assert (probe.relay_id, probe.relay_address, probe.full) == ("b", "b:1", False)
    # two helpers could not reach b, the third could: b is fine
    for helper in relays[:2]:
        m.merge(Digest(helper.member_id or "", ()), 0.15, reply_to=helper)
    reached = Digest(relays[2].member_id or "", (), relay_ok=True)
    assert m.merge(reached, 0.16, reply_to=relays[2]) == []
    assert run(m, 0.2, 3.0) == [] and m.state_of("b") is State.ALIVE
    assert m.last_heard("b", 0.16) == 0.0  # a relayed answer is evidence too


def test_when_no_helper_reaches_it_the_member_is_suspect_at_once_then_dead() -> None:
    m = node()
    for other in "bcde":
        hear(m, other, 0.0)
    suspected(m, "b", 0.1)  # every helper answered "no": no need to wait for the deadline
    # the suspicion times out (nobody else could confirm: the longest one): a last direct call
    t, last = last_call(m, 0.1)
    assert t == pytest.approx(0.1 + LAN.suspicion_max, abs=0.06)
    assert last.address == "b:1" and last.timeout(LAN) == LAN.last_call_timeout
    assert m.message(last).entries[1] == replace(entry("b"), state=State.SUSPECT)  # b hears it
    assert m.on_failure("b", t + 0.01, started=t - 0.1) == []  # began before: no verdict
    assert kinds(m.on_failure("b", t + 0.01, started=t)) == ["dead"]


def test_helpers_that_do_not_answer_leave_it_suspect_after_the_deadline() -> None:
    m = node()
    for other in "bcd":
        hear(m, other, 0.0)
    m.on_failure("b", 0.1)
    m.tick(0.1, random.Random(0))
    events = run(m, 0.15, 0.1 + 2 * LAN.call_timeout + 0.05)
    assert events == ["suspect"]


def test_a_last_call_that_is_never_answered_also_convicts() -> None:
    m = node()
    hear(m, "b", 0.0)
    assert kinds(m.on_failure("b", 0.1)) == ["suspect"]  # nobody to ask
    events = run(m, 0.1, 0.1 + LAN.suspicion_max + LAN.last_call_timeout + 0.1)
    assert events == ["dead"]


def test_a_suspect_that_answers_its_last_call_refutes_and_stays() -> None:
    a, b = node("a"), node("b")
    hear(a, "b", 0.0)
    a.on_failure("b", 0.1)
    t, last = last_call(a, 0.1)
    request = a.message(last)
    assert kinds(b.merge(request, t)) == ["joined", "refuted"]  # b learns it is suspected
    assert kinds(a.merge(b.reply(request), t + 0.5, reply_to=last)) == ["alive"]
    assert a.state_of("b") is State.ALIVE and a.members()[0].heartbeat == b.me.heartbeat


def test_a_call_that_began_before_the_member_last_spoke_is_no_evidence() -> None:
    m = node()
    for other in "bc":
        hear(m, other, 0.0)
    hear(m, "b", 1.0)
    assert m.on_failure("b", 1.1, started=0.9) == []
    assert m.tick(1.1, random.Random(0))[1] is not None
    assert "b" not in m._pending  # no indirect probe either


def test_confirmations_shorten_the_suspicion() -> None:
    def last_call_after(confirm: bool) -> float:
        m = node()
        for other in "bcde":
            hear(m, other, 0.0)
        suspected(m, "b", 0.0)
        if confirm:
            for other in "cde":
                m.merge(Digest(other, (entry("b", 1, State.SUSPECT),)), 0.0)
        return last_call(m, 0.0)[0]

    assert last_call_after(True) == pytest.approx(LAN.suspicion_min, abs=0.06)
    assert last_call_after(False) == pytest.approx(LAN.suspicion_max, abs=0.06)


def test_a_pause_of_our_own_process_convicts_nobody() -> None:
    m = node()
    hear(m, "b", 0.0)
    m.tick(0.0, random.Random(0))
    m.on_failure("b", 0.1)
    events, round_ = m.tick(5.0, random.Random(0))  # we were stopped for 5 s
    assert kinds(events) == ["paused"]
    assert m.state_of("b") is State.SUSPECT  # nobody to ask: suspected before the pause
    assert round_ is not None
    assert [t.address for t in round_.targets if not t.full] == ["b:1"]  # everyone
    assert run(m, 5.05, 5.0 + LAN.suspicion_min - 0.1) == []  # its timer was shifted too


def test_dead_member_comes_back_with_a_newer_incarnation_or_generation() -> None:
    m = node()
    hear(m, "b", 0.0)
    run(m, 0.0, 5.0, fail=True)
    assert m.state_of("b") is State.DEAD
    assert m.merge(Digest("c", (entry("b", 1),)), 5.1) == []  # stale: no resurrection
    assert kinds(m.merge(Digest("b", (entry("b", 2),)), 5.2)) == ["alive"]
    events = m.merge(Digest("b", (entry("b", 0, generation=2),)), 5.3)
    assert kinds(events) == ["rejoined"] and m.members()[0].generation == 2


def test_left_is_final_for_a_generation_and_never_becomes_dead() -> None:
    m = node()
    hear(m, "b", 1.0)
    assert kinds(m.merge(Digest("b", (entry("b", 7, State.LEFT),)), 1.1)) == ["left"]
    assert m.merge(Digest("c", (entry("b", 9),)), 1.2) == []
    assert "dead" not in run(m, 1.2, 20.0, fail=True)
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
    assert m.message(round_.targets[0]).entries[0].state is State.LEFT
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
    run(m, 0.2, 30.0, fail=True)  # the junk dies: tombstones beyond the cap go, oldest first
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
    seed = round_.targets[0]
    assert seed.member_id is None and seed.full  # nobody known: a seed, whole views
    assert m.message(seed).full
    m.merge(Digest("x", tuple(entry(i) for i in "bcdefg")), 0.1, reply_to=Target("x:1", "x"))
    _, round_ = m.tick(0.1, rng, seeds=["b:1"])  # just joined: due at once, to everyone
    assert round_ is not None and len(round_.targets) == 6
    for target in round_.targets:  # every one answers
        assert target.member_id is not None
        m.merge(Digest(target.member_id, (entry(target.member_id),)), 0.15, reply_to=target)
    _, round_ = m.tick(0.31, rng, seeds=["b:1"])
    assert round_ is not None and len(round_.targets) == LAN.fanout
    message = m.message(round_.targets[0])
    assert message.entries[0] == m.me and not message.full and m.me.heartbeat == 0


def test_hearsay_takes_no_more_calls_than_the_fanout() -> None:
    rng = random.Random(3)
    m = node()
    m.tick(0.0, rng)
    for i in "bcd":
        hear(m, i, 0.05)
    m.tick(0.05, rng)  # just joined: one round to everyone
    hearsay = tuple(MemberEntry(f"ghost-{i}", f"10.0.{i}.1:1", 1, 1) for i in range(200))
    m.merge(Digest("b", hearsay), 0.1)
    t, calls = 0.3, 0
    while t < 10.0:
        _, round_ = m.tick(t, rng)
        plain = [x for x in round_.targets if not x.relay_id and not x.full] if round_ else []
        assert len(plain) <= LAN.fanout
        calls += len(plain)
        t += LAN.interval
    assert calls <= LAN.fanout * 50
    wrong_address = Target("10.9.9.9:1", "ghost-7")
    m.merge(Digest("ghost-7", ()), t, reply_to=wrong_address)
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
    assert round_ is not None and len(round_.targets) == LAN.fanout


def test_profiles_and_validation() -> None:
    lan, wan = MembershipConfig.lan(), MembershipConfig.wan()
    assert lan.interval < wan.interval and lan.suspicion_min < wan.suspicion_min
    slow = MembershipConfig.profile("lan", 0.5)
    assert slow.interval == 0.5 and slow.stall_threshold > 0.5
    with pytest.raises(UsageError):
        MembershipConfig(fanout=0)
    with pytest.raises(UsageError):
        MembershipConfig.profile("moon")


def test_a_change_rides_in_the_next_retransmits_messages_then_stops() -> None:
    m = node()
    hearsay = Digest("x", tuple(entry(i) for i in "bcdefghij"))
    m.merge(hearsay, 0.0, reply_to=Target("x:1", "x"))  # learnt from x's reply: never vouched
    sent_queue = m.pending_deltas()
    assert sent_queue == 9  # each newcomer is news, to be gossiped
    limit = m.retransmits()
    assert limit == LAN.retransmit_mult * 2  # log10(11) rounds up to 2 (and at least 2)
    to_b = Target("b:1", "b")
    carried = [sum(e.id == "c" for e in m.message(to_b).entries) for _ in range(limit + 3)]
    assert carried == [1] * limit + [0] * 3  # expired from the queue after ``limit`` messages
    assert m.pending_deltas() == 0
    assert m.message(to_b).entries == (m.me,)  # nothing changed: our own entry only
    # a new change about c is news again, from its first transmission
    m.merge(Digest("d", (entry("c", 1, State.SUSPECT),)), 0.1)
    assert next(e for e in m.message(to_b).entries if e.id == "c").state is State.SUSPECT


def test_a_message_that_never_arrived_leaves_its_deltas_to_be_sent_again() -> None:
    """A failed call delivered nothing: its deltas are not counted as transmitted (a
    gateway's calls to the other site fail; news for that site must not run out on them)."""
    m = node()
    m.merge(Digest("x", tuple(entry(i) for i in "bcd")), 0.0, reply_to=Target("x:1", "x"))
    limit = m.retransmits()
    to_b = Target("b:1", "b")
    carried = 0
    for i in range(2 * limit):
        message = m.message(to_b)
        carried += any(e.id == "c" for e in message.entries)
        if i % 2 == 0:
            m.undelivered(message)  # every other call fails
    assert carried == 2 * limit - 1  # each failed message gave one back (the last was spent)
    assert not any(e.id == "c" for e in m.message(to_b).entries)


def test_deltas_go_least_sent_first_within_max_piggyback() -> None:
    config = replace(LAN, max_piggyback=4)
    m = node(config=config)
    m.merge(Digest("x", tuple(entry(f"n{i}") for i in range(10))), 0.0, Target("x:1", "x"))
    to_n0 = Target("x:1", "x")
    first, second, third = (m.message(to_n0) for _ in range(3))
    ids = [[e.id for e in d.entries[1:]] for d in (first, second, third)]
    assert [len(x) for x in ids] == [4, 4, 4]
    assert set(ids[0]).isdisjoint(ids[1]) and len(set(ids[2]) & set(ids[0] + ids[1])) == 2
    # the reply to a delta push is a delta too; to a full push, everything
    push = Digest("n0", (entry("n0"),))
    assert not m.reply(push).full and len(m.reply(push).entries) <= 1 + 4
    assert len(m.reply(replace(push, full=True)).entries) == 11


def test_anti_entropy_syncs_are_jittered_and_a_failed_one_is_retried() -> None:
    def sync_times(seed: int, fail: int = -1) -> list[float]:
        """When ``b`` is synced with over 200 s; the sync number ``fail`` fails."""
        rng = random.Random(seed)
        m = node()
        hear(m, "b", 0.0)
        times: list[float] = []
        t = 0.0
        while t < 200.0:
            _, round_ = m.tick(t, rng)
            for target in round_.targets if round_ else ():
                if target.full and target.member_id == "b":
                    times.append(t)
                    if len(times) - 1 == fail:
                        m.sync_failed(t)
                else:
                    hear(m, "b", t)
            t += LAN.interval
        return times

    times = sync_times(1)
    early, steady = times[: EARLY_SYNCS + 1], times[EARLY_SYNCS + 1 :]
    assert 0.5 * LAN.seed_interval <= early[0] <= 1.5 * LAN.seed_interval  # the first soon
    gaps = [b - a for a, b in itertools.pairwise(steady)]
    assert gaps and all(
        0.5 * LAN.sync_interval - 0.3 <= g <= 1.5 * LAN.sync_interval + 0.3 for g in gaps
    )
    assert max(gaps) - min(gaps) > 1.0  # jittered, not a fixed period
    assert sync_times(2) != times  # another random stream: other moments
    retried = sync_times(1, fail=len(times) - 2)
    assert retried[-1] - retried[-2] == pytest.approx(LAN.sync_interval, abs=LAN.interval)


def test_a_refutation_spreads_and_clears_the_suspicion_elsewhere() -> None:
    m = node()
    for other in "bcd":
        hear(m, other, 0.0)
    m.merge(Digest("c", (entry("b", 1, State.SUSPECT),)), 0.1)
    assert m.state_of("b") is State.SUSPECT
    assert kinds(m.merge(Digest("d", (entry("b", 2),)), 0.2)) == ["alive"]  # b refuted
    assert next(e for e in m.message(Target("c:1", "c")).entries if e.id == "b").heartbeat == 2
    # an older suspicion is stale now
    assert m.merge(Digest("c", (entry("b", 1, State.SUSPECT),)), 0.3) == []
    assert m.state_of("b") is State.ALIVE


def test_a_stranger_is_judged_by_others_word_not_by_our_failed_calls() -> None:
    """A member that never answered us (a NAT, another site): vouched for by its beat."""
    m = node()
    hear(m, "c", 0.0)
    m.merge(Digest("c", (entry("b"),)), 0.0)  # b: only heard of, through c
    assert m.on_failure("b", 0.1) == [] and m.tick(0.1, random.Random(0))[1] is not None
    assert "b" not in m._pending  # no indirect probes for a stranger either
    t, beat = 0.1, 0
    while t < 3 * LAN.stranger_timeout:  # c keeps telling us b's beat advances
        if round(t / LAN.interval) % 50 == 0:
            beat += 1
            m.merge(Digest("c", (entry("c"), replace(entry("b"), beat=beat))), t)
        _, round_ = m.tick(t, random.Random(0))
        for target in round_.targets if round_ else ():
            if target.member_id == "b":
                assert m.on_failure("b", t, started=t) == []
            else:
                hear(m, "c", t)
        t += LAN.interval
    assert m.state_of("b") is State.ALIVE
    # nobody vouches any more: suspect when the round-robin comes to it, then dead
    events = run(m, t, t + LAN.stranger_timeout + 10.0, step=LAN.interval / 2)
    assert "suspect" in events and m.state_of("b") in (State.SUSPECT, State.DEAD)


def test_a_member_heard_directly_is_vouched_for_in_our_messages() -> None:
    m = node()
    hear(m, "b", 0.0)
    hear(m, "c", 0.0)
    m.merge(Digest("b", (replace(entry("b"), beat=7),)), 0.1)
    carried = [e for _ in range(4) for e in m.message(Target("z:1", "z")).entries[1:]]
    assert replace(entry("b"), beat=7) in carried  # its fresh beat travels on


def test_a_strangers_push_adds_nobody_but_its_sender() -> None:
    """Hearsay it made up would reach every node and be dialled; the sender speaks for itself."""
    m = node()
    events = m.merge(Digest("s", (entry("s"), entry("m-1"), entry("m-2", state=State.DEAD))), 0.0)
    assert kinds(events) == ["joined"] and [e.id for e in m.members()] == ["s"]
    m.merge(Digest("s", (entry("s"),)), 0.1, reply_to=Target("s:1", "s"))  # s answers us
    m.merge(Digest("s", (entry("s", 2), entry("m-1"))), 0.2)
    assert [e.id for e in m.members()] == ["m-1", "s"]
