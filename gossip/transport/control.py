"""The Control service on the wire, as a client sees it: one Status call and its reply,
a :class:`~gossip.status.Status`.

Needs gRPC alone: the reply is decoded by :mod:`gossip.transport.lightpb` from
tables generated with the protobuf code, so ``gossip-ctl`` loads neither
numpy nor protobuf's runtime. The serving side is
:mod:`gossip.transport.status_pb`.
"""

from __future__ import annotations

from typing import Any

import grpc

from gossip.status import Status
from gossip.transport._pb.gossip_schema import ENUMS
from gossip.transport.channel import translate
from gossip.transport.lightpb import decode

_STATES = ENUMS["MemberState"]
STATE_NAMES = {
    _STATES["MEMBER_STATE_ALIVE"]: "alive",
    _STATES["MEMBER_STATE_SUSPECT"]: "suspect",
    _STATES["MEMBER_STATE_DEAD"]: "dead",
    _STATES["MEMBER_STATE_LEFT"]: "left",
}
"""Member states on the wire and in the JSON (the values of gossip.membership.State)."""
STATE_VALUES = {name: value for value, name in STATE_NAMES.items()}

STATUS_METHOD = "/gossip.v1.Control/Status"


def call_status(channel: grpc.Channel, address: str, timeout: float) -> Status:
    """The status of the peer at ``address`` over ``channel``; TransportError without one."""
    # an empty StatusRequest is no bytes; the reply's bytes are decoded here
    method = channel.unary_unary(STATUS_METHOD, request_serializer=None, response_deserializer=None)
    try:
        reply = method(b"", timeout=timeout)
    except grpc.RpcError as exc:
        raise translate(exc, address) from exc
    return Status.from_json(status_from_bytes(reply))


def status_from_bytes(data: bytes) -> dict[str, Any]:
    """The status JSON (README, Status JSON) of a ``StatusReply``'s bytes."""
    r = decode(data, "StatusReply")
    counts = r["bytes"]
    protection, schedule = r["protection"], r["schedule"]
    return {
        "id": r["id"],
        "address": r["address"],
        "generation": r["generation"],
        "uptime_s": r["uptime_s"],
        "state": r["state"],
        "step": r["step"],
        "samples_seen": r["samples_seen"],
        "loss": r["loss"],
        "accuracy": r["accuracy"] if r["has_accuracy"] else None,
        "metric": {"name": r["metric_name"], "value": r["metric"]},
        "dataset": r["dataset"],
        "exchanges": r["exchanges"],
        "bytes": {
            "sent": counts["sent"],
            "received": counts["received"],
            "by_codec": {
                c["codec"]: {"sent": c["sent"], "received": c["received"]}
                for c in counts["by_codec"]
            },
        },
        "references": r["references"],
        "model": r["model"],
        "compression": r["compression"],
        "members": [{**m, "state": STATE_NAMES.get(m["state"], "dead")} for m in r["members"]],
        "protection": {
            "quarantined": protection["quarantined"],
            "quarantines": protection["quarantines"],
            "clipped": protection["clipped"],
            "unauthenticated": protection["unauthenticated"],
            "limited": protection["limited"],
            "malformed": protection["malformed"],
            "refusals": {c["reason"]: c["count"] for c in protection["refusals"]},
        },
        "recovery": r["recovery"],
        "schedule": {
            "local_steps": schedule["local_steps"],
            "steps_per_exchange": (
                schedule["steps_per_exchange"] if schedule["has_steps_per_exchange"] else None
            ),
            "completed": schedule["completed"],
            "waits": schedule["waits"],
            "waiting_s": schedule["waiting_s"],
            "in_flight": schedule["in_flight"],
        },
    }
