"""The Control service on the wire: the status JSON as a ``StatusReply``, and one Status call.

Needs gRPC and the generated messages only (no numpy): ``gossip-ctl`` loads this and
:mod:`gossip.transport.channel`, not the exchange machinery.
"""

from __future__ import annotations

from typing import Any

import grpc

from gossip.transport._pb import gossip_pb2 as pb
from gossip.transport._pb import gossip_pb2_grpc as pb_grpc
from gossip.transport.channel import translate

StatusDict = dict[str, Any]
"""The status JSON (README, Status JSON): what a node answers to Status."""

STATE_NAMES = {
    pb.MEMBER_STATE_ALIVE: "alive",
    pb.MEMBER_STATE_SUSPECT: "suspect",
    pb.MEMBER_STATE_DEAD: "dead",
    pb.MEMBER_STATE_LEFT: "left",
}
"""Member states on the wire and in the JSON (the values of gossip.membership.State)."""
STATE_VALUES = {name: value for value, name in STATE_NAMES.items()}


def call_status(channel: grpc.Channel, address: str, timeout: float) -> StatusDict:
    """The status of the peer at ``address`` over ``channel``; TransportError without one."""
    stub = pb_grpc.ControlStub(channel)
    try:
        return status_from_pb(stub.Status(pb.StatusRequest(), timeout=timeout))
    except grpc.RpcError as exc:
        raise translate(exc, address) from exc


def status_to_pb(status: StatusDict) -> pb.StatusReply:
    accuracy = status.get("accuracy")
    loss = status.get("loss")
    return pb.StatusReply(
        id=status["id"],
        address=status["address"],
        generation=status["generation"],
        uptime_s=status["uptime_s"],
        step=status["step"],
        loss=loss,  # None leaves it unset: no training step yet
        has_accuracy=accuracy is not None,
        accuracy=accuracy or 0.0,
        exchanges=pb.ExchangeCounts(**status["exchanges"]),
        bytes=pb.ByteCounts(
            sent=status["bytes"]["sent"],
            received=status["bytes"]["received"],
            by_codec=[
                pb.CodecBytes(codec=codec, sent=c["sent"], received=c["received"])
                for codec, c in status["bytes"].get("by_codec", {}).items()
            ],
        ),
        references=pb.ReferenceInfo(**status.get("references", {})),
        model=pb.ModelInfo(**status["model"]),
        compression=status["compression"],
        members=[
            pb.MemberStatus(
                id=m["id"],
                address=m["address"],
                state=STATE_VALUES[m["state"]],
                generation=m["generation"],
                last_heard_s=m["last_heard_s"],
            )
            for m in status["members"]
        ],
        metric_name=status["metric"]["name"],
        metric=status["metric"]["value"],
        dataset=status["dataset"],
        samples_seen=status["samples_seen"],
        state=status["state"],
        protection=_protection_to_pb(status.get("protection", {})),
        recovery=pb.Recovery(**status.get("recovery", {})),
        schedule=_schedule_to_pb(status.get("schedule", {})),
    )


def _schedule_to_pb(schedule: dict[str, Any]) -> pb.Schedule:
    spe = schedule.get("steps_per_exchange")
    fields = {k: v for k, v in schedule.items() if k != "steps_per_exchange"}
    return pb.Schedule(
        **fields, has_steps_per_exchange=spe is not None, steps_per_exchange=spe or 0.0
    )


def _schedule_from_pb(s: pb.Schedule) -> dict[str, Any]:
    return {
        "local_steps": s.local_steps,
        "steps_per_exchange": s.steps_per_exchange if s.has_steps_per_exchange else None,
        "completed": s.completed,
        "waits": s.waits,
        "waiting_s": s.waiting_s,
        "in_flight": s.in_flight,
    }


def _protection_to_pb(protection: dict[str, Any]) -> pb.Protection:
    return pb.Protection(
        quarantined=[pb.QuarantinedPeer(**q) for q in protection.get("quarantined", [])],
        quarantines=protection.get("quarantines", 0),
        clipped=protection.get("clipped", 0),
        unauthenticated=protection.get("unauthenticated", 0),
        limited=protection.get("limited", 0),
        malformed=protection.get("malformed", 0),
        refusals=[
            pb.RefusalCount(reason=r, count=n) for r, n in protection.get("refusals", {}).items()
        ],
    )


def _protection_from_pb(p: pb.Protection) -> dict[str, Any]:
    return {
        "quarantined": [
            {"id": q.id, "remaining_s": q.remaining_s, "reason": q.reason, "strikes": q.strikes}
            for q in p.quarantined
        ],
        "quarantines": p.quarantines,
        "clipped": p.clipped,
        "unauthenticated": p.unauthenticated,
        "limited": p.limited,
        "malformed": p.malformed,
        "refusals": {r.reason: r.count for r in p.refusals},
    }


def _recovery_from_pb(r: pb.Recovery) -> dict[str, Any]:
    return {
        "resumed": r.resumed,
        "resumed_step": r.resumed_step,
        "checkpoints_saved": r.checkpoints_saved,
        "checkpoints_skipped": r.checkpoints_skipped,
        "last_checkpoint_step": r.last_checkpoint_step,
        "catchup_state": r.catchup_state,
        "catchup_donor": r.catchup_donor,
        "catchup_step": r.catchup_step,
        "catchup_s": r.catchup_s,
        "fetches_served": r.fetches_served,
    }


def status_from_pb(reply: pb.StatusReply) -> StatusDict:
    """The status JSON (README, Status JSON)."""
    return {
        "id": reply.id,
        "address": reply.address,
        "generation": reply.generation,
        "uptime_s": reply.uptime_s,
        "state": reply.state,
        "step": reply.step,
        "samples_seen": reply.samples_seen,
        "loss": reply.loss if reply.HasField("loss") else None,
        "accuracy": reply.accuracy if reply.has_accuracy else None,
        "metric": {"name": reply.metric_name, "value": reply.metric},
        "dataset": reply.dataset,
        "exchanges": {
            "ok": reply.exchanges.ok,
            "failed": reply.exchanges.failed,
            "refused": reply.exchanges.refused,
        },
        "bytes": {
            "sent": reply.bytes.sent,
            "received": reply.bytes.received,
            "by_codec": {
                c.codec: {"sent": c.sent, "received": c.received} for c in reply.bytes.by_codec
            },
        },
        "references": {
            "count": reply.references.count,
            "bytes": reply.references.bytes,
            "max_count": reply.references.max_count,
            "evictions": reply.references.evictions,
            "resets": reply.references.resets,
            "consensus_step": reply.references.consensus_step,
        },
        "model": {
            "params": reply.model.params,
            "averaged": reply.model.averaged or reply.model.params,
            "fingerprint": reply.model.fingerprint,
        },
        "compression": reply.compression,
        "members": [
            {
                "id": m.id,
                "address": m.address,
                "state": STATE_NAMES.get(m.state, "dead"),
                "generation": m.generation,
                "last_heard_s": m.last_heard_s,
            }
            for m in reply.members
        ],
        "protection": _protection_from_pb(reply.protection),
        "recovery": _recovery_from_pb(reply.recovery),
        "schedule": _schedule_from_pb(reply.schedule),
    }
