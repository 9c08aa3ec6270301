"""A :class:`~gossip.status.Status` as a protobuf ``StatusReply``: what a node's Control
service sends.

The serving side only; clients decode the reply without the protobuf runtime
(:mod:`gossip.transport.control`).
"""

from __future__ import annotations

from typing import Any

from gossip.status import Status
from gossip.transport._pb import gossip_pb2 as pb
from gossip.transport.control import STATE_VALUES


def status_to_pb(record: Status) -> pb.StatusReply:
    """Encoded from the status JSON, the form the client's decoder gives back."""
    status = record.as_json()
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
