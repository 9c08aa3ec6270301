"""Membership at scale in simulation: cost per member, detection and join times, 64-1,000 members.

    python bench/membership_scale.py                       # 64, 256 and 1,000 members
    python bench/membership_scale.py --sizes 64 256 --churn 30

Each size runs the node's own state machine (gossip.membership.core) in
gossip.membership.simulation, lan profile, 1% of messages lost, 0.5-3 ms
delays; bytes are the protobuf encoding of every message the protocol sends
(gossip.transport.wire) plus gRPC's 5-byte frame. Phases:

* form: all members start within ``n / 500`` s from one seed; until every
  member sees every other alive (at most ``--form-limit`` simulated s);
* quiet: ``--quiet`` s with nothing happening: bytes sent per member per s;
* churn: ``--churn`` s in which every ``--every`` s one random member crashes
  (SIGKILL) and one new member joins through a random seed, then ``--drain``
  s for the last detections: bytes per member per s over the churn, for each
  crash the time until every member that ran throughout saw it dead, for each
  join the time until every such member saw it alive, and dead events about
  members that never crashed (false deaths).

Goals (issue 17): at most 30 kB/s per member, flat from 64 to 1,000; a crash
dead everywhere p99 <= 3.5 s; a join known to all p99 <= 2 s; 0 false deaths;
60 simulated seconds of 1,000 members in at most 5 minutes of wall time.
Writes bench/results/membership_scale.json.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import machine, write_result
from bench.membership import pct
from gossip.membership import MembershipConfig, State
from gossip.membership.simulation import Simulation

_SEEN_ALIVE = ("joined", "alive", "rejoined")


def summary(values: list[float]) -> dict[str, float]:
    finite = [v for v in values if v != float("inf")]
    return {
        "n": len(values),
        "never": len(values) - len(finite),
        "p50": round(pct(values, 50), 3),
        "p99": round(pct(values, 99), 3),
        "max": round(max(values), 3) if values else float("nan"),
    }


def full_view(sim: Simulation) -> bool:
    live = [n.id for n in sim.running()]
    for node in sim.running():
        core = node.core
        if core.live_count() != len(live) - 1:
            return False
        if any(core.state_of(m) is not State.ALIVE for m in live if m != node.id):
            return False
    return True


def first_times(
    sim: Simulation, member: str, kinds: tuple[str, ...], since: float
) -> dict[str, float]:
    """Per observer: the first time it logged one of ``kinds`` about ``member`` after ``since``."""
    seen: dict[str, float] = {}
    for event in sim.events:
        if event.t >= since and event.member == member and event.kind in kinds:
            seen.setdefault(event.observer, event.t)
    return seen


def run_size(n: int, args: argparse.Namespace) -> dict[str, Any]:
    began = time.perf_counter()
    cpu = time.process_time()
    rng = random.Random(args.seed)
    sim = Simulation(
        n,
        MembershipConfig.lan(),
        seed=args.seed,
        drop=args.drop,
        wire=args.decode,
        start_spread=max(0.5, n / 500),
    )
    sim.run_for(1.0)
    formed = sim.run_until_true(lambda: full_view(sim), args.form_limit, 1.0) + 1.0
    formed_wall = time.perf_counter() - began
    print(f"  {n}: formed after {formed:.1f} simulated s ({formed_wall:.0f} s wall)", flush=True)

    mark = sim.stats.bytes
    t0 = sim.now
    formed_at, formed_cpu = time.perf_counter(), time.process_time()
    sim.run_for(args.quiet)
    quiet = (sim.stats.bytes - mark) / n / (sim.now - t0)
    quiet_wall = time.perf_counter() - formed_at

    crashes: list[tuple[str, int, float]] = []
    joins: list[tuple[str, float]] = []
    spawned = 0
    mark, t0 = sim.stats.bytes, sim.now
    churn_wall = time.perf_counter()
    while sim.now - t0 < args.churn - 1e-9:
        running = [x.id for x in sim.running() if x.id != "m0"]
        victim = rng.choice(running)
        crashes.append((victim, sim.nodes[victim].core.me.generation, sim.now))
        sim.crash(victim)
        name = f"j{spawned}"
        spawned += 1
        seed = rng.choice([x for x in running if x != victim])
        sim.start(name, seeds=[f"{seed}:1"])
        joins.append((name, sim.now))
        sim.run_for(args.every)
    churn_bytes = (sim.stats.bytes - mark) / n / (sim.now - t0)
    sim.run_for(args.drain)
    churn_wall = time.perf_counter() - churn_wall
    after_form_cpu = time.process_time() - formed_cpu
    end = sim.now

    running_ids = {x.id for x in sim.running()}
    crashed = {(member, generation) for member, generation, _ in crashes}
    born = {name: t for name, t in joins}
    dead_all: list[float] = []
    for member, _, t in crashes:
        # observers: running from before the crash to the end
        observers = [o for o in running_ids if born.get(o, -1.0) < t]
        seen = first_times(sim, member, ("dead",), t)
        dead_all.append(max((seen.get(o, float("inf")) - t for o in observers), default=0.0))
    join_all: list[float] = []
    for member, t in joins:
        if member not in running_ids:
            continue  # it crashed itself during the churn
        observers = [o for o in running_ids if o != member and born.get(o, -1.0) < t]
        seen = first_times(sim, member, _SEEN_ALIVE, t)
        join_all.append(max((seen.get(o, float("inf")) - t for o in observers), default=0.0))
    false_deaths = sum(
        1 for e in sim.events if e.kind == "dead" and (e.member, e.generation) not in crashed
    )
    suspicions = sum(1 for e in sim.events if e.kind == "suspect")
    wall = time.perf_counter() - began
    result = {
        "members": n,
        "formed_simulated_s": round(formed, 1),
        "quiet_bytes_per_member_per_s": round(quiet),
        "churn_bytes_per_member_per_s": round(churn_bytes),
        "churn_events": len(crashes),
        "crash_dead_everywhere_s": summary(dead_all),
        "join_known_to_all_s": summary(join_all),
        "false_deaths": false_deaths,
        "suspect_events": suspicions,
        "simulated_s": round(end, 1),
        "wall_s": round(wall, 1),
        "wall_s_quiet_and_churn": round(quiet_wall + churn_wall, 1),
        "simulated_s_quiet_and_churn": round(args.quiet + args.churn + args.drain, 1),
        "wall_s_form": round(formed_wall, 1),
        "cpu_s": round(time.process_time() - cpu, 1),
        "cpu_s_quiet_and_churn": round(after_form_cpu, 1),
    }
    print(f"  {n}: {result}", flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 256, 1000])
    parser.add_argument("--drop", type=float, default=0.01, help="message loss (0.01: 1%%)")
    parser.add_argument("--quiet", type=float, default=20.0, help="simulated s of quiet")
    parser.add_argument("--churn", type=float, default=40.0, help="simulated s of churn")
    parser.add_argument("--every", type=float, default=2.0, help="s between crash+join pairs")
    parser.add_argument("--drain", type=float, default=8.0, help="simulated s after the churn")
    parser.add_argument("--form-limit", type=float, default=90.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--decode",
        action="store_true",
        help="also decode every message (bytes are the encoder's either way; slower)",
    )
    args = parser.parse_args()
    if min(args.sizes) < 4 or args.every <= 0 or not 0 <= args.drop < 1:
        parser.error("--sizes must be >= 4, --every > 0, --drop in [0, 1)")
    rows = []
    for n in args.sizes:
        print(f"membership_scale: {n} members", flush=True)
        rows.append(run_size(n, args))
    load = os.getloadavg()
    print()
    print(
        f"{'members':>8} {'quiet kB/s':>10} {'churn kB/s':>10} {'crash p99 s':>11}"
        f" {'join p99 s':>10} {'false deaths':>12} {'wall s':>7} {'cpu s':>6} {'sim s':>6}"
    )
    for r in rows:
        print(
            f"{r['members']:>8} {r['quiet_bytes_per_member_per_s'] / 1000:>10.2f}"
            f" {r['churn_bytes_per_member_per_s'] / 1000:>10.2f}"
            f" {r['crash_dead_everywhere_s']['p99']:>11.2f}"
            f" {r['join_known_to_all_s']['p99']:>10.2f} {r['false_deaths']:>12}"
            f" {r['wall_s']:>7.0f} {r['cpu_s']:>6.0f} {r['simulated_s']:>6.0f}"
        )
    write_result(
        "membership_scale",
        {
            "rows": rows,
            "drop": args.drop,
            "profile": "lan",
            "quiet_s": args.quiet,
            "churn_s": args.churn,
            "churn_every_s": args.every,
            "seed": args.seed,
            "decoded": args.decode,
            "load_average": [round(x, 2) for x in load],
            "machine": machine(),
        },
    )


if __name__ == "__main__":
    main()
