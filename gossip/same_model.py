"""A peer whose model is not its seeds' stops with one line (exit 2).

Peers refuse to average different models (``fingerprint_mismatch`` at every
exchange, which stays), so a peer built with another architecture or parameter
count (another ``--model``, a ``--model-factory`` that builds per shard, data
of another width) would otherwise train alone while its log fills with
refusals. Before it serves, a peer asks up to three seeds for their status
(one Status call each, which fails at once when nothing listens there) and
compares the model. It refuses to start only when seeds answered and none runs
its model: a seed not up yet proves nothing, and one odd seed among agreeing
ones is that seed's mistake, found when it starts (or by its refusals).

Peers started together find no seed up: the node then asks again, serving,
until a seed answers (``Node._model_check_loop``), and stops with the same
line when the seeds that answered all run another model. The seeds are the
operator's word, so the peer that disagrees with its seeds is the one that
stops; two peers that name each other as seeds both stop.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from gossip.errors import GossipError, UsageError
from gossip.status import Status

SEEDS_ASKED = 3
TIMEOUT_S = 2.0
"""Per seed: a host that drops packets delays the start by this much, no more."""


def check_seeds(
    seeds: Sequence[str],
    status: Callable[[str, float], Status],
    fingerprint: str,
    num_params: int,
    me: str = "",
) -> bool:
    """True when a seed runs the model ``fingerprint``, False when no seed answered (nothing
    to compare yet); UsageError when seeds answered and none of them runs it.

    A seed that turns out to be this peer (id ``me``: a name that resolves to every
    replica) proves nothing either.
    """
    others: list[str] = []
    for seed in seeds[:SEEDS_ASKED]:
        try:
            answer = status(seed, TIMEOUT_S)
        except GossipError:  # not up yet, or not a peer: nothing to compare
            continue
        if me and answer.id == me:
            continue
        if answer.model.fingerprint == fingerprint:
            return True
        others.append(f"{seed} has {answer.model.fingerprint} ({answer.model.params} values)")
    if others:
        raise UsageError(
            f"this peer's model {fingerprint} ({num_params} values) is not its seeds' "
            f"({'; '.join(others)}): every peer must build the same model"
        )
    return False
