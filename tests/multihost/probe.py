"""Run inside a host's namespace next to its peer: its status and exchange partners, every second.

The test runs in the root namespace and cannot dial addresses that exist only
inside a namespace; one probe per host can (127.0.0.1 there). It writes
``{"status": ..., "partners": [...]}`` to OUT atomically: the status JSON, and
the live members this peer completed exchanges with as initiator (the peers
of ``gossip_neighbour_staleness_seconds`` on its metrics endpoint).

    python tests/multihost/probe.py STATUS_ADDRESS METRICS_PORT OUT
"""

from __future__ import annotations

import json
import re
import sys
import time
import urllib.request
from pathlib import Path

from gossip.errors import GossipError
from gossip.transport.grpc_transport import GrpcTransport

PARTNER = re.compile(r'^gossip_neighbour_staleness_seconds\{peer="([^"]+)"\}', re.M)


def main(target: str, metrics_port: str, out: Path) -> None:
    client = GrpcTransport()
    url = f"http://127.0.0.1:{metrics_port}/metrics"
    while True:
        try:
            status = client.status(target, timeout=3.0).as_json()
            with urllib.request.urlopen(url, timeout=3.0) as reply:
                partners = sorted(set(PARTNER.findall(reply.read().decode())))
        except (GossipError, OSError):
            status, partners = None, []
        tmp = out.with_suffix(".tmp")
        tmp.write_text(json.dumps({"status": status, "partners": partners, "at": time.time()}))
        tmp.replace(out)
        time.sleep(1.0)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], Path(sys.argv[3]))
