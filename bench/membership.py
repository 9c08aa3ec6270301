"""Membership figures on real gossip-node processes on loopback (issue 3: M1-M5, cost).

    python bench/membership.py                 # every scenario (about 25 minutes)
    python bench/membership.py m1 m4           # some of them
    python bench/membership.py m2 --m2-minutes 10

M1 detection: N=16 processes; SIGKILL one; time until every survivor logs it dead;
   then restart it (new generation) and time until every survivor has it alive again.
M2 false positives: 16 processes training flat out; one SIGSTOPped 1.5 s every 20 s;
   dead events about anyone (all are healthy) and suspicions are counted; the
   silence every node sees of every other (``last_heard_s``) is sampled to show
   heartbeats flowing under load.
M3 dissemination: 31 processes, a 32nd joins knowing one seed; time until all 31 log it;
   also the CPU the 31 use (on a 2-core host they want more than it has).
M4 leave: SIGTERM one of 16, time until every other logs it ``left``; never ``dead``.
M5 partition: 16 processes cut 8/8 (test-only fault hook, gossip/membership/faults.py)
   for 30 s, healed: time until all see all 15 alive and no dead entry is left.
Cost: membership-only bytes per member per second (exchanges off), beside memberlist.
Soak: 64 processes training at ``--step-rate 2`` for 10 minutes (issue 17; ``--membership
   wan``, see SOAK; started one a second): the share of
   samples (every ~10 s) in which every node sees all 63 others alive, the fewest any
   node saw, and dead events (all are healthy: the goal is 0).

    python bench/membership.py soak --soak-size 64 --soak-minutes 10

Event times come from the nodes' JSON logs (their own timestamps), so polling
does not blur them. Each scenario writes bench/results/membership_<name>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import machine, write_result
from gossip.cli.launcher import Child, Launcher, free_ports, spawn
from gossip.status import Status

EVENT = re.compile(r"^(\S+): member (\S+) \((\S+)\) (\w+), generation (\d+)")
TRAINING = ["--dataset", "digits", "--gossip-interval", "0.2", "--log-format", "json"]
"""Peers train flat out (CPU saturated: 16 processes on the 2-core machine)."""
PACED = [*TRAINING, "--step-rate", "20"]
"""Peers train 20 steps/s: restarts in M4 take seconds, not tens of seconds."""


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); with few trials p99 is the maximum."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def summary(values: list[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "p50": round(statistics.median(values), 3) if values else float("nan"),
        "p99": round(pct(values, 99), 3),
        "max": round(max(values), 3) if values else float("nan"),
        "min": round(min(values), 3) if values else float("nan"),
    }


def events(child: Child) -> list[tuple[float, str, str, str]]:
    """(ts, member id, kind, generation) of every membership event in a child's log."""
    found = []
    try:
        lines = child.log_path.read_text(errors="replace").splitlines()
    except OSError:
        return []
    for line in lines:
        if not line.startswith("{"):
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        match = EVENT.match(entry.get("msg", ""))
        if match:
            found.append((float(entry["ts"]), match[2], match[4], match[5]))
    return found


def first_event(child: Child, member: str, kinds: tuple[str, ...], after: float) -> float | None:
    for ts, who, kind, _ in events(child):
        if who == member and kind in kinds and ts >= after:
            return ts
    return None


def listening(child: Child, after: float) -> float | None:
    """When a child logged 'listening on' (its server is up) after ``after``."""
    for line in child.log_path.read_text(errors="replace").splitlines():
        if "listening on" in line and line.startswith("{"):
            ts = float(json.loads(line)["ts"])
            if ts >= after:
                return ts
    return None


def restart(child: Child, env: dict[str, str] | None = None) -> None:
    """Start the same node again (same id, port and flags): a new generation."""
    child.process = spawn(child.argv, child.log_path, env, append=True)


