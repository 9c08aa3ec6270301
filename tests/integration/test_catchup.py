"""Catch-up over real gRPC in one process: a new peer adopts a donor's model first."""

from __future__ import annotations

import logging
from typing import cast

import numpy as np
import pytest

from gossip.config import NodeConfig
from gossip.errors import TransportError, UsageError
from gossip.node import Node
from gossip.transport.base import Handler
from gossip.transport.fetch import Fetched, FetchRequest
from gossip.transport.grpc_transport import GrpcTransport

from .conftest import free_port, wait_for
from .inprocess import running


def test_new_peer_catches_up_from_a_donor() -> None:
    with running(id="donor", step_rate=200) as donor:
        wait_for(lambda: donor.trainer.steps >= 50, 30, "donor training")
        with running(id="late", peers=(donor.address,), max_steps=0) as late:
            wait_for(lambda: late.catchup.state not in ("on", "running"), 30, "catch-up")
            assert late.catchup.state == "done", late.catchup
            assert late.catchup.donor == "donor" and late.catchup.step >= 50
            status = late.status()
            assert status.recovery.catchup_donor == "donor"
            assert donor.status().recovery.fetches_served == 1
            # the late peer starts at the donor's weights, not at its random init
            distance = np.linalg.norm(late.replica.params - donor.replica.params)
            assert distance < np.linalg.norm(donor.replica.params) * 0.5


def test_a_late_peer_whose_seed_has_another_model_does_not_start() -> None:
    """Before it serves or catches up (a donor's other model: tests/unit/test_fetch.py)."""
    with running(id="other", model="mlp:8") as other:
        late = Node(NodeConfig(id="late", listen="127.0.0.1:0", model="mlp:16",
                               peers=(other.address,)))  # fmt: skip
        try:
            with pytest.raises(UsageError, match=r"is not its seeds' \(.* \(610 values\)\)"):
                late.start()
            assert late.address == "" and not late._threads  # nothing bound, nothing started
        finally:
            late.transport.stop(0)


def test_no_bootstrap_opts_out() -> None:
    with running(id="a", step_rate=200) as a, running(peers=(a.address,), bootstrap=False) as b:
        wait_for(lambda: b.trainer.steps > 0, 30, "training")
        assert b.catchup.state == "off"


def test_silent_seed_is_named_and_the_catch_up_says_nobody_was_alive(
    caplog: pytest.LogCaptureFixture,
) -> None:
    seed = f"127.0.0.1:{free_port()}"  # nothing listens there
    with caplog.at_level(logging.INFO), running(id="lonely", peers=(seed,)) as node:
        assert node.status().state == "catching_up"
        wait_for(lambda: logged(caplog, f"seed {seed}: does not answer"), 30, "the seed warning")
        wait_for(lambda: node.catchup.state not in ("on", "running"), 30, "catch-up to end")
        wait_for(lambda: node.status().state == "training", 30, "training")
    ended = logged(caplog, "no catch-up")
    assert ended is not None and "no neighbour alive within 3 s" in ended
    warning = logged(caplog, f"seed {seed}: does not answer")
    assert warning is not None and "refused" in warning.lower()


def logged(caplog: pytest.LogCaptureFixture, text: str) -> str | None:
    """The first captured log message containing ``text``."""
    return next((r.getMessage() for r in caplog.records if text in r.getMessage()), None)


class _NotAhead:
    """A donor that answers every catch-up with "not ahead of you" at step 7."""

    def on_fetch(self, request: FetchRequest) -> Fetched:
        return Fetched(None, 7)


def test_catch_up_waits_out_the_back_off_of_a_donor_that_just_started() -> None:
    """A channel first tried before the donor listened must not fail the fetch after."""
    address = f"127.0.0.1:{free_port()}"
    client, donor = GrpcTransport(), GrpcTransport()
    request = FetchRequest("me", "fp", 10, 0)
    try:
        with pytest.raises(TransportError):
            client.fetch(address, request, timeout=0.5)  # nothing listens yet
        donor.serve(address, cast(Handler, _NotAhead()))
        fetched = client.fetch(address, request, timeout=10)
        assert fetched.snapshot is None and fetched.step == 7
    finally:
        client.stop(0)
        donor.stop(0)
