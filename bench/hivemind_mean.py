"""The reference for bench/large.py: hivemind's DecentralizedAverager on the same mean.

Runs in an interpreter that has hivemind (``pip install hivemind==1.1.12`` in
a separate venv), never in this project's: it imports neither gossip nor
anything of ours. N processes on 127.0.0.1 each hold ``params`` float32
values (standard normal plus the peer's index, as in bench/large.py), join
one DHT, and call ``averager.step()`` together; one round is the time from
the common start until the LAST peer has its result, which is the exact mean
(all-reduce in one group). Each round restarts from the starting values.
The last line printed is JSON for bench/large.py.

    /work/hm-venv/bin/python bench/hivemind_mean.py [--peers 4] [--params 10000000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import statistics
import time
from multiprocessing.connection import Connection
from typing import Any


def starting_values(peer: int, params: int) -> Any:
    import torch

    generator = torch.Generator().manual_seed(1000 + peer)
    return torch.randn(params, generator=generator) + peer


def peer_main(peer: int, peers: int, params: int, initial: list[str], conn: Connection) -> None:
    import hivemind
    import torch

    torch.set_num_threads(1)
    dht = hivemind.DHT(initial_peers=initial, start=True)
    if not initial:
        conn.send([str(a) for a in dht.get_visible_maddrs()])
    start = starting_values(peer, params)
    averager = hivemind.averaging.DecentralizedAverager(
        averaged_tensors=[start.clone()],
        dht=dht,
        prefix="bench_large",
        target_group_size=peers,
        min_group_size=peers,
        start=True,
    )
    mean = sum(starting_values(p, params).double() for p in range(peers)) / peers
    conn.send("ready")
    try:
        while (command := conn.recv()) != "stop":
            with averager.get_tensors() as tensors:
                tensors[0][...] = start
            began = time.monotonic()
            group = averager.step(wait=True, timeout=60)
            ended = time.monotonic()
            with averager.get_tensors() as tensors:
                error = float((tensors[0].double() - mean).norm() / mean.norm())
            conn.send((command, began, ended, error, None if group is None else len(group)))
    finally:
        averager.shutdown()
        dht.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peers", type=int, default=4)
    parser.add_argument("--params", type=int, default=10_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    ctx = mp.get_context("fork")  # hivemind starts its own processes: not from spawn
    pipes: list[Connection] = []
    procs = []
    try:
        initial: list[str] = []
        for peer in range(args.peers):
            parent, child = ctx.Pipe()
            proc = ctx.Process(
                target=peer_main, args=(peer, args.peers, args.params, initial, child)
            )
            proc.start()
            pipes.append(parent)
            procs.append(proc)
            if peer == 0:
                initial = parent.recv()
        for pipe in pipes:
            assert pipe.recv() == "ready"
        rounds = []
        for round_ in range(args.repeats):
            for pipe in pipes:
                pipe.send(round_)
            replies = [pipe.recv() for pipe in pipes]
            began = min(r[1] for r in replies)
            rounds.append(
                {
                    "seconds": max(r[2] for r in replies) - began,
                    "error_max": max(r[3] for r in replies),
                    "group_sizes": [r[4] for r in replies],
                }
            )
            print(f"round {round_}: {rounds[-1]}", flush=True)
        for pipe in pipes:
            pipe.send("stop")
    finally:
        for proc in procs:
            proc.join(timeout=30)
            if proc.is_alive():
                proc.kill()
    import hivemind

    result = {
        "hivemind": hivemind.__version__,
        "peers": args.peers,
        "params": args.params,
        "rounds": rounds,
        "median_s": statistics.median(r["seconds"] for r in rounds),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
