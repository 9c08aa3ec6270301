"""Large models at wire speed: how fast real peers agree on 1M to 100M parameters.

Each peer is its own OS process running a :class:`gossip.Node` on 127.0.0.1
that only averages (``max_steps=0``: nothing trains). Before ``start()`` a peer
writes its own starting values into ``node.replica.params``: standard normal
plus its index, drawn chunk by chunk from ``default_rng([seed, peer, chunk])``,
so any process can recompute any chunk of anyone's start, hence of the initial
mean ``m0``, without holding the other models. Averaging keeps the mean, so a
peer knows how far it is from agreement on its own: ``||x_i - m0|| / ||m0||``.

Measuring it. A sampler thread in each peer reads a fixed probe of the
parameters (16 chunks of 8192 values spread over the vector, 131k values,
copied under the replica's lock) every 50 ms and sends (time, probe distance,
bytes sent so far, exchanges in flight, alive members) to this process; a full
10M-value distance every 50 ms would cost four peers most of a core. The probe
is checked against the exact distance over every parameter once the run is
over (``distance_exact`` vs ``distance_probe`` in the JSON). Times are on the
machine-wide monotonic clock and start at the FIRST EXCHANGE (the earliest
moment any peer had one in flight, polled every 5 ms); the start signal and
the moment every peer knew all others alive are reported relative to it.
Every peer is READY at the start signal, whatever the codec: it has loaded its
codecs' compiled loops and mapped its exchange vectors (``Node.warm_up``,
timed: ``warm_up_s`` in the JSON, printed per setting) before it says "ready".
A node does this in a thread of its own while it serves and meets the members,
then starts exchanging; peers started together finish it up to seconds apart
under load, so without this the first exchanges of a compressed run would pair
whoever was ready first, and ``none`` (nothing to load) would be timed from a
fairer start.

Per setting: time until every peer is within 1e-2 and 1e-3 of ``m0``, bytes
sent per peer by then (transport counters: exchanges plus membership), the
spread (max over peers of the distance) every 0.2 s and its largest growth
between two samples, and the mean drift ``||mean - m0|| / ||m0||`` over all
parameters after every exchange in flight has finished. Where the time goes:
each peer's exchange counts, mean duration of the exchanges it started,
refusals by reason, schedule counters and CPU seconds from start to stop
(``cpu_s``; summarised as CPU per completed exchange, both sides), in the
JSON and summarised.

    python bench/large.py                        # 4x10M and 8x1M, none and the default codec,
                                                 # then 4x100M (--memory), 2 runs each
    python bench/large.py --peers 4 --params 10000000 --compression none --repeats 3
    python bench/large.py --memory               # 4 x 100M, none: peak RSS per peer
    python bench/large.py --hivemind /work/hm-venv/bin/python   # with hivemind's averager

``--hivemind PYTHON`` runs bench/hivemind_mean.py in that interpreter (which
must have hivemind; never this project's venv): 4 processes average 10M
float32 with hivemind's DecentralizedAverager, for the gossip/hivemind ratio.
Writes bench/results/large.json and large.png (spread against time); --memory and one
setting write large_memory.* and large_custom.* instead.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import multiprocessing as mp
import os
import resource
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS_DIR, machine, median, write_result

from gossip.cli.launcher import free_ports
from gossip.config import NodeConfig
from gossip.data import from_arrays
from gossip.model import mlp
from gossip.node import Node

CHUNK = 8192
"""Values per chunk of a starting vector (each chunk has its own seed)."""
PROBE_CHUNKS = 16
"""Chunks in the distance probe, spread evenly over the vector."""
INPUTS = 97
"""Input width of the model: ``hidden * (INPUTS + 3) + 2`` parameters with 2 classes."""
THRESHOLDS = (1e-2, 1e-3)
SAMPLE_S = 0.05
FIRST_POLL_S = 0.005
SPREAD_S = 0.2
AFTER_S = 0.6
"""Seconds of sampling after every peer is within the last threshold (spread keeps shrinking?)."""
DEFAULT_CODEC = NodeConfig().compression
TABLE = ((4, 10_000_000), (8, 1_000_000))
MEMORY = (4, 100_000_000)
GOAL_1E3_S = 2.0
GOAL_BYTES = 60e6
MEMORY_FLOOR_MIB = 2048
"""Stop a run early when the machine has less memory available than this (it is shared)."""
HIVEMIND_REFERENCE_S = (1.0, 1.3)
"""hivemind 1.1.12 DecentralizedAverager.step(), group of 4, exact mean of 10M float32:
measured on this machine earlier, outside this repository (not by this bench)."""


@dataclass(frozen=True)
class Setting:
    peers: int
    params: int
    compression: str
    limit_s: float
    seed: int = 0

    @property
    def name(self) -> str:
        return f"{self.peers}x{self.params / 1e6:g}M {self.compression}"


# ------------------------------------------------------------------ starting values


def chunk_bounds(size: int) -> Iterator[tuple[int, int, int]]:
    for index, start in enumerate(range(0, size, CHUNK)):
        yield index, start, min(start + CHUNK, size)


def start_chunk(seed: int, peer: int, index: int, length: int) -> np.ndarray:
    """Peer ``peer``'s starting values in chunk ``index``: standard normal + peer."""
    rng = np.random.default_rng([seed, peer, index])
    return rng.standard_normal(length, dtype=np.float32) + np.float32(peer)


