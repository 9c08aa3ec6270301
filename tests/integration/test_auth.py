"""Cluster token and (mutual) TLS: strangers get UNAUTHENTICATED or no handshake, one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grpc
import pytest

from gossip.errors import GossipError
from gossip.membership.types import Digest
from gossip.transport.fetch import FetchRequest
from gossip.transport.grpc_transport import GrpcTransport
from gossip.transport.security import Security, load_tls

from ..tls import make_pki
from .conftest import wait_for
from .inprocess import running

TOKEN = "s3cret-token"


def calls(client: GrpcTransport, address: str) -> dict[str, str]:
    """Every RPC of the node, called once; the error text of each (empty: it succeeded)."""
    out: dict[str, str] = {}
    attempts = {
        "status": lambda: client.status(address, 5.0),
        "push_pull": lambda: client.push_pull(address, Digest("x", ()), 5.0),
        "fetch": lambda: client.fetch(address, FetchRequest("x", "f", 1, 0), 5.0),
    }
    for name, call in attempts.items():
        try:
            call()
            out[name] = ""
        except GossipError as exc:
            out[name] = str(exc)
    return out


def test_token_checked_on_every_rpc(tmp_path: Path) -> None:
    with running(token=TOKEN) as node:
        for token, what in ((None, "no cluster token"), ("wrong", "a wrong cluster token")):
            client = GrpcTransport(security=Security(token=token))
            try:
                errors = calls(client, node.address)
                assert all("rejected" in e and what in e for e in errors.values()), errors
                channel = grpc.insecure_channel(node.address)
                method = channel.stream_stream("/gossip.v1.Exchange/Exchange")
                with pytest.raises(grpc.RpcError) as raw:
                    list(method(iter([b""]), timeout=5.0))
                assert raw.value.code() == grpc.StatusCode.UNAUTHENTICATED
                channel.close()
            finally:
                client.stop(0)
        good = GrpcTransport(security=Security(token=TOKEN))
        try:
            status = good.status(node.address, 5.0)
            assert status.protection.unauthenticated >= 8
            assert status.exchanges.ok == 0
        finally:
            good.stop(0)


@pytest.mark.slow
def test_ctl_prints_one_line_without_the_token() -> None:
    with running(token=TOKEN) as node:
        cmd = [sys.executable, "-m", "gossip.cli.ctl", "status", "--target", node.address]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 1 and len(lines) == 1, result.stderr
        assert "no cluster token" in lines[0] and "Traceback" not in result.stderr
        ok = subprocess.run([*cmd, "--token", TOKEN, "--json"], capture_output=True, timeout=60)
        assert ok.returncode == 0, ok.stderr


def test_mutual_tls(tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    with running(tls_cert=str(pki.cert), tls_key=str(pki.key), tls_ca=str(pki.ca)) as node:
        member = load_tls(str(pki.cert), str(pki.key), str(pki.ca), server=False)
        stranger = load_tls(
            str(pki.stranger_cert), str(pki.stranger_key), str(pki.ca), server=False
        )
        no_cert = load_tls(None, None, str(pki.ca), server=False)
        ok = GrpcTransport(security=Security(tls=member))
        try:
            assert wait_for(lambda: calls(ok, node.address)["status"] == "", 10, "mTLS status")
        finally:
            ok.stop(0)
        for tls in (stranger, no_cert, None):
            client = GrpcTransport(security=Security(tls=tls))
            try:
                errors = calls(client, node.address)
                assert all(errors.values()), (tls, errors)
            finally:
                client.stop(0)


@pytest.mark.slow
def test_ctl_with_tls_flags(tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    with running(tls_cert=str(pki.cert), tls_key=str(pki.key), tls_ca=str(pki.ca)) as node:
        base = [sys.executable, "-m", "gossip.cli.ctl", "status", "--target", node.address]
        good = [*base, "--tls-ca", str(pki.ca), "--tls-cert", str(pki.cert)]
        good += ["--tls-key", str(pki.key), "--json", "--timeout", "5"]
        assert subprocess.run(good, capture_output=True, timeout=60).returncode == 0
        bad = subprocess.run([*base, "--timeout", "3"], capture_output=True, text=True, timeout=60)
        assert bad.returncode == 1 and len(bad.stderr.strip().splitlines()) == 1, bad.stderr
