"""The Control service on the wire: a :class:`~gossip.status.Status` as a ``StatusReply``,
and one Status call.

Needs gRPC and the generated messages only (no numpy): ``gossip-ctl`` loads this and
:mod:`gossip.transport.channel`, not the exchange machinery.
"""

from __future__ import annotations

from dataclasses import asdict, fields
from typing import Any, TypeVar

import grpc
from google.protobuf.message import Message

from gossip.status import (
    ByteCounts,
    CodecBytes,
    ExchangeCounts,
    MemberInfo,
    Metric,
    ModelInfo,
    Protection,
    QuarantinedPeer,
    Recovery,
    ReferenceInfo,
    ScheduleInfo,
    Status,
)
from gossip.transport._pb import gossip_pb2 as pb
from gossip.transport._pb import gossip_pb2_grpc as pb_grpc
from gossip.transport.channel import translate

STATE_NAMES = {
    pb.MEMBER_STATE_ALIVE: "alive",
    pb.MEMBER_STATE_SUSPECT: "suspect",
    pb.MEMBER_STATE_DEAD: "dead",
    pb.MEMBER_STATE_LEFT: "left",
}
"""Member states on the wire and in the JSON (the values of gossip.membership.State)."""
STATE_VALUES = {name: value for value, name in STATE_NAMES.items()}

R = TypeVar("R")


def call_status(channel: grpc.Channel, address: str, timeout: float) -> Status:
    """The status of the peer at ``address`` over ``channel``; TransportError without one."""
    stub = pb_grpc.ControlStub(channel)
    try:
        return status_from_pb(stub.Status(pb.StatusRequest(), timeout=timeout))
    except grpc.RpcError as exc:
        raise translate(exc, address) from exc


def status_to_pb(status: Status) -> pb.StatusReply:
    traffic, schedule, protection = status.bytes, status.schedule, status.protection
    spe = schedule.steps_per_exchange
    return pb.StatusReply(
        id=status.id,
        address=status.address,
        generation=status.generation,
        uptime_s=status.uptime_s,
        step=status.step,
        loss=status.loss,  # None leaves it unset: no training step yet
        has_accuracy=status.accuracy is not None,
        accuracy=status.accuracy or 0.0,
        exchanges=pb.ExchangeCounts(**asdict(status.exchanges)),
        bytes=pb.ByteCounts(
            sent=traffic.sent,
            received=traffic.received,
            by_codec=[pb.CodecBytes(codec=k, **asdict(c)) for k, c in traffic.by_codec.items()],
        ),
        references=pb.ReferenceInfo(**asdict(status.references)),
        model=pb.ModelInfo(**asdict(status.model)),
        compression=status.compression,
        members=[
            pb.MemberStatus(**{**asdict(m), "state": STATE_VALUES[m.state]}) for m in status.members
        ],
        metric_name=status.metric.name,
        metric=status.metric.value,
        dataset=status.dataset,
        samples_seen=status.samples_seen,
        state=status.state,
        protection=pb.Protection(
            quarantined=[pb.QuarantinedPeer(**asdict(q)) for q in protection.quarantined],
            quarantines=protection.quarantines,
            clipped=protection.clipped,
            unauthenticated=protection.unauthenticated,
            limited=protection.limited,
            malformed=protection.malformed,
            refusals=[pb.RefusalCount(reason=r, count=n) for r, n in protection.refusals.items()],
        ),
        recovery=pb.Recovery(**asdict(status.recovery)),
        schedule=pb.Schedule(
            **{**asdict(schedule), "steps_per_exchange": spe or 0.0},
            has_steps_per_exchange=spe is not None,
        ),
    )


def status_from_pb(reply: pb.StatusReply) -> Status:
    schedule, protection = reply.schedule, reply.protection
    return Status(
        id=reply.id,
        address=reply.address,
        generation=reply.generation,
        uptime_s=reply.uptime_s,
        state=reply.state,
        step=reply.step,
        samples_seen=reply.samples_seen,
        loss=reply.loss if reply.HasField("loss") else None,
        accuracy=reply.accuracy if reply.has_accuracy else None,
        metric=Metric(reply.metric_name, reply.metric),
        dataset=reply.dataset,
        exchanges=_same_fields(ExchangeCounts, reply.exchanges),
        bytes=ByteCounts(
            reply.bytes.sent,
            reply.bytes.received,
            {c.codec: _same_fields(CodecBytes, c) for c in reply.bytes.by_codec},
        ),
        references=_same_fields(ReferenceInfo, reply.references),
        schedule=_same_fields(
            ScheduleInfo,
            schedule,
            steps_per_exchange=(
                schedule.steps_per_exchange if schedule.has_steps_per_exchange else None
            ),
        ),
        model=_same_fields(ModelInfo, reply.model),
        compression=reply.compression,
        members=[
            _same_fields(MemberInfo, m, state=STATE_NAMES.get(m.state, "dead"))
            for m in reply.members
        ],
        protection=_same_fields(
            Protection,
            protection,
            quarantined=[_same_fields(QuarantinedPeer, q) for q in protection.quarantined],
            refusals={c.reason: c.count for c in protection.refusals},
        ),
        recovery=_same_fields(Recovery, reply.recovery),
    )


def _same_fields(cls: type[R], message: Message, **parsed: Any) -> R:
    """``cls`` from the message's fields of the same names, ``parsed`` ones given as they are."""
    names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    return cls(**{name: getattr(message, name) for name in names - parsed.keys()}, **parsed)
