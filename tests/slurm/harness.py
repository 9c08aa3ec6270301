"""A single-machine Slurm for tests and benchmarks: munge, slurmctld and slurmd of our own.

The daemons run in the foreground as children of this process (``munged -F``,
``slurmctld -D``, ``slurmd -D``) from a configuration written into a directory
of ours: free ports, state, spool and logs there, munge with its own key and
socket. Nothing of the machine's own Slurm or munge (if any) is read or
changed. The one node is this host under its own name (which must resolve:
peers dial it), declaring ``cpus`` CPUs whatever the machine has, so tasks
share the cores. :meth:`LocalSlurm.stop` cancels every job, waits until their
processes are gone, then ends the daemons.

Then :class:`GossipJob` submits ``examples/slurm/gossip-train.sbatch`` as a
user would and asks its tasks for their status over gRPC.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gossip.errors import GossipError
from gossip.transport.grpc_transport import GrpcTransport
from tests.polling import wait_for

ROOT = Path(__file__).resolve().parents[2]
INSTALL = ROOT / "scripts" / "install-slurm.sh"
SBATCH_SCRIPT = ROOT / "examples" / "slurm" / "gossip-train.sbatch"
BINARIES = ("munged", "slurmctld", "slurmd", "sbatch", "scontrol", "squeue", "scancel", "sinfo")


def missing() -> list[str]:
    return [b for b in BINARIES if shutil.which(b) is None]


def unavailable() -> str | None:
    """Why this machine cannot run a local Slurm (None: it can); installs it when it may."""
    if os.geteuid() != 0:
        return "needs root (slurmd starts each task as its user)"
    if missing():
        proc = subprocess.run(["sh", str(INSTALL)], capture_output=True, text=True, timeout=1200)
        if missing():
            said = (proc.stdout + proc.stderr).strip().splitlines()
            return f"Slurm is not installed and could not be ({said[-1] if said else 'no output'})"
    try:
        socket.gethostbyname(socket.gethostname())
    except OSError:
        return f"this host's name {socket.gethostname()!r} does not resolve (peers dial it)"
    return None


def free_port_block(count: int, rng: random.Random | None = None) -> int:
    """A first port P such that P..P+count-1 are all free on every interface."""
    rng = rng or random.Random()
    for _ in range(200):
        first = rng.randrange(20000, 40000 - count)
        socks: list[socket.socket] = []
        try:
            for port in range(first, first + count):
                s = socket.socket()
                socks.append(s)
                s.bind(("0.0.0.0", port))
            return first
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError(f"no {count} consecutive free ports found")


class LocalSlurm:
    """One controller and one compute daemon on this host (see the module docstring)."""

    def __init__(self, root: Path, cpus: int = 4) -> None:
        self.root = root
        self.cpus = cpus
        self.host = socket.gethostname()
        self.conf = root / "slurm.conf"
        self.env = {**os.environ, "SLURM_CONF": str(self.conf)}
        self._daemons: list[subprocess.Popen[bytes]] = []

    def start(self, timeout: float = 60.0) -> None:
        for sub in ("munge", "state", "spool", "log"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        munge = self.root / "munge"
        munge.chmod(0o711)  # the socket's directory: reachable by every user, listable by none
        key = munge / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o600)
        socket_path = munge / "socket"
        self._daemon(
            "munged", "-F", "--force", f"--socket={socket_path}", f"--key-file={key}",
            f"--pid-file={munge / 'pid'}", f"--log-file={self.root / 'log' / 'munged.log'}",
            f"--seed-file={munge / 'seed'}",
        )  # fmt: skip
        wait_for(socket_path.exists, 20, "munged's socket", every=0.2)
        ctld_port = free_port_block(2)
        self.conf.write_text(self._config(socket_path, ctld_port))
        self._daemon("slurmctld", "-D", "-i")
        self._daemon("slurmd", "-D")
        wait_for(self._node_idle, timeout, f"node {self.host} idle in sinfo", every=0.5)

    def _config(self, munge_socket: Path, port: int) -> str:
        r = self.root
        return f"""\
