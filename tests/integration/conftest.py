"""Real gossip-node processes on 127.0.0.1: spawn, poll with deadlines, always clean up."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gossip.errors import GossipError
from gossip.transport.grpc_transport import GrpcTransport
from tests.polling import wait_for

__all__ = ["Processes", "free_port", "wait_for"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def node_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "gossip.cli.node", *args]


class Processes:
    """Started children, each ended at teardown even when the test fails."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.children: list[subprocess.Popen[bytes]] = []
        self.client = GrpcTransport()

    def node(self, name: str, *args: str, cwd: Path | None = None) -> subprocess.Popen[bytes]:
        log = open(self.logs / f"{name}.log", "wb")  # noqa: SIM115 (closed with the process)
        command = node_command("--id", name, *args)
        child = subprocess.Popen(command, stdout=log, stderr=log, cwd=cwd)
        self.children.append(child)
        return child

    def status(self, address: str) -> dict[str, Any] | None:
        """The peer's status JSON (as gossip-ctl --json prints it); None: no answer."""
        try:
            return self.client.status(address, timeout=2.0).as_json()
        except GossipError:
            return None

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text()

    def stop_all(self) -> None:
        for child in self.children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in self.children:
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        self.client.stop(0)


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[Processes]:
    processes = Processes(tmp_path)
    try:
        yield processes
    finally:
        processes.stop_all()


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
