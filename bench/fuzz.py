"""Fuzz every service of a real ``gossip-node`` with malformed and hostile messages.

One child node (averaging only after 20 steps, no peers: its model can only
change through an exchange) gets ``--count`` messages per service, each on
its own call: random bytes, oversized messages, truncated streams, chunks
before the header, repeated chunks, verdicts first, lying sizes, and
well-formed offers of the right model carrying NaN, Inf or values scaled by
1e6. Afterwards: the process must be alive and answering, its model (pulled
over the catch-up stream and hashed) unchanged, and its memory bounded (RSS
sampled every 500 messages). Prints counts per service and outcome, writes
``bench/results/fuzz.json``, and prints the verdict last.

    .venv/bin/python bench/fuzz.py [--count 10000]
    .venv/bin/python bench/fuzz.py --soak 100000 [--oversized 10000]

``--soak`` runs issue 15's soak instead (see :func:`soak`): RSS growth,
status size, log volume and a neighbour's exchange rate under hostile input,
over ``--windows`` attack windows between clean phases of ``--clean-s``
seconds. The attacker is a process of its own, at ``nice 19`` in half the
windows (an attacker on another machine, the threat model: it cannot take
our CPU; the 0.90 goal is judged on these) and un-niced on the same cores in
the other half (the worst case, reported beside).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import machine, write_result
from gossip.cli.launcher import free_ports
from gossip.errors import GossipError
from gossip.transport._pb import gossip_pb2 as pb
from gossip.transport.fetch import FetchRequest
from gossip.transport.grpc_transport import GrpcTransport

SERVICES = {
    "exchange": "/gossip.v1.Exchange/Exchange",
    "membership": "/gossip.v1.Membership/PushPull",
    "control": "/gossip.v1.Control/Status",
    "catchup": "/gossip.v1.Catchup/Fetch",
    "health": "/grpc.health.v1.Health/Check",
}
MAX_MESSAGE = 4 << 20


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class Fuzzer:
    def __init__(
        self, fingerprint: str, num_params: int, seed: int, oversized: float = 0.02
    ) -> None:
        self.oversized = oversized
        self.fingerprint = fingerprint
        self.num_params = num_params
        self.rng = random.Random(seed)

    def noise(self, low: int = 0, high: int = 512) -> bytes:
        return self.rng.randbytes(self.rng.randint(low, high))

    def header(self, **fields: Any) -> bytes:
        values: dict[str, Any] = {
            "sender_id": f"fuzz-{self.rng.randrange(50)}",
            "generation": self.rng.randrange(1 << 40),
            "fingerprint": self.fingerprint,
            "num_params": self.num_params,
            "codec": "none",
            "payload_bytes": 4 * self.num_params,
            "chunk_bytes": 1 << 20,
        }
        values.update(fields)
        return pb.Frame(header=pb.SnapshotHeader(**values)).SerializeToString()

    @staticmethod
    def chunk(data: bytes) -> bytes:
        return pb.Frame(chunk=data).SerializeToString()

    @staticmethod
    def verdict(applied: bool) -> bytes:
        return pb.Frame(verdict=pb.Verdict(applied=applied)).SerializeToString()

    def payload(self, kind: str) -> bytes:
        values = np.random.default_rng(self.rng.randrange(1 << 30)).standard_normal(self.num_params)
        if kind == "nan":
            values[self.rng.randrange(self.num_params)] = np.nan
        elif kind == "inf":
            values[self.rng.randrange(self.num_params)] = np.inf
        elif kind == "scaled":
            values *= 1e6
        return values.astype("<f4").tobytes()

    def exchange_stream(self) -> tuple[str, list[bytes]]:
        """A variant name and the request frames (raw bytes) of one exchange stream."""
        n = 4 * self.num_params
        if self.rng.random() < self.oversized:  # 4 MiB each: a few go a long way
            return "oversized", [b"\x12" + b"\xff" * (MAX_MESSAGE + 16)]
        kind = self.rng.choice(
            [
                "random",
                "chunk_first",
                "verdict_first",
                "truncated",
                "repeated_chunk",
                "wrong_fingerprint",
                "wrong_size",
                "huge_payload",
                "bad_codec",
                "bad_blocks",
                "nan",
                "inf",
                "scaled",
                "no_verdict",
                "empty",
            ]
        )
        if kind == "random":
            return kind, [self.noise() for _ in range(self.rng.randint(1, 4))]
        if kind == "chunk_first":
            return kind, [self.chunk(self.noise(1)), self.header()]
        if kind == "verdict_first":
            return kind, [self.verdict(True)]
        if kind == "truncated":
            body = self.payload("ok")
            return kind, [self.header(), self.chunk(body[: self.rng.randint(1, n - 1)])]
        if kind == "repeated_chunk":
            body = self.payload("ok")
            return kind, [self.header(), self.chunk(body), self.chunk(body), self.verdict(True)]
        if kind == "wrong_fingerprint":
            return kind, [self.header(fingerprint="deadbeef"), self.chunk(self.payload("ok"))]
        if kind == "wrong_size":
            return kind, [self.header(num_params=self.num_params + 1, payload_bytes=n + 4)]
        if kind == "huge_payload":
            return kind, [self.header(payload_bytes=1 << 40)]
        if kind == "bad_codec":
            return kind, [self.header(codec="zstd"), self.chunk(self.payload("ok"))]
        if kind == "bad_blocks":
            return kind, [self.header(blocks=4, block_ids=[7, 2]), self.chunk(b"\0" * 8)]
        if kind in ("nan", "inf", "scaled"):
            # well-formed offers of the right model with poison: must be refused
            return kind, [self.header(), self.chunk(self.payload(kind)), self.verdict(True)]
        if kind == "no_verdict":
            return kind, [self.header(), self.chunk(self.payload("ok"))]
        return kind, []

    def unary(self, service: str) -> tuple[str, bytes]:
        if self.rng.random() < self.oversized:
            return "oversized", b"\x0a" + b"\xff" * (MAX_MESSAGE + 16)
        kind = self.rng.choice(["random", "empty", "valid_garbage"])
        if kind == "random":
            return kind, self.noise()
        if kind == "empty":
            return kind, b""
        if service == "membership":
            entries = [
                pb.MemberEntry(
                    id=self.noise(0, 40).hex(),
                    address=self.noise(0, 20).hex(),
                    generation=self.rng.randrange(1 << 63),
                    heartbeat=self.rng.randrange(1 << 63),
                    state=self.rng.randrange(8),  # unknown states included
                )
                for _ in range(self.rng.randint(0, 5))
            ]
            return kind, pb.Digest(sender_id="fuzz", entries=entries).SerializeToString()
        if service == "catchup":
            request = pb.FetchRequest(
                requester_id=self.noise(0, 16).hex(),
                fingerprint=self.rng.choice([self.fingerprint, self.noise(0, 16).hex()]),
                num_params=self.rng.choice([self.num_params, self.rng.randrange(1 << 63)]),
                min_step=self.rng.randrange(1 << 63),
            )
            return kind, request.SerializeToString()
        return kind, self.noise(0, 64)


def start_node(node_id: str, address: str, log: Any, *args: str) -> subprocess.Popen[bytes]:
    """A child gossip-node (model mlp:32, no catch-up) logging to ``log``."""
    argv = [sys.executable, "-m", "gossip.cli.node", "--id", node_id, "--listen", address]
    argv += ["--model", "mlp:32", "--no-bootstrap", *args]
    return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)


def stop_node(child: subprocess.Popen[bytes]) -> None:
    if child.poll() is None:
        child.terminate()
        try:
            child.wait(15)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def model_hash(client: GrpcTransport, address: str, fingerprint: str, size: int) -> str:
    fetched = client.fetch(address, FetchRequest("fuzz-check", fingerprint, size, 0), 10.0)
    assert fetched.snapshot is not None, "the node has no steps: cannot read its model"
    return hashlib.sha256(fetched.snapshot.payload).hexdigest()


def run(count: int, seed: int = 0, quiet: bool = False, oversized: float = 0.02) -> dict[str, Any]:
    """Start one node, fuzz it, stop it; the measurements as a dict."""
    say: Callable[[str], None] = (lambda _: None) if quiet else print
    (port,) = free_ports(1)
    address = f"127.0.0.1:{port}"
    workdir = Path(tempfile.mkdtemp(prefix="gossip-fuzz-"))
    log = (workdir / "node.log").open("wb")
    child = start_node("target", address, log, "--max-steps", "20", "--log-level", "error")
    client = GrpcTransport()
    result: dict[str, Any] = {"count_per_service": count, "services": {}}
    try:
        deadline = time.monotonic() + 60
        status: dict[str, Any] | None = None
        while time.monotonic() < deadline:
            try:
                status = client.status(address, 2.0).as_json()
                if status["step"] >= 20:
                    break
            except GossipError:
                pass
            time.sleep(0.2)
        assert status is not None and status["step"] >= 20, "the node did not start"
        fingerprint = status["model"]["fingerprint"]
        size = int(status["model"]["params"])
        before = model_hash(client, address, fingerprint, size)
        rss_start = rss_kib(child.pid)
        rss_max = rss_start
        fuzzer = Fuzzer(fingerprint, size, seed, oversized)
        channel = grpc.insecure_channel(
            address,
            options=[
                ("grpc.max_send_message_length", 2 * MAX_MESSAGE),
                ("grpc.max_receive_message_length", 2 * MAX_MESSAGE),
            ],
        )
        began_all = time.monotonic()
        for service, method in SERVICES.items():
            outcomes: Counter[str] = Counter()
            variants: Counter[str] = Counter()
            began = time.monotonic()
            details = ""
            for i in range(count):
                if service == "exchange":
                    kind, frames = fuzzer.exchange_stream()
                    call = channel.stream_stream(method)

                    def requests(frames: list[bytes] = frames) -> Iterator[bytes]:
                        yield from frames

                    try:
                        for _ in call(requests(), timeout=5.0):
                            pass
                        code = "OK"
                    except grpc.RpcError as exc:
                        code = exc.code().name  # type: ignore[attr-defined]
                else:
                    kind, body = fuzzer.unary(service)
                    try:
                        if service == "catchup":
                            for _ in channel.unary_stream(method)(body, timeout=5.0):
                                pass
                        else:
                            channel.unary_unary(method)(body, timeout=5.0)
                        code = "OK"
                    except grpc.RpcError as exc:
                        code = exc.code().name  # type: ignore[attr-defined]
                        if code == "UNAVAILABLE" and not details:
                            details = exc.details()  # type: ignore[attr-defined]
                variants[kind] += 1
                outcomes[code] += 1
                if i % 500 == 0:
                    rss_max = max(rss_max, rss_kib(child.pid))
                    if child.poll() is not None:
                        raise AssertionError(f"the node died during {service} fuzzing")
            seconds = time.monotonic() - began
            result["services"][service] = {
                "messages": count,
                "outcomes": dict(outcomes),
                "variants": dict(variants),
                "seconds": round(seconds, 2),
                "rss_kib_after": rss_kib(child.pid),
            }
            say(f"{service:10s} {count} messages in {seconds:5.1f} s: {dict(outcomes)} {details}")
        channel.close()
        alive = child.poll() is None
        after_status = client.status(address, 5.0).as_json()
        after = model_hash(client, address, fingerprint, size)
        rss_end = rss_kib(child.pid)
        result.update(
            {
                "alive": alive,
                "answers_status": True,
                "model_unchanged": before == after,
                "model_sha256_before": before,
                "model_sha256_after": after,
                "exchanges_after": after_status["exchanges"],
                "protection_after": after_status.get("protection", {}),
                "rss_kib": {"start": rss_start, "max": rss_max, "end": rss_end},
                "seconds": round(time.monotonic() - began_all, 1),
                "machine": machine(),
            }
        )
        return result
    finally:
        client.stop(0)
        stop_node(child)
        log.close()
        shutil.rmtree(workdir, ignore_errors=True)


def _silent_streams(address: str, count: int, stop: threading.Event) -> None:
    """Keep ``count`` exchange streams open that send nothing, one connection each."""

    def nothing() -> Iterator[bytes]:
        stop.wait()
        yield from ()

    channels = [
        grpc.insecure_channel(address, options=[("grpc.use_local_subchannel_pool", 1)])
        for _ in range(count)
    ]
    calls: list[Any] = [None] * count
    try:
        while not stop.is_set():
            for i, channel in enumerate(channels):
                if calls[i] is None or calls[i].done():  # cut by the node: open another
                    calls[i] = channel.stream_stream(SERVICES["exchange"])(nothing(), timeout=60)
            stop.wait(0.05)
    finally:
        for channel in channels:
            channel.close()


def attack(
    address: str, fingerprint: str, first: int, ids: int, oversized: int, silent: int
) -> dict[str, Any]:
    """One attack window, run in the attacker's own process (``--attacker``).

    Holds ``silent`` silent streams open while it sends, serially over one
    connection, ``ids`` refused offers from new sender ids (``soak-{first}``
    on) and as many digests announcing new member ids; the first
    ``oversized`` of them carry a 1 MB reason and, every other one, a 1 MB id.
    Returns what it sent and the CPU it took (its silent-stream thread
    included), so the bench can tell its share of the cores.
    """
    stop = threading.Event()
    holder = threading.Thread(target=_silent_streams, args=(address, silent, stop))
    channel = grpc.insecure_channel(
        address, options=[("grpc.max_send_message_length", 2 * MAX_MESSAGE)]
    )
    exchange = channel.stream_stream(SERVICES["exchange"])
    push_pull = channel.unary_unary(SERVICES["membership"])
    huge = "x" * (1 << 20)
    landed: Counter[str] = Counter()
    cpu, began = time.process_time(), time.monotonic()
    holder.start()
    try:
        for i in range(first, first + ids):
            if i - first < oversized:  # 1 MB reason, or 1 MB id
                sender = huge if i % 2 else f"soak-{i}"
                header = pb.SnapshotHeader(sender_id=sender, fingerprint=fingerprint)
                verdict = pb.Frame(verdict=pb.Verdict(reason=f"{i}{huge}"))
                frames = [pb.Frame(header=header).SerializeToString(), verdict.SerializeToString()]
            else:  # refused for its model
                header = pb.SnapshotHeader(sender_id=f"soak-{i}", fingerprint="deadbeef")
                frames = [pb.Frame(header=header).SerializeToString()]
            digest = pb.Digest(sender_id=f"soak-{i}", entries=[pb.MemberEntry(
                id=f"m-{i}", address=f"10.{i % 250}.{i // 250 % 250}.1:1", generation=1,
                heartbeat=1, state=pb.MEMBER_STATE_ALIVE,
            )])  # fmt: skip
            try:
                list(exchange(iter(frames), timeout=5.0))
                landed["exchange OK"] += 1
            except grpc.RpcError as exc:
                landed[f"exchange {exc.code().name}"] += 1  # type: ignore[attr-defined]
            try:
                push_pull(digest.SerializeToString(), timeout=5.0)
                landed["push_pull OK"] += 1
            except grpc.RpcError as exc:
                landed[f"push_pull {exc.code().name}"] += 1  # type: ignore[attr-defined]
    finally:
        stop.set()
        holder.join()
        channel.close()
    return {
        "ids": ids,
        "oversized": min(oversized, ids),
        "seconds": round(time.monotonic() - began, 1),
        "cpu_s": round(time.process_time() - cpu, 2),
        "nice": os.nice(0),
        "outcomes": dict(landed),
    }


def _attacker_main(args: argparse.Namespace) -> int:
    """``--attacker``: say ready, wait for a line on stdin, attack, print the result as JSON."""
    print("ready", flush=True)
    sys.stdin.readline()
    result = attack(
        args.attacker, args.fingerprint, args.first, args.ids, args.oversized, args.silent
    )
    print(json.dumps(result), flush=True)
    return 0


def nice_of(pid: int) -> int:
    """The nice value of process ``pid`` (field 19 of /proc/PID/stat)."""
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[16])


def run_attacker(
    address: str, fingerprint: str, first: int, ids: int, oversized: int,
    silent: int = 8, niceness: int = 0, on_start: Callable[[int], None] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """One attack window in a child process at ``niceness``; its result plus its measured nice.

    ``on_start(pid)`` runs once the child is ready (imports done) and just
    before it starts, so a caller can start its meters there.
    """
    argv = [sys.executable, str(Path(__file__).resolve()), "--attacker", address]
    argv += ["--fingerprint", fingerprint, "--first", str(first), "--ids", str(ids)]
    argv += ["--oversized", str(oversized), "--silent", str(silent)]
    if niceness:
        argv = ["nice", "-n", str(niceness), *argv]
    child = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert child.stdin is not None and child.stdout is not None
    try:
        if child.stdout.readline().strip() != "ready":
            raise AssertionError("the attacker did not start")
        measured_nice = nice_of(child.pid)
        if on_start is not None:
            on_start(child.pid)
        child.stdin.write("go\n")
        child.stdin.flush()
        line = child.stdout.readline()
        if child.wait(60) != 0 or not line:
            raise AssertionError(f"the attacker failed (exit {child.returncode})")
        result: dict[str, Any] = json.loads(line)
        result["nice_seen"] = measured_nice
        return result
    finally:
        stop_node(child)  # type: ignore[arg-type]


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) the process ``pid`` has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Meter:
    """Completed exchanges of the node at ``address``, and CPU seconds of ``pids``, over a phase.

    On a shared machine the rate follows the CPU the two nodes get; exchanges
    per CPU second of the nodes tell what the attack costs them apart from
    the CPU the attacker's own process and other tenants take.
    """

    def __init__(self, client: GrpcTransport, address: str, pids: dict[str, int]) -> None:
        self.client, self.address, self.pids = client, address, pids
        self.load_before = round(os.getloadavg()[0], 1)
        self._start = self._read()

    def _read(self) -> tuple[float, int, dict[str, float], int]:
        ok = self.client.status(self.address, 5.0).exchanges.ok
        cpu = {name: cpu_s(pid) for name, pid in self.pids.items()}
        return time.monotonic(), ok, cpu, rss_kib(self.pids["target"])

    def done(self) -> dict[str, Any]:
        began, ok_before, cpu_before, rss_before = self._start
        now, ok, cpu, rss = self._read()
        seconds = now - began
        used = {name: cpu[name] - cpu_before[name] for name in cpu}
        nodes_cpu = used["target"] + used["neighbour"]
        return {
            "seconds": round(seconds, 1),
            "ok": ok - ok_before,
            "ok_per_s": round((ok - ok_before) / seconds, 2),
            "cpu_share": {name: round(value / seconds, 2) for name, value in used.items()},
            "ok_per_node_cpu_s": round((ok - ok_before) / max(nodes_cpu, 1e-9), 2),
            "rss_kib": {"start": rss_before, "end": rss},
            "load_average": {"start": self.load_before, "end": round(os.getloadavg()[0], 1)},
        }


def _clean_phase(
    client: GrpcTransport, address: str, pids: dict[str, int], settle_s: float, seconds: float
) -> dict[str, Any]:
    """``settle_s`` unmeasured (the last window's streams close), then ``seconds`` measured."""
    time.sleep(settle_s)
    meter = Meter(client, address, pids)
    time.sleep(seconds)
    return meter.done()


def _weighted(windows: list[dict[str, Any]], key: str) -> float:
    """The windows' ``key`` ratios, each weighted by its length in seconds."""
    seconds = sum(w["seconds"] for w in windows)
    return round(sum(w[key] * w["seconds"] for w in windows) / max(seconds, 1e-9), 3)


def soak(
    ids: int,
    oversized: int,
    windows: int = 8,
    clean_s: float = 30.0,
    settle_s: float = 5.0,
    silent: int = 8,
    say: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Issue 15's soak: hostile ids, members and oversized fields while a neighbour exchanges.

    A target node and one honest neighbour train and exchange. ``windows``
    attack windows alternate with clean phases (``settle_s`` unmeasured, then
    ``clean_s`` measured), starting and ending with a clean one; a window's
    baseline is the mean of the clean phases on either side, so the baseline
    is measured next to it on a machine whose load drifts. In each window an
    attacker process of its own (:func:`attack`) holds ``silent`` silent
    streams open and sends its share of the ``ids`` refused offers and member
    digests and of the ``oversized`` 1 MB fields. Even windows run it at
    ``nice 19``: a remote attacker, the threat model, cannot take our CPU, and
    the goal (0.90 of the usual rate) is judged on those; odd windows run it
    un-niced on the nodes' own cores, the worst case, reported beside. The
    target's RSS is sampled at each phase's edges, so growth during attacks
    and during the clean phases between them (the control: growth with time)
    are told apart.
    """
    port, neighbour_port = free_ports(2)
    address, neighbour = f"127.0.0.1:{port}", f"127.0.0.1:{neighbour_port}"
    workdir = Path(tempfile.mkdtemp(prefix="gossip-soak-"))
    log_path = workdir / "target.log"
    log, other_log = log_path.open("wb"), (workdir / "neighbour.log").open("wb")
    child = start_node("target", address, log, "--peers", neighbour)
    other = start_node("neighbour", neighbour, other_log, "--peers", address)
    client = GrpcTransport()
    control = grpc.insecure_channel(address)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if client.status(address, 2.0).exchanges.ok >= 5:
                    break
            except GossipError:
                pass
            time.sleep(0.2)
        fingerprint = client.status(address, 5.0).model.fingerprint
        pids = {"target": child.pid, "neighbour": other.pid}
        cleans = [_clean_phase(client, address, pids, settle_s, clean_s)]
        say(f"clean 0: {cleans[0]['ok_per_s']} exchanges/s")
        rss_start, log_start = rss_kib(child.pid), log_path.stat().st_size
        attacks: list[dict[str, Any]] = []
        status_bytes = 0
        meters: list[Meter] = []  # each window's, started as its attacker starts
        for w in range(windows):
            first, last = ids * w // windows, ids * (w + 1) // windows
            big = oversized * (w + 1) // windows - oversized * w // windows
            niceness = 19 if w % 2 == 0 else 0
            log_before = log_path.stat().st_size
            attacker = run_attacker(
                address, fingerprint, first, last - first, big, silent, niceness,
                on_start=lambda _: meters.append(Meter(client, address, pids)),
            )  # fmt: skip
            window = meters[-1].done()
            # the reply's wire size, right after the window's hostile input
            reply = control.unary_unary(SERVICES["control"])(b"", timeout=5.0)
            status_bytes = max(status_bytes, len(reply))
            window.update(
                {
                    "niceness": niceness,
                    "attacker": attacker,
                    "attacker_cpu_share": round(attacker["cpu_s"] / window["seconds"], 2),
                    "ids_per_s": round(attacker["ids"] / window["seconds"], 1),
                    "status_bytes": len(reply),
                    "log_bytes": log_path.stat().st_size - log_before,
                }
            )
            attacks.append(window)
            cleans.append(_clean_phase(client, address, pids, settle_s, clean_s))
            say(
                f"window {w} (nice {niceness}): {window['ok_per_s']} exchanges/s, clean after "
                f"{cleans[-1]['ok_per_s']}, {window['ids_per_s']} ids/s, RSS "
                f"{window['rss_kib']['end'] / 1024:.1f} MiB"
            )
        rss_end = attacks[-1]["rss_kib"]["end"] if attacks else rss_start
        log_bytes = sum(w["log_bytes"] for w in attacks)
        lines = log_path.read_bytes()[log_start:].count(b"\n")
        for w, window in enumerate(attacks):
            before, after = cleans[w], cleans[w + 1]
            base = (before["ok_per_s"] + after["ok_per_s"]) / 2
            per_cpu = (before["ok_per_node_cpu_s"] + after["ok_per_node_cpu_s"]) / 2
            window["baseline_ok_per_s"] = round(base, 2)
            window["ok_ratio"] = round(window["ok_per_s"] / max(base, 1e-9), 3)
            window["ok_per_node_cpu_s_ratio"] = round(
                window["ok_per_node_cpu_s"] / max(per_cpu, 1e-9), 3
            )
        niced = [w for w in attacks if w["niceness"]]
        unniced = [w for w in attacks if not w["niceness"]]

        def growth(phases: list[dict[str, Any]]) -> float:
            return round(sum(p["rss_kib"]["end"] - p["rss_kib"]["start"] for p in phases) / 1024, 1)

        return {
            "ids": ids,
            "oversized": oversized,
            "windows": windows,
            "clean_s": clean_s,
            "settle_s": settle_s,
            "silent_streams": silent,
            "attack_s": round(sum(w["seconds"] for w in attacks), 1),
            "rss_kib": {"start": rss_start, "end": rss_end},
            "rss_growth_mib": round((rss_end - rss_start) / 1024, 1),
            "rss_growth_during_attacks_mib": growth(attacks),
            "rss_growth_during_clean_mib": growth(cleans[1:-1]),
            "status_bytes": status_bytes,
            "log_bytes": log_bytes,
            "log_lines": lines,
            "attack_windows": attacks,
            "clean_phases": cleans,
            "niced": {
                "ok_ratio": _weighted(niced, "ok_ratio"),
                "ok_per_node_cpu_s_ratio": _weighted(niced, "ok_per_node_cpu_s_ratio"),
            },
            "unniced": {
                "ok_ratio": _weighted(unniced, "ok_ratio"),
                "ok_per_node_cpu_s_ratio": _weighted(unniced, "ok_per_node_cpu_s_ratio"),
            },
            "machine": machine(),
        }
    finally:
        control.close()
        client.stop(0)
        for process in (child, other):
            stop_node(process)
        log.close()
        other_log.close()
        shutil.rmtree(workdir, ignore_errors=True)


def _positive(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0: {text}")
    return value


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000, help="messages per service")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--soak", type=int, metavar="IDS", help="soak instead: IDS hostile sender and member ids"
    )
    parser.add_argument("--oversized", type=int, default=10_000, help="soak: 1 MB fields")
    parser.add_argument(
        "--windows", type=int, default=8,
        help="soak: attack windows, half with the attacker at nice 19 (default 8)",
    )  # fmt: skip
    parser.add_argument(
        "--clean-s", type=_positive, default=30.0,
        help="soak: seconds measured in each clean phase around the windows (default 30)",
    )  # fmt: skip
    parser.add_argument("--name", default="fuzz_soak", help="soak: result file name")
    # the attacker's own process (run by the soak; not for direct use)
    parser.add_argument("--attacker", metavar="ADDRESS", help=argparse.SUPPRESS)
    parser.add_argument("--fingerprint", default="", help=argparse.SUPPRESS)
    parser.add_argument("--first", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--ids", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--silent", type=int, default=8, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.attacker:
        return _attacker_main(args)
    if args.soak is not None:
        if args.soak < 1 or args.windows < 1 or args.oversized < 0:
            parser.error("--soak and --windows must be at least 1, --oversized at least 0")
        soaked = soak(args.soak, min(args.oversized, args.soak), args.windows, args.clean_s)
        write_result(args.name, soaked)
        niced, unniced = soaked["niced"], soaked["unniced"]
        ok = (
            soaked["rss_growth_mib"] <= 20
            and soaked["status_bytes"] < 64 << 10
            and niced["ok_ratio"] >= 0.9
        )
        print(
            f"soak: RSS +{soaked['rss_growth_mib']} MiB (goal 20; during attacks "
            f"+{soaked['rss_growth_during_attacks_mib']}, during clean phases "
            f"+{soaked['rss_growth_during_clean_mib']}), status {soaked['status_bytes']} B, "
            f"{soaked['log_lines']} log lines; exchanges under attack, attacker at nice 19 "
            f"(judged, goal 0.90): {niced['ok_ratio']:.2f} of the baseline by wall time, "
            f"{niced['ok_per_node_cpu_s_ratio']:.2f} per node CPU second; attacker un-niced on "
            f"the same cores: {unniced['ok_ratio']:.2f} / {unniced['ok_per_node_cpu_s_ratio']:.2f}"
            f": {'PASS' if ok else 'FAIL'}"
        )
        return 0 if ok else 1
    result = run(args.count, args.seed)
    write_result("fuzz", result)
    total = sum(s["messages"] for s in result["services"].values())
    rss = result["rss_kib"]
    growth = rss["end"] / max(rss["start"], 1)
    ok = result["alive"] and result["model_unchanged"]
    print(
        f"fuzz: {total} messages over {len(result['services'])} services; "
        f"alive={result['alive']} model_unchanged={result['model_unchanged']} "
        f"rss {rss['start']}->{rss['max']} KiB max (end/start {growth:.2f}); "
        f"{'PASS' if ok else 'FAIL'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
