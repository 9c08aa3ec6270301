"""Metrics: the metered transport's bookkeeping, the estimator, the collector, the endpoint."""

from __future__ import annotations

import urllib.request
from dataclasses import replace

import numpy as np
import pytest
from prometheus_client import generate_latest
from prometheus_client.registry import CollectorRegistry

from gossip.averaging.pairwise import RAW_CODEC, Snapshot, encode
from gossip.clock import ManualClock
from gossip.errors import ExchangeRefused, PeerUnavailable, UsageError
from gossip.metrics import METRICS, MetricsServer, NodeCollector, bytes_by_codec
from gossip.status import ByteCounts, CodecBytes, Status
from gossip.transport.base import Completion, Traffic
from gossip.transport.metered import (
    EMA_WEIGHT,
    ExchangeStats,
    Histogram,
    MeteredTransport,
    half_squared_distance,
)


def snapshot(sender: str, params: np.ndarray, step: int = 0, codec: str = RAW_CODEC) -> Snapshot:
    return Snapshot(sender, 1, f"{sender}:1", step, "fp", params.size, codec, encode(params))


class FakeTransport:
    """Answers exchanges with a fixed reply, a refusal or an outage; time passes on each call."""

    def __init__(self, clock: ManualClock, reply: Snapshot | None = None) -> None:
        self.traffic = Traffic()
        self.clock = clock
        self.reply = reply
        self.error: Exception | None = None
        self.extra = "passed through"

    def exchange(self, address: str, offer: Snapshot, complete: Completion, timeout: float) -> None:
        self.clock.advance(0.03)
        if self.error is not None:
            raise self.error
        assert self.reply is not None
        complete(self.reply)


def test_histogram_is_cumulative_like_prometheus() -> None:
    hist = Histogram((0.1, 1.0))
    for value in (0.05, 0.1, 0.5, 3.0):
        hist.observe(value)
    assert hist.cumulative() == [("0.1", 2), ("1.0", 3), ("+Inf", 4)]
    assert hist.count == 4
    assert hist.sum == pytest.approx(3.65)


def test_half_squared_distance_matches_a_naive_loop() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=50).astype(np.float32), rng.normal(size=50).astype(np.float32)
    naive = 0.5 * sum((float(y) - float(x)) ** 2 for x, y in zip(a, b, strict=True))
    assert half_squared_distance(a, b) == pytest.approx(naive, rel=1e-9)


def test_pair_estimator_relates_to_the_consensus_distance_as_documented() -> None:
    # mean over all pairs of 0.5*||x_i - x_j||^2 equals n/(n-1) * (1/n) sum ||x_i - mean||^2
    rng = np.random.default_rng(2)
    n = 8
    xs = rng.normal(size=(n, 30))
    consensus = float(((xs - xs.mean(axis=0)) ** 2).sum(axis=1).mean())
    pairs = [half_squared_distance(xs[i], xs[j]) for i in range(n) for j in range(n) if i != j]
    assert float(np.mean(pairs)) == pytest.approx(consensus * n / (n - 1), rel=1e-9)


def test_stats_keep_an_ema_and_ignore_non_finite_samples() -> None:
    stats = ExchangeStats()
    assert stats.consensus_distance is None
    stats.record_ok("a", 1.0, 0, 4.0)
    stats.record_ok("a", 2.0, 5, 2.0)
    stats.record_ok("b", 3.0, -1, float("nan"))
    assert stats.consensus_distance == pytest.approx(4.0 + EMA_WEIGHT * (2.0 - 4.0))
    assert stats.distance_samples == 2
    by_peer = {n.peer_id: n for n in stats.neighbours()}
    assert by_peer["a"].last_ok == 2.0 and by_peer["a"].step_lag == 5
    assert by_peer["b"].step_lag == -1


def test_metered_transport_records_ok_exchanges_and_passes_through() -> None:
    clock = ManualClock()
    own, peer = np.zeros(4, np.float32), np.full(4, 2.0, np.float32)
    inner = FakeTransport(clock, snapshot("b", peer, step=12))
    metered = MeteredTransport(inner, clock)
    applied: list[Snapshot] = []
    metered.exchange("b:1", snapshot("a", own, step=10), applied.append, 1.0)
    assert len(applied) == 1  # the caller's completion ran, untouched
    assert metered.traffic is inner.traffic
    assert metered.extra == "passed through"  # attributes of the wrapped transport
    assert metered.stats.consensus_distance == pytest.approx(0.5 * 4 * 4.0)
    (neighbour,) = metered.stats.neighbours()
    assert (neighbour.peer_id, neighbour.step_lag) == ("b", 2)
    assert metered.stats.latency()["ok"].count == 1
    assert metered.stats.latency()["ok"].sum == pytest.approx(0.03)


