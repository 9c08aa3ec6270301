"""Table rendering for gossip-ctl and gossip-cluster, from statuses and report dicts."""

from __future__ import annotations

from typing import Any

import pytest

from gossip.cli.cells import (
    alive_members,
    fmt_bytes,
    fmt_duration,
    fmt_loss,
    members_text,
    metric_of,
    node_text,
)
from gossip.cli.table import PeerView, live_table, progress_line, render, summary_table
from gossip.status import Status


def status_json(node_id: str = "a", **overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": node_id,
        "address": "127.0.0.1:47001",
        "generation": 17,
        "uptime_s": 75.5,
        "state": "training",
        "step": 1234,
        "samples_seen": 39488,
        "loss": 0.25,
        "accuracy": 0.9512,
        "metric": {"name": "accuracy", "value": 0.9512},
        "exchanges": {"ok": 42, "failed": 3, "refused": 1},
        "bytes": {"sent": 1_500_000, "received": 2_500},
        "model": {"params": 6570, "fingerprint": "39e8edfdf9d316ab"},
        "compression": "none",
        "members": [
            {"id": "b", "address": "127.0.0.1:47002", "state": "alive",
             "generation": 5, "last_heard_s": 0.4},
            {"id": "c", "address": "127.0.0.1:47003", "state": "dead",
             "generation": 6, "last_heard_s": 12.0},
        ],
    }  # fmt: skip
    base.update(overrides)
    return base


def status(node_id: str = "a", **overrides: Any) -> Status:
    return Status.from_json(status_json(node_id, **overrides))


@pytest.mark.parametrize(
    ("count", "text"),
    [(0, "0 B"), (999, "999 B"), (1500, "1.5 kB"), (2_500_000, "2.5 MB"), (3e12, "3000.0 GB")],
)
def test_fmt_bytes(count: float, text: str) -> None:
    assert fmt_bytes(count) == text


@pytest.mark.parametrize(
    ("seconds", "text"), [(4.25, "4.2s"), (75.5, "1m15s"), (3 * 3600 + 125, "3h02m")]
)
def test_fmt_duration(seconds: float, text: str) -> None:
    assert fmt_duration(seconds) == text


def test_fmt_loss_keeps_small_losses_visible() -> None:
    assert fmt_loss(4.1e-05) == "4.1e-05"
    assert fmt_loss(None) == "-"


def test_metric_of_prefers_accuracy_then_named_metric() -> None:
    assert metric_of(status()) == ("accuracy", 0.9512)
    regression = status(accuracy=None, metric={"name": "r2", "value": 0.41})
    assert metric_of(regression) == ("r2", 0.41)
    not_yet = status(accuracy=None, metric={"name": "", "value": 0.0})
    assert metric_of(not_yet) == ("accuracy", None)


def test_alive_members_counts_the_view() -> None:
    assert alive_members(status()) == (1, 2)


def test_node_text_shows_every_field_of_the_node_line() -> None:
    text = node_text(status())
    assert text.splitlines()[0] == "node a"
    for expected in ("127.0.0.1:47001", "training", "1234", "0.25", "0.9512", "42/3/1",
                     "1.5 MB / 2.5 kB", "1m15s", "6570 params", "39e8edfdf9d316ab"):  # fmt: skip
        assert expected in text


def test_members_text_lists_members_with_state() -> None:
    text = members_text(status())
    assert "members (1/2 alive)" in text
    row_b = next(line for line in text.splitlines() if "127.0.0.1:47002" in line)
    row_c = next(line for line in text.splitlines() if "127.0.0.1:47003" in line)
    assert "alive" in row_b and "0.4s ago" in row_b
    assert "dead" in row_c and "12.0s ago" in row_c
    # columns line up: every row's address starts where the header's does
    header = text.splitlines()[1]
    assert row_b.index("127.0.0.1") == row_c.index("127.0.0.1") == header.index("address")


def test_members_text_of_a_node_alone_is_its_title() -> None:
    assert members_text(status(members=[])) == "members (0/0 alive)"


def test_live_table_marks_peers_without_status() -> None:
    peers = [
        PeerView("node-0", "127.0.0.1:1", status("node-0")),
        PeerView("node-1", "127.0.0.1:2", None, "starting"),
    ]
    text = render(live_table(peers, elapsed=12.0), width=160)
    assert "2 peers, 12.0s" in text
    row0 = next(line for line in text.splitlines() if "node-0" in line)
    assert "1234" in row0 and "0.9512" in row0 and "42/3/1" in row0 and "1/2" in row0
    assert "127.0.0.1:1" in row0  # where it listens, as the README's table says
    row1 = next(line for line in text.splitlines() if "node-1" in line)
    assert "starting" in row1 and "127.0.0.1:2" in row1
    header = text.splitlines()[2]
    for column in ("peer", "address", "step", "train loss", "held-out accuracy", "ok/fail/ref",
                   "sent / recv", "alive"):  # fmt: skip
        assert column in header, header


def test_live_table_names_the_regression_metric() -> None:
    peers = [PeerView("n", "x:1", status(accuracy=None, metric={"name": "r2", "value": 0.5}))]
    assert "held-out r2" in render(live_table(peers, 1.0), width=160)


def test_progress_line_summarizes_answering_peers() -> None:
    peers = [
        PeerView("a", "x:1", status("a", step=10, accuracy=0.9)),
        PeerView("b", "x:2", status("b", step=30, accuracy=0.8)),
        PeerView("c", "x:3", None),
    ]
    line = progress_line(peers, 5.0)
    assert "\n" not in line
    assert "2/3 peers answering" in line
    assert "steps 10-30" in line
    assert "mean 0.8500 min 0.8000" in line
    assert "exchanges ok 84 failed 6" in line
    assert "0/1 peers answering" in progress_line([PeerView("a", "x:1", None)], 1.0)


def test_summary_table_uses_reports_and_flags_missing_ones() -> None:
    reports: dict[str, dict[str, Any] | None] = {
        "node-0": {"status": status_json("node-0"), "history": [{"loss": 0.1234}]},
        "node-1": None,
    }
    text = render(summary_table(reports), width=160)
    row0 = next(line for line in text.splitlines() if "node-0" in line)
    assert "0.9512" in row0 and "0.1234" in row0 and "39488" in row0 and "42/3/1" in row0
    row1 = next(line for line in text.splitlines() if "node-1" in line)
    assert "no report" in row1
