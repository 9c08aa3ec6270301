"""Start N ``gossip-node`` child processes on loopback, watch them, and always stop them.

Used by ``gossip-cluster`` and by the benchmarks. Each child ``node-I`` gets a
free port picked up front (peers must know each other's addresses before
anyone starts), ``--shard I/N``, every other child as a seed, a log file and a
``--report`` file in the run directory. :class:`Launcher` is a context manager:
leaving the block, by a return, an exception or Ctrl-C, stops every child
(SIGTERM, a deadline, then SIGKILL), so no test or benchmark leaks processes.

Children run in their own session: a terminal's Ctrl-C reaches only the
launcher, which then stops the children in order (each announces its leave).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from gossip.errors import GossipError, TransportError
from gossip.status import Status
from gossip.transport.grpc_transport import GrpcTransport

_RESEND_S = 3.0
"""Seconds after the first SIGTERM when children still running get a second one."""


class LaunchError(GossipError):
    """A child could not be started, or exited before it was ready."""


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """Ports the OS had free a moment ago; all bound at once so they are distinct."""
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((host, 0))
            sockets.append(sock)
        return [int(s.getsockname()[1]) for s in sockets]
    finally:
        for sock in sockets:
            sock.close()


@dataclass
class Child:
    """One launched peer: where it listens, where it writes, and its process."""

    id: str
    address: str
    argv: list[str]
    log_path: Path
    report_path: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    @property
    def returncode(self) -> int | None:
        """None while running (or never started), else the exit code (negative: signal)."""
        return None if self.process is None else self.process.poll()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def report(self) -> dict[str, Any] | None:
        """The child's ``--report`` JSON, or None when it wrote none (killed, crashed)."""
        try:
            data = json.loads(self.report_path.read_text())
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def log_tail(self, lines: int = 1) -> str:
        """The last lines of the child's log: usually why it exited."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.strip().splitlines()[-lines:])


class Launcher:
    """N ``gossip-node`` children on ``host``; ``with Launcher(...) as nodes:`` stops them all."""

    def __init__(
        self,
        nodes: int,
        run_dir: Path | str,
        node_args: Sequence[str] = (),
        *,
        host: str = "127.0.0.1",
        python: str = sys.executable,
        env: dict[str, str] | None = None,
        spawn_interval: float = 0.0,
    ) -> None:
        """``spawn_interval``: seconds between two children's starts. Dozens of
        processes on a few cores form their views sooner started in turn than
        all at once (each start is a second of CPU: imports, data, the seed check)."""
        if nodes < 1:
            raise LaunchError(f"need at least 1 node, got {nodes}")
        self.run_dir = Path(run_dir)
        self.node_args = list(node_args)
        self.host = host
        self.python = python
        self.env = env
        self.spawn_interval = spawn_interval
        self.children: list[Child] = []
        self._nodes = nodes
        self._transport: GrpcTransport | None = None  # created on the first status poll
        self._lock = threading.Lock()

    # ------------------------------------------------------------ lifecycle

    def start(self) -> list[Child]:
        """Pick ports, then spawn every child; they seed each other with all addresses."""
        if self.children:
            raise LaunchError("this launcher has already started its nodes")
        self.run_dir.mkdir(parents=True, exist_ok=True)
        ports = free_ports(self._nodes, self.host)
        addresses = [f"{self.host}:{port}" for port in ports]
        count = self._nodes
        for index, address in enumerate(addresses):
            node_id = f"node-{index}"
            report = self.run_dir / f"{node_id}.json"
            report.unlink(missing_ok=True)  # a stale report from a reused run dir would lie
            own = [
                "--id", node_id,
                "--listen", address,
                "--peers", ",".join(a for a in addresses if a != address),
                "--shard", f"{index}/{count}",
                "--report", str(report),
                "--slurm", "off",  # children of one gossip-cluster are no srun tasks
            ]  # fmt: skip
            own += per_child_args(self.node_args, index, node_id)
            # our flags come last: argparse keeps the last value, so they win
            argv = [self.python, "-m", "gossip.cli.node", *self.node_args, *own]
            self.children.append(
                Child(node_id, address, argv, self.run_dir / f"{node_id}.log", report)
            )
        try:
            for index, child in enumerate(self.children):
                if index and self.spawn_interval > 0:
                    time.sleep(self.spawn_interval)
                child.process = spawn(child.argv, child.log_path, self.env)
        except OSError as exc:
            self.stop()
            raise LaunchError(f"cannot start gossip-node: {exc}") from exc
        return self.children

    def __enter__(self) -> Launcher:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def stop(self, grace: float = 15.0, hurry: threading.Event | None = None) -> None:
        """SIGTERM every running child, wait up to ``grace`` s, then SIGKILL what is left.

        Setting ``hurry`` (a second Ctrl-C) skips the rest of the wait. Idempotent.
        """
        for child in self.running():
            _signal(child, signal.SIGTERM)
        began = time.monotonic()
        repeated = False
        while self.running() and time.monotonic() < began + grace:
            if hurry is not None and hurry.is_set():
                break
            if not repeated and time.monotonic() > began + min(_RESEND_S, grace / 3):
                # seen once in ~10 runs: a node signalled right after it started never ran
                # its handler; a repeat is harmless (stopping is idempotent) and wakes it
                repeated = True
                for child in self.running():
                    _signal(child, signal.SIGTERM)
            time.sleep(0.05)  # polling the children's exit; there is no portable wait-any
        for child in self.running():
            _signal(child, signal.SIGKILL)
        for child in self.children:
            if child.process is not None:
                child.process.wait()
        with self._lock:
            transport, self._transport = self._transport, None
        if transport is not None:
            transport.stop(0)

    # ------------------------------------------------------------ watching

    def running(self) -> list[Child]:
        return [c for c in self.children if c.running]

    def wait(self, timeout: float | None = None, stop: threading.Event | None = None) -> bool:
        """Wait until every child has exited (True), ``timeout`` passed or ``stop`` was set."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.running():
            if stop is not None and stop.is_set():
                return False
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(0.1)
        return True

    def poll_status(self, timeout: float = 1.0) -> dict[str, Status | None]:
        """Every running child's status, asked concurrently; None for no answer."""
        transport = self._status_transport()

        def ask(child: Child) -> Status | None:
            if not child.running:
                return None
            try:
                return transport.status(child.address, timeout)
            except TransportError:
                return None

        with ThreadPoolExecutor(max_workers=len(self.children) or 1) as pool:
            answers = list(pool.map(ask, self.children))
        return {child.id: answer for child, answer in zip(self.children, answers, strict=True)}

    def wait_ready(self, timeout: float, poll_timeout: float = 1.0) -> dict[str, Status]:
        """Poll until every child answers a status call; LaunchError on an exit or the deadline."""
        deadline = time.monotonic() + timeout
        while True:
            for child in self.children:
                if child.returncode is not None:
                    raise LaunchError(
                        f"{child.id} exited with code {child.returncode} before it was ready: "
                        f"{child.log_tail() or 'no output'} (log: {child.log_path})"
                    )
            statuses = self.poll_status(poll_timeout)
            ready = {k: v for k, v in statuses.items() if v is not None}
            if len(ready) == len(self.children):
                return ready
            if time.monotonic() >= deadline:
                missing = ", ".join(k for k, v in statuses.items() if v is None)
                raise LaunchError(f"not ready after {timeout:.0f}s: {missing}")
            time.sleep(0.1)

    def wait_steps(self, steps: int, settle: float, timeout: float) -> bool:
        """Poll until every child took ``steps`` training steps, then ``settle`` seconds more
        (a peer past ``--max-steps`` goes on averaging); False when ``timeout`` passes first."""
        deadline = time.monotonic() + timeout
        reached: float | None = None
        while reached is None or time.monotonic() < reached + settle:
            if time.monotonic() > deadline:
                return False
            statuses = self.poll_status(timeout=2.0).values()
            if reached is None and all(s and s.step >= steps for s in statuses):
                reached = time.monotonic()
            time.sleep(0.25)
        return True

    def reports(self) -> dict[str, dict[str, Any] | None]:
        """Each child's ``--report`` JSON (None where there is none)."""
        return {child.id: child.report() for child in self.children}

    def _status_transport(self) -> GrpcTransport:
        with self._lock:
            if self._transport is None:
                self._transport = GrpcTransport()
            return self._transport


