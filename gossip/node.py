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
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gossip.averaging.pairwise import RAW_CODEC, Replica, Snapshot, check_header
from gossip.clock import Clock, SystemClock
from gossip.config import NodeConfig
from gossip.data import Dataset, load_shard
from gossip.errors import ExchangeRefused, GossipError, TransportError, WireError
from gossip.membership.table import Digest, Event, MemberEntry, Membership, MembershipConfig
from gossip.model import Sequential, mlp, parse_model_spec
from gossip.training import Evaluation, Trainer
from gossip.transport.base import StatusDict, Transport

log = logging.getLogger("gossip.node")

_LOG_REPEAT_S = 10.0
"""The same warning about the same peer is logged at most once per this many seconds."""


@dataclass
class ExchangeCounts:
    ok: int = 0
    failed: int = 0
    refused: int = 0


class _Pending:
    """An accepted incoming exchange waiting for the initiator's verdict."""

    def __init__(self, node: Node, reply: Snapshot, own: np.ndarray, peer: np.ndarray) -> None:
        self._node = node
        self._own = own
        self._peer = peer
        self.reply = reply
        self.peer_id = ""

    def commit(self, applied: bool, reason: str = "", detail: str = "") -> None:
        if applied:
            self._node.replica.apply(self._own, self._peer)
            self._node._count("ok")
        elif reason == "lost":
            self._node._count("failed")
        else:
            self._node._refused(self.peer_id, reason, f"our reply was refused: {detail}")


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
        seed = config.seed
        train, test = (
            data
            if data is not None
            else load_shard(
                config.dataset,
                partition=config.partition,
                shard=config.shard,
                holdout=config.holdout,
                seed=seed,
                label_column=config.label_column,
                samples=config.synthetic_samples,
                features=config.synthetic_features,
                classes=config.synthetic_classes,
            )
        )
        self.dataset = train
        if model is None:
            outputs = train.num_classes if train.task == "classification" else 1
            hidden = parse_model_spec(config.model)
            model = mlp(
                train.num_features,
                hidden,
                outputs,
                train.task,
                seed,
                optimizer=config.optimizer,
                lr=config.lr,
            )
            if config.loss != "auto":
                model.compile(optimizer=config.optimizer, loss=config.loss, lr=config.lr)
        if not model.built:
            model.build(train.num_features)
        self.model = model
        self.replica = Replica(model.params, model.fingerprint(), config.alpha)
        # batches differ per peer; the split and the initial model are shared via `seed`
        self.rng = random.Random(f"{seed}/{config.shard[0]}/{self.id}")
        batch_rng = np.random.default_rng([seed, config.shard[0], config.shard[1]])
        self.trainer = Trainer(model, self.replica, train, test, config.batch_size, batch_rng)
        if transport is None:
            from gossip.transport.grpc_transport import GrpcTransport

            transport = GrpcTransport(max_payload_bytes=4 * self.replica.num_params + 4096)
        self.transport = transport
        self.counts = ExchangeCounts()
        self.refusals: dict[str, int] = {}
        self.evaluation: Evaluation | None = None
        self.history: list[dict[str, Any]] = []
        self.address = ""
        self.membership: Membership | None = None
        self._membership_lock = threading.Lock()
        self._counts_lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._started_at = 0.0
        self._state = "created"
        self._last_warned: dict[tuple[str, str], float] = {}

    # ------------------------------------------------------------ lifecycle

    def serve(self) -> str:
        """Bind the server and join the membership; no loops yet (simulations drive by hand)."""
        bound = self.transport.serve(self.config.listen, self)
        self.address = self.config.advertised(bound)
        self.membership = Membership(
            MemberEntry(self.id, self.address, self.generation, 0),
            MembershipConfig(heartbeat_interval=self.config.heartbeat_interval),
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
        self._announce_leave()
        self.transport.stop(grace)
        self.evaluation = self.trainer.evaluate()
        self._record()
        status = self.status()
        if self.config.report:
            self._write_report(status)
        self._state = "stopped"
        log.info(
            "node %s stopped after %d steps: loss %.4f, %s %.4f, "
            "exchanges ok %d failed %d refused %d",
            self.id,
            self.trainer.steps,
            self.evaluation.loss,
            self.evaluation.metric_name,
            self.evaluation.metric,
            self.counts.ok,
            self.counts.failed,
            self.counts.refused,
        )
        return status

    def _guarded(self, loop: Callable[[], None]) -> Callable[[], None]:
        """A loop that dies must say so and stop the node rather than leave it half alive."""

        def run() -> None:
            try:
                loop()
            except Exception:
                log.exception(
                    "node %s: %s failed; stopping", self.id, threading.current_thread().name
                )
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
        interval = self.config.gossip_interval
        while not self._stop.wait(interval * self.rng.uniform(0.5, 1.5)):
            with self._membership_lock:
                assert self.membership is not None
                peer = self.membership.pick(self.rng)
            if peer is not None:
                self.exchange_with(peer.id, peer.address)

    def _membership_loop(self) -> None:
        seeds = [p for p in self.config.peers if p != self.address]
        while True:
            now = self.clock.now()
            with self._membership_lock:
                assert self.membership is not None
                self._log_events(self.membership.tick(now))
                alive = self.membership.alive()
                digest = self.membership.digest()
            known = {m.address for m in alive}
            # keep dialling seeds nobody has heard of yet (and all seeds when alone)
            targets = [self.rng.choice(alive).address] if alive else []
            unknown_seeds = [s for s in seeds if s not in known]
            if unknown_seeds:
                targets.append(self.rng.choice(unknown_seeds))
            for target in targets:
                try:
                    reply = self.transport.push_pull(
                        target, digest, self.config.heartbeat_interval * 2
                    )
                except (TransportError, WireError):
                    continue
                with self._membership_lock:
                    self._log_events(self.membership.merge(reply, self.clock.now()))
            if self._stop.wait(self.config.heartbeat_interval):
                return

    # ------------------------------------------------------------ exchanges (initiator)

    def exchange_with(self, peer_id: str, address: str) -> bool:
        """One two-way exchange as the initiator; True when both sides applied it."""
        payload, own = self.replica.snapshot()
        offer = self._snapshot(payload)

        def complete(reply: Snapshot) -> None:
            peer = self.replica.check(reply)
            self.replica.apply(own, peer)

        try:
            self.transport.exchange(address, offer, complete, self.config.exchange_timeout)
        except ExchangeRefused as refused:
            self._refused(peer_id, refused.reason, refused.detail)
            return False
        except (TransportError, WireError) as exc:
            self._count("failed")
            self._warn(peer_id, "failed", f"exchange with {peer_id} failed: {exc}", logging.INFO)
            return False
        self._count("ok")
        return True

    def _snapshot(self, payload: bytes) -> Snapshot:
        return Snapshot(
            sender_id=self.id,
            generation=self.generation,
            address=self.address,
            step=self.trainer.steps,
            fingerprint=self.replica.fingerprint,
            num_params=self.replica.num_params,
            codec=RAW_CODEC,
            payload=payload,
        )

    # ------------------------------------------------------------ Handler (responder)

    def check_header(self, offer: Snapshot) -> None:
        try:
            check_header(offer, self.replica.fingerprint, self.replica.num_params)
        except ExchangeRefused as refused:
            self._refused(offer.sender_id, refused.reason, refused.detail)
            raise

    def on_exchange(self, offer: Snapshot) -> _Pending:
        try:
            peer = self.replica.check(offer)
        except ExchangeRefused as refused:
            self._refused(offer.sender_id, refused.reason, refused.detail)
            raise
        payload, own = self.replica.snapshot()
        pending = _Pending(self, self._snapshot(payload), own, peer)
        pending.peer_id = offer.sender_id
        return pending

    def on_refused(self, reason: str, detail: str) -> None:
        self._refused("?", reason, detail)

    def on_push_pull(self, digest: Digest) -> Digest:
        with self._membership_lock:
            assert self.membership is not None
            self._log_events(self.membership.merge(digest, self.clock.now()))
            return self.membership.digest()

    def on_status(self) -> StatusDict:
        return self.status()

    # ------------------------------------------------------------ status and reporting

    def status(self) -> StatusDict:
        """The node's view, as the JSON of DESIGN.md §5."""
        now = self.clock.now()
        evaluation = self.evaluation
        with self._membership_lock:
            members = (
                []
                if self.membership is None
                else [
                    {
                        "id": m.id,
                        "address": m.address,
                        "state": m.state.value,
                        "generation": m.generation,
                        "last_heard_s": round(self.membership.last_heard(m.id, now), 3),
                    }
                    for m in self.membership.members()
                ]
            )
        with self._counts_lock:
            exchanges = asdict(self.counts)
        loss = self.trainer.loss
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
            "exchanges": exchanges,
            "bytes": {
                "sent": self.transport.traffic.sent,
                "received": self.transport.traffic.received,
            },
            "model": {"params": self.replica.num_params, "fingerprint": self.replica.fingerprint},
            "compression": self.config.compression,
            "members": members,
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
                "exchanges_ok": self.counts.ok,
            }
        )

    def _write_report(self, status: StatusDict) -> None:
        report = {
            "status": status,
            "refusals": dict(self.refusals),
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

    # ------------------------------------------------------------ bookkeeping

    def _announce_leave(self) -> None:
        if self.membership is None:
            return
        with self._membership_lock:
            self.membership.leave()
            digest = self.membership.digest()
            alive = self.membership.alive()
        for member in self.rng.sample(alive, min(3, len(alive))):
            try:
                self.transport.push_pull(member.address, digest, 1.0)
            except GossipError:
                continue

    def _count(self, result: str) -> None:
        with self._counts_lock:
            setattr(self.counts, result, getattr(self.counts, result) + 1)

    def _refused(self, peer_id: str, reason: str, detail: str) -> None:
        with self._counts_lock:
            self.counts.refused += 1
            self.refusals[reason] = self.refusals.get(reason, 0) + 1
        self._warn(peer_id, reason, f"exchange with {peer_id} refused ({reason}): {detail}")

    def _warn(self, peer_id: str, key: str, message: str, level: int = logging.WARNING) -> None:
        now = self.clock.now()
        last = self._last_warned.get((peer_id, key))
        if last is None or now - last >= _LOG_REPEAT_S:
            self._last_warned[(peer_id, key)] = now
            log.log(level, "node %s: %s", self.id, message)

    def _log_events(self, events: list[Event]) -> None:
        for event in events:
            member = event.member
            level = logging.WARNING if event.kind == "dead" else logging.INFO
            log.log(
                level,
                "node %s: member %s (%s) %s, generation %d",
                self.id,
                member.id,
                member.address,
                event.kind,
                member.generation,
            )
