"""compose/healthcheck.py, the container probe, run as a process against real nodes (no Docker)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.integration.conftest import free_port
from tests.integration.inprocess import running
from tests.tls import make_pki

SCRIPT = Path(__file__).resolve().parents[2] / "compose" / "healthcheck.py"


def probe(**env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GOSSIP_")}
    return subprocess.run(
        [sys.executable, str(SCRIPT)],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_plaintext_peer_is_healthy_and_a_missing_one_is_not() -> None:
    with running(token="t") as node:  # the health service needs no token
        port = node.address.rpartition(":")[2]
        assert probe(GOSSIP_LISTEN=f"0.0.0.0:{port}").returncode == 0
    result = probe(GOSSIP_LISTEN=f"0.0.0.0:{free_port()}")
    assert result.returncode == 1 and "unhealthy" in result.stderr


def test_a_peer_serving_mutual_tls_is_healthy(tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    tls = {"tls_cert": str(pki.cert), "tls_key": str(pki.key), "tls_ca": str(pki.ca)}
    with running(**tls) as node:
        port = node.address.rpartition(":")[2]
        env = {
            "GOSSIP_LISTEN": f"0.0.0.0:{port}",
            "GOSSIP_ADVERTISE": f"localhost:{port}",  # the name in the certificate
            "GOSSIP_TLS_CERT": str(pki.cert),
            "GOSSIP_TLS_KEY": str(pki.key),
            "GOSSIP_TLS_CA": str(pki.ca),
        }
        assert probe(**env).returncode == 0
        # a plaintext probe at a TLS port fails, as a probe that ignored TLS would
        assert probe(GOSSIP_LISTEN=f"0.0.0.0:{port}").returncode == 1
