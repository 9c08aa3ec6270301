"""Transfer speed of one pairwise exchange over gRPC against plain TCP.

Side by side in one run, each between two OS processes on 127.0.0.1:

* ``grpc``: the initiator (this process) calls ``GrpcTransport.exchange`` with a
  10M-parameter float32 snapshot (40 MB); a responder process serves a minimal
  Handler that accepts the offer and replies with its own 10M snapshot, taken
  once at start (the bench measures the transport, not the averaging).
* ``tcp``: the same bytes both ways over one plain socket: ``sendall`` of a
  memoryview, ``recv_into`` a preallocated buffer, offer first, then reply.

Every process sets up malloc as a peer does (``gossip/malloc.py``, from
``Node.start``). Throughput counts payload bytes moved both ways over the
wall time of one exchange. Rounds alternate grpc/tcp; medians go to bench/results/transfer.json
and the grpc/tcp ratio is printed last. Beside it, the CPU milliseconds one
exchange costs each side's process (both carriers), which the load of a shared
machine moves far less than the wall time, and the load average before and after.

The TCP baseline does what the exchange does, minus the protocol: the same
bytes each way in the same order (the whole offer, then the whole reply),
into a buffer kept between rounds as the gRPC side's receive buffer is
(gossip/transport/buffers.py). It leaves out the exchange's header and
verdict frames and the end of the stream: one loopback round trip and a few
hundred bytes, well under a millisecond of the ~35 ms TCP takes.

``--profile`` runs the node's own exchange path instead (an Exchanger and a
Replica of 10M parameters on each side, codec ``none``, over gRPC) and prints
where the milliseconds of one exchange go on each side, medians per step
(bench/_steps.py), and the minor page faults of one exchange on each side (fresh
memory touched, which the load does not change), to bench/results/transfer_profile.json.

    .venv/bin/python bench/transfer.py [--params N] [--repeats R] [--profile]
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import multiprocessing as mp
import os
import resource
import socket
import time
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

import numpy as np
from _common import machine, median, write_result
from _steps import STEPS, Steps

from gossip.averaging.compressed import Mixing
from gossip.averaging.pairwise import RAW_CODEC, Identity, Snapshot, encode
from gossip.clock import SystemClock
from gossip.compression import parse_spec
from gossip.exchanger import Exchanger
from gossip.malloc import keep_message_buffers, limit_arenas
from gossip.membership.types import Digest
from gossip.replica import Replica
from gossip.status import Status
from gossip.transport.grpc_transport import GrpcTransport
from gossip.transport.metered import MeteredTransport
from gossip.transport.wire import CHUNK_BYTES

FINGERPRINT = "bench-transfer"
JOIN_SECONDS = 10.0


def _faults() -> int:
    """Minor page faults of this process so far: fresh memory touched (load-independent)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def _snapshot(num_params: int, seed: int, sender: str) -> Snapshot:
    params = np.random.default_rng(seed).standard_normal(num_params, dtype=np.float32)
    return Snapshot(sender, 1, sender, 0, FINGERPRINT, num_params, RAW_CODEC, encode(params))


# ------------------------------------------------------------------ responders


class _Accepted:
    def __init__(self, reply: Snapshot, done: list[float]) -> None:
        self.reply = reply
        self._done = done

    def commit(self, applied: bool, reason: str = "", detail: str = "") -> None:
        self._done.append(time.process_time())


class _NoMembership:
    """A responder's calls besides the exchange: none in this bench."""

    def on_refused(self, reason: str, detail: str) -> None:
        pass

    def on_push_pull(self, digest: Digest) -> Digest:
        return digest

    def on_status(self) -> Status:
        return Status()


class _Handler(_NoMembership):
    """Accepts any offer of the right size and replies with a fixed snapshot."""

    def __init__(self, reply: Snapshot) -> None:
        self._reply = reply
        self.done: list[float] = []
        """This process's CPU seconds at the end of each exchange (see _cpu_ms)."""

    def check_header(self, offer: Snapshot) -> None:
        pass

    def on_exchange(self, offer: Snapshot) -> _Accepted:
        assert len(offer.payload) == len(self._reply.payload)
        return _Accepted(self._reply, self.done)


