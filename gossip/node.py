"""A running peer: trains continuously, gossips parameters, keeps its membership view.

The node is the driver of the pure core: it owns the threads, reads the real
clock and performs the I/O that the core asks for. Three loops run at once:

* training: minibatch steps on the local shard (writes under the replica lock);
* gossip: every ``gossip_interval`` a two-way exchange with a random alive member;
* membership: every ``heartbeat_interval`` a digest push-pull (and seed retries).

The gRPC server answers exchanges, digests and status from its own threads.
``stop()`` (SIGTERM, Ctrl-C, ``--duration``) ends the loops after their current
step, announces the leave, stops serving and writes the report.
"""

from __future__ import annotations

import json
import logging
import random
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from gossip.averaging.pairwise import Replica, Snapshot
from gossip.clock import Clock, SystemClock
from gossip.config import NodeConfig
from gossip.data import Dataset
from gossip.exchanger import Exchanger, Identity
from gossip.membership.table import Digest, MemberEntry, MembershipConfig
from gossip.membership_driver import MembershipDriver
from gossip.model import Sequential
from gossip.recipe import build_model, load_data
from gossip.training import Evaluation, Trainer
from gossip.transport.base import ResponderSession, StatusDict, Transport

log = logging.getLogger("gossip.node")


class Node:
    """One peer; usable from Python as ``Node(config).run()`` or start()/stop()."""

    def __init__(
        self,
        config: NodeConfig,
        *,
        transport: Transport | None = None,
        clock: Clock | None = None,
        model: Sequential | None = None,
        data: tuple[Dataset, Dataset] | None = None,
    ) -> None:
        self.config = config
        self.id = config.id or f"node-{secrets.token_hex(3)}"
        self.generation = time.time_ns() // 1000  # new at every start, grows across restarts
        self.clock = clock or SystemClock()
        train, test = data if data is not None else load_data(config)
        self.dataset = train
        self.model = model if model is not None else build_model(config, train)
        if not self.model.built:
            self.model.build(train.num_features)
        self.replica = Replica(self.model.params, self.model.fingerprint(), config.alpha)
        # batches differ per peer; the split and the initial model are shared via `seed`
        self.rng = random.Random(f"{config.seed}/{config.shard[0]}/{self.id}")
        batch_rng = np.random.default_rng([config.seed, config.shard[0], config.shard[1]])
        self.trainer = Trainer(self.model, self.replica, train, test, config.batch_size, batch_rng)
        if transport is None:
            from gossip.transport.grpc_transport import GrpcTransport

            transport = GrpcTransport(max_payload_bytes=4 * self.replica.num_params + 4096)
        self.transport = transport
        self.address = ""
        self.exchanger = Exchanger(
            self.replica,
            transport,
            self.clock,
            identity=lambda: Identity(self.id, self.generation, self.address),
            step=lambda: self.trainer.steps,
            timeout=config.exchange_timeout,
        )
        self.membership: MembershipDriver | None = None
        self.evaluation: Evaluation | None = None
        self.history: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._started_at = 0.0
        self._state = "created"

    # ------------------------------------------------------------ lifecycle

    def serve(self) -> str:
        """Bind the server and join the membership; no loops yet (simulations drive by hand)."""
        bound = self.transport.serve(self.config.listen, self)
        self.address = self.config.advertised(bound)
        self.membership = MembershipDriver(
            MemberEntry(self.id, self.address, self.generation, 0),
            MembershipConfig(heartbeat_interval=self.config.heartbeat_interval),
            self.transport,
            self.clock,
            self.config.peers,
            self.rng,
        )
        self._started_at = self.clock.now()
        self._state = "training"
        return self.address

    def start(self) -> str:
        """Serve, then start the training, gossip and membership loops; return the address."""
        self.serve()
        log.info(
            "node %s listening on %s (model %s, %d params, shard %d/%d of %s, %d samples)",
            self.id,
            self.address,
            self.replica.fingerprint,
            self.replica.num_params,
            self.config.shard[0],
            self.config.shard[1],
            self.config.dataset,
            len(self.dataset),
        )
        for name, loop in (
            ("train", self._train_loop),
            ("gossip", self._gossip_loop),
            ("membership", self._membership_loop),
        ):
            thread = threading.Thread(
                target=self._guarded(loop), name=f"{self.id}-{name}", daemon=True
            )
            thread.start()
            self._threads.append(thread)
        return self.address

    def stop(self) -> None:
        """Ask the loops to finish; safe from signal handlers and other threads."""
        self._stop.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until stop() is called or ``timeout`` passes; True when stopping."""
        return self._stop.wait(timeout)

    def run(self) -> StatusDict:
        """Start, run for ``duration`` (or until stop()), shut down; return the final status."""
        self.start()
        self.wait(self.config.duration)
        return self.shutdown()

    def shutdown(self, grace: float = 2.0) -> StatusDict:
        """Finish the current step, announce the leave, stop serving, write the report."""
        self._stop.set()
        self._state = "stopping"
        for thread in self._threads:
            thread.join(timeout=self.config.exchange_timeout + grace)
        if self.membership is not None:
            self.membership.leave()
        self.transport.stop(grace)
        self.evaluation = self.trainer.evaluate()
        self._record()
        status = self.status()
        if self.config.report:
            self._write_report(status)
        self._state = "stopped"
        counts = status["exchanges"]
        log.info(
            "node %s stopped after %d steps: loss %.4f, %s %.4f, "
            "exchanges ok %d failed %d refused %d",
            self.id,
            self.trainer.steps,
            self.evaluation.loss,
            self.evaluation.metric_name,
            self.evaluation.metric,
            counts["ok"],
            counts["failed"],
            counts["refused"],
        )
        return status

    def _guarded(self, loop: Callable[[], None]) -> Callable[[], None]:
        """A loop that dies must say so and stop the node rather than leave it half alive."""

        def run() -> None:
            try:
                loop()
            except Exception:
                name = threading.current_thread().name
                log.exception("node %s: %s failed; stopping", self.id, name)
                self._stop.set()

        return run

    # ------------------------------------------------------------ loops

    def _train_loop(self) -> None:
        max_steps = self.config.max_steps
        period = 1.0 / self.config.step_rate if self.config.step_rate > 0 else 0.0
        next_step = self.clock.now()
        last_eval = -float("inf")
        while not self._stop.is_set():
            if max_steps is not None and self.trainer.steps >= max_steps:
                self._state = "averaging"
                if self._stop.wait(self.config.eval_interval):
                    break
            else:
                if period:
                    next_step = max(next_step + period, self.clock.now() - 1.0)
                    delay = next_step - self.clock.now()
                    if delay > 0 and self._stop.wait(delay):
                        break
                self.trainer.step()
            now = self.clock.now()
            if now - last_eval >= self.config.eval_interval:
                last_eval = now
                self.evaluation = self.trainer.evaluate()
                self._record()

    def _gossip_loop(self) -> None:
        assert self.membership is not None
        interval = self.config.gossip_interval
        while not self._stop.wait(interval * self.rng.uniform(0.5, 1.5)):
            peer = self.membership.pick()
            if peer is not None:
                self.exchange_with(peer.id, peer.address)

    def _membership_loop(self) -> None:
        assert self.membership is not None
        while True:
            self.membership.round()
            if self._stop.wait(self.config.heartbeat_interval):
                return

    def exchange_with(self, peer_id: str, address: str) -> bool:
        """One two-way exchange as the initiator; True when both sides applied it."""
        return self.exchanger.exchange_with(peer_id, address)

    # ------------------------------------------------------------ Handler (the server side)

    def check_header(self, offer: Snapshot) -> None:
        self.exchanger.check_header(offer)

    def on_exchange(self, offer: Snapshot) -> ResponderSession:
        return self.exchanger.on_exchange(offer)

    def on_refused(self, reason: str, detail: str) -> None:
        self.exchanger.refused("?", reason, detail)

    def on_push_pull(self, digest: Digest) -> Digest:
        assert self.membership is not None
        return self.membership.merge(digest)

    def on_status(self) -> StatusDict:
        return self.status()

    # ------------------------------------------------------------ status and reporting

    @property
    def counts(self) -> dict[str, int]:
        """Exchanges so far: ok, failed, refused."""
        return self.exchanger.counts()

    @property
    def refusals(self) -> dict[str, int]:
        """Refused exchanges by reason."""
        return self.exchanger.refusals()

    def status(self) -> StatusDict:
        """The node's view, as the JSON of DESIGN.md §5."""
        now = self.clock.now()
        evaluation = self.evaluation
        loss = self.trainer.loss
        traffic = self.transport.traffic
        return {
            "id": self.id,
            "address": self.address,
            "generation": self.generation,
            "uptime_s": round(now - self._started_at, 3) if self._started_at else 0.0,
            "state": self._state,
            "step": self.trainer.steps,
            "samples_seen": self.trainer.samples_seen,
            "loss": float(loss) if np.isfinite(loss) else 0.0,
            "accuracy": evaluation.accuracy if evaluation else None,
            "metric": {
                "name": evaluation.metric_name if evaluation else "",
                "value": evaluation.metric if evaluation else 0.0,
            },
            "dataset": self.config.dataset,
            "exchanges": self.counts,
            "bytes": {"sent": traffic.sent, "received": traffic.received},
            "model": {"params": self.replica.num_params, "fingerprint": self.replica.fingerprint},
            "compression": self.config.compression,
            "members": self.membership.status() if self.membership else [],
        }

    def _record(self) -> None:
        evaluation = self.evaluation
        if evaluation is None:
            return
        self.history.append(
            {
                "t": round(self.clock.now() - self._started_at, 3),
                "step": self.trainer.steps,
                "samples_seen": self.trainer.samples_seen,
                "train_loss": self.trainer.loss,
                "loss": evaluation.loss,
                evaluation.metric_name: evaluation.metric,
                "exchanges_ok": self.counts["ok"],
            }
        )

    def _write_report(self, status: StatusDict) -> None:
        report = {
            "status": status,
            "refusals": self.refusals,
            "history": self.history,
            "config": {k: v for k, v in asdict(self.config).items() if k != "extra"},
            "labels": self.config.extra,
        }
        path = Path(self.config.report or "")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(path.suffix + ".tmp")
            tmp.write_text(json.dumps(report, default=str))
            tmp.replace(path)
        except OSError as exc:
            log.error("node %s: cannot write report %s: %s", self.id, path, exc)