def mean_chunk(seed: int, peers: int, index: int, length: int) -> np.ndarray:
    """The initial mean over all peers of one chunk, in float64."""
    total = np.zeros(length)
    for peer in range(peers):
        total += start_chunk(seed, peer, index, length)
    return total / peers


def probe_slices(size: int) -> list[slice]:
    chunks = list(chunk_bounds(size))
    picks = np.unique(np.linspace(0, len(chunks) - 1, PROBE_CHUNKS).round().astype(int))
    return [slice(chunks[i][1], chunks[i][2]) for i in picks]


def exact_distance(params: np.ndarray, seed: int, peers: int) -> float:
    """``||params - m0|| / ||m0||`` over every parameter, chunk by chunk."""
    diff2 = norm2 = 0.0
    for index, start, end in chunk_bounds(params.size):
        m0 = mean_chunk(seed, peers, index, end - start)
        diff2 += float(((params[start:end] - m0) ** 2).sum())
        norm2 += float((m0**2).sum())
    return float(np.sqrt(diff2 / norm2))


# ------------------------------------------------------------------ one peer (its own process)


def model_with(params: int) -> Any:
    hidden = max(1, round((params - 2) / (INPUTS + 3)))
    return mlp(INPUTS, [hidden], 2, "classification", seed=0, optimizer="sgd")


def available_mib() -> int:
    """MemAvailable of the whole machine."""
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) // 1024
    return 0


def memory_kib() -> dict[str, int]:
    """VmRSS and VmHWM (peak since the last reset) of this process, in KiB."""
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0])
    return fields