def _as_a_node() -> None:
    """malloc as ``Node.start`` sets it (gossip/malloc.py), before gRPC's threads start."""
    limit_arenas()
    keep_message_buffers()


def _grpc_responder(conn: Connection, num_params: int) -> None:
    _as_a_node()
    transport = GrpcTransport()
    try:
        handler = _Handler(_snapshot(num_params, 2, "responder"))
        conn.send(transport.serve("127.0.0.1:0", handler))
        while conn.recv() == "report":  # until told to stop (or the parent is gone: EOFError)
            conn.send(handler.done)
    except EOFError:
        pass
    finally:
        transport.stop(0)


class _Profiled:
    """The responder's session: commits, then closes this exchange's profile."""

    def __init__(self, session: Any, handler: _ExchangerHandler) -> None:
        self._session = session
        self._handler = handler
        self.reply = session.reply

    def commit(self, applied: bool, reason: str = "", detail: str = "") -> None:
        self._session.commit(applied, reason, detail)
        self._handler.done()


class _ExchangerHandler(_NoMembership):
    """A node's responder side (its Exchanger), profiled exchange by exchange."""

    def __init__(self, exchanger: Exchanger, steps: Steps) -> None:
        self._exchanger = exchanger
        self._steps = steps
        self._began = 0.0
        self._faults = 0
        self.profiles: list[dict[str, float]] = []

    def check_header(self, offer: Snapshot) -> None:
        self._began = time.perf_counter()  # the header frame has just been parsed
        self._faults = _faults()
        self._exchanger.check_header(offer)

    def on_exchange(self, offer: Snapshot) -> _Profiled:
        return _Profiled(self._exchanger.on_exchange(offer), self)

    def done(self) -> None:
        profile = self._steps.take(time.perf_counter() - self._began)
        profile["page faults"] = _faults() - self._faults
        self.profiles.append(profile)


def _exchanger(
    name: str, num_params: int, seed: int, transport: Any, compression: str = "none"
) -> Exchanger:
    """A node's exchange path; both sides start from one base (first contact is free)."""
    base = np.random.default_rng(0).standard_normal(num_params, dtype=np.float32)
    exchanger = Exchanger(
        Replica(base, FINGERPRINT),
        transport,
        SystemClock(),
        identity=lambda: Identity(name, 1, f"{name}:1"),
        step=lambda: 0,
        timeout=60.0,
        mixing=Mixing(spec=parse_spec(compression)),
    )
    exchanger.replica.params += np.random.default_rng(seed).standard_normal(
        num_params, dtype=np.float32
    )
    return exchanger


def _profile_responder(conn: Connection, num_params: int, compression: str) -> None:
    _as_a_node()
    steps = Steps()
    steps.install()
    transport = GrpcTransport(max_payload_bytes=4 * num_params + 4096)
    responder = _exchanger("responder", num_params, 2, transport, compression)
    handler = _ExchangerHandler(responder, steps)
    try:
        conn.send(transport.serve("127.0.0.1:0", handler))
        while conn.recv() == "report":
            conn.send(handler.profiles)
    except EOFError:
        pass
    finally:
        transport.stop(0)


def _recv_exactly(sock: socket.socket, view: memoryview) -> None:
    filled = 0
    while filled < len(view):
        got = sock.recv_into(view[filled:])
        if got == 0:
            raise ConnectionError("peer closed mid-transfer")
        filled += got


def _tcp_responder(conn: Connection, num_params: int) -> None:
    payload = memoryview(_snapshot(num_params, 2, "responder").payload)
    buffer = memoryview(bytearray(len(payload)))
    with socket.create_server(("127.0.0.1", 0)) as listener:
        conn.send(listener.getsockname()[1])
        sock, _ = listener.accept()
    done: list[float] = []  # CPU seconds at the end of each exchange, as the gRPC responder's
    with sock:
        while True:
            first = sock.recv_into(buffer)
            if first == 0:
                conn.send(done)  # the initiator is done
                return
            _recv_exactly(sock, buffer[first:])
            sock.sendall(payload)
            done.append(time.process_time())


# ------------------------------------------------------------------ initiators