def wait_until(check: Any, timeout: float, step: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(step)
    return False


def full_view(nodes: Launcher, expect: int) -> bool:
    """Every running child answers and sees ``expect`` others alive."""
    statuses = nodes.poll_status(2.0)
    running = {c.id for c in nodes.running()}
    for node_id, status in statuses.items():
        if node_id not in running:
            continue
        if status is None:
            return False
        alive = [m for m in status.members if m.state == "alive"]
        if len(alive) < expect:
            return False
    return True


def settle(nodes: Launcher, expect: int, timeout: float = 90.0) -> bool:
    """Wait for a full view; False (and a message) when a restarted child never came up."""
    if wait_until(lambda: full_view(nodes, expect), timeout, 0.5):
        return True
    print(f"  cluster did not reach a full view of {expect} within {timeout}s", flush=True)
    return False


def leaves_from_logs(log_dir: Path) -> dict[str, Any]:
    """M4 from the nodes' own logs: each SIGTERM's receipt to ``left`` in every other log."""
    logs = {p.stem: p.read_text(errors="replace").splitlines() for p in log_dir.glob("*.log")}
    parsed: dict[str, list[tuple[float, str]]] = {}
    for name, lines in logs.items():
        parsed[name] = [
            (float(e["ts"]), e.get("msg", ""))
            for e in (json.loads(x) for x in lines if x.startswith("{"))
        ]
    seen: list[float] = []
    dead = 0
    for name, entries in parsed.items():
        for ts, msg in entries:
            if "received SIGTERM" not in msg:
                continue
            times = []
            for other, other_entries in parsed.items():
                if other == name:
                    continue
                hits = [
                    (t, match[4]) for t, m in other_entries
                    if ts <= t < ts + 15 and (match := EVENT.match(m)) and match[2] == name
                ]  # fmt: skip
                dead += any(kind == "dead" for _, kind in hits)
                left = [t for t, kind in hits if kind == "left"]
                if left:
                    times.append(left[0] - ts)
            if len(times) == len(parsed) - 1:
                seen.append(max(times))
    return {"leaves": len(seen), "left_everywhere_s": summary(seen), "dead_events": dead}


# ------------------------------------------------------------------ scenarios


def m1_detection(run_dir: Path, trials: int, size: int = 16) -> dict[str, Any]:
    rng = random.Random(1)
    detect: list[float] = []
    rejoin: list[float] = []
    stale_choice = 0
    with Launcher(size, run_dir, TRAINING) as nodes:
        nodes.wait_ready(120)
        settle(nodes, size - 1)
        for trial in range(trials):
            victim = rng.choice(nodes.children[1:])
            survivors = [c for c in nodes.children if c is not victim]
            killed = time.time()
            assert victim.process is not None
            victim.process.send_signal(signal.SIGKILL)
            victim.process.wait()

            def all_dead(v: Child = victim, s: list[Child] = survivors, t: float = killed) -> bool:
                return all(first_event(c, v.id, ("dead",), t) for c in s)

            if not wait_until(all_dead, 20, 0.25):
                print(f"  trial {trial}: not dead everywhere within 20 s", flush=True)
                detect.append(20.0)
            else:
                times = [first_event(c, victim.id, ("dead",), killed) for c in survivors]
                detect.append(max(t for t in times if t) - killed)
            restart(victim)
            wait_until(lambda v=victim, k=killed: listening(v, k) is not None, 60)
            started = listening(victim, killed) or time.time()

            def all_back(v: Child = victim, s: list[Child] = survivors, t: float = started) -> bool:
                return all(first_event(c, v.id, ("rejoined",), t) for c in s)

            if wait_until(all_back, 30, 0.25):
                times = [first_event(c, victim.id, ("rejoined",), started) for c in survivors]
                rejoin.append(max(t for t in times if t) - started)
            settle(nodes, size - 1)
            print(f"  trial {trial}: dead everywhere after {detect[-1]:.2f} s", flush=True)
        for child in nodes.children:
            for _, _, kind, _ in events(child):
                stale_choice += kind == "alive"  # dead/suspect came back: a false conviction
    return {
        "processes": size,
        "trials": trials,
        "detect_s": summary(detect),
        "detect_all_s": [round(x, 3) for x in detect],
        "rejoin_known_to_all_s_after_listening": summary(rejoin),
        "alive_again_events": stale_choice,
        "goal": "p50 <= 2 s, p99 <= 3.5 s",
    }


def m2_false_positives(run_dir: Path, minutes: float, size: int = 16) -> dict[str, Any]:
    silences: list[float] = []
    pauses = 0
    with Launcher(size, run_dir, TRAINING) as nodes:
        nodes.wait_ready(120)
        settle(nodes, size - 1)
        start = time.time()
        victim = nodes.children[size - 1]
        assert victim.process is not None
        next_pause = time.monotonic() + 5.0
        paused_until = 0.0
        end = time.monotonic() + minutes * 60
        while time.monotonic() < end:
            now = time.monotonic()
            if now >= next_pause:
                victim.process.send_signal(signal.SIGSTOP)
                time.sleep(1.5)
                victim.process.send_signal(signal.SIGCONT)
                pauses += 1
                paused_until = time.monotonic() + 3.0
                next_pause += 20.0
                continue
            if now > paused_until:
                for node_id, status in nodes.poll_status(1.0).items():
                    if status is None or node_id == victim.id:
                        continue
                    silences.extend(m.last_heard_s for m in status.members)
            time.sleep(0.5)
        steps = {k: v.step if v else 0 for k, v in nodes.poll_status(2.0).items()}
        elapsed = time.time() - start
        counts: dict[str, int] = {}
        about_victim: dict[str, int] = {}
        for child in nodes.children:
            for ts, who, kind, _ in events(child):
                if ts < start:
                    continue
                counts[kind] = counts.get(kind, 0) + 1
                if who == victim.id:
                    about_victim[kind] = about_victim.get(kind, 0) + 1
    return {
        "processes": size,
        "minutes": round(elapsed / 60, 2),
        "pauses_of_1_5_s": pauses,
        "events": counts,
        "events_about_paused_peer": about_victim,
        "healthy_declared_dead": counts.get("dead", 0),
        "suspicions": counts.get("suspect", 0),
        "training_steps_per_s_per_node": round(statistics.mean(steps.values()) / elapsed, 1),
        "last_heard_s_outside_pauses": summary(silences),
        "goal": "0 healthy peers declared dead",
    }


SOAK = [
    *("--dataset", "digits", "--log-format", "json", "--step-rate", "2", "--eval-interval", "30"),
    *("--membership", "wan", "--gossip-interval", "2"),
]
"""64 processes share 2 cores: at the lan profile's rates (a round of 3 push-pulls every
0.2 s) each node needs more than 1/32 of a core, so the soak runs the wan profile (a round
a second); exchanges follow the steps as the schedule starts them, ``--gossip-interval 2``
only when no step came (README, "Membership at scale")."""


SOAK_SPAWN_INTERVAL_S = 1.0
"""The soak's processes start one a second: 64 started at once took the load average to
730 before any view had formed."""


def soak(run_dir: Path, minutes: float, size: int = 64) -> dict[str, Any]:
    """``size`` healthy processes for ``minutes``: views stay full, nobody is declared dead."""
    samples, full_samples, fewest = 0, 0, size - 1
    with Launcher(size, run_dir, SOAK, spawn_interval=SOAK_SPAWN_INTERVAL_S) as nodes:
        nodes.wait_ready(600)
        formed = settle(nodes, size - 1, timeout=300.0)
        start = time.time()
        load_before = os.getloadavg()
        cpu_before = cpu_seconds(nodes.children)
        end = time.monotonic() + minutes * 60
        while time.monotonic() < end:
            statuses = nodes.poll_status(5.0)
            seen = [
                sum(m.state == "alive" for m in status.members) if status else 0
                for status in statuses.values()
            ]
            samples += 1
            full_samples += min(seen) == size - 1
            fewest = min(fewest, *seen)
            print(
                f"  {time.time() - start:6.0f} s: fewest alive seen {min(seen)}/{size - 1}",
                flush=True,
            )
            time.sleep(10.0)
        elapsed = time.time() - start
        cpu = cpu_seconds(nodes.children) - cpu_before
        counts = Counter(
            kind for child in nodes.children for ts, _, kind, _ in events(child) if ts >= start
        )
    return {
        "processes": size,
        "minutes": round(elapsed / 60, 2),
        "formed_full_view": formed,
        "samples": samples,
        "samples_with_full_view": full_samples,
        "fewest_alive_seen": fewest,
        "events": dict(counts),
        "healthy_declared_dead": counts["dead"],
        "cpu_cores_used": round(cpu / elapsed, 2),
        "load_before": [round(v, 1) for v in load_before],
        "load_after": [round(v, 1) for v in os.getloadavg()],
        "goal": "a full view in every sample and 0 healthy peers declared dead",
    }


def cpu_seconds(children: list[Child]) -> float:
    """User + system CPU time the children's processes used so far (Linux /proc)."""
    total = 0
    for child in children:
        assert child.process is not None
        with open(f"/proc/{child.process.pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def m3_dissemination(run_dir: Path, trials: int, size: int = 32) -> dict[str, Any]:
    spread: list[float] = []
    args = PACED
    with Launcher(size - 1, run_dir, args) as nodes:
        nodes.wait_ready(180)
        settle(nodes, size - 2, 180)
        seeds = [c.address for c in nodes.children]
        cpu_start, wall_start = cpu_seconds(nodes.children), time.monotonic()
        for trial in range(trials):
            joiner_id = f"joiner-{trial}"
            address = f"127.0.0.1:{free_ports(1)[0]}"
            argv = [
                sys.executable, "-m", "gossip.cli.node", *args, "--id", joiner_id,
                "--listen", address, "--peers", random.Random(trial).choice(seeds),
            ]  # fmt: skip
            joiner = Child(joiner_id, address, argv, run_dir / f"{joiner_id}.log", Path(""))
            launched = time.time()
            restart(joiner)
            wait_until(lambda j=joiner, t=launched: listening(j, t) is not None, 60)
            began = listening(joiner, launched) or time.time()

            def known(j: str = joiner_id, t: float = began) -> bool:
                return all(first_event(c, j, ("joined",), t - 1) for c in nodes.children)

            if wait_until(known, 30, 0.25):
                times = [first_event(c, joiner_id, ("joined",), began - 1) for c in nodes.children]
                spread.append(max(t for t in times if t) - began)
                print(f"  trial {trial}: known to all {size - 1} after {spread[-1]:.2f} s")
            assert joiner.process is not None
            joiner.process.send_signal(signal.SIGTERM)
            try:
                joiner.process.wait(60)
            except subprocess.TimeoutExpired:
                joiner.process.kill()
                joiner.process.wait()
        cpu = (cpu_seconds(nodes.children) - cpu_start) / (time.monotonic() - wall_start)
    return {
        "processes": size,
        "trials": trials,
        "join_known_to_all_s": summary(spread),
        "cores_used_by_the_31": round(cpu, 2),
        "cores": os.cpu_count(),
        "all_s": [round(x, 3) for x in spread],
        "measured_from": "the joiner's 'listening on' log line",
        "goal": "within 2 s",
    }


def m4_leave(run_dir: Path, trials: int, size: int = 16) -> dict[str, Any]:
    rng = random.Random(4)
    seen: list[float] = []
    dead_after_leave = 0
    with Launcher(size, run_dir, PACED) as nodes:
        nodes.wait_ready(120)
        settle(nodes, size - 1)
        for trial in range(trials):
            victim = rng.choice(nodes.children[1:])
            others = [c for c in nodes.children if c is not victim]
            sent = time.time()
            assert victim.process is not None
            victim.process.send_signal(signal.SIGTERM)

            def all_left(v: Child = victim, s: list[Child] = others, t: float = sent) -> bool:
                return all(first_event(c, v.id, ("left", "dead"), t) for c in s)

            if wait_until(all_left, 15, 0.1):
                times = [first_event(c, victim.id, ("left",), sent) for c in others]
                if any(t is None for t in times):
                    dead_after_leave += 1
                else:
                    seen.append(max(t for t in times if t) - sent)
            victim.process.wait(30)
            dead_after_leave += sum(
                1 for c in others if first_event(c, victim.id, ("dead",), sent) is not None
            )
            restart(victim)
            if not settle(nodes, size - 1):
                break
            if trial % 10 == 9:
                print(f"  {trial + 1} leaves: p50 {statistics.median(seen):.2f} s", flush=True)
    from_logs = leaves_from_logs(run_dir)
    return {
        "processes": size,
        "trials": trials,
        "from_logs_sigterm_received_to_left_everywhere": from_logs,
        "left_everywhere_s": summary(seen),
        "dead_events_for_leavers": dead_after_leave,
        "goal": "left everywhere within 1 s, never dead",
    }


def m5_partition(run_dir: Path, trials: int, cut_s: float, size: int = 16) -> dict[str, Any]:
    merged: list[float] = []
    split_seen: list[bool] = []
    fault = Path(tempfile.mkdtemp()) / "faults.json"
    fault.write_text("{}")
    env = {"GOSSIP_TEST_FAULTS": str(fault)}
    with Launcher(size, run_dir, PACED, env=env) as nodes:
        nodes.wait_ready(120)
        settle(nodes, size - 1)
        half = size // 2
        groups = [[c.address for c in nodes.children[:half]],
                  [c.address for c in nodes.children[half:]]]  # fmt: skip
        for trial in range(trials):
            fault.write_text(json.dumps({"groups": groups}))
            time.sleep(cut_s)  # the cut lasts this long by definition

            def split(g: int = half) -> bool:
                return all(
                    s is not None and sum(m.state == "dead" for m in s.members) >= size - g
                    for s in nodes.poll_status(2.0).values()
                )

            split_seen.append(split())
            fault.write_text("{}")
            healed = time.time()

            def whole() -> bool:
                statuses = nodes.poll_status(2.0).values()
                return all(
                    s is not None
                    and sum(m.state == "alive" for m in s.members) == size - 1
                    and not any(m.state == "dead" for m in s.members)
                    for s in statuses
                )

            if wait_until(whole, 30, 0.2):
                merged.append(time.time() - healed)
            print(f"  trial {trial}: merged after {merged[-1] if merged else 'never'}", flush=True)
            settle(nodes, size - 1)
    return {
        "processes": size,
        "cut_s": cut_s,
        "trials": trials,
        "each_side_saw_the_other_dead": split_seen,
        "full_merge_no_dead_s": summary(merged),
        "goal": "full merge within 5 s, no stale dead entries",
    }


def _sent(status: Status | None) -> int:
    return status.bytes.sent if status else 0


def cost(run_dir: Path, size: int = 16, seconds: float = 30.0) -> dict[str, Any]:
    args = ["--max-steps", "0", "--gossip-interval", "100000", "--log-format", "json"]
    with Launcher(size, run_dir, args) as nodes:
        nodes.wait_ready(120)
        settle(nodes, size - 1)
        before = nodes.poll_status(2.0)
        time.sleep(seconds)  # a benchmark measures a steady rate over a fixed time
        after = nodes.poll_status(2.0)
    sent = [_sent(after[k]) - _sent(before[k]) for k in after]
    per_member = statistics.mean(sent) / seconds
    return {
        "processes": size,
        "seconds": seconds,
        "bytes_sent_per_member_per_s": round(per_member),
        "memberlist_lan": "1 probe + about 15 gossip messages per second per member",
        "at_scale": "bench/membership_scale.py (64 to 1,000 simulated members)",
    }


def simulated(trials: int = 20) -> dict[str, Any]:
    """M3 under 10% message loss, and exact message counts, in gossip.membership.simulation."""
    from gossip.membership import State
    from gossip.membership.simulation import Simulation

    spread: list[float] = []
    for seed in range(trials):
        sim = Simulation(32, seed=seed, drop=0.10, delay=(0.001, 0.03))
        sim.run_for(5.0)
        sim.start("newcomer", seeds=[f"m{seed % 32}:1"])
        spread.append(
            sim.run_until_true(lambda s=sim: s.everyone_sees("newcomer", [State.ALIVE]), 10, 0.01)
        )
    cost: dict[str, Any] = {}
    for n in (16, 32):
        sim = Simulation(n, seed=1)
        sim.run_for(5.0)
        before = (sim.stats.messages, sim.stats.bytes, sim.stats.calls)
        sim.run_for(20.0)
        messages = (sim.stats.messages - before[0]) / n / 20
        cost[f"{n}_members"] = {
            "messages_per_member_per_s": round(messages, 1),
            "push_pulls_started_per_member_per_s": round((sim.stats.calls - before[2]) / n / 20, 1),
            "bytes_per_member_per_s": round((sim.stats.bytes - before[1]) / n / 20),
            "bytes_per_message": round((sim.stats.bytes - before[1]) / (messages * n * 20)),
        }
    return {
        "m3_join_known_to_all_32_under_10pct_loss_s": summary(spread),
        "cost": cost,
        "memberlist_lan": "1 probe + ~15 gossip messages (UDP) per member per s",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenarios", nargs="*", default=["m1", "m3", "m4", "m5", "cost", "m2"])
    parser.add_argument("--m1-trials", type=int, default=20)
    parser.add_argument("--m3-trials", type=int, default=10)
    parser.add_argument("--m4-trials", type=int, default=50)
    parser.add_argument("--m5-trials", type=int, default=3)
    parser.add_argument("--m5-cut", type=float, default=30.0)
    parser.add_argument("--m2-minutes", type=float, default=10.0)
    parser.add_argument("--soak-size", type=int, default=64)
    parser.add_argument("--soak-minutes", type=float, default=10.0)
    parser.add_argument("--run-dir", default="runs/bench-membership")
    args = parser.parse_args()
    base = Path(args.run_dir)
    last = ""
    for name in args.scenarios:
        run_dir = base / name
        print(f"{name}: running", flush=True)
        if name == "m1":
            result = m1_detection(run_dir, args.m1_trials)
            last = f"M1 detection p50 {result['detect_s']['p50']} s (memberlist LAN ~6-7 s)"
        elif name == "m2":
            result = m2_false_positives(run_dir, args.m2_minutes)
            last = f"M2 healthy peers declared dead: {result['healthy_declared_dead']}"
        elif name == "m3":
            result = m3_dissemination(run_dir, args.m3_trials)
            last = f"M3 join known to all 31 after p50 {result['join_known_to_all_s']['p50']} s"
        elif name == "m4-logs":  # re-read the logs of an earlier M4 run
            result = leaves_from_logs(run_dir.parent / "m4")
            name = "m4"
            last = f"M4 left everywhere p50 {result['left_everywhere_s']['p50']} s"
        elif name == "m4":
            result = m4_leave(run_dir, args.m4_trials)
            last = f"M4 left everywhere p50 {result['left_everywhere_s']['p50']} s"
        elif name == "m5":
            result = m5_partition(run_dir, args.m5_trials, args.m5_cut)
            last = f"M5 merge after heal p50 {result['full_merge_no_dead_s']['p50']} s"
        elif name == "sim":
            result = simulated()
            last = (
                f"sim M3 under 10% loss p50 {result['m3_join_known_to_all_32_under_10pct_loss_s']}"
            )
        elif name == "soak":
            result = soak(run_dir, args.soak_minutes, args.soak_size)
            last = (
                f"soak {result['processes']} processes {result['minutes']} min: full view in "
                f"{result['samples_with_full_view']}/{result['samples']} samples, "
                f"{result['healthy_declared_dead']} declared dead"
            )
        elif name == "cost":
            result = cost(run_dir)
            last = f"cost {result['bytes_sent_per_member_per_s']} B/s per member"
        else:
            raise SystemExit(f"unknown scenario {name}")
        result["machine"] = machine()
        write_result(f"membership_{name}", result)
        print(json.dumps(result, indent=1), flush=True)
    print(last)


if __name__ == "__main__":
    main()