def test_metered_transport_counts_refusals_and_failures_and_reraises() -> None:
    clock = ManualClock()
    own = np.zeros(4, np.float32)
    inner = FakeTransport(clock, snapshot("b", own))
    metered = MeteredTransport(inner, clock)

    def refuse(reply: Snapshot) -> None:
        raise ExchangeRefused("non_finite", "NaN")

    with pytest.raises(ExchangeRefused):
        metered.exchange("b:1", snapshot("a", own), refuse, 1.0)
    inner.error = PeerUnavailable("b:1 is gone")
    with pytest.raises(PeerUnavailable):
        metered.exchange("b:1", snapshot("a", own), lambda r: None, 1.0)
    latency = metered.stats.latency()
    assert (latency["ok"].count, latency["refused"].count, latency["failed"].count) == (0, 1, 1)
    assert metered.stats.neighbours() == []
    assert metered.stats.consensus_distance is None


def test_other_codecs_give_no_distance_sample_but_still_count() -> None:
    clock = ManualClock()
    inner = FakeTransport(clock, snapshot("b", np.ones(4, np.float32), codec="fp16"))
    metered = MeteredTransport(inner, clock)
    metered.exchange("b:1", snapshot("a", np.zeros(4, np.float32)), lambda r: None, 1.0)
    assert metered.stats.consensus_distance is None
    assert len(metered.stats.neighbours()) == 1


class FakeNode:
    def __init__(self, status: Status) -> None:
        self._status = status
        self.refusals = {"fingerprint_mismatch": 2}

    def status(self) -> Status:
        return self._status


STATUS = Status.from_json({
    "id": "n0", "address": "127.0.0.1:1", "generation": 7, "uptime_s": 3.0, "state": "training",
    "step": 120, "samples_seen": 3840, "loss": 0.25, "accuracy": 0.9,
    "metric": {"name": "accuracy", "value": 0.9}, "dataset": "digits",
    "exchanges": {"ok": 5, "failed": 1, "refused": 2}, "bytes": {"sent": 100, "received": 90},
    "model": {"params": 10, "fingerprint": "fp"}, "compression": "none",
    "members": [
        {"id": "n1", "address": "a:1", "state": "alive", "generation": 1, "last_heard_s": 0.1},
        {"id": "n2", "address": "a:2", "state": "dead", "generation": 1, "last_heard_s": 9.0},
    ],
    "schedule": {"local_steps": 2, "steps_per_exchange": 1.5, "completed": 80, "waits": 30,
                 "waiting_s": 1.25, "in_flight": 1},
})  # fmt: skip


def scrape(collector: NodeCollector) -> str:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return generate_latest(registry).decode()


def test_collector_exports_every_documented_metric() -> None:
    stats = ExchangeStats()
    stats.record("ok", 0.02)
    stats.record_ok("n1", 10.0, 3, 1.5)
    stats.record_ok("n2", 10.0, 3, 1.5)  # dead now: no staleness series for it
    collector = NodeCollector(
        FakeNode(STATUS),
        stats,
        event_counts=lambda: {"suspect": 3, "dead": 1},
        heldout_loss=lambda: 0.3,
        now=lambda: 12.5,
    )
    text = scrape(collector)
    for name in METRICS:
        assert name in text, name
    assert 'gossip_exchanges_total{result="ok"} 5.0' in text
    assert "gossip_training_wait_seconds_total 1.25" in text
    assert "gossip_steps_per_exchange 1.5" in text
    assert 'gossip_bytes_sent_total{codec="none"} 100.0' in text
    assert 'gossip_members{state="alive"} 1.0' in text
    assert 'gossip_membership_events_total{event="suspect"} 3.0' in text
    assert "gossip_consensus_distance 1.5" in text
    assert 'gossip_neighbour_staleness_seconds{peer="n1"} 2.5' in text
    assert 'peer="n2"' not in text
    assert 'gossip_exchange_duration_seconds_count{result="ok"} 1.0' in text
    assert "gossip_checkpoint_age_seconds NaN" in text
    assert 'gossip_exchange_refusals_total{reason="fingerprint_mismatch"} 2.0' in text


def test_a_failing_scrape_does_not_raise() -> None:
    class Broken(FakeNode):
        def status(self) -> Status:
            raise RuntimeError("boom")

    assert "gossip_" not in scrape(NodeCollector(Broken(STATUS)))


def test_bytes_by_codec_adds_the_rest_as_other_or_falls_back_to_the_codec() -> None:
    assert bytes_by_codec(STATUS) == {"none": (100, 90)}
    nested = replace(STATUS, bytes=ByteCounts(9, 1, {"fp16": CodecBytes(sent=5)}))
    assert bytes_by_codec(nested) == {"fp16": (5, 0), "other": (4, 1)}


def test_endpoint_serves_and_a_port_in_use_is_one_usage_error() -> None:
    server = MetricsServer(NodeCollector(FakeNode(STATUS)), "127.0.0.1", 0)
    try:
        url = f"http://127.0.0.1:{server.port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            assert b"gossip_steps_total 120.0" in response.read()
        with pytest.raises(UsageError, match=f"--metrics-port {server.port}"):
            MetricsServer(NodeCollector(FakeNode(STATUS)), "127.0.0.1", server.port)
    finally:
        server.close()
