"""Slurm figures (issue 18): examples/slurm/gossip-train.sbatch, 4 tasks, on a real Slurm.

The Slurm is a single-machine one of our own (tests/slurm/harness.py: munge,
slurmctld, slurmd from a configuration in a temporary directory; needs root,
installs slurm-wlm and munge with apt-get when missing). Two jobs:

1. full speed (the defaults), ``--max-steps 1500`` on digits: time from
   ``sbatch`` to every task alive in every task's view; held-out accuracy of
   the 4 peers once they all took their steps, against centralized training
   on as many samples (gossip.baseline); then one task SIGKILLed: time until
   every survivor logged it dead (their own log timestamps), against the lan
   profile's bound (README, Membership: p99 goal 3.5 s).
2. ``--step-rate 20 --checkpoint-interval 5`` (steps keep coming): TRIALS times,
   SIGKILL one task, then ``scontrol requeue`` the job: steps each task lost
   (its step when it stopped minus the step it resumed from), against one
   checkpoint interval (5 s x 20 steps/s = 100 steps); and time from the
   requeue being allowed to start to all alive again.

    python bench/slurm.py            # about 10 minutes on the 2-core machine

Writes bench/results/slurm.json; the ratios that matter are printed last.
"""

from __future__ import annotations

import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import machine, write_result
from gossip.baseline import centralized
from gossip.config import NodeConfig
from tests.slurm.harness import GossipJob, LocalSlurm, unavailable, wait_for

TASKS = 4
MAX_STEPS = 1500
STEP_RATE = 20
CHECKPOINT_S = 5.0
TRIALS = 3
LAN_BOUND_S = 3.5
"""README, Membership: M1's goal for a crash seen dead everywhere, p99 (p50 goal 2 s)."""


def load() -> str:
    return Path("/proc/loadavg").read_text().split(" ")[0]


def alive_after(job: GossipJob, since: float) -> float:
    wait_for(job.all_alive, 600, f"all {TASKS} tasks alive", every=0.1)
    return time.time() - since


def dead_everywhere(job: GossipJob, victim: int, killed_at: float) -> float:
    """Seconds from the SIGKILL to the last survivor's ``dead`` log line about the victim."""
    who = f"member {job.member_id(victim)} ("

    def times() -> list[float] | None:
        found = []
        for task in range(TASKS):
            if task != victim:
                dead = [e["ts"] for e in job.log(task) if who in e["msg"] and " dead," in e["msg"]]
                if not [ts for ts in dead if ts >= killed_at]:
                    return None
                found.append(min(ts for ts in dead if ts >= killed_at))
        return found

    return max(wait_for(times, 60, f"task {victim} dead in every survivor's log")) - killed_at


def kill(job: GossipJob, task: int) -> float:
    pid = job.slurm.task_pids(job.job_id)[task]
    killed_at = time.time()
    os.kill(pid, signal.SIGKILL)  # a task of our own job
    return killed_at


def full_speed(slurm: LocalSlurm, run_dir: Path) -> dict[str, Any]:
    args = ["--dataset", "digits", "--max-steps", str(MAX_STEPS), "--log-format", "json"]
    job = GossipJob(slurm, run_dir, tasks=TASKS, node_args=args)
    try:
        job.submit()
        to_alive = alive_after(job, job.submitted_at)
        print(f"sbatch -> all {TASKS} alive: {to_alive:.1f} s (load {load()})")

        def done() -> bool:
            return all(s and s["step"] >= MAX_STEPS for s in job.statuses().values())

        wait_for(done, 900, f"every task at {MAX_STEPS} steps", every=1.0)
        time.sleep(5.0)  # the peers keep averaging once training is over
        peers = [s["accuracy"] for s in job.statuses().values() if s]
        base = centralized(NodeConfig(dataset="digits"), TASKS * MAX_STEPS * 32)
        print(f"accuracy: peers {peers}, centralized {base['accuracy']:.4f}")
        victim = TASKS - 1
        detected = dead_everywhere(job, victim, kill(job, victim))
        print(f"killed task dead everywhere after {detected:.2f} s (load {load()})")
        return {
            "sbatch_to_all_alive_s": round(to_alive, 2),
            "accuracy": {
                "peers": peers,
                "mean": statistics.fmean(peers),
                "centralized": base["accuracy"],
                "centralized_samples": base["samples_seen"],
            },
            "killed_dead_everywhere_s": round(detected, 3),
        }
    finally:
        slurm.run("scancel", job.job_id, check=False)
        job.close()


