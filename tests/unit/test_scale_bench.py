"""bench/scale.py's ``pairs`` topology: gossip-node's partner choice, with no network.

Every peer goes to the round partner it met least recently (gossip.pairing's
circle method), and both sides count an exchange: peers that start together
pair up in disjoint pairs, and a cycle meets every other peer once.
"""

from __future__ import annotations

from bench.scale import Pairs


def test_peers_in_step_meet_in_disjoint_pairs_and_everyone_once_per_cycle() -> None:
    live = [f"p{i}" for i in range(6)]
    pairs = Pairs()
    met: dict[str, list[str]] = {me: [] for me in live}
    for _ in range(len(live) - 1):  # one cycle of rounds
        busy: set[str] = set()
        for me in live:
            if me in busy:
                continue  # already in this round's pair, as the responder
            other = pairs.choose(me, live)
            assert other not in busy and other != me
            busy |= {me, other}
            met[me].append(other)
            met[other].append(me)
            pairs.met_now(me, other)
        assert busy == set(live)  # a perfect matching
    for me, others in met.items():
        assert sorted(others) == sorted(p for p in live if p != me)


def test_a_new_live_set_keeps_who_was_met_by_id() -> None:
    live = ["a", "b", "c", "d"]
    pairs = Pairs()
    first = pairs.choose("a", live)
    pairs.met_now("a", first)
    grown = [*live, "e"]
    assert pairs.choose("a", grown) != first  # met most recently: not again at once