def _flag_value(args: Sequence[str], flag: str) -> str | None:
    """The last value given to ``flag`` (as ``--flag V`` or ``--flag=V``), or None."""
    value = None
    for i, arg in enumerate(args):
        if arg == flag and i + 1 < len(args):
            value = args[i + 1]
        elif arg.startswith(flag + "="):
            value = arg.split("=", 1)[1]
    return value


def per_child_args(node_args: Sequence[str], index: int, node_id: str) -> list[str]:
    """Flags that must differ per child on one host: a metrics port, a checkpoint directory.

    ``--metrics-port P`` becomes P + index (0 stays 0: each child picks a free
    port); ``--checkpoint-dir D`` becomes ``D/<node id>``, so restarts find their own.
    """
    extra: list[str] = []
    port = _flag_value(node_args, "--metrics-port")
    if port is not None and port.isdigit() and int(port) > 0:
        extra += ["--metrics-port", str(int(port) + index)]
    directory = _flag_value(node_args, "--checkpoint-dir")
    if directory:
        extra += ["--checkpoint-dir", str(Path(directory) / node_id)]
    return extra


MALLOC_TUNABLES = "glibc.malloc.hugetlb=1"
"""Children's malloc asks for transparent huge pages (unless GLIBC_TUNABLES is set): the
fresh buffers of a large exchange then fault in 2 MiB at a time, not 4 KiB. A copy of a
10M-parameter model into fresh memory took 83 ms without, 35 ms with (2-core machine)."""


def spawn(
    argv: Sequence[str], log_path: Path, env: dict[str, str] | None = None, *, append: bool = False
) -> subprocess.Popen[bytes]:
    """Start a child writing to ``log_path``, in its own session, ended when we die."""
    with log_path.open("ab" if append else "wb") as log:
        return subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={
                "GLIBC_TUNABLES": MALLOC_TUNABLES,
                **os.environ,
                **(env or {}),
                "PYTHONUNBUFFERED": "1",
            },
            start_new_session=True,
            preexec_fn=_terminate_with_parent,
        )


def _terminate_with_parent() -> None:
    """In the child before exec: on Linux, get SIGTERM when the launcher dies (even SIGKILL)."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None).prctl(pr_set_pdeathsig, signal.SIGTERM)


def _signal(child: Child, signum: int) -> None:
    if child.process is None:
        return
    with contextlib.suppress(ProcessLookupError):  # it exited since we looked
        child.process.send_signal(signum)