ClusterName=gossiptest
SlurmctldHost={self.host}
SlurmctldPort={port}
SlurmdPort={port + 1}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket={munge_socket}
CredType=cred/munge
StateSaveLocation={r / "state"}
SlurmdSpoolDir={r / "spool"}
SlurmctldPidFile={r / "slurmctld.pid"}
SlurmdPidFile={r / "slurmd.pid"}
SlurmctldLogFile={r / "log" / "slurmctld.log"}
SlurmdLogFile={r / "log" / "slurmd.log"}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
ReturnToService=2
SlurmdParameters=config_overrides
NodeName={self.host} CPUs={self.cpus} State=UNKNOWN
PartitionName=debug Nodes={self.host} Default=YES MaxTime=INFINITE State=UP
"""

    def _daemon(self, *cmd: str) -> None:
        out = open(self.root / "log" / f"{cmd[0]}.out", "wb")  # noqa: SIM115 (closed by exit)
        self._daemons.append(
            subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=self.env)
        )
        out.close()

    def _node_idle(self) -> bool:
        for daemon in self._daemons:
            if daemon.poll() is not None:
                logs = self.root / "log"
                tails = {p.name: p.read_text(errors="replace")[-600:] for p in logs.iterdir()}
                raise AssertionError(f"{daemon.args[0]} exited {daemon.returncode}: {tails}")
        return self.run("sinfo", "-h", "-n", self.host, "-o", "%t", check=False).strip() == "idle"

    def run(self, *cmd: str, check: bool = True, timeout: float = 60, **kw: Any) -> str:
        env = {**self.env, **kw.pop("env", {})}
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, **kw)
        if check and proc.returncode != 0:
            raise AssertionError(f"{' '.join(cmd)}: exit {proc.returncode}: {proc.stderr.strip()}")
        return proc.stdout

    # ------------------------------------------------------------ jobs

    def job(self, job_id: str) -> dict[str, str]:
        """``scontrol show job`` as key -> value (JobState, Restarts, ...); {} when unknown."""
        out = self.run("scontrol", "show", "job", "-o", job_id, check=False)
        return dict(re.findall(r"(\w+)=(\S*)", out))

    def state(self, job_id: str) -> str:
        return self.job(job_id).get("JobState", "")

    def task_pids(self, job_id: str) -> dict[int, int]:
        """Each task's process in the job's steps, by global task id (``scontrol listpids``)."""
        out = self.run("scontrol", "listpids", job_id, check=False)
        pids: dict[int, int] = {}
        for line in out.splitlines()[1:]:
            pid, _job, step, _local, task = (line.split() + ["-"] * 5)[:5]
            if step.isdigit() and task.isdigit():
                pids[int(task)] = int(pid)
        return pids

    def requeue(self, job_id: str) -> None:
        """Requeue the job and lift the hold Slurm puts on a requeued job (about 2 minutes)."""
        restarts = int(self.job(job_id).get("Restarts", "0"))
        self.run("scontrol", "requeue", job_id)

        def eligible() -> bool:
            job = self.job(job_id)
            if int(job.get("Restarts", "0")) == restarts:
                return False  # not requeued yet
            if job.get("JobState") == "PENDING" and job.get("Reason") == "BeginTime":
                self.run("scontrol", "update", f"JobId={job_id}", "StartTime=now", check=False)
                return False
            return job.get("JobState") in ("PENDING", "RUNNING")

        wait_for(eligible, 60, f"job {job_id} pending without a hold", every=0.5)

    def stop(self) -> None:
        """Cancel every job, wait until its processes end, stop the daemons; never raises."""
        try:
            jobs = self.run("squeue", "-h", "-o", "%A", check=False, timeout=20).split()
            if jobs:
                self.run("scancel", *jobs, check=False, timeout=20)
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline and any(self.task_pids(j) for j in jobs):
                    time.sleep(0.5)
                for job in jobs:  # still there after KillWait: our own tasks, end them
                    for pid in self.task_pids(job).values():
                        _kill(pid)
        except (OSError, subprocess.SubprocessError, AssertionError):
            pass
        for daemon in reversed(self._daemons):  # slurmd, slurmctld, munged
            if daemon.poll() is None:
                daemon.terminate()
                try:
                    daemon.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    daemon.kill()
                    daemon.wait()


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


@dataclass
class GossipJob:
    """``examples/slurm/gossip-train.sbatch`` submitted to a LocalSlurm, and its tasks."""

    slurm: LocalSlurm
    run_dir: Path
    tasks: int = 4
    port: int = 0
    node_args: Sequence[str] = ()
    job_id: str = ""
    submitted_at: float = 0.0
    client: GrpcTransport = field(default_factory=GrpcTransport)

    def submit(self) -> str:
        self.port = self.port or free_port_block(self.tasks)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        env = {
            "GOSSIP_NODE": str(Path(sys.executable).with_name("gossip-node")),
            "GOSSIP_RUN_DIR": str(self.run_dir),
        }
        args = [f"--ntasks={self.tasks}", "--time=60", str(SBATCH_SCRIPT)]
        self.submitted_at = time.time()
        out = self.slurm.run(
            "sbatch", "--parsable", *args, "--slurm-port", str(self.port), *self.node_args,
            cwd=self.run_dir, env=env,
        )  # fmt: skip
        self.job_id = out.strip().split(";")[0]
        return self.job_id

    def member_id(self, task: int) -> str:
        return f"slurm-{self.job_id}-{task}"

    def address(self, task: int) -> str:
        return f"{self.slurm.host}:{self.port + task}"  # one host: local id = task id

    def status(self, task: int) -> dict[str, Any] | None:
        try:
            return self.client.status(self.address(task), timeout=3.0).as_json()
        except GossipError:
            return None

    def statuses(self, tasks: Sequence[int] | None = None) -> dict[int, dict[str, Any] | None]:
        return {t: self.status(t) for t in (range(self.tasks) if tasks is None else tasks)}

    def view(self, status: dict[str, Any]) -> dict[str, str]:
        return {m["id"]: m["state"] for m in status["members"]}

    def all_alive(self, tasks: Sequence[int] | None = None) -> bool:
        """Every task of ``tasks`` answers and sees the others of ``tasks`` alive."""
        tasks = list(range(self.tasks)) if tasks is None else list(tasks)
        self._check_running()
        for task, status in self.statuses(tasks).items():
            if status is None:
                return False
            view = self.view(status)
            if any(view.get(self.member_id(o)) != "alive" for o in tasks if o != task):
                return False
        return True

    def _check_running(self) -> None:
        state = self.slurm.state(self.job_id)
        if state not in ("PENDING", "RUNNING", "CONFIGURING", "REQUEUED", "REQUEUE_HOLD"):
            logs = {p.name: p.read_text()[-800:] for p in self.run_dir.glob("*.log")}
            raise AssertionError(f"job {self.job_id} is {state}: {logs}")

    def log(self, task: int) -> list[dict[str, Any]]:
        """Task ``task``'s JSON log lines (all starts of the job, appended)."""
        path = self.run_dir / f"task-{task}.log"
        lines = path.read_text().splitlines() if path.exists() else []
        return [json.loads(line) for line in lines if line.startswith("{")]

    def report(self, task: int) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.run_dir / f"task-{task}.json").read_text())
        return data

    def close(self) -> None:
        self.client.stop(0)