def requeues(slurm: LocalSlurm, run_dir: Path) -> list[dict[str, Any]]:
    args = ["--dataset", "digits", "--step-rate", str(STEP_RATE),
            "--checkpoint-interval", str(CHECKPOINT_S), "--log-format", "json"]  # fmt: skip
    job = GossipJob(slurm, run_dir, tasks=TASKS, node_args=args)
    trials = []
    try:
        job.submit()
        alive_after(job, job.submitted_at)
        for trial in range(TRIALS):
            time.sleep(2 * CHECKPOINT_S)  # a periodic checkpoint or two behind every task
            victim = trial % TASKS
            before = job.status(victim)
            assert before is not None
            killed_at = kill(job, victim)
            detected = dead_everywhere(job, victim, killed_at)
            steps = {t: s["step"] for t, s in job.statuses().items() if s}
            steps[victim] = before["step"]
            slurm.requeue(job.job_id)  # SIGTERM to the survivors, then the hold lifted
            allowed_at = time.time()
            back = alive_after(job, allowed_at)
            resumed = {t: s["recovery"]["resumed_step"] for t, s in job.statuses().items() if s}
            lost = {t: max(0, steps[t] - resumed[t]) for t in range(TASKS)}  # 0: resumed later
            print(f"requeue {trial + 1}: lost steps {lost} (killed task {victim}); "
                  f"all alive {back:.1f} s after the requeue; load {load()}")  # fmt: skip
            trials.append(
                {
                    "victim": victim,
                    "killed_dead_everywhere_s": round(detected, 3),
                    "steps_at_stop": steps,
                    "resumed_step": resumed,
                    "lost_steps": lost,
                    "all_alive_after_requeue_s": round(back, 2),
                    "load": load(),
                }
            )
        return trials
    finally:
        slurm.run("scancel", job.job_id, check=False)
        job.close()


def main() -> None:
    reason = unavailable()
    if reason:  # make bench goes on without it
        print(f"bench/slurm.py: skipped: {reason}")
        return
    load_before = load()
    with tempfile.TemporaryDirectory(prefix="bench-slurm-") as tmp:
        slurm = LocalSlurm(Path(tmp) / "slurm")
        try:
            slurm.start()
            first = full_speed(slurm, Path(tmp) / "full-speed")
            trials = requeues(slurm, Path(tmp) / "requeue")
        finally:
            slurm.stop()
    detections = [
        first["killed_dead_everywhere_s"],
        *(t["killed_dead_everywhere_s"] for t in trials),
    ]
    interval_steps = CHECKPOINT_S * STEP_RATE
    victims_lost = [t["lost_steps"][t["victim"]] for t in trials]
    others_lost = [v for t in trials for k, v in t["lost_steps"].items() if k != t["victim"]]
    result = {
        "machine": machine(),
        "load_before": load_before,
        "load_after": load(),
        "tasks": TASKS,
        "full_speed": first,
        "lan_bound_s": LAN_BOUND_S,
        "killed_dead_everywhere_s": detections,
        "requeue": {
            "step_rate": STEP_RATE,
            "checkpoint_interval_s": CHECKPOINT_S,
            "interval_steps": interval_steps,
            "trials": trials,
        },
    }
    write_result("slurm", result)
    acc = first["accuracy"]
    print(f"sbatch -> all alive: {first['sbatch_to_all_alive_s']} s")
    print(f"gossip mean - centralized: {acc['mean'] - acc['centralized']:+.4f}")
    print(f"killed task dead everywhere: max {max(detections):.2f} s / bound {LAN_BOUND_S} s")
    print(f"steps lost by a killed task: max {max(victims_lost)} / one interval {interval_steps:g};"
          f" by a SIGTERMed one: max {max(others_lost)}")  # fmt: skip


if __name__ == "__main__":
    main()
