"""Slurm: a peer started by ``srun`` reads its place in the job from the environment.

``srun`` starts every task of a step with the same command line and tells each
one where it stands through variables: ``SLURM_PROCID`` of ``SLURM_NTASKS``,
``SLURM_LOCALID`` among the tasks on its host, ``SLURMD_NODENAME``, and the
step's hosts as a compressed host list (``node[01-03,07],gpu5``) with its
tasks per host (``2(x3),1``). From them a task gets, without a launcher script
per task:

* ``--shard PROCID/NTASKS``;
* ``--id slurm-JOB-PROCID``: the same after a requeue (the job keeps its id),
  so a restarted task is a new generation of the same member;
* ``--listen 0.0.0.0:PORT+LOCALID`` and ``--advertise NODENAME:PORT+LOCALID``:
  one port per task on a shared host;
* ``--peers``: the first :data:`SEEDS` tasks of the step in host order
  (host names as ``scontrol show hostnames`` prints them), without itself.

Only an ``srun`` step counts (``SLURM_STEP_ID`` is set): the batch script
itself also sees ``SLURM_PROCID=0`` and ``SLURM_NTASKS``, and is no task.
Pure functions of the environment mapping; the CLI makes them flag defaults,
so a flag given on the command line or in ``--config`` still wins.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from itertools import islice, product

from gossip.errors import UsageError

DEFAULT_PORT = 50051
"""Port of the first task on each host (``--slurm-port``)."""
SEEDS = 3
"""Tasks every task seeds from: enough that one of them being slow or gone costs nothing."""
MAX_HOSTS = 65536
"""Largest host list expanded (Slurm refuses larger ranges too)."""

_RANGE = re.compile(r"(\d+)(?:-(\d+))?")
_REPEAT = re.compile(r"(\d+)(?:\(x(\d+)\))?")


def expand_hostlist(text: str) -> list[str]:
    """Host names of a Slurm host list, in order, as ``scontrol show hostnames`` prints them.

    ``node[01-03,07],gpu5`` is node01, node02, node03, node07, gpu5: zero padding
    follows the lower bound, several bracket groups in one name multiply
    (``a[1-2]b[1-2]``), empty entries are skipped. Raises ValueError when malformed.
    """
    hosts: list[str] = []
    for entry in _split_top_level(text):
        groups = [_expand_group(group) if group.startswith("[") else [group] for group in entry]
        count = 1
        for group in groups:
            count *= len(group)
        if len(hosts) + count > MAX_HOSTS:
            raise ValueError(f"more than {MAX_HOSTS} hosts")
        hosts.extend("".join(parts) for parts in product(*groups))
    return hosts


def _split_top_level(text: str) -> Iterator[list[str]]:
    """Each comma-separated entry as its pieces: literal text and ``[...]`` groups."""
    pieces: list[str] = []
    current = ""
    inside = False
    for char in text + ",":
        if inside:
            current += char
            if char == "[":
                raise ValueError(f"nested '[' in {text!r}")
            if char == "]":
                pieces.append(current)
                current, inside = "", False
        elif char == "[":
            if not (current or pieces):
                raise ValueError(f"a range without a host name in {text!r}")
            if current:
                pieces.append(current)
            current, inside = "[", True
        elif char == "]":
            raise ValueError(f"']' without '[' in {text!r}")
        elif char == ",":
            if current.strip():
                pieces.append(current.strip())
            if pieces:
                yield pieces
            pieces, current = [], ""
        else:
            current += char
    if inside:
        raise ValueError(f"'[' without ']' in {text!r}")


def _expand_group(group: str) -> list[str]:
    """``[01-03,07]`` -> 01, 02, 03, 07."""
    values: list[str] = []
    for part in group[1:-1].split(","):
        match = _RANGE.fullmatch(part.strip())
        if match is None:
            raise ValueError(f"invalid range {part.strip()!r}")
        low, high = match.group(1), match.group(2) or match.group(1)
        if int(high) < int(low):
            raise ValueError(f"invalid range {part.strip()!r}: it ends before it starts")
        if int(high) - int(low) >= MAX_HOSTS:
            raise ValueError(f"more than {MAX_HOSTS} hosts in {part.strip()!r}")
        values.extend(str(n).zfill(len(low)) for n in range(int(low), int(high) + 1))
    return values


def expand_counts(text: str) -> list[int]:
    """Slurm's tasks per node, ``2(x3),1``, as one count per host: [2, 2, 2, 1]."""
    counts: list[int] = []
    for part in text.split(","):
        match = _REPEAT.fullmatch(part.strip())
        if match is None:
            raise ValueError(f"invalid count {part.strip()!r}")
        repeat = int(match.group(2) or 1)
        if len(counts) + repeat > MAX_HOSTS:
            raise ValueError(f"more than {MAX_HOSTS} hosts")
        counts.extend([int(match.group(1))] * repeat)
    return counts


