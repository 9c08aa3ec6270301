"""A node's threads share the malloc arenas gossip/malloc.py allows, its seed check included."""

from __future__ import annotations

import platform
import subprocess
import sys
import textwrap

import pytest

_CHILD = textwrap.dedent(
    """
    import re
    from pathlib import Path

    from gossip.transport.grpc_transport import GrpcTransport
    from tests.integration.inprocess import running

    def arena_heaps() -> int:
        # glibc maps each arena but the main one as a 64 MiB-aligned heap, its unused
        # remainder reserved (---p) right after it
        lines = Path("/proc/self/maps").read_text().splitlines()
        count = 0
        for line, after in zip(lines, lines[1:]):
            found = re.match(r"([0-9a-f]+)-[0-9a-f]+ rw-p 00000000 00:00 0\\s*$", line)
            if found and int(found.group(1), 16) % (64 << 20) == 0 and " ---p " in after:
                count += 1
        return count

    # a seed that does not answer: the seed check calls it over gRPC before anything else
    with running(id="a", max_steps=0, peers=("127.0.0.1:9",)) as node:
        client = GrpcTransport()
        for _ in range(50):  # work for the server's threads
            client.status(node.address, 5.0)
        client.stop(0)
        print(arena_heaps())
    """
)


@pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc's arenas"
)
def test_a_nodes_threads_share_two_arenas() -> None:
    """The main arena and one heap (7 heaps when the seed check started gRPC's threads first)."""
    done = subprocess.run(
        [sys.executable, "-c", _CHILD], capture_output=True, text=True, timeout=120, check=True
    )
    assert int(done.stdout.split()[-1]) <= 1, done.stdout + done.stderr
