"""Children started while gRPC is busy start cleanly (gossip-cluster and the benchmarks).

Forking a process whose gRPC threads are polling ran gRPC's fork handlers in the
child, which then logged "epoll_wait error: Bad file descriptor" and could die
before exec: a restarted peer that never came up. gossip sets
GRPC_ENABLE_FORK_SUPPORT=false before gRPC loads; this runs the bad case.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

SCRIPT = """
import os, subprocess, sys, threading
from gossip.membership.types import Digest, MemberEntry
from gossip.transport.grpc_transport import GrpcTransport

class Echo:
    def on_push_pull(self, digest):
        return digest

server, client = GrpcTransport(), GrpcTransport()
address = server.serve("127.0.0.1:0", Echo())
digest = Digest("a", (MemberEntry("n", "127.0.0.1:1", 1, 1),))
stop = threading.Event()

def hammer():
    while not stop.is_set():
        client.push_pull(address, digest, 5.0)

threads = [threading.Thread(target=hammer, daemon=True) for _ in range(3)]
for thread in threads:
    thread.start()
noisy = 0
for _ in range(FORKS):  # preexec_fn forces a real fork(), as the launcher's does
    child = subprocess.run([sys.executable, "-c", "pass"], capture_output=True,
                           preexec_fn=lambda: None, timeout=60)
    noisy += bool(child.stderr) or child.returncode != 0
stop.set()
for thread in threads:
    thread.join()
server.stop(0)
print(noisy, flush=True)
os._exit(0)  # only the forks are under test, not gRPC's teardown at interpreter exit
"""


@pytest.mark.slow
def test_fork_and_exec_while_grpc_calls_are_running() -> None:
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT.replace("FORKS", "120")],
        capture_output=True,
        text=True,
        timeout=120,  # without the fix a fork can hang for good
        check=True,
    )
    assert out.stdout.strip() == "0", out.stderr[-2000:]