class Sampler(threading.Thread):
    """Sends (t, probe distance, bytes sent, in flight, alive, completed) every 50 ms."""

    def __init__(self, node: Node, setting: Setting, peer: int, send: Any) -> None:
        super().__init__(name="large-sampler", daemon=True)
        self.node, self.send = node, send
        self.slices = probe_slices(node.replica.num_params)
        self.m0 = np.concatenate(
            [mean_chunk(setting.seed, setting.peers, s.start // CHUNK, s.stop - s.start)
             for s in self.slices]
        )  # fmt: skip
        self.m0_norm = float(np.linalg.norm(self.m0))
        self.halt = threading.Event()

    def distance(self) -> float:
        probe = self.node.replica.gather(self.slices).astype(np.float64)
        return float(np.linalg.norm(probe - self.m0)) / self.m0_norm

    def run(self) -> None:
        node, first = self.node, None
        last = 0.0
        while not self.halt.is_set():
            now = time.monotonic()
            if first is None and node.schedule.partner() is not None:
                first = now
                self.send(("first", now))
            if now - last >= SAMPLE_S:
                last = now
                alive = len(node.membership.alive()) if node.membership else 0
                sample = (
                    now,
                    self.distance(),
                    node.transport.traffic.sent,
                    int(node.schedule.partner() is not None),
                    alive,
                    node.schedule.stats().completed,
                )
                self.send(("sample", sample))
            self.halt.wait(FIRST_POLL_S if first is None else SAMPLE_S / 5)


def peer_main(setting: Setting, peer: int, addresses: list[str], conn: Connection) -> None:
    """Build, wait for 'go', start, sample; on 'stop' quiesce, measure exactly, shut down."""
    lock = threading.Lock()

    def send(message: Any) -> None:
        with lock:
            conn.send(message)

    config = NodeConfig(
        id=f"p{peer}",
        listen=addresses[peer],
        peers=tuple(a for a in addresses if a != addresses[peer]),
        max_steps=0,
        bootstrap=False,
        gossip_interval=0.05,
        compression=setting.compression,
        seed=setting.seed,
        shard=(peer, setting.peers),
    )
    x = np.zeros((8, INPUTS), dtype=np.float32)
    y = np.arange(8) % 2
    data = (from_arrays(x, y, name="dummy"), from_arrays(x, y, name="dummy-test"))
    node = Node(config, model=model_with(setting.params), data=data)
    params = node.replica.params
    for index, start, end in chunk_bounds(params.size):
        params[start:end] = start_chunk(setting.seed, peer, index, end - start)
    sampler = Sampler(node, setting, peer, send)
    began = time.monotonic()  # the codecs' compiled loops, before the clock (see the docstring)
    node.warm_up()
    warm_up_s = time.monotonic() - began
    setup_memory = memory_kib()
    with contextlib.suppress(OSError):  # peak RSS from here on: exchanging, not building
        Path("/proc/self/clear_refs").write_text("5")
    send(("ready", node.replica.num_params, node.replica.fingerprint, setup_memory, warm_up_s))
    started = False
    try:
        if conn.recv() != "go":
            return
        cpu_began = time.process_time()
        node.start()
        started = True
        sampler.start()
        if conn.recv() != "stop":
            return
        node.stop()  # no new exchanges from here; those in flight finish
        cpu_s = time.process_time() - cpu_began
        send(("stopped",))
        if conn.recv() != "settle":
            return
        quiet_since = time.monotonic()
        deadline = quiet_since + 2 * config.exchange_timeout
        while time.monotonic() < deadline and time.monotonic() - quiet_since < 0.3:
            if node.schedule.partner() is not None:
                quiet_since = time.monotonic()
            time.sleep(0.01)
        sampler.halt.set()
        sampler.join()
        send(("settled", node.schedule.partner() is None))
        if conn.recv() != "final":
            return
        latency = node.transport.stats.latency()
        exchange_memory = memory_kib()
        status = node.shutdown()
        started = False
        fields = status.as_json()
        usage = resource.getrusage(resource.RUSAGE_SELF)
        send(
            (
                "final",
                {
                    "distance_exact": exact_distance(params, setting.seed, setting.peers),
                    "distance_probe": sampler.distance(),
                    "exchanges": fields["exchanges"],
                    "started_ok_mean_s": latency["ok"].sum / max(latency["ok"].count, 1),
                    "started": {r: h.count for r, h in latency.items()},
                    "refusals": status.protection.refusals,
                    "schedule": fields["schedule"],
                    "bytes": fields["bytes"],
                    "memory_setup_kib": setup_memory,
                    "memory_exchanging_kib": exchange_memory,
                    "ru_maxrss_kib": usage.ru_maxrss,
                    "cpu_s": cpu_s,
                },
            )
        )
        # the final models, for the mean drift; not 100M of them (1.6 GB in the coordinator)
        conn.send_bytes(memoryview(params).cast("B") if setting.params < MEMORY[1] else b"")
    except (EOFError, BrokenPipeError, KeyboardInterrupt):
        pass  # the coordinator is gone or interrupted: shut down quietly
    finally:
        sampler.halt.set()
        if started:
            node.shutdown()


# ------------------------------------------------------------------ the coordinator


def expect(pipe: Connection, kind: str, timeout: float) -> tuple[Any, ...]:
    """The next message of ``kind`` (samples in between are dropped); RuntimeError on silence."""
    deadline = time.monotonic() + timeout
    while pipe.poll(max(deadline - time.monotonic(), 0.0)):
        message = pipe.recv()
        if message[0] == kind:
            return tuple(message)
    raise RuntimeError(f"no {kind!r} from a peer within {timeout:.0f} s")


class Run:
    """One setting on real processes: start them, collect samples, stop them, always."""

    def __init__(self, setting: Setting) -> None:
        self.setting = setting
        self.pipes: list[Connection] = []
        self.procs: list[BaseProcess] = []
        self.samples: list[list[tuple[float, ...]]] = [[] for _ in range(setting.peers)]
        self.first: list[float] = []
        self.lowest_available_mib = available_mib()
        self.memory_guard = False

    def __enter__(self) -> Run:
        n = self.setting.peers
        addresses = [f"127.0.0.1:{p}" for p in free_ports(n)]
        ctx = mp.get_context("spawn")
        for peer in range(n):
            parent, child = ctx.Pipe()
            proc = ctx.Process(
                target=peer_main, args=(self.setting, peer, addresses, child), daemon=True
            )
            proc.start()
            self.pipes.append(parent)
            self.procs.append(proc)
        return self

    def __exit__(self, *_: object) -> None:
        for pipe in self.pipes:
            with contextlib.suppress(OSError):
                pipe.close()
        for proc in self.procs:
            proc.join(timeout=20)
            if proc.is_alive():
                proc.kill()
                proc.join(timeout=5)

    def broadcast(self, message: str) -> None:
        for pipe in self.pipes:
            pipe.send(message)

    def latest(self, peer: int) -> tuple[float, ...] | None:
        return self.samples[peer][-1] if self.samples[peer] else None

    def collect(self) -> float:
        """Samples until every peer is within the last threshold (plus a little), or the limit."""
        go = time.monotonic()
        self.broadcast("go")
        limit = go + self.setting.limit_s
        done_at: float | None = None
        while time.monotonic() < limit:
            if done_at is not None and time.monotonic() > done_at + AFTER_S:
                break
            for pipe in wait(self.pipes, timeout=0.1):
                peer = self.pipes.index(pipe)  # type: ignore[arg-type]
                message = pipe.recv()
                if message[0] == "sample":
                    self.samples[peer].append(message[1])
                elif message[0] == "first":
                    self.first.append(message[1])
            self.lowest_available_mib = min(self.lowest_available_mib, available_mib())
            if self.lowest_available_mib < MEMORY_FLOOR_MIB:
                self.memory_guard = True  # stop before the machine runs out: say so
                break
            if any(not p.is_alive() for p in self.procs):
                raise RuntimeError("a peer process died (see its log above)")
            latest = [self.latest(i) for i in range(self.setting.peers)]
            if done_at is None and all(s and s[1] <= THRESHOLDS[-1] for s in latest):
                done_at = time.monotonic()
        return go

    def finish(self) -> tuple[list[dict[str, Any]], list[np.ndarray], bool]:
        self.broadcast("stop")
        for pipe in self.pipes:
            expect(pipe, "stopped", 30)
        self.broadcast("settle")
        settled = all(expect(pipe, "settled", 60)[1] for pipe in self.pipes)
        self.broadcast("final")
        finals, models = [], []
        for pipe in self.pipes:
            finals.append(expect(pipe, "final", 300)[1])
            models.append(np.frombuffer(pipe.recv_bytes(), dtype=np.float32))
        return finals, models, settled


def mean_drift(models: list[np.ndarray], seed: int) -> float | None:
    if not models[0].size:
        return None
    drift2 = norm2 = 0.0
    for index, start, end in chunk_bounds(models[0].size):
        m0 = mean_chunk(seed, len(models), index, end - start)
        now = np.mean([m[start:end].astype(np.float64) for m in models], axis=0)
        drift2 += float(((now - m0) ** 2).sum())
        norm2 += float((m0**2).sum())
    return float(np.sqrt(drift2 / norm2))


def state_at(samples: list[tuple[float, ...]], t: float) -> tuple[float, ...] | None:
    """A peer's last sample taken at or before ``t``."""
    before = [s for s in samples if s[0] <= t]
    return before[-1] if before else None


def analyse(run: Run, go: float) -> dict[str, Any]:
    """Crossing times, bytes by then, the spread series; times from the first exchange."""
    samples = run.samples
    t0 = min(run.first) if run.first else go
    times = sorted({s[0] for peer in samples for s in peer})
    reached: dict[str, Any] = {}
    for threshold in THRESHOLDS:
        key = f"{threshold:g}"
        reached[key] = None
        for t in times:
            states = [state_at(peer, t) for peer in samples]
            if all(s is not None and s[1] <= threshold for s in states):
                sent = [s[2] for s in states if s is not None]
                reached[key] = {
                    "seconds": t - t0,
                    "bytes_sent_per_peer_max": max(sent),
                    "bytes_sent_per_peer_mean": float(np.mean(sent)),
                    "exchanges_completed_sum": sum(s[5] for s in states if s is not None),
                }
                break
    end = max(times) if times else t0
    spread: list[tuple[float, float]] = []
    t = t0
    while t <= end:
        states = [state_at(peer, t) for peer in samples]
        if all(s is not None for s in states):
            spread.append((t - t0, max(s[1] for s in states if s is not None)))
        t += SPREAD_S
    growth = [b[1] / a[1] for a, b in itertools.pairwise(spread) if a[1] > 0]
    alive_all = [
        next((s[0] for s in peer if s[4] >= run.setting.peers - 1), None) for peer in samples
    ]
    in_flight = [s[3] for peer in samples for s in peer if s[0] >= t0]
    return {
        "reached": reached,
        "spread": spread,
        "spread_growth_max": max(growth) if growth else None,
        "go_s": go - t0,
        "all_alive_s": None if None in alive_all else max(a for a in alive_all if a) - t0,
        "in_flight_mean": float(np.mean(in_flight)) if in_flight else 0.0,
        "sampled_s": end - t0,
    }


def run_setting(setting: Setting) -> dict[str, Any]:
    load_before = os.getloadavg()
    with Run(setting) as run:
        ready = [expect(pipe, "ready", 300) for pipe in run.pipes]
        prints = {r[2] for r in ready}
        if len(prints) != 1:
            raise RuntimeError(f"peers built different models: {sorted(prints)}")
        go = run.collect()
        result = analyse(run, go)
        finals, models, settled = run.finish()
    result.update(
        setting=asdict(setting),
        params=ready[0][1],
        warm_up_s=[r[4] for r in ready],
        load_before=load_before,
        load_after=os.getloadavg(),
        settled=settled,
        mean_drift=mean_drift(models, setting.seed),
        lowest_available_mib=run.lowest_available_mib,
        memory_guard_tripped=run.memory_guard,
        peers=finals,
    )
    return result


def hivemind_mean(python: str, repeats: int) -> dict[str, Any]:
    """bench/hivemind_mean.py in another interpreter: its last line is JSON."""
    script = Path(__file__).resolve().parent / "hivemind_mean.py"
    command = [python, str(script), "--peers", "4", "--params", "10000000"]
    command += ["--repeats", str(repeats)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"hivemind run failed: {done.stderr.strip().splitlines()[-1:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# ------------------------------------------------------------------ reporting


def fmt_reached(entry: dict[str, Any] | None) -> str:
    if entry is None:
        return "not reached"
    return f"{entry['seconds']:.2f} s, {entry['bytes_sent_per_peer_max'] / 1e6:.0f} MB/peer"


def summary_line(result: dict[str, Any]) -> str:
    peers = result["peers"]
    ok = sum(p["exchanges"]["ok"] for p in peers) // 2
    failed = sum(p["exchanges"]["failed"] for p in peers)
    busy = sum(p["refusals"].get("busy", 0) for p in peers)
    started = sum(sum(p["started"].values()) for p in peers)
    duration = np.mean([p["started_ok_mean_s"] for p in peers])
    reached = result["reached"]
    growth = result["spread_growth_max"]
    drift = "n/a" if result["mean_drift"] is None else f"{result['mean_drift']:.1e}"
    peak = max(p["memory_exchanging_kib"]["VmHWM"] for p in peers) / 1024
    warm = result["warm_up_s"]
    cpu = sum(p["cpu_s"] for p in peers) / max(ok, 1)
    return (
        f"{Setting(**result['setting']).name:>16}: 1e-2 {fmt_reached(reached['0.01'])}; "
        f"1e-3 {fmt_reached(reached['0.001'])}; spread growth max "
        f"{'n/a' if growth is None else f'{growth:.2f}'}, drift {drift}; "
        f"{ok} exchanges ({started} started, {busy} busy refusals, {failed} failed), "
        f"mean {duration * 1e3:.0f} ms each, {result['in_flight_mean']:.2f} in flight per peer, "
        f"{cpu * 1e3:.0f} ms of CPU per exchange (both sides, membership included); "
        f"peak RSS {peak:.0f} MiB/peer; first exchange {-result['go_s']:.2f} s after start "
        f"(codecs loaded before it: {min(warm):.2f}-{max(warm):.2f} s), "
        f"load {result['load_before'][0]:.1f}"
    )


def seconds_of(results: list[dict[str, Any]], threshold: str) -> float | None:
    """Median time over runs; None when any run did not get there."""
    times = [r["reached"][threshold] for r in results]
    if not times or any(t is None for t in times):
        return None
    return median([t["seconds"] for t in times])


def plot(results: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    colours: dict[str, str] = {}
    for result in results:
        name = Setting(**result["setting"]).name
        xs = [t for t, _ in result["spread"]]
        ys = [d for _, d in result["spread"]]
        line = ax.plot(xs, ys, color=colours.get(name), label=None if name in colours else name)
        colours.setdefault(name, line[0].get_color())
    for threshold in THRESHOLDS:
        ax.axhline(threshold, color="grey", linestyle=":", linewidth=1)
    ax.set_yscale("log")
    ax.set_xlabel("seconds since the first exchange")
    ax.set_ylabel("spread: max over peers of ||x_i - m0|| / ||m0||")
    ax.set_title("averaging only, real processes on 127.0.0.1 (every 0.2 s)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"wrote {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peers", type=int, help="one setting: this many peers")
    parser.add_argument("--params", type=int, help="one setting: parameters per peer")
    parser.add_argument(
        "--compression", help=f"one setting: this codec (default: none and {DEFAULT_CODEC})"
    )
    parser.add_argument("--memory", action="store_true", help="only 4 x 100M, none")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--limit", type=float, default=60.0, help="seconds per run")
    parser.add_argument("--memory-seconds", type=float, default=10.0)
    parser.add_argument("--hivemind", metavar="PYTHON", help="an interpreter with hivemind")
    args = parser.parse_args()

    codecs = [args.compression] if args.compression else ["none", DEFAULT_CODEC]
    settings: list[Setting] = []
    name = "large"  # the whole table; a part of it is written beside, not over it
    if args.memory:
        settings = [Setting(*MEMORY, "none", args.memory_seconds)]
        name = "large_memory"
    elif args.peers or args.params:
        peers, params = args.peers or 4, args.params or 10_000_000
        limit = args.memory_seconds if params >= MEMORY[1] else args.limit
        settings = [Setting(peers, params, c, limit) for c in codecs] * args.repeats
        name = "large_custom"
    else:
        settings = [Setting(p, n, c, args.limit) for p, n in TABLE for c in codecs]
        settings = settings * args.repeats + [Setting(*MEMORY, "none", args.memory_seconds)]

    hivemind: dict[str, Any] = {
        "reference_s": HIVEMIND_REFERENCE_S,
        "reference_note": "DecentralizedAverager.step(), group of 4, 10M float32, hivemind "
        "1.1.12, measured on this machine earlier outside this repository",
    }
    results: list[dict[str, Any]] = []
    try:
        for setting in settings:
            print(f"--- {setting.name} (limit {setting.limit_s:g} s)", flush=True)
            result = run_setting(setting)
            results.append(result)
            print(summary_line(result), flush=True)
            write_result(name, {"runs": results, "hivemind": hivemind, "machine": machine()})
    except KeyboardInterrupt:
        sys.exit("large.py: interrupted; every peer was shut down")
    if args.hivemind:
        hivemind["measured"] = hivemind_mean(args.hivemind, max(args.repeats, 3))
        print(f"hivemind, 4 x 10M exact mean: median {hivemind['measured']['median_s']:.2f} s")
    write_result(name, {"runs": results, "hivemind": hivemind, "machine": machine()})
    plot(results, RESULTS_DIR / f"{name}.png")
    report(results, hivemind)


def report(results: list[dict[str, Any]], hivemind: dict[str, Any]) -> None:
    """The goals of issue 13, each as a ratio (<= 1 meets it); medians over runs."""
    by_name: dict[str, list[dict[str, Any]]] = {}
    for result in results:
        by_name.setdefault(Setting(**result["setting"]).name, []).append(result)
    print("ratios (<= 1 meets the goal; medians over runs):")
    for name, runs in by_name.items():
        setting = Setting(**runs[0]["setting"])
        if setting.params >= MEMORY[1]:
            peak = max(p["memory_exchanging_kib"]["VmHWM"] for r in runs for p in r["peers"])
            tripped = any(r["memory_guard_tripped"] for r in runs)
            lowest = min(r["lowest_available_mib"] for r in runs)
            verdict = (
                f"STOPPED EARLY: machine below {MEMORY_FLOOR_MIB} MiB available"
                if tripped
                else "ran to the end without running out of memory"
            )
            print(
                f"  {name}: {len(runs)} run(s) {verdict}; peak RSS {peak / 1024:.0f} MiB per "
                f"peer while exchanging, machine's lowest MemAvailable {lowest} MiB"
            )
            continue
        growth = max(r["spread_growth_max"] or 0.0 for r in runs)
        print(f"  {name}: largest spread growth between samples / 2 = {growth / 2:.2f}")
        t3 = seconds_of(runs, "0.001")
        if setting.compression == "none":
            text = "not reached" if t3 is None else f"{t3 / GOAL_1E3_S:.2f}"
            print(f"  {name}: time to 1e-3 / {GOAL_1E3_S:g} s = {text}")
            continue
        plain = by_name.get(Setting(setting.peers, setting.params, "none", 0).name)
        t2, t2_plain = seconds_of(runs, "0.01"), plain and seconds_of(plain, "0.01")
        if t2 is None or not t2_plain:
            print(f"  {name}: time to 1e-2 / none's = not reached by one of them")
        else:
            print(f"  {name}: time to 1e-2 / none's = {t2 / t2_plain:.2f}")
        sent = [r["reached"]["0.01"] for r in runs]
        if all(sent):
            mb = median([s["bytes_sent_per_peer_max"] for s in sent])
            goal = f"{GOAL_BYTES / 1e6:g} MB"
            print(f"  {name}: bytes per peer to 1e-2 / {goal} = {mb / GOAL_BYTES:.2f}")
    low, high = hivemind["reference_s"]
    ours = seconds_of(by_name.get(Setting(*TABLE[0], "none", 0).name, []) or [], "0.001")
    if "measured" in hivemind:
        theirs = hivemind["measured"]["median_s"]
        text = "not reached" if ours is None else f"{ours / theirs:.2f}"
        print(f"  gossip 4x10M none to 1e-3 / hivemind exact mean (measured here): {text}")
    elif ours is not None:
        print(
            f"  gossip 4x10M none to 1e-3 / hivemind {low:g}-{high:g} s (REFERENCE measured "
            f"elsewhere, not by this run): {ours / high:.2f}-{ours / low:.2f}"
        )


if __name__ == "__main__":
    main()
