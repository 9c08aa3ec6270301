"""Hostile clients against real gRPC nodes: silent streams, auth header forms, reflection."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import grpc
import pytest

from .conftest import wait_for
from .inprocess import running

EXCHANGE = "/gossip.v1.Exchange/Exchange"


def test_silent_streams_cannot_starve_neighbours() -> None:
    """Case 6: twelve streams that send nothing, one connection each; exchanges go on."""
    quiet = threading.Event()

    def nothing() -> Iterator[bytes]:
        quiet.wait(30)
        yield from ()

    with running(id="a", max_steps=0) as a, running(id="b", max_steps=0) as b:
        limiter = a._carrier.limiter
        channels, calls = [], []
        try:
            for _ in range(12):
                channel = grpc.insecure_channel(
                    a.address, options=[("grpc.use_local_subchannel_pool", 1)]
                )
                channels.append(channel)
                calls.append(channel.stream_stream(EXCHANGE)(nothing(), timeout=30))
            wait_for(lambda: limiter.active() >= limiter.total, 10, "silent streams open")
            done = sum(b.exchange_with(a.id, a.address) for _ in range(10))
            assert done >= 9, (done, a.refusals, b.refusals)
            # and each silent stream is cut soon after it opened (the header deadline)
            wait_for(lambda: all(call.done() for call in calls), 10, "silent streams cut")
            assert limiter.evicted > 0
        finally:
            quiet.set()
            for channel in channels:
                channel.close()


def test_bearer_scheme_in_any_case_and_no_bare_token() -> None:
    """Case 7: ``bearer TOKEN`` is accepted, a bare ``TOKEN`` is not (README, Security)."""
    with running(token="s3cret") as node:
        channel = grpc.insecure_channel(node.address)
        status = channel.unary_unary("/gossip.v1.Control/Status")
        try:
            for value in ("Bearer s3cret", "bearer s3cret", "BEARER s3cret"):
                assert status(b"", metadata=[("authorization", value)], timeout=5)
            for value in ("s3cret", "Basic s3cret", "Bearer wrong"):
                with pytest.raises(grpc.RpcError) as denied:
                    status(b"", metadata=[("authorization", value)], timeout=5)
                assert denied.value.code() == grpc.StatusCode.UNAUTHENTICATED
        finally:
            channel.close()


@pytest.mark.parametrize("version", ["v1", "v1alpha"])
def test_reflection_v1_and_v1alpha_with_the_repository_file_name(version: str) -> None:
    """Case 8: both reflection services answer; the file is gossip/v1/gossip.proto."""
    from google.protobuf import descriptor_pb2
    from grpc_reflection.v1alpha import reflection_pb2 as r

    with running() as node:
        channel = grpc.insecure_channel(node.address)
        try:
            method = channel.stream_stream(
                f"/grpc.reflection.{version}.ServerReflection/ServerReflectionInfo",
                request_serializer=r.ServerReflectionRequest.SerializeToString,
                response_deserializer=r.ServerReflectionResponse.FromString,
            )
            requests = [
                r.ServerReflectionRequest(list_services=""),
                r.ServerReflectionRequest(file_by_filename="gossip/v1/gossip.proto"),
            ]
            listed, found = list(method(iter(requests), timeout=10))
            names = {s.name for s in listed.list_services_response.service}
            assert {"gossip.v1.Exchange", "grpc.reflection.v1.ServerReflection"} <= names
            (raw,) = found.file_descriptor_response.file_descriptor_proto
            assert (
                descriptor_pb2.FileDescriptorProto.FromString(raw).name == "gossip/v1/gossip.proto"
            )
        finally:
            channel.close()


def test_push_pulls_beyond_a_connections_rate_are_refused_and_members_go_on() -> None:
    """One connection looping on push-pulls gets its burst, then the rate; members do not."""
    from gossip.transport._pb import gossip_pb2 as pb
    from gossip.transport.callrate import PUSH_PULL_BURST, PUSH_PULL_RATE

    with running(id="a", max_steps=0) as a, running(id="b", max_steps=0, peers=(a.address,)):
        wait_for(lambda: len(a.membership.reachable()) == 1, 30, "a and b meeting")
        with grpc.insecure_channel(a.address) as channel:  # one connection, as a flood uses
            push_pull = channel.unary_unary("/gossip.v1.Membership/PushPull")
            began, outcomes = time.monotonic(), []
            for i in range(300):
                try:
                    push_pull(pb.Digest(sender_id=f"s{i}").SerializeToString(), timeout=5.0)
                    outcomes.append("ok")
                except grpc.RpcError as exc:
                    outcomes.append(exc.code().name)  # type: ignore[attr-defined]
            elapsed = time.monotonic() - began
        assert set(outcomes) == {"ok", "RESOURCE_EXHAUSTED"}
        assert outcomes[: int(PUSH_PULL_BURST)] == ["ok"] * int(PUSH_PULL_BURST)
        assert outcomes.count("ok") <= PUSH_PULL_BURST + PUSH_PULL_RATE * elapsed + 1
        refused = a.transport.inner.push_pulls.refused  # type: ignore[attr-defined]
        assert refused == outcomes.count("RESOURCE_EXHAUSTED")
        assert a.status().protection.limited >= refused  # the operator sees them
        held = a.transport.inner.tarpit.held  # type: ignore[attr-defined]
        assert held == refused  # each refusal of the serial loop held back (tarpit)
        states = {m.id: m.state for m in a.membership.status()}
        assert states["b"] == "alive"  # b's own push-pulls, on its connection, were answered


def test_a_connection_whose_offers_are_refused_is_turned_away_unread() -> None:
    """Offers of another model in a loop: refused, then RESOURCE_EXHAUSTED; b exchanges on."""
    from gossip.transport._pb import gossip_pb2 as pb
    from gossip.transport.callrate import EXCHANGE_REFUSAL_BURST

    with running(id="a", max_steps=0) as a, running(id="b", max_steps=0, peers=(a.address,)):
        wait_for(lambda: len(a.membership.reachable()) == 1, 30, "a and b meeting")
        header = pb.SnapshotHeader(sender_id="loop", fingerprint="deadbeef", num_params=1)
        offer = pb.Frame(header=header).SerializeToString()
        outcomes = []
        with grpc.insecure_channel(a.address) as channel:
            exchange = channel.stream_stream(EXCHANGE)
            for _ in range(40):
                try:
                    replies = [pb.Frame.FromString(r) for r in exchange(iter([offer]), timeout=5)]
                    outcomes.append(replies[0].verdict.reason)
                except grpc.RpcError as exc:
                    outcomes.append(exc.code().name)  # type: ignore[attr-defined]
        burst = int(EXCHANGE_REFUSAL_BURST)
        assert outcomes[:3] == ["fingerprint_mismatch"] * 3  # then the id is quarantined
        assert set(outcomes[3:burst]) == {"quarantined"}
        assert outcomes.count("RESOURCE_EXHAUSTED") >= 40 - burst - 5  # a token a second back
        held = a.transport.inner.tarpit.held  # type: ignore[attr-defined]
        assert held == outcomes.count("RESOURCE_EXHAUSTED")  # each turned away late (tarpit)
        assert a.status().protection.limited >= held  # counted where an operator sees it
        before = a.counts["ok"]
        wait_for(lambda: a.counts["ok"] >= before + 3, 30, "b's exchanges going on")