def _grpc_round(
    transport: GrpcTransport, address: str, offer: Snapshot, cpu: list[float] | None = None
) -> float:
    """Wall seconds of one exchange; its CPU seconds in this process go to ``cpu``."""
    received: list[int] = []

    def complete(reply: Snapshot) -> None:
        received.append(len(reply.payload))

    start, began = time.perf_counter(), time.process_time()
    transport.exchange(address, offer, complete, timeout=60.0)
    elapsed = time.perf_counter() - start
    if cpu is not None:
        cpu.append(time.process_time() - began)
    assert received == [len(offer.payload)], received
    return elapsed


def _tcp_round(
    sock: socket.socket, payload: memoryview, buffer: memoryview, cpu: list[float] | None = None
) -> float:
    start, began = time.perf_counter(), time.process_time()
    sock.sendall(payload)
    _recv_exactly(sock, buffer)
    elapsed = time.perf_counter() - start
    if cpu is not None:
        cpu.append(time.process_time() - began)
    return elapsed


def _cpu_ms(initiator: list[float], responder_done: list[float]) -> dict[str, float]:
    """Median CPU ms of one exchange on each side.

    The responder's is the CPU its process spent between the ends of two
    consecutive exchanges (the warm-up's end first): everything one exchange
    costs it, its idle threads included. CPU time moves with the load far less
    than wall time does on this shared machine.
    """
    between = [b - a for a, b in itertools.pairwise(responder_done)]
    return {
        "initiator": round(1e3 * median(initiator), 1),
        "responder": round(1e3 * median(between), 1),
    }


def _start(target: Any, *args: Any) -> tuple[BaseProcess, Connection]:
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    process = ctx.Process(target=target, args=(child, *args), daemon=True)
    process.start()
    child.close()
    if not parent.poll(60.0):
        raise RuntimeError(f"{target.__name__} did not start")
    return process, parent


def _stop(process: BaseProcess, conn: Connection) -> None:
    with contextlib.suppress(OSError):
        conn.send("stop")
    conn.close()
    process.join(JOIN_SECONDS)
    if process.is_alive():
        process.terminate()
        process.join(JOIN_SECONDS)


def _summary(seconds: list[float], moved: int, cpu_ms: dict[str, float]) -> dict[str, Any]:
    return {
        "seconds": [round(s, 4) for s in seconds],
        "median_s": round(median(seconds), 4),
        "gb_per_s": round(moved / median(seconds) / 1e9, 3),
        "cpu_ms_per_exchange": cpu_ms,
    }


