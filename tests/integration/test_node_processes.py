"""Real gossip-node processes on 127.0.0.1: they converge, refuse a mismatch, survive a death."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from gossip.compression import parse_spec
from gossip.exchanger import ROUTINE_REFUSALS

from .conftest import Processes, free_port, wait_for

pytestmark = pytest.mark.slow

FAST = ["--gossip-interval", "0.1", "--heartbeat-interval", "0.2", "--eval-interval", "0.5"]


def test_three_processes_train_gossip_and_leave_cleanly(procs: Processes, tmp_path: Path) -> None:
    ports = [free_port() for _ in range(3)]
    addresses = [f"127.0.0.1:{p}" for p in ports]
    for i in range(3):
        procs.node(
            f"n{i}", "--listen", addresses[i], "--peers", addresses[(i + 1) % 3],
            "--shard", f"{i}/3", "--report", str(tmp_path / f"n{i}.json"), *FAST,
        )  # fmt: skip

    def everyone_knows_everyone() -> bool:
        views = [procs.status(a) for a in addresses]
        return all(v is not None and len(v["members"]) == 2 for v in views)

    wait_for(everyone_knows_everyone, 30, "full membership from a ring of seeds")

    def trained() -> bool:
        views = [procs.status(a) for a in addresses]
        return all(
            v is not None and v["exchanges"]["ok"] >= 5 and (v["accuracy"] or 0) >= 0.9
            for v in views
        )

    wait_for(trained, 60, "every peer to exchange and reach 90% held-out accuracy")
    view = procs.status(addresses[0])
    assert view is not None
    # crossing exchanges ("busy") and reference resets are routine; nothing else may be refused
    refusals = view["protection"]["refusals"]
    assert set(refusals) <= set(ROUTINE_REFUSALS), refusals
    # every exchange put at least one compressed model's worth of bytes on the wire
    params = view["model"]["params"]
    message = parse_spec(view["compression"]).codec.ratio(params) * 4 * params
    assert view["bytes"]["sent"] > view["exchanges"]["ok"] * message

    procs.children[2].send_signal(signal.SIGTERM)
    assert procs.children[2].wait(timeout=20) == 0

    def seen_left() -> bool:
        v = procs.status(addresses[0])
        return v is not None and any(m["id"] == "n2" and m["state"] == "left" for m in v["members"])

    wait_for(seen_left, 10, "n0 to see n2 as left")
    report = json.loads((tmp_path / "n2.json").read_text())
    assert report["status"]["accuracy"] >= 0.9 and report["history"]


def test_a_peer_started_before_its_seed_stops_when_the_seed_has_another_model(
    procs: Processes,
) -> None:
    """Peers started together: no seed was up at the start-up check; its first answer is."""
    a, b = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    # started before its seed is up (so its start-up check finds nothing to compare),
    # and a second peer with no seeds of its own
    big = procs.node("big", "--listen", a, "--peers", b, "--model", "mlp:64,32", *FAST)
    wait_for(lambda: procs.status(a), 60, "the first peer serving")
    procs.node("small", "--listen", b, "--model", "mlp:16", *FAST)
    wait_for(lambda: big.poll() is not None, 60, "the peer that disagrees with its seed stopping")
    assert big.returncode == 2
    log = procs.log("big")
    errors = [line for line in log.splitlines() if "ERROR" in line]
    assert len(errors) == 1 and "Traceback" not in log, log
    assert "big stops: this peer's model" in errors[0]
    assert f"is not its seeds' ({b} has" in errors[0] and "(1210 values)" in errors[0]
    small = procs.status(b)  # the seed, which nobody contradicts, goes on alone
    assert small is not None and small["exchanges"]["ok"] == 0


def test_training_goes_on_when_a_peer_is_killed(procs: Processes) -> None:
    a, b = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    procs.node("survivor", "--listen", a, "--peers", b, *FAST, "--exchange-timeout", "2")
    victim = procs.node("victim", "--listen", b, "--peers", a, *FAST)
    wait_for(lambda: (procs.status(a) or {}).get("exchanges", {}).get("ok", 0) >= 3, 30,
             "a few exchanges")  # fmt: skip
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=10)
    before = procs.status(a)
    assert before is not None

    def kept_training() -> bool:
        v = procs.status(a)
        return (
            v is not None
            and v["step"] > before["step"] + 1000
            and any(m["id"] == "victim" and m["state"] in ("suspect", "dead") for m in v["members"])
        )

    wait_for(kept_training, 30, "the survivor to keep training and suspect the dead peer")
