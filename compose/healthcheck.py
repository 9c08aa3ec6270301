"""Container healthcheck: exit 0 when this peer's grpc.health.v1 service answers SERVING.

It runs every few seconds, so it imports grpc only (no gossip, no numpy). It
reads the settings the entrypoint hands to gossip-node: the port from
``GOSSIP_LISTEN`` and, for a peer serving TLS, ``GOSSIP_TLS_CERT``,
``GOSSIP_TLS_KEY`` and ``GOSSIP_TLS_CA``. With TLS it dials 127.0.0.1 but
checks the certificate for the name other peers dial (the host of
``GOSSIP_ADVERTISE``, else the host name, as gossip-node advertises), trusts
the CA (or, without one, the peer's own certificate), and presents the peer's
own certificate, which mutual TLS accepts. The health service needs no token.
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Mapping
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

TIMEOUT_S = 5.0


def channel(env: Mapping[str, str]) -> grpc.Channel:
    """A channel to this container's own peer, plaintext or TLS as the peer serves."""
    port = env.get("GOSSIP_LISTEN", "0.0.0.0:50051").rpartition(":")[2]
    target = f"127.0.0.1:{port}"
    cert = env.get("GOSSIP_TLS_CERT")
    if not cert:
        return grpc.insecure_channel(target)
    key = env.get("GOSSIP_TLS_KEY")
    ca = env.get("GOSSIP_TLS_CA") or cert
    credentials = grpc.ssl_channel_credentials(
        root_certificates=Path(ca).read_bytes(),
        private_key=Path(key).read_bytes() if key else None,
        certificate_chain=Path(cert).read_bytes() if key else None,
    )
    name = env.get("GOSSIP_ADVERTISE", "").rpartition(":")[0] or socket.gethostname()
    return grpc.secure_channel(target, credentials, [("grpc.ssl_target_name_override", name)])


def healthy(env: Mapping[str, str]) -> bool:
    with channel(env) as ch:
        request = health_pb2.HealthCheckRequest()
        reply = health_pb2_grpc.HealthStub(ch).Check(request, timeout=TIMEOUT_S)
    return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)


def main() -> int:
    try:
        return 0 if healthy(os.environ) else 1
    except (grpc.RpcError, OSError) as exc:
        print(f"unhealthy: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