def profile(num_params: int, repeats: int, compression: str) -> None:
    """One exchange at a time through both Exchangers; medians per step, each side."""
    load_before = os.getloadavg()[0]
    steps = Steps()
    steps.install()
    transport = GrpcTransport(max_payload_bytes=4 * num_params + 4096)
    clock = SystemClock()
    metered = MeteredTransport(transport, clock)
    exchanger = _exchanger("initiator", num_params, 1, metered, compression)
    metered.distance = lambda _offer, reply: exchanger.mixer.take_distance(reply.sender_id)
    initiator: list[dict[str, float]] = []
    process, conn = _start(_profile_responder, num_params, compression)
    try:
        address = conn.recv()
        for round_ in range(repeats + 1):  # the first one warms up channel and allocator
            steps.reset()
            start, faults = time.perf_counter(), _faults()
            assert exchanger.exchange_with("responder", address), "the exchange failed"
            initiator.append(steps.take(time.perf_counter() - start))
            initiator[-1]["page faults"] = _faults() - faults
            print(f"round {round_}: {initiator[-1]['total']:.1f} ms")
        conn.send("report")
        responder: list[dict[str, float]] = conn.recv()
    finally:
        transport.stop(0)
        _stop(process, conn)
    sides = {"initiator": initiator[1:], "responder": responder[1:]}
    rows = (*STEPS, "total", "page faults")
    table = {
        side: {step: round(median([p[step] for p in runs]), 1) for step in rows}
        for side, runs in sides.items()
    }
    print(f"{'step (ms)':<20}{'initiator':>10}{'responder':>10}")
    for step in rows:
        print(f"{step:<20}{table['initiator'][step]:>10.1f}{table['responder'][step]:>10.1f}")
    if steps.missing:
        print("not found (not timed):", ", ".join(steps.missing))
    moved = 2 * 4 * num_params
    print(f"exchange: {moved / table['initiator']['total'] / 1e6:.3f} GB/s")
    write_result(
        "transfer_profile",
        {
            "bench": "transfer --profile",
            "params": num_params,
            "repeats": repeats,
            "median_ms": table,
            "chunk_bytes": CHUNK_BYTES,
            "load_before_after": [round(load_before, 2), round(os.getloadavg()[0], 2)],
            "machine": machine(),
        },
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--params", type=int, default=10_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="where one exchange's time goes")
    parser.add_argument("--compression", default="none", help="--profile: the codec (default none)")
    args = parser.parse_args()
    _as_a_node()
    if args.profile:
        profile(args.params, args.repeats, args.compression)
        return

    load_before = os.getloadavg()[0]
    offer = _snapshot(args.params, 1, "initiator")
    nbytes = len(offer.payload)
    moved = 2 * nbytes
    payload = memoryview(offer.payload)
    buffer = memoryview(bytearray(nbytes))
    grpc_s: list[float] = []
    tcp_s: list[float] = []
    grpc_cpu: list[float] = []
    tcp_cpu: list[float] = []

    transport = GrpcTransport()
    grpc_proc, grpc_conn = _start(_grpc_responder, args.params)
    tcp_proc, tcp_conn = _start(_tcp_responder, args.params)
    try:
        address = grpc_conn.recv()
        sock = socket.create_connection(("127.0.0.1", tcp_conn.recv()))
        with sock:
            _grpc_round(transport, address, offer)  # warm-up: channel, allocator
            _tcp_round(sock, payload, buffer)
            for round_ in range(args.repeats):
                grpc_s.append(_grpc_round(transport, address, offer, grpc_cpu))
                tcp_s.append(_tcp_round(sock, payload, buffer, tcp_cpu))
                print(
                    f"round {round_ + 1}/{args.repeats}: "
                    f"grpc {moved / grpc_s[-1] / 1e9:.3f} GB/s, "
                    f"tcp {moved / tcp_s[-1] / 1e9:.3f} GB/s"
                )
            assert bytes(buffer[:64]) == bytes(_snapshot(args.params, 2, "x").payload[:64])
            grpc_conn.send("report")
            grpc_done: list[float] = grpc_conn.recv()
        if not tcp_conn.poll(JOIN_SECONDS):  # sent once it sees the socket closed
            raise RuntimeError("the TCP responder did not report")
        tcp_done: list[float] = tcp_conn.recv()
    finally:
        transport.stop(0)
        _stop(grpc_proc, grpc_conn)
        _stop(tcp_proc, tcp_conn)

    grpc = _summary(grpc_s, moved, _cpu_ms(grpc_cpu, grpc_done))
    tcp = _summary(tcp_s, moved, _cpu_ms(tcp_cpu, tcp_done))
    ratio = grpc["gb_per_s"] / tcp["gb_per_s"]
    write_result(
        "transfer",
        {
            "bench": "transfer",
            "params": args.params,
            "payload_bytes_each_way": nbytes,
            "bytes_moved_per_round": moved,
            "chunk_bytes": CHUNK_BYTES,
            "repeats": args.repeats,
            "grpc": grpc,
            "tcp": tcp,
            "ratio_grpc_over_tcp": round(ratio, 3),
            "load_before_after": [round(load_before, 2), round(os.getloadavg()[0], 2)],
            "machine": machine(),
        },
    )
    for name, side in (("grpc exchange:", grpc), ("plain tcp:    ", tcp)):
        cpu = side["cpu_ms_per_exchange"]
        print(
            f"{name} {side['gb_per_s']:.3f} GB/s (median of {args.repeats}), CPU per exchange "
            f"{cpu['initiator']:.1f} ms initiator, {cpu['responder']:.1f} ms responder"
        )
    print(f"ratio grpc/tcp: {ratio:.2f}")


if __name__ == "__main__":
    main()
