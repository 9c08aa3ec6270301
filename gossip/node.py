"""A running peer: trains continuously, gossips parameters, keeps its membership view.

The node is the driver of the pure core: it owns the threads, reads the real
clock and performs the I/O that the core asks for. Three loops run at once:

* training: minibatch steps on the local shard (writes under the replica lock),
  at most ``local_steps`` past the last completed exchange (gossip.schedule);
* gossip: after each step (or every ``gossip_interval``) a two-way exchange with
  the round partner met least recently (gossip.pairing), the first one once the
  membership view has settled (gossip.view_settle);
* membership: probes, failure detection and delta push-pulls (gossip.membership).

The gRPC server answers exchanges, digests and status from its own threads.
``stop()`` (SIGTERM, Ctrl-C, ``--duration``) ends the loops after their current
step, announces the leave, stops serving and writes the report.
"""

from __future__ import annotations

import json
import logging
import random
import secrets
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from gossip import checkpoint
from gossip.assembly import assemble
from gossip.averaging.pairwise import RAW_CODEC, Identity, Snapshot, encode
from gossip.bootstrap import CatchUp, catch_up, order
from gossip.clock import Clock, SystemClock
from gossip.config import NodeConfig
from gossip.data import Dataset
from gossip.errors import ExchangeRefused, UsageError
from gossip.history import History
from gossip.malloc import keep_message_buffers, limit_arenas
from gossip.membership import Digest, MemberEntry, MembershipConfig
from gossip.membership_driver import MembershipDriver
from gossip.names import id_problem
from gossip.observability import Observability
from gossip.same_model import check_seeds
from gossip.status import (
    ByteCounts,
    CodecBytes,
    ExchangeCounts,
    Metric,
    ModelInfo,
    Protection,
    Recovery,
    ReferenceInfo,
    ScheduleInfo,
    Status,
)
from gossip.trainable import Feed, ReplicaAware
from gossip.training import Evaluation
from gossip.transport.base import ResponderSession, Transport
from gossip.transport.fetch import Fetched, FetchRequest
from gossip.view_settle import ViewSettle

log = logging.getLogger("gossip.node")

MODEL_CHECK_S = 0.25
"""Seconds between two model checks of the seeds while none has answered (peers started
together); a Status call to an address where nothing listens fails at once."""
VIEW_POLL_S = 0.02
"""How often the gossip loop looks at the membership view while waiting for it to settle."""
IDLE_RETRY_S = 0.001
"""Seconds before the gossip loop tries again when every alive member is busy with us;
doubled (at random, up to ``gossip_interval``) after each exchange in a row that fails."""


def limit_blas_threads(threads: int) -> None:
    """Cap numpy's BLAS threads for the whole process (0: leave them); see NodeConfig."""
    if threads > 0:
        threadpool_limits(limits=threads, user_api="blas")


