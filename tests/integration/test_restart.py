"""A peer killed mid-run resumes from its checkpoint (skipping a torn one) and catches up."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from .conftest import Processes, free_port, wait_for


@pytest.mark.slow
def test_killed_peer_resumes_and_catches_up(procs: Processes, tmp_path: Path) -> None:
    ports = [free_port() for _ in range(3)]
    addresses = [f"127.0.0.1:{p}" for p in ports]

    def args(i: int) -> list[str]:
        return [
            "--listen", addresses[i], "--shard", f"{i}/3",
            "--peers", ",".join(a for a in addresses if a != addresses[i]),
            "--model", "mlp:16", "--step-rate", "100", "--eval-interval", "0.5",
            "--checkpoint-dir", str(tmp_path / f"ckpt-{i}"), "--checkpoint-interval", "0.5",
        ]  # fmt: skip

    for i in range(3):
        procs.node(f"n{i}", *args(i))
    victim = procs.children[2]

    def checkpointed() -> dict | None:
        status = procs.status(addresses[2])
        recovery = (status or {}).get("recovery", {})
        # the checkpoint's step, not the live one: it may lag by a checkpoint interval
        ok = recovery.get("checkpoints_saved", 0) >= 2 and recovery["last_checkpoint_step"] > 60
        return status if ok else None

    wait_for(checkpointed, 60, "n2 training and checkpointing")
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=10)
    # a torn write under a checkpoint name, newer than the real ones: must be skipped
    torn = tmp_path / "ckpt-2" / "ckpt-000000999999-99999999999999999999.gck"
    torn.write_bytes(b"GOSSIPCK" + b"\0" * 40)
    wait_for(lambda: (procs.status(addresses[0]) or {}).get("step", 0) > 200, 60, "n0 ahead")

    procs.node("n2-restarted", "--id", "n2", *args(2))

    def recovered() -> dict | None:
        status = procs.status(addresses[2])
        done = status and status["recovery"]["catchup_state"] not in ("on", "running", "")
        return status if done else None

    status = wait_for(recovered, 60, "n2 restarted and caught up")
    recovery = status["recovery"]
    assert recovery["resumed"] and recovery["resumed_step"] > 60, recovery
    assert recovery["checkpoints_skipped"] == 1, recovery
    assert recovery["catchup_state"] == "done", recovery
    assert recovery["catchup_step"] > recovery["resumed_step"], recovery
    assert "skipping checkpoint" in procs.log("n2-restarted")
    wait_for(
        lambda: (procs.status(addresses[2]) or {}).get("exchanges", {}).get("ok", 0) > 0,
        30,
        "n2 exchanging again",
    )
