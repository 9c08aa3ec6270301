"""Slurm tier fixtures: a single-machine Slurm of our own, and the example job submitted to it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.slurm.harness import GossipJob, LocalSlurm

STEP_RATE = 20
CHECKPOINT_S = 2.0
NODE_ARGS = (
    "--dataset", "digits", "--step-rate", str(STEP_RATE),
    "--checkpoint-interval", str(CHECKPOINT_S), "--log-format", "json",
)  # fmt: skip


@pytest.fixture(scope="module")
def slurm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSlurm]:
    local = LocalSlurm(tmp_path_factory.mktemp("slurm"))
    try:
        local.start()
        yield local
    finally:
        local.stop()


@pytest.fixture(scope="module")
def job(slurm: LocalSlurm, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GossipJob]:
    """4 tasks of examples/slurm/gossip-train.sbatch, submitted once for the module."""
    submitted = GossipJob(slurm, tmp_path_factory.mktemp("job"), node_args=NODE_ARGS)
    submitted.submit()
    try:
        yield submitted
    finally:
        slurm.run("scancel", submitted.job_id, check=False)
        submitted.close()
