"""How one peer is put together: every part built once, handed the parts it needs.

:class:`~gossip.node.Node` drives the parts (threads, the clock, signals);
:func:`assemble` only builds them, in the order their needs dictate, so no
part is patched after construction. What only the node knows is passed in as
callables: who the peer is (its address is known once it serves) and what to
do with a failed exchange (the membership exists once it serves).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from gossip.averaging.compressed import Mixing
from gossip.averaging.normalizer import NormalizerShare
from gossip.averaging.pairwise import Identity
from gossip.clock import Clock
from gossip.compression import parse_spec, resolve
from gossip.config import NodeConfig
from gossip.data import Dataset
from gossip.exchanger import Exchanger
from gossip.membership.faults import wrap_from_env
from gossip.recipe import peer_parts
from gossip.replica import Replica
from gossip.robust import Guard, RobustConfig
from gossip.schedule import Schedule
from gossip.trainable import Feed, Mirrored, SharesNormalizer, Trainable
from gossip.training import Trainer
from gossip.transport.base import Transport
from gossip.transport.metered import MeteredTransport


@dataclass(frozen=True)
class Parts:
    """A peer's collaborators, wired to each other."""

    model: Trainable
    replica: Replica
    trainer: Trainer
    carrier: Transport
    """The transport as given or made (gRPC: its security counters are read for status)."""
    transport: MeteredTransport
    """What the peer calls and serves through: the carrier, measured."""
    schedule: Schedule
    exchanger: Exchanger
    data_name: str
    data_description: str
    compression: str
    """The ``--compression`` spec in use (``auto`` resolved for this model's size)."""


def assemble(
    config: NodeConfig,
    *,
    identity: Callable[[], Identity],
    on_failed: Callable[[str], None],
    clock: Clock,
    rng: random.Random,
    transport: Transport | None = None,
    model: object | None = None,
    data: tuple[Dataset, Dataset] | Feed | None = None,
) -> Parts:
    """The parts of the peer ``config`` describes (``model``, ``data``: see Node)."""
    parts = peer_parts(config, model, data)  # any framework behind gossip.trainable
    trainable = parts.model
    replica = Replica(trainable.params, trainable.fingerprint(), config.alpha)
    if isinstance(trainable, Mirrored):  # a copy on a GPU: refreshed only after others' writes
        trainable.watch_writes(lambda: replica.writes)
    trainer = Trainer(trainable, replica, parts.batches, parts.test)
    normalizer = None
    if config.share_normalizer == "on" and isinstance(trainable, SharesNormalizer):
        trainable.share_normalizer = True
        normalizer = NormalizerShare(trainable.shared_normalizer, replica.lock)
    compression = resolve(config.compression, replica.num_params)
    carrier = transport if transport is not None else grpc_carrier(config, replica.num_params)
    exchanger: Exchanger  # built below; the metered transport asks it only during exchanges
    metered = MeteredTransport(
        wrap_from_env(carrier),  # TEST-ONLY partitions (GOSSIP_TEST_FAULTS)
        clock,
        # times the exchanges we start and estimates the consensus distance (metrics, plots)
        distance=lambda _offer, reply: exchanger.mixer.take_distance(reply.sender_id),
    )
    schedule = Schedule(config.local_steps, clock, config.pace_lead, lambda: trainer.steps)
    exchanger = Exchanger(
        replica,
        metered,
        clock,
        identity=identity,
        step=lambda: trainer.steps,
        timeout=config.exchange_timeout,
        mixing=Mixing(
            parse_spec(compression),
            config.consensus_step,
            int(config.reference_memory * (1 << 20)),
            seed=rng.randrange(1 << 62),
        ),
        schedule=schedule,
        normalizer=normalizer,
        guard=Guard(
            RobustConfig(
                max_step_norm=config.max_step_norm,
                max_scale=config.max_scale,
                drop_outliers=config.drop_outliers,
                quarantine_s=config.quarantine,
            )
        ),
        on_failed=on_failed,
    )
    return Parts(
        trainable,
        replica,
        trainer,
        carrier,
        metered,
        schedule,
        exchanger,
        parts.data_name,
        parts.description,
        compression,
    )


def grpc_carrier(config: NodeConfig, num_params: int) -> Transport:
    """gRPC with the config's token and TLS, sized for this model's exchanges."""
    from gossip.transport.grpc_transport import GrpcTransport
    from gossip.transport.security import Security, load_tls

    tls = load_tls(config.tls_cert, config.tls_key, config.tls_ca, server=True)
    return GrpcTransport(
        max_payload_bytes=4 * num_params + 4096,
        security=Security(config.token, tls),
        max_stream_s=2 * config.exchange_timeout + 10.0,
    )
