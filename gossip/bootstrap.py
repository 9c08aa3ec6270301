"""Catch-up of a new or restarted peer: pull a recent model from a live neighbour first.

A peer that starts from random weights, or from a checkpoint minutes old,
would drag every neighbour it averages with back toward them. Before it
trains (and before it answers exchanges), it asks alive members, one at a
time, for their model over the ``Catchup`` stream, and adopts the first one
that is ahead of its own step and passes every check: fingerprint, size,
codec, SHA-256 and finite values. A donor that fails (gone, refuses, sends
garbage) is logged and the next one is tried; one that is busy catching up
itself (peers started together) is simply not ahead.

Members that answered us at their own address are asked first (``order``):
one known only by hearsay may sit behind another site's gateway, and a fetch
to it waits its whole deadline. The fetches share one budget, so a run of
unreachable donors costs one deadline in all, not one each.

No threads and no clock reads here: the node passes the fetch function, the
donors and ``now``.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from gossip.averaging.pairwise import RAW_CODEC, decode
from gossip.errors import ExchangeRefused, GossipError
from gossip.transport.fetch import Fetched, FetchRequest

log = logging.getLogger("gossip.bootstrap")

Fetch = Callable[[str, FetchRequest, float], Fetched]
"""``fetch(address, request, timeout)``: one Catchup stream; raises GossipError on any failure."""


@dataclass
class CatchUp:
    """How a catch-up went (shown in status under ``recovery``)."""

    state: str = "off"
    """``off`` (--no-bootstrap), ``running``, ``done``, ``none`` (no donor ahead), ``failed``."""
    donor: str = ""
    step: int = 0
    seconds: float = 0.0
    tried: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def verify(fetched: Fetched, request: FetchRequest) -> np.ndarray:
    """The donor's parameters, or GossipError when they are not fit to adopt."""
    snapshot = fetched.snapshot
    assert snapshot is not None
    if snapshot.fingerprint != request.fingerprint:
        raise GossipError(
            f"model fingerprint {snapshot.fingerprint} is not the local {request.fingerprint}"
        )
    if snapshot.num_params != request.num_params or snapshot.codec != RAW_CODEC:
        raise GossipError(f"{snapshot.num_params} values in {snapshot.codec}, expected raw")
    values = decode(snapshot.payload, request.num_params)
    if not np.isfinite(values).all():
        raise GossipError("the donor's model contains NaN or Inf")
    return values.copy()


def order(
    answered: Sequence[tuple[str, str]], hearsay: Sequence[tuple[str, str]], rng: random.Random
) -> list[tuple[str, str]]:
    """Donors to try: those that answered us at their address first, each group shuffled."""
    first, then = list(answered), list(hearsay)
    rng.shuffle(first)
    rng.shuffle(then)
    return first + then


def catch_up(
    donors: Sequence[tuple[str, str]],
    fetch: Fetch,
    request: FetchRequest,
    now: Callable[[], float],
    *,
    timeout: float,
    budget: float,
    max_tries: int = 3,
) -> tuple[np.ndarray | None, CatchUp]:
    """Try ``donors`` (id, address) in order; the first verified model ahead of us, or None.

    Each fetch gets ``timeout``, cut to what is left of ``budget`` (seconds for
    all the fetches together); once the budget is spent no other donor is asked.
    """
    began = now()
    result = CatchUp(state="none")
    for donor_id, address in list(donors)[:max_tries]:
        left = began + budget - now()
        if left <= 0:
            result.errors.append(f"{budget:g} s spent; {donor_id} and later donors not asked")
            result.state = "failed"
            log.warning("catch-up: %g s spent on donors; not asking %s", budget, donor_id)
            break
        result.tried.append(donor_id)
        try:
            fetched = fetch(address, request, min(timeout, left))
            if fetched.snapshot is None or fetched.step <= request.min_step:
                log.info(
                    "catch-up: %s is at step %d, not ahead of our %d",
                    donor_id,
                    fetched.step,
                    request.min_step,
                )
                continue
            values = verify(fetched, request)
        except GossipError as exc:
            message = " ".join(str(exc).split())
            if isinstance(exc, ExchangeRefused) and exc.reason == "busy":
                # catching up itself (peers started together): not ahead, nothing wrong
                log.info("catch-up: %s is busy (%s); trying another donor", donor_id, exc.detail)
                continue
            result.errors.append(f"{donor_id}: {message}")
            result.state = "failed"
            log.warning("catch-up from %s failed, trying another donor: %s", donor_id, message)
            continue
        result.state, result.donor, result.step = "done", donor_id, fetched.step
        result.seconds = now() - began
        return values, result
    result.seconds = now() - began
    return None, result