@dataclass(frozen=True)
class SlurmTask:
    """Where one ``srun`` task stands in its step."""

    job_id: str
    proc_id: int
    ntasks: int
    local_id: int
    node: str
    hosts: tuple[str, ...]
    """The step's hosts, in Slurm's order."""
    tasks_per_host: tuple[int, ...]
    """Tasks on each of ``hosts``: local ids 0..count-1 there, whatever the distribution."""

    def flags(self, port: int = DEFAULT_PORT) -> dict[str, str]:
        """gossip-node's flag values (argparse ``dest`` -> text) for this task."""
        last = port + max(self.tasks_per_host, default=1) - 1
        if port < 1 or last > 65535:
            raise UsageError(f"--slurm-port {port}: tasks would listen on {port}..{last}")
        own = f"{self.node}:{port + self.local_id}"
        return {
            "id": f"slurm-{self.job_id}-{self.proc_id}",
            "shard": f"{self.proc_id}/{self.ntasks}",
            "listen": f"0.0.0.0:{port + self.local_id}",
            "advertise": own,
            "peers": ",".join(self.seeds(port, own)),
        }

    def seeds(self, port: int, own: str) -> list[str]:
        """The first SEEDS tasks' addresses in host order, ``own`` left out."""
        slots = (
            f"{host}:{port + local}"
            for host, count in zip(self.hosts, self.tasks_per_host, strict=True)
            for local in range(count)
        )
        return [a for a in islice(slots, SEEDS + 1) if a != own][:SEEDS]


def slurm_task(mode: str, env: Mapping[str, str]) -> SlurmTask | None:
    """The task for ``--slurm MODE``: auto (under srun), on (srun required), off (never)."""
    if mode == "off":
        return None
    task = task_from_env(env)
    if task is None and mode == "on":
        raise UsageError("--slurm on: not started by srun (SLURM_STEP_ID is not set)")
    return task


def task_from_env(env: Mapping[str, str]) -> SlurmTask | None:
    """This process's task, or None outside an ``srun`` step; UsageError when malformed."""
    if not env.get("SLURM_STEP_ID") or "SLURM_PROCID" not in env:
        return None
    hosts_var = _step_or_job(env, "SLURM_STEP_NODELIST", "SLURM_JOB_NODELIST")
    counts_var = _step_or_job(env, "SLURM_STEP_TASKS_PER_NODE", "SLURM_TASKS_PER_NODE")
    try:
        hosts = expand_hostlist(_need(env, hosts_var))
    except ValueError as exc:
        raise UsageError(f"{hosts_var}={env[hosts_var]!r} is not a Slurm host list: {exc}") from exc
    try:
        counts = expand_counts(_need(env, counts_var))
    except ValueError as exc:
        raise UsageError(f"{counts_var}={env[counts_var]!r}: {exc}") from exc
    if len(counts) != len(hosts):
        raise UsageError(
            f"{counts_var}={env[counts_var]!r} counts {len(counts)} hosts, "
            f"{hosts_var}={env[hosts_var]!r} has {len(hosts)}"
        )
    proc_id = _number(env, "SLURM_PROCID")
    ntasks = _number(env, _step_or_job(env, "SLURM_STEP_NUM_TASKS", "SLURM_NTASKS"))
    if not 0 <= proc_id < ntasks:
        raise UsageError(f"SLURM_PROCID={proc_id} is not below the step's {ntasks} tasks")
    node = env.get("SLURMD_NODENAME") or hosts[min(_number(env, "SLURM_NODEID"), len(hosts) - 1)]
    return SlurmTask(
        job_id=_need(env, "SLURM_JOB_ID"),
        proc_id=proc_id,
        ntasks=ntasks,
        local_id=_number(env, "SLURM_LOCALID"),
        node=node,
        hosts=tuple(hosts),
        tasks_per_host=tuple(counts),
    )


def _step_or_job(env: Mapping[str, str], step: str, job: str) -> str:
    """The step's variable when srun set it, else the job's: a step may use part of the job."""
    return step if step in env else job


def _need(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise UsageError(f"running under srun, but {name} is not set")
    return value


def _number(env: Mapping[str, str], name: str) -> int:
    value = _need(env, name)
    if not value.isdigit():
        raise UsageError(f"{name}={value!r} is not a number")
    return int(value)