class Node:
    """One peer; usable from Python as ``Node(config).run()`` or start()/stop()."""

    def __init__(
        self,
        config: NodeConfig,
        *,
        transport: Transport | None = None,
        clock: Clock | None = None,
        model: object | None = None,
        data: tuple[Dataset, Dataset] | Feed | None = None,
    ) -> None:
        """``model``: a :class:`~gossip.trainable.Trainable` or what ``gossip.adapters.adapt``
        wraps (a compiled Keras model); None: the ``--model`` MLP. ``data``: arrays as
        ``(train, test)`` Datasets or batches as a Feed; None: ``--dataset``."""
        self.config = config
        self.id = config.id or f"node-{secrets.token_hex(3)}"
        self.generation = time.time_ns() // 1000  # new at every start, grows across restarts
        self.clock = clock or SystemClock()
        self.address = ""
        self.rng = random.Random(f"{config.seed}/{config.shard[0]}/{self.id}")
        self.membership: MembershipDriver | None = None
        parts = assemble(
            config,
            identity=lambda: Identity(self.id, self.generation, self.address),
            on_failed=self._exchange_failed,
            clock=self.clock,
            rng=self.rng,
            transport=transport,
            model=model,
            data=data,
        )
        self.model, self.replica, self.trainer = parts.model, parts.replica, parts.trainer
        self.dataset_name, self._data_description = parts.data_name, parts.data_description
        self._carrier = parts.carrier  # its security counters (gRPC) for status
        self.transport = parts.transport  # measured: exchange latency, consensus distance
        self.schedule, self.exchanger = parts.schedule, parts.exchanger
        self.compression = parts.compression
        self.catchup = CatchUp(state="on" if config.bootstrap else "off")
        self.recovery = Recovery()  # the catch-up fields come from self.catchup
        self._ready = threading.Event()  # cleared while catching up: no exchanges, no serving
        self._ready.set()  # simulations drive serve() by hand, without a catch-up
        self._warm_up = threading.Thread()  # start() loads the codecs in it (not started: done)
        self.view_settle = ViewSettle(0.0, 0.0)  # serve() sets it from the heartbeat interval
        self._checkpoints: Path | None = None
        if config.checkpoint_dir:
            self._checkpoints = checkpoint.checkpoint_dir(config.checkpoint_dir)
            self._resume()
        self.evaluation: Evaluation | None = None
        self.history = History()
        self.observability = Observability(self)  # --metrics-port, --tensorboard-dir
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.failure: UsageError | None = None
        """Why the node stopped itself (its seeds run another model); gossip-node exits 2."""
        self._started_at = 0.0
        self._state = "created"

    # ------------------------------------------------------------ lifecycle

    def serve(self) -> str:
        """Bind the server and join the membership; no loops yet (simulations drive by hand)."""
        bound = self.transport.serve(self.config.listen, self)
        self.address = self.config.advertised(bound)
        self.membership = MembershipDriver(
            MemberEntry(self.id, self.address, self.generation, 0),
            MembershipConfig.profile(self.config.membership, self.config.heartbeat_interval),
            self.transport,
            self.clock,
            self.config.peers,
            self.rng,
        )
        self.view_settle = ViewSettle.for_rounds(self.membership.config.interval)
        self._started_at = self.clock.now()
        self._state = "training"
        return self.address

    def warm_up(self) -> None:
        """Load the codecs and map the exchange vectors, with references for every seed peer
        (``Mixer.warm_up``); start() does it in the background before the first exchange."""
        self.exchanger.mixer.warm_up(len(self.config.peers))

    def start(self) -> str:
        """Serve, then start the training, gossip and membership loops; return the address."""
        # before any thread of gRPC's: each thread that allocates before the cap gets an
        # arena of its own, kept in use after it (7 arenas once the seed check went first)
        limit_arenas()  # peers' large messages (gossip/malloc.py)
        keep_message_buffers()  # 1 MiB chunk frames from the heap, pages kept (gossip/malloc.py)
        # another model than the seeds': UsageError before anything is bound or started
        seeds_agree = check_seeds(self.config.peers, self.transport.status,
                                  self.replica.fingerprint, self.replica.num_params)  # fmt: skip
        self.observability.start()  # a port in use or unwritable dir: UsageError, nothing started
        limit_blas_threads(self.config.blas_threads)
        # the training thread holds the GIL in numpy-light Python code; hand it over every
        # 1 ms (not 5) so probes and their answers keep their timing (bench/membership.py, M2)
        sys.setswitchinterval(min(sys.getswitchinterval(), 0.001))
        # the codecs' compiled loops load (seconds) while we serve and meet the members, so
        # every peer's view is whole when the first exchange picks its round partner
        self._warm_up = threading.Thread(
            target=self._guarded(self.warm_up),
            name=f"{self.id}-warm-up",
            daemon=True,
        )
        self._warm_up.start()
        self._threads.append(self._warm_up)
        if self.config.bootstrap and self.config.peers:
            self._ready.clear()  # until catch_up() is over (first thing of the train loop)
        self.serve()
        if not self._ready.is_set():
            self._state = "catching_up"  # "training" once catch_up() is over
        log.info(
            "node %s listening on %s (model %s, %d params, %s)",
            self.id,
            self.address,
            self.replica.fingerprint,
            self.replica.num_params,
            self._data_description,
        )
        loops = [
            ("train", self._train_loop),
            ("gossip", self._gossip_loop),
            ("membership", self._membership_loop),
        ]
        if self._checkpoints is not None:
            loops.append(("checkpoint", self._checkpoint_loop))
        if self.config.peers and not seeds_agree:  # no seed up yet: peers started together
            loops.append(("model-check", self._model_check_loop))
        for name, loop in loops:
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

    def run(self) -> Status:
        """Start, run for ``duration`` (or until stop()), shut down; return the final status.

        UsageError (after the shut-down) when the node stopped itself: see ``failure``."""
        self.start()
        self.wait(self.config.duration)
        status = self.shutdown()
        if self.failure is not None:
            raise self.failure
        return status

    def shutdown(self, grace: float = 2.0) -> Status:
        """Finish the current step, announce the leave, stop serving, write the report."""
        self._stop.set()
        self.schedule.stop()
        self._state = "stopping"
        if self.membership is not None:
            # first, while we still answer probes: a slow exchange must not get us declared dead
            self.membership.leave()
        for thread in self._threads:
            thread.join(timeout=self.config.exchange_timeout + grace)
        self.transport.stop(grace)
        self.save_checkpoint()
        self.evaluation = self.trainer.evaluate()
        self._record()
        status = self.status()
        if self.config.report:
            self._write_report(status)
        self.observability.close()
        self._state = "stopped"
        counts = status.exchanges
        log.info(
            "node %s stopped after %d steps: loss %.4f, %s %.4f, "
            "exchanges ok %d failed %d refused %d",
            self.id,
            self.trainer.steps,
            self.evaluation.loss,
            self.evaluation.metric_name,
            self.evaluation.metric,
            counts.ok,
            counts.failed,
            counts.refused,
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
        self.catch_up()
        if self._state == "catching_up":
            self._state = "training"
        max_steps = self.config.max_steps
        slowdown = self.config.slowdown
        period = slowdown / self.config.step_rate if self.config.step_rate > 0 else 0.0
        next_step = self.clock.now()
        last_eval = -float("inf")
        while not self._stop.is_set():
            if self.trainer.exhausted or (
                max_steps is not None and self.trainer.steps >= max_steps
            ):
                self._state = "averaging"
                self.schedule.finished()
                if self._stop.wait(self.config.eval_interval):
                    break
            else:
                if period:
                    next_step = max(next_step + period, self.clock.now() - 1.0)
                    delay = next_step - self.clock.now()
                    if delay > 0 and self._stop.wait(delay):
                        break
                if self.schedule.wait_to_step(self.config.exchange_timeout, self._alone):
                    next_step = max(next_step, self.clock.now())  # no burst after a wait
                if isinstance(self.model, ReplicaAware):  # our Adam: as synchronous Adam would
                    self.model.replicas = 1 + self._partner_count()
                began = self.clock.now()
                if self.trainer.step() is not None:
                    self.schedule.stepped()
                if slowdown > 1.0 and not period:  # TEST KNOB --slowdown: a straggler
                    self._stop.wait((slowdown - 1.0) * (self.clock.now() - began))
            now = self.clock.now()
            if now - last_eval >= self.config.eval_interval:
                last_eval = now
                self.evaluation = self.trainer.evaluate()
                self._record()

    def _gossip_loop(self) -> None:
        assert self.membership is not None
        interval = self.config.gossip_interval
        # no exchanges with stale weights before the catch-up, nor before the codecs are loaded
        while not self._ready.is_set() or self._warm_up.is_alive():
            if self._stop.wait(0.05):
                return
        misses = 0  # exchanges in a row that did not complete: back off, a little, at random
        while self.schedule.wait_for_work(self._pause(interval)):
            if self._stop.is_set():
                return
            while not self.view_whole():  # the first exchange: in round (gossip/view_settle.py)
                if self._stop.wait(VIEW_POLL_S):
                    return
            alive = self.membership.reachable()
            peer = self.schedule.choose(alive, key=lambda m: m.id, me=self.id)
            if self._stop.is_set():  # stop() came while we waited for the partner's offer
                return
            if peer is None:  # alone, or the only alive member is in an exchange with us
                self._stop.wait(interval if not alive else IDLE_RETRY_S)
                continue
            if self.exchange_with(peer.id, peer.address):
                misses = 0
            else:
                misses = min(misses + 1, 10)
                self._stop.wait(self.rng.uniform(0.0, min(interval, IDLE_RETRY_S * 2**misses)))

    def view_whole(self) -> bool:
        """Whether the first exchange may start: the membership view settled (or it did once)."""
        if self.view_settle.settled or self.membership is None:
            return True
        members, pending = self.membership.view()
        if not self.view_settle.observe(self.clock.now(), members, pending):
            return False
        if members:
            log.info("node %s: view of %d members settled in %.2f s", self.id, len(members),
                     self.view_settle.waited)  # fmt: skip
        return True

    def _pause(self, interval: float) -> float:
        """Seconds before an exchange without a new step: none while averaging models apart.

        Once training is over (or when there is none), models that still disagree are
        averaged back to back, so the peers hold the mean within a few rounds rather
        than one exchange per interval; once they agree, the timer paces again.
        """
        if self._state == "averaging" and self.exchanger.mixer.apart:
            return 0.0
        return interval * self.rng.uniform(0.5, 1.5)

    def _partner_count(self) -> int:
        """Members to average with (ourselves not counted): see MembershipDriver.reachable."""
        return 0 if self.membership is None else self.membership.partner_count()

    def _alone(self) -> bool:
        """Nobody alive to average with: training does not wait for exchanges."""
        return self._partner_count() == 0

    def _model_check_loop(self) -> None:
        """The start-up model check again, until a seed answers (gossip.same_model).

        A peer started with its seeds found none up; one whose seeds turn out to run
        another model says so in one line and stops (``failure``: gossip-node exits 2).
        """
        assert self.membership is not None
        fingerprint, size = self.replica.fingerprint, self.replica.num_params
        while not self._stop.wait(MODEL_CHECK_S):
            seeds = self.membership.seed_addresses()
            try:
                if check_seeds(seeds, self.transport.status, fingerprint, size, me=self.id):
                    return
            except UsageError as exc:
                self.failure = exc
                log.error("node %s stops: %s", self.id, exc)
                self._stop.set()
                return

    def _membership_loop(self) -> None:
        assert self.membership is not None
        self.membership.run(self._stop)

    def exchange_with(self, peer_id: str, address: str) -> bool:
        """One two-way exchange as the initiator; True when both sides applied it."""
        return self.exchanger.exchange_with(peer_id, address)

    # ------------------------------------------------------------ Handler (the server side)

    def check_header(self, offer: Snapshot) -> None:
        if not self._ready.is_set():
            raise ExchangeRefused("busy", "catching up from a neighbour first")
        self.exchanger.check_header(offer)

    def on_fetch(self, request: FetchRequest) -> Fetched:
        """Serve a catch-up: our current model, unless we are not ahead of the requester."""
        if not self._ready.is_set():
            raise ExchangeRefused("busy", "still catching up itself")
        problem = id_problem(request.requester_id)
        if problem:
            raise ExchangeRefused("invalid_id", f"the requester gave {problem}")
        self.exchanger.admit(request.requester_id)
        fingerprint, size = self.replica.fingerprint, self.replica.num_params
        if request.fingerprint != fingerprint or request.num_params != size:
            raise ExchangeRefused(
                "fingerprint_mismatch",
                f"model {request.fingerprint} ({request.num_params} values) is not {fingerprint}",
            )
        with self.replica.lock:
            payload = encode(self.replica.params)
            step = self.trainer.steps
        if step <= request.min_step:
            return Fetched(None, step)
        self.recovery.fetches_served += 1
        snapshot = Snapshot(
            self.id, self.generation, self.address, step, fingerprint, size, RAW_CODEC, payload
        )
        return Fetched(snapshot, step)

    def on_exchange(self, offer: Snapshot) -> ResponderSession:
        return self.exchanger.on_exchange(offer)

    def on_refused(self, reason: str, detail: str) -> None:
        self.exchanger.refused("?", reason, detail)

    def on_push_pull(self, digest: Digest) -> Digest:
        assert self.membership is not None
        return self.membership.merge(digest)

    def on_status(self) -> Status:
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

    def status(self) -> Status:
        """The node's view, as the status JSON of the README."""
        now = self.clock.now()
        evaluation = self.evaluation
        loss = self.trainer.loss
        traffic = self.transport.traffic
        return Status(
            id=self.id,
            address=self.address,
            generation=self.generation,
            uptime_s=round(now - self._started_at, 3) if self._started_at else 0.0,
            state=self._state,
            step=self.trainer.steps,
            samples_seen=self.trainer.samples_seen,
            loss=float(loss) if np.isfinite(loss) else None,  # null before the first step
            accuracy=evaluation.accuracy if evaluation else None,
            metric=Metric(evaluation.metric_name, evaluation.metric) if evaluation else Metric(),
            dataset=self.dataset_name,
            exchanges=ExchangeCounts(**self.counts),
            bytes=ByteCounts(
                traffic.sent,
                traffic.received,
                {k: CodecBytes(**v) for k, v in self.exchanger.bytes_by_codec().items()},
            ),
            references=ReferenceInfo(**self.exchanger.compression_status()),
            schedule=ScheduleInfo(**self.schedule.stats().as_dict()),
            model=ModelInfo(self.replica.num_params, self.replica.fingerprint),
            compression=self.compression,
            members=self.membership.status() if self.membership else [],
            protection=self._protection(),
            recovery=replace(
                self.recovery,
                catchup_state=self.catchup.state,
                catchup_donor=self.catchup.donor,
                catchup_step=self.catchup.step,
                catchup_s=round(self.catchup.seconds, 3),
            ),
        )

    def _protection(self) -> Protection:
        carrier = self._carrier  # the security counters of gRPC; none in memory
        return replace(
            self.exchanger.protection(),
            unauthenticated=int(getattr(carrier, "unauthenticated", 0)),
            limited=int(getattr(carrier, "limited", 0)),  # slots and call rates
            malformed=int(getattr(carrier, "malformed", 0)),
            refusals=self.refusals,
        )

    # ------------------------------------------------------------ robustness and recovery

    def _exchange_failed(self, peer_id: str) -> None:
        """An exchange we started failed: evidence for the failure detector, not conviction."""
        if self.membership is not None:
            self.membership.report_failure(peer_id)

    def _resume(self) -> None:
        """Load the newest valid checkpoint of this model, if any (corrupt ones are skipped)."""
        assert self._checkpoints is not None
        scan = checkpoint.load_latest(self._checkpoints, self.replica.fingerprint)
        self.recovery.checkpoints_skipped = len(scan.skipped)
        found = scan.checkpoint
        if found is None:
            return
        params = found.arrays.get("params")
        if params is None or params.shape != self.replica.params.shape:
            log.warning("checkpoint %s holds no parameters of this model; ignored", found.path)
            return
        if not np.isfinite(params).all():
            log.warning("checkpoint %s holds NaN or Inf; ignored", found.path)
            return
        state: dict[str, Any] = {
            k[len("opt/") :]: v for k, v in found.arrays.items() if k.startswith("opt/")
        }
        state.update(found.meta.get("optimizer_scalars", {}))
        with self.replica.lock:
            self.replica.params[...] = params
            self.replica.writes += 1
            if found.meta.get("optimizer") == self.config.optimizer:
                try:
                    self.model.load_optimizer_state(state)
                except (UsageError, ValueError) as exc:
                    log.warning("checkpoint optimizer state not loaded (%s): starting it anew", exc)
        self.trainer.steps = found.step
        self.trainer.samples_seen = int(found.meta.get("samples_seen", 0))
        self.recovery.resumed = True
        self.recovery.resumed_step = self.recovery.last_checkpoint_step = found.step
        log.info("node %s resumed from %s at step %d", self.id, found.path.name, found.step)

    def save_checkpoint(self) -> Path | None:
        """Write a checkpoint now (atomic); None without --checkpoint-dir or on a disk error."""
        if self._checkpoints is None:
            return None
        with self.replica.lock:
            params = self.replica.params.copy()
            state = self.model.optimizer_state()
            step, samples = self.trainer.steps, self.trainer.samples_seen
        arrays = {"params": params}
        scalars: dict[str, int] = {}
        for key, value in state.items():
            if isinstance(value, np.ndarray):
                arrays[f"opt/{key}"] = value
            else:
                scalars[key] = int(value)
        meta = {
            "step": step,
            "samples_seen": samples,
            "fingerprint": self.replica.fingerprint,
            "id": self.id,
            "generation": self.generation,
            "optimizer": self.config.optimizer,
            "optimizer_scalars": scalars,
            "compression": self.compression,
            # codec residuals are not saved: the per-neighbour references carry them and
            # a restart starts every pair with a full exchange (gossip/averaging/compressed.py)
            "residuals": "none",
            "saved_at": time.time(),
        }
        try:
            path = checkpoint.save(self._checkpoints, arrays, meta)
        except OSError as exc:
            log.error("node %s: cannot write a checkpoint: %s", self.id, exc)
            return None
        self.recovery.checkpoints_saved += 1
        self.recovery.last_checkpoint_step = step
        return path

    def _checkpoint_loop(self) -> None:
        while not self._stop.wait(self.config.checkpoint_interval):
            self.save_checkpoint()

    def catch_up(self) -> None:
        """Before training: adopt a model from an alive neighbour ahead of us (see bootstrap).

        The training loop's first act; simulations call it by hand after ``serve()``.
        """
        try:
            if not self.config.bootstrap or not self.config.peers:
                self.catchup.state = "off" if not self.config.bootstrap else "none"
                return
            self.catchup.state = "running"
            began = self.clock.now()
            deadline = began + self.config.bootstrap_timeout
            donors: list[tuple[str, str]] = []
            while not donors and self.clock.now() < deadline:
                answered, hearsay = self.membership.by_reach() if self.membership else ([], [])
                donors = order(
                    [(m.id, m.address) for m in answered if m.id != self.id],
                    [(m.id, m.address) for m in hearsay if m.id != self.id],
                    self.rng,
                )
                if not donors and self._stop.wait(0.1):
                    return
            request = FetchRequest(
                self.id, self.replica.fingerprint, self.replica.num_params, self.trainer.steps
            )
            timeout = self.config.exchange_timeout
            values, result = catch_up(
                donors,
                self.transport.fetch,
                request,
                self.clock.now,
                timeout=timeout,
                budget=timeout,  # all the fetches together: one exchange deadline
            )
            result.seconds = self.clock.now() - began
            self.catchup = result
            if values is None:
                if not donors:
                    why = f"no neighbour alive within {self.config.bootstrap_timeout:g} s"
                elif result.state == "none":
                    why = "no donor ahead"
                else:
                    why = "; ".join(result.errors)
                log.info("node %s: no catch-up (%s); training from step %d", self.id, why,
                         self.trainer.steps)  # fmt: skip
                return
            self.replica.assign(values)
            log.info(
                "node %s caught up from %s (its step %d, ours %d) in %.2f s",
                self.id,
                result.donor,
                result.step,
                self.trainer.steps,
                result.seconds,
            )
        finally:
            self._ready.set()

    def _record(self) -> None:
        evaluation = self.evaluation
        if evaluation is None:
            return
        self.history.add(
            {
                "t": round(self.clock.now() - self._started_at, 3),
                "step": self.trainer.steps,
                "samples_seen": self.trainer.samples_seen,
                "train_loss": self.trainer.loss,
                "loss": evaluation.loss,
                evaluation.metric_name: evaluation.metric,
                "exchanges_ok": self.counts["ok"],
                "consensus_distance": self.transport.stats.consensus_distance,
                "bytes_sent": self.transport.traffic.sent,
                "bytes_received": self.transport.traffic.received,
            }
        )
        self.observability.record(self.history[-1])

    def _write_report(self, status: Status) -> None:
        report = {
            "status": status.as_json(),
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
