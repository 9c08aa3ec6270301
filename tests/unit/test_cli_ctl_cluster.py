"""gossip-ctl cluster discovery and table, with a fake Status call (no processes)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gossip.cli import ctl
from gossip.cli.table import cluster_table, render
from gossip.errors import PeerUnavailable
from gossip.status import Status


def status(node_id: str, address: str, members: list[dict[str, Any]], step: int = 10) -> Status:
    return Status.from_json({
        "id": node_id, "address": address, "generation": 5, "uptime_s": 1.0, "state": "training",
        "step": step, "samples_seen": 0, "loss": 0.5, "accuracy": 0.75,
        "metric": {"name": "accuracy", "value": 0.75}, "dataset": "digits",
        "exchanges": {"ok": 3, "failed": 1, "refused": 0},
        "bytes": {"sent": 2000, "received": 1000},
        "model": {"params": 1, "fingerprint": "f"}, "compression": "none", "members": members,
    })  # fmt: skip


def member(node_id: str, address: str, state: str = "alive", generation: int = 5) -> dict[str, Any]:
    return {"id": node_id, "address": address, "state": state, "generation": generation,
            "last_heard_s": 0.1}  # fmt: skip


# a knows b and c (c is dead); b also knows d, whom a has not heard of yet
VIEWS = {
    "a:1": status("a", "a:1", [member("b", "b:1"), member("c", "c:1", "dead")]),
    "b:1": status("b", "b:1", [member("a", "a:1"), member("d", "d:1")], step=20),
    "d:1": status("d", "d:1", [member("b", "b:1")], step=30),
}


def fake_fetch(address: str, timeout: float) -> Status:
    if address not in VIEWS:
        raise PeerUnavailable(f"{address}: unavailable")
    return VIEWS[address]


def test_discover_walks_two_views_and_marks_the_unreachable() -> None:
    peers = ctl.discover("a:1", fake_fetch, timeout=1.0)
    assert [p.id for p in peers] == ["a", "b", "c", "d"]
    by_id = {p.id: p for p in peers}
    assert by_id["a"].state == "self"
    assert by_id["c"].status is None and by_id["c"].error.startswith("unreachable")
    assert by_id["d"].status is not None and by_id["d"].status.step == 30


def test_discover_keeps_the_newest_generation_of_one_address() -> None:
    views = {
        "a:1": status("a", "a:1", [member("b", "b:1", "dead", 1), member("b", "b:1", "alive", 2)]),
        "b:1": status("b", "b:1", []),
    }
    peers = ctl.discover("a:1", lambda addr, t: views[addr], timeout=1.0)
    assert [(p.id, p.state, p.generation) for p in peers] == [("a", "self", 5), ("b", "alive", 2)]


def test_cluster_table_has_the_columns_and_unreachable_rows() -> None:
    text = render(cluster_table(ctl.discover("a:1", fake_fetch, 1.0)), width=160)
    for column in ("id", "state", "step", "loss", "accuracy", "ok/fail/ref", "sent / recv",
                   "generation"):  # fmt: skip
        assert column in text
    assert "3/4 members answering" in text
    assert "2.0 kB / 1.0 kB" in text


@pytest.mark.parametrize("verb", ["status", "members", "cluster"])
def test_every_verb_prints_json(verb: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert ctl._run([verb, "--target", "a:1", "--json"], fetch=fake_fetch) == 0
    doc = json.loads(capsys.readouterr().out)
    if verb == "cluster":
        assert doc["answering"] == 3 and len(doc["peers"]) == 4
    else:
        assert doc["id"] == "a" and len(doc["members"]) == 2


def test_watch_json_is_one_line_per_refresh(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["watch", "--target", "a:1", "--json", "--count", "2", "--interval", "0.01"]
    assert ctl._run(args, fetch=fake_fetch) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2
    assert all(json.loads(line)["members"] == 4 for line in lines)


def test_an_unreachable_target_is_one_line_and_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    assert ctl._run(["cluster", "--target", "z:1"], fetch=fake_fetch) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("gossip-ctl: cannot get status")
