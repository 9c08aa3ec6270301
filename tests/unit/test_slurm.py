"""Slurm's environment as gossip-node flags: host lists, task layout, flags that win."""

from __future__ import annotations

from pathlib import Path

import pytest

from gossip.cli.node import config_from_args
from gossip.errors import UsageError
from gossip.slurm import expand_counts, expand_hostlist, slurm_task, task_from_env


@pytest.mark.parametrize(
    ("text", "hosts"),
    [
        ("node[01-03,07],gpu5", ["node01", "node02", "node03", "node07", "gpu5"]),
        ("vm", ["vm"]),
        ("n[8-10]", ["n8", "n9", "n10"]),
        ("n[08-10]", ["n08", "n09", "n10"]),  # the lower bound sets the width
        ("n[9-011]", ["n9", "n10", "n11"]),
        ("n[001-1]", ["n001"]),
        ("a[1-2]b[1-2]", ["a1b1", "a1b2", "a2b1", "a2b2"]),  # groups multiply
        ("n[1-2]-[3-4]", ["n1-3", "n1-4", "n2-3", "n2-4"]),
        ("n[10-12,1]", ["n10", "n11", "n12", "n1"]),  # order kept, not sorted
        ("n[1,1],n1", ["n1", "n1", "n1"]),  # nor deduplicated
        (" n1 , n2 ,,", ["n1", "n2"]),
        ("rack-a.n[1-2],rack-b.n3", ["rack-a.n1", "rack-a.n2", "rack-b.n3"]),
        ("", []),
    ],
)
def test_host_lists_expand_as_scontrol_show_hostnames_does(text: str, hosts: list[str]) -> None:
    assert expand_hostlist(text) == hosts


@pytest.mark.parametrize(
    "text", ["n[3-1]", "n[]", "n[1-2", "n1-2]", "n[a-b]", "n[1-3:2]", "[1-2]", "n[1[2]]", "n[-1]"]
)
def test_malformed_host_lists_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        expand_hostlist(text)


def test_a_huge_range_is_refused_not_expanded() -> None:
    with pytest.raises(ValueError, match="more than"):
        expand_hostlist("n[1-100000]")
    with pytest.raises(ValueError, match="more than"):
        expand_hostlist("a[1-1000]b[1-1000]")


def test_tasks_per_node_expand_their_repeats() -> None:
    assert expand_counts("2(x3),1") == [2, 2, 2, 1]
    assert expand_counts("4") == [4]
    for bad in ("2(x)", "x", "", "2(3)"):
        with pytest.raises(ValueError):
            expand_counts(bad)


def step_env(**over: str) -> dict[str, str]:
    """An srun step of 6 tasks: 2 on node01, 2 on node02, 1 on node03 and node07."""
    env = {
        "SLURM_JOB_ID": "4242",
        "SLURM_STEP_ID": "0",
        "SLURM_PROCID": "3",
        "SLURM_NTASKS": "6",
        "SLURM_STEP_NUM_TASKS": "6",
        "SLURM_LOCALID": "1",
        "SLURM_NODEID": "1",
        "SLURMD_NODENAME": "node02",
        "SLURM_JOB_NODELIST": "node[01-03,07]",
        "SLURM_STEP_NODELIST": "node[01-03,07]",
        "SLURM_STEP_TASKS_PER_NODE": "2(x2),1(x2)",
        "SLURM_TASKS_PER_NODE": "2(x2),1(x2)",
    }
    env.update(over)
    return env


def test_a_task_takes_its_shard_id_port_and_seeds() -> None:
    task = task_from_env(step_env())
    assert task is not None
    assert task.flags() == {
        "id": "slurm-4242-3",
        "shard": "3/6",
        "listen": "0.0.0.0:50052",
        "advertise": "node02:50052",
        "peers": "node01:50051,node01:50052,node02:50051",
    }


def test_a_seed_task_seeds_from_the_next_ones_not_itself() -> None:
    task = task_from_env(
        step_env(SLURM_PROCID="0", SLURM_LOCALID="0", SLURM_NODEID="0", SLURMD_NODENAME="node01")
    )
    assert task is not None
    assert task.flags(6000)["peers"] == "node01:6001,node02:6000,node02:6001"
    assert task.flags(6000)["listen"] == "0.0.0.0:6000"


def test_the_steps_own_lists_win_over_the_jobs() -> None:
    """A step may run on part of the allocation: its seeds must be its own tasks."""
    env = step_env(SLURM_STEP_NODELIST="node[02-03]", SLURM_STEP_TASKS_PER_NODE="1(x2)")
    env.update(SLURM_STEP_NUM_TASKS="2", SLURM_PROCID="0", SLURM_LOCALID="0")
    task = task_from_env(env)
    assert task is not None
    assert task.hosts == ("node02", "node03")
    assert task.flags()["peers"] == "node03:50051"
    assert task.flags()["shard"] == "0/2"


def test_only_an_srun_step_is_a_task() -> None:
    batch_script = step_env()
    del batch_script["SLURM_STEP_ID"]  # the batch script sees SLURM_PROCID=0 too
    assert task_from_env(batch_script) is None
    assert task_from_env({}) is None
    assert slurm_task("off", step_env()) is None
    with pytest.raises(UsageError, match="not started by srun"):
        slurm_task("on", {})


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"SLURM_STEP_NODELIST": "node[3-1]"}, "not a Slurm host list"),
        ({"SLURM_STEP_TASKS_PER_NODE": "2(x3)"}, "counts 3 hosts"),
        ({"SLURM_PROCID": "6"}, "not below"),
        ({"SLURM_LOCALID": "one"}, "not a number"),
        ({"SLURM_JOB_ID": ""}, "SLURM_JOB_ID is not set"),
    ],
)
def test_a_broken_environment_is_one_usage_error(over: dict[str, str], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        task_from_env(step_env(**over))


def test_ports_past_65535_are_refused() -> None:
    task = task_from_env(step_env())
    assert task is not None
    with pytest.raises(UsageError, match="--slurm-port 65535"):
        task.flags(65535)


def test_under_srun_the_config_comes_from_slurm(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in step_env().items():
        monkeypatch.setenv(name, value)
    config = config_from_args([])
    assert config.id == "slurm-4242-3"
    assert config.shard == (3, 6)
    assert config.listen == "0.0.0.0:50052"
    assert config.advertise == "node02:50052"
    assert config.peers == ("node01:50051", "node01:50052", "node02:50051")


def test_flags_and_config_files_win_over_slurm(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name, value in step_env().items():
        monkeypatch.setenv(name, value)
    path = tmp_path / "node.toml"
    path.write_text('id = "from-file"\nslurm-port = 7000\n')
    config = config_from_args(["--config", str(path), "--shard", "0/1", "--peers", "h:1"])
    assert (config.id, config.shard, config.peers) == ("from-file", (0, 1), ("h:1",))
    assert config.listen == "0.0.0.0:7001"  # the file's port, Slurm's local id
    assert config_from_args(["--slurm", "off"]).id == ""


def test_outside_srun_nothing_changes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SLURM_STEP_ID", raising=False)
    assert config_from_args([]).listen == "127.0.0.1:50051"
    with pytest.raises(UsageError, match="--slurm on"):
        config_from_args(["--slurm", "on"])
