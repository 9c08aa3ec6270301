"""Prometheus metrics of one peer, read at scrape time (``--metrics-port``).

Nothing is incremented on the training path: :class:`NodeCollector` is a
custom collector that, when Prometheus scrapes, reads the node's status (the
same dict as ``gossip-ctl status``), its refusal counts, the exchange
statistics of :class:`~gossip.transport.metered.MeteredTransport` and the
membership driver's event counts, and turns them into metric families. A
scrape costs about what one ``gossip-ctl status`` does; a node that is never
scraped pays nothing.

Every metric name starts with ``gossip_``; :data:`METRICS`
lists them with their help text (the README table is made from it).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict
from typing import Protocol

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector, CollectorRegistry

from gossip.errors import UsageError
from gossip.status import MemberInfo, Status
from gossip.transport.metered import ExchangeStats

log = logging.getLogger("gossip.metrics")

MEMBER_STATES = ("alive", "suspect", "dead", "left")

METRICS: dict[str, str] = {
    "gossip_info": "Constant 1, labelled with the peer's id, address, model and codec",
    "gossip_generation": "Generation of this peer (new at every start)",
    "gossip_uptime_seconds": "Seconds since this peer started serving",
    "gossip_steps_total": "Training steps taken on the local shard",
    "gossip_samples_total": "Training samples processed on the local shard",
    "gossip_loss": "Moving average of the training loss",
    "gossip_heldout_loss": "Loss on the held-out split at the last evaluation",
    "gossip_accuracy": "Held-out accuracy at the last evaluation (classification only)",
    "gossip_heldout_metric": "The held-out metric by name (accuracy or r2)",
    "gossip_exchanges_total": "Exchanges by result (ok, failed, refused), both roles",
    "gossip_exchange_refusals_total": "Refused exchanges by reason",
    "gossip_exchange_duration_seconds": "Duration of exchanges this peer initiated, by result",
    "gossip_bytes_sent_total": "Bytes sent on the wire, by codec",
    "gossip_bytes_received_total": "Bytes received on the wire, by codec",
    "gossip_members": "Members in this peer's view, by state",
    "gossip_membership_events_total": "Membership and failure-detector events, by kind",
    "gossip_consensus_distance": "Estimated squared consensus distance: EMA of "
    "0.5*||x_i - x_j||^2 over this peer's exchanges (NaN before the first)",
    "gossip_consensus_samples_total": "Exchanges that contributed to the distance estimate",
    "gossip_neighbour_staleness_seconds": "Seconds since the last successful exchange this "
    "peer initiated with each live neighbour",
    "gossip_neighbour_step_lag": "Neighbour's training step minus ours at the last exchange",
    "gossip_training_wait_seconds_total": "Seconds training waited for an exchange "
    "(--local-steps reached) or for slower partners (--pace-lead)",
    "gossip_training_waits_total": "Times training waited for an exchange or slower partners",
    "gossip_steps_per_exchange": "Training steps per completed exchange, both roles "
    "(NaN before the first)",
    "gossip_exchanges_in_flight": "Exchanges running now, both roles",
    "gossip_checkpoint_age_seconds": "Seconds since the newest checkpoint file in "
    "--checkpoint-dir was written (NaN: no --checkpoint-dir, or no checkpoint yet)",
}


class Observed(Protocol):
    """What the collector reads from a node (``gossip.node.Node`` is one)."""

    def status(self) -> Status: ...

    @property
    def refusals(self) -> dict[str, int]: ...


def _family_gauge(name: str, labels: list[str] | None = None) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, METRICS[name], labels=labels)


def _family_counter(name: str, labels: list[str] | None = None) -> CounterMetricFamily:
    # prometheus_client adds the _total suffix itself
    return CounterMetricFamily(name.removesuffix("_total"), METRICS[name], labels=labels)


def bytes_by_codec(status: Status) -> dict[str, tuple[int, int]]:
    """``{codec: (sent, received)}``: ``bytes.by_codec`` when the node reports it (plus
    ``other`` for the traffic outside exchanges), else all bytes under the configured codec."""
    traffic = status.bytes
    if not traffic.by_codec:
        return {status.compression or "none": (traffic.sent, traffic.received)}
    out = {codec: (c.sent, c.received) for codec, c in traffic.by_codec.items()}
    # the rest of the traffic (membership, status): so the series add up to the totals
    other_sent = traffic.sent - sum(s for s, _ in out.values())
    other_received = traffic.received - sum(r for _, r in out.values())
    if other_sent > 0 or other_received > 0:
        out["other"] = (max(other_sent, 0), max(other_received, 0))
    return out


class NodeCollector(Collector):
    """Reads a node at scrape time; a failure loses that scrape's extras, never the node."""

    def __init__(
        self,
        node: Observed,
        stats: ExchangeStats | None = None,
        *,
        event_counts: Callable[[], Mapping[str, int]] | None = None,
        heldout_loss: Callable[[], float | None] | None = None,
        checkpoint_age: Callable[[], float | None] | None = None,
        now: Callable[[], float] | None = None,
    ) -> None:
        self.node = node
        self.stats = stats
        self.event_counts = event_counts
        self.heldout_loss = heldout_loss
        self.checkpoint_age = checkpoint_age
        self.now = now
        self._failed_once = False

    def collect(self) -> Iterator[Metric]:
        try:
            yield from self._collect()
        except Exception as exc:  # a scrape must never take the node down; say it once
            if not self._failed_once:
                self._failed_once = True
                log.warning(
                    "metrics: a scrape failed (%s: %s); training goes on", type(exc).__name__, exc
                )

    def _collect(self) -> Iterator[Metric]:
        status = self.node.status()
        info = _family_gauge(
            "gossip_info", ["id", "address", "fingerprint", "compression", "dataset"]
        )
        info.add_metric(
            [
                status.id,
                status.address,
                status.model.fingerprint,
                status.compression,
                status.dataset,
            ],
            1.0,
        )
        yield info
        yield _gauge("gossip_generation", float(status.generation))
        yield _gauge("gossip_uptime_seconds", status.uptime_s)
        yield _counter("gossip_steps_total", float(status.step))
        yield _counter("gossip_samples_total", float(status.samples_seen))
        yield _gauge("gossip_loss", _or_nan(status.loss))  # None before the first step
        yield _gauge(
            "gossip_heldout_loss", _or_nan(self.heldout_loss() if self.heldout_loss else None)
        )
        yield _gauge("gossip_accuracy", _or_nan(status.accuracy))
        if status.metric.name:
            family = _family_gauge("gossip_heldout_metric", ["name"])
            family.add_metric([status.metric.name], status.metric.value)
            yield family

        exchanges = _family_counter("gossip_exchanges_total", ["result"])
        for result, count in asdict(status.exchanges).items():
            exchanges.add_metric([result], float(count))
        yield exchanges
        refusals = _family_counter("gossip_exchange_refusals_total", ["reason"])
        for reason, count in sorted(self.node.refusals.items()):
            refusals.add_metric([reason], float(count))
        yield refusals

        sent = _family_counter("gossip_bytes_sent_total", ["codec"])
        received = _family_counter("gossip_bytes_received_total", ["codec"])
        for codec, (s, r) in sorted(bytes_by_codec(status).items()):
            sent.add_metric([codec], float(s))
            received.add_metric([codec], float(r))
        yield sent
        yield received

        by_state = dict.fromkeys(MEMBER_STATES, 0)
        for member in status.members:
            by_state[member.state] = by_state.get(member.state, 0) + 1
        family = _family_gauge("gossip_members", ["state"])
        for state, count in by_state.items():
            family.add_metric([state], float(count))
        yield family
        if self.event_counts is not None:
            events = _family_counter("gossip_membership_events_total", ["event"])
            for kind, count in sorted(self.event_counts().items()):
                events.add_metric([str(kind)], float(count))
            yield events

        schedule = status.schedule
        yield _counter("gossip_training_wait_seconds_total", schedule.waiting_s)
        yield _counter("gossip_training_waits_total", float(schedule.waits))
        yield _gauge("gossip_steps_per_exchange", _or_nan(schedule.steps_per_exchange))
        yield _gauge("gossip_exchanges_in_flight", float(schedule.in_flight))

        if self.stats is not None:
            yield from self._exchange_stats(status.members)

        yield _gauge(
            "gossip_checkpoint_age_seconds",
            _or_nan(self.checkpoint_age() if self.checkpoint_age else None),
        )

    def _exchange_stats(self, members: list[MemberInfo]) -> Iterator[Metric]:
        assert self.stats is not None
        latency = HistogramMetricFamily(
            "gossip_exchange_duration_seconds",
            METRICS["gossip_exchange_duration_seconds"],
            labels=["result"],
        )
        for result, hist in self.stats.latency().items():
            latency.add_metric([result], hist.cumulative(), hist.sum)
        yield latency
        distance = self.stats.consensus_distance
        yield _gauge("gossip_consensus_distance", math.nan if distance is None else distance)
        yield _counter("gossip_consensus_samples_total", float(self.stats.distance_samples))
        live = {m.id for m in members if m.state in ("alive", "suspect")}
        now = self.now() if self.now else None
        staleness = _family_gauge("gossip_neighbour_staleness_seconds", ["peer"])
        lag = _family_gauge("gossip_neighbour_step_lag", ["peer"])
        for neighbour in sorted(self.stats.neighbours(), key=lambda n: n.peer_id):
            if neighbour.peer_id not in live:
                continue  # dead or left: its staleness would only grow, and means nothing
            if now is not None:
                staleness.add_metric([neighbour.peer_id], max(0.0, now - neighbour.last_ok))
            lag.add_metric([neighbour.peer_id], float(neighbour.step_lag))
        yield staleness
        yield lag


def _or_nan(value: float | None) -> float:
    return math.nan if value is None else float(value)


def _gauge(name: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, METRICS[name], value=value)


def _counter(name: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name.removesuffix("_total"), METRICS[name], value=value)


class MetricsServer:
    """The HTTP endpoint (``/metrics``) on its own daemon thread, with a private registry."""

    def __init__(self, collector: Collector, host: str, port: int) -> None:
        from prometheus_client import start_http_server

        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(collector)
        try:
            self._server, self._thread = start_http_server(port, host, self.registry)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise UsageError(
                f"--metrics-port {port}: cannot serve on {host}:{port}: {reason}"
            ) from exc
        self.port = int(self._server.server_address[1])
        self.host = host

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=2.0)
