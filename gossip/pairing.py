"""Who a peer averages with next: rounds of disjoint pairs that every peer can work out alone.

Random partners mix slowly: with 4 peers, pairwise averaging of random pairs
needs about 23 exchanges to bring 4 different models within 1e-2 of their
mean, and two offers often meet at the same peer (one is refused ``busy``).
If every peer instead follows the same sequence of *perfect matchings*,
every peer is in exactly one pair per round, pairs never collide, and the
matchings can be chosen to mix as fast as possible:

* **n a power of two: the hypercube.** Round ``d`` pairs rank ``r`` with
  ``r XOR 2**d``. After one round per dimension (log2 n rounds) every peer
  holds the exact mean: 2 exchanges per peer at 4 peers, 3 at 8.
* **any other n: the circle method** of round-robin tournaments (n - 1
  rounds of n / 2 disjoint pairs; with n odd, one peer sits each round out).
  Every pair meets once per cycle.

Ranks are positions in the sorted ids of the alive members plus oneself, so
peers that see the same members agree on the pairs without talking. Peers
that disagree (a join or a death not yet known everywhere) still exchange:
any pair is a valid averaging step; only the pace of mixing suffers until
their views agree.
"""

from __future__ import annotations


def round_partners(rank: int, size: int) -> list[int]:
    """The partner ranks of ``rank`` in each round of one cycle, in round order.

    Rounds where ``rank`` sits out (n odd) are left out; empty when alone.
    """
    if not 0 <= rank < size:
        raise ValueError(f"rank {rank} is not in 0..{size - 1}")
    if size & (size - 1) == 0:  # a power of two (1 included: no rounds)
        return [rank ^ (1 << d) for d in range(size.bit_length() - 1)]
    even = size + size % 2  # an odd cluster gets a phantom member: its partner sits out
    last = even - 1
    partners = []
    for k in range(last):
        if rank == last:
            partner = k
        elif rank == k:
            partner = last
        else:
            partner = (2 * k - rank) % last
        if partner < size:
            partners.append(partner)
    return partners
