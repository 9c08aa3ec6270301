"""compose/entrypoint.py: GOSSIP_* variables to gossip-node flags (no Docker needed)."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest

from tests.scripts import load_script

PATH = Path(__file__).resolve().parents[2] / "compose" / "entrypoint.py"


def load() -> ModuleType:
    return load_script("gossip_entrypoint", PATH)


def test_variables_become_flags_and_unknown_ones_are_skipped(
    capsys: pytest.CaptureFixture[str],
) -> None:
    ep = load()
    env = {
        "GOSSIP_PEERS": "peer:50051",
        "GOSSIP_STEP_RATE": "20",
        "GOSSIP_NO_SUCH_FLAG": "x",
        "GOSSIP_TOKEN": "secret",  # left to gossip-node, never in argv
        "GOSSIP_COMPRESSION": "",  # empty: not given
        "HOME": "/home/gossip",
    }
    argv = ep.flags_from_env(env, ep.known_flags(), "c0ffee")
    assert argv == ["--peers", "peer:50051", "--step-rate", "20", "--id", "c0ffee"]
    assert "ignoring GOSSIP_NO_SUCH_FLAG" in capsys.readouterr().err
    # the result parses as gossip-node flags
    ep.build_parser().parse_args(argv)


def test_auto_shard_is_stable_per_host_and_in_range() -> None:
    ep = load()
    flags = ep.known_flags()
    picks = {
        host: ep.flags_from_env({"GOSSIP_SHARD": "auto/4"}, flags, host)[1]
        for host in ("a1", "b2", "c3", "d4", "e5")
    }
    for host, shard in picks.items():
        i, n = shard.split("/")
        assert n == "4" and 0 <= int(i) < 4
        assert ep.flags_from_env({"GOSSIP_SHARD": "auto/4"}, flags, host)[1] == shard
    with pytest.raises(SystemExit):
        ep.flags_from_env({"GOSSIP_SHARD": "auto/zero"}, flags, "a1")


def test_the_model_factory_variable_is_the_flag() -> None:
    ep = load()
    env = {"GOSSIP_MODEL_FACTORY": "mypkg.models:build"}
    argv = ep.flags_from_env(env, ep.known_flags(), "c0ffee")
    assert argv[:2] == ["--model-factory", "mypkg.models:build"]
    assert ep.build_parser().parse_args(argv).model_factory == "mypkg.models:build"
