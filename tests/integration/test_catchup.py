"""Catch-up over real gRPC in one process: a new peer adopts a donor's model first."""

from __future__ import annotations

import numpy as np

from .conftest import wait_for
from .inprocess import running


def test_new_peer_catches_up_from_a_donor() -> None:
    with running(id="donor", step_rate=200) as donor:
        wait_for(lambda: donor.trainer.steps >= 50, 30, "donor training")
        with running(id="late", peers=(donor.address,), max_steps=0) as late:
            wait_for(lambda: late.catchup.state not in ("on", "running"), 30, "catch-up")
            assert late.catchup.state == "done", late.catchup
            assert late.catchup.donor == "donor" and late.catchup.step >= 50
            status = late.status()
            assert status["recovery"]["catchup_donor"] == "donor"
            assert donor.status()["recovery"]["fetches_served"] == 1
            # the late peer starts at the donor's weights, not at its random init
            distance = np.linalg.norm(late.replica.params - donor.replica.params)
            assert distance < np.linalg.norm(donor.replica.params) * 0.5


def test_donor_with_another_model_is_refused_and_training_goes_on() -> None:
    with running(id="other", model="mlp:8", step_rate=200) as other:
        wait_for(lambda: other.trainer.steps >= 10, 30, "donor training")
        with running(id="late", peers=(other.address,)) as late:
            wait_for(lambda: late.catchup.state not in ("on", "running"), 30, "catch-up")
            assert late.catchup.state == "failed" and "fingerprint" in late.catchup.errors[0]
            wait_for(lambda: late.trainer.steps > 0, 30, "training anyway")


def test_no_bootstrap_opts_out() -> None:
    with running(id="a", step_rate=200) as a, running(peers=(a.address,), bootstrap=False) as b:
        wait_for(lambda: b.trainer.steps > 0, 30, "training")
        assert b.catchup.state == "off"
