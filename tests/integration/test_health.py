"""The standard health service (no token needed) and server reflection."""

from __future__ import annotations

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from .inprocess import running


def test_health_and_reflection() -> None:
    with running(token="t") as node:
        channel = grpc.insecure_channel(node.address)
        try:
            health = health_pb2_grpc.HealthStub(channel)
            for service in ("", "gossip.v1.Exchange", "gossip.v1.Catchup"):
                reply = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
                assert reply.status == health_pb2.HealthCheckResponse.SERVING
            stub = reflection_pb2_grpc.ServerReflectionStub(channel)
            request = reflection_pb2.ServerReflectionRequest(list_services="")
            answers = list(
                stub.ServerReflectionInfo(
                    iter([request]), timeout=5, metadata=[("authorization", "Bearer t")]
                )
            )
            names = {s.name for s in answers[0].list_services_response.service}
            assert {"gossip.v1.Exchange", "gossip.v1.Catchup", "grpc.health.v1.Health"} <= names
        finally:
            channel.close()
