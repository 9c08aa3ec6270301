"""examples/slurm/gossip-train.sbatch on a real (single-machine) Slurm: 4 srun tasks.

The tests share one job and run in order, each leaving it as the next needs
it: the tasks find each other from Slurm's environment alone and converge; a
killed task is marked dead by the others; a requeue resumes every task from
its checkpoints; scancel is a graceful leave. States are polled with deadlines;
times are printed (``pytest -s``) for the figures, never asserted.

Skipped with one line when the machine cannot run Slurm: not root, Slurm
missing and no apt-get to install it with (installed here, at collection,
when it can be: once per machine; .ci/run installs it first), or a host name
that does not resolve.
"""

from __future__ import annotations

import os
import signal
import time

import pytest

from gossip.checkpoint import load_latest
from tests.slurm.conftest import CHECKPOINT_S, STEP_RATE
from tests.slurm.harness import GossipJob, LocalSlurm, unavailable, wait_for

REASON = unavailable()
if REASON:
    pytest.skip(f"slurm tier: {REASON}", allow_module_level=True)

pytestmark = [pytest.mark.slurm, pytest.mark.slow, pytest.mark.timeout(900)]

START = 300.0  # four cold starts of gossip-node on a loaded 2-core machine
CONVERGE = 300.0
DETECT = 60.0
ACCURACY = 0.9  # digits, 4 IID shards: 0.95+ within a minute at 20 steps/s
VICTIM = 3


def alive(job: GossipJob) -> None:
    wait_for(job.all_alive, START, f"all {job.tasks} tasks alive in every task's view", every=0.5)


def test_tasks_find_each_other_from_slurms_environment_and_converge(job: GossipJob) -> None:
    alive(job)
    took = time.time() - job.submitted_at
    print(f"\n[figure] {job.tasks} tasks all alive {took:.1f} s after sbatch")
    for task in range(job.tasks):
        status = job.status(task)
        assert status is not None
        assert status["id"] == job.member_id(task)
        assert status["address"] == job.address(task)
        assert status["recovery"]["resumed"] is False
        said = [e["msg"] for e in job.log(task)]
        assert f"Slurm job {job.job_id}: task {task} of {job.tasks} on {job.slurm.host}" in said

    def accuracies() -> list[float] | None:
        got = [float((s or {}).get("accuracy") or 0.0) for s in job.statuses().values()]
        return got if min(got) >= ACCURACY else None

    reached = wait_for(accuracies, CONVERGE, f"accuracy >= {ACCURACY}", every=0.2)
    print(f"[figure] held-out accuracy {reached}")


def test_a_killed_task_is_marked_dead_by_the_others(job: GossipJob) -> None:
    alive(job)
    victim = job.member_id(VICTIM)
    survivors = [t for t in range(job.tasks) if t != VICTIM]
    before = job.status(VICTIM)
    assert before is not None
    killed_at = time.monotonic()
    os.kill(job.slurm.task_pids(job.job_id)[VICTIM], signal.SIGKILL)  # a task of our own job

    def seen_dead() -> bool:
        views = job.statuses(survivors)
        assert all(v is not None for v in views.values()), "a survivor stopped answering"
        return all(job.view(v).get(victim) == "dead" for v in views.values() if v)

    wait_for(seen_dead, DETECT, f"{victim} dead in every survivor's view", every=0.2)
    took = time.monotonic() - killed_at
    print(f"\n[figure] killed task dead everywhere {took:.1f} s after SIGKILL")
    assert job.slurm.state(job.job_id) == "RUNNING"  # srun --kill-on-bad-exit=0: the rest go on
    assert job.all_alive(survivors)
    newest = load_latest(job.run_dir / "checkpoints" / f"task-{VICTIM}").checkpoint
    assert newest is not None
    lost = before["step"] - newest.step  # at most one interval (two under load)
    assert lost <= 2 * CHECKPOINT_S * STEP_RATE, (before["step"], newest.step)


def test_a_requeued_job_resumes_every_task_from_its_checkpoints(job: GossipJob) -> None:
    wait_for(lambda: job.statuses([0]).get(0), START, "task 0 answering", every=0.2)
    steps = {t: s["step"] for t, s in job.statuses().items() if s}  # the killed task: none
    dead = [t for t in range(job.tasks) if t not in steps]
    newest = {t: load_latest(job.run_dir / "checkpoints" / f"task-{t}").checkpoint for t in dead}
    job.slurm.requeue(job.job_id)
    alive(job)
    for task in range(job.tasks):
        status = job.status(task)
        assert status is not None
        recovery = status["recovery"]
        assert recovery["resumed"] is True, (task, recovery)
        if task in steps:  # stopped by SIGTERM: it wrote a checkpoint on its way out
            assert recovery["resumed_step"] >= steps[task], (task, steps[task], recovery)
        else:  # SIGKILLed before: its newest periodic checkpoint
            checkpoint = newest[task]
            assert checkpoint is not None and recovery["resumed_step"] == checkpoint.step
    assert job.slurm.job(job.job_id)["Restarts"] == "1"


def test_scancel_is_a_graceful_leave(job: GossipJob, slurm: LocalSlurm) -> None:
    alive(job)
    cancelled_at = time.time()
    slurm.run("scancel", job.job_id)
    wait_for(
        lambda: slurm.state(job.job_id) in ("CANCELLED", "COMPLETED")
        and not slurm.task_pids(job.job_id),
        120, "the job's tasks to exit", every=0.2,
    )  # fmt: skip
    for task in range(job.tasks):
        after = [e for e in job.log(task) if e["ts"] >= cancelled_at - 0.5]
        said = " | ".join(e["msg"] for e in after)
        assert "received SIGTERM" in said, said
        assert "leaving; telling" in said, said
        assert " dead, generation" not in said, said  # the others left: nobody died
        assert (job.run_dir / f"task-{task}.json").stat().st_mtime >= cancelled_at
        assert job.report(task)["status"]["step"] > 0  # the report is written on the way out
