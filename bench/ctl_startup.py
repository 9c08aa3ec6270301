"""Start-up of ``gossip-ctl status`` against ``python -c "import grpc"`` (goal: within 50 ms).

Operators run ``gossip-ctl status`` in loops and probes, so its cost is start-up
plus one Status call. One real ``gossip-node`` serves on 127.0.0.1 (training at
``--step-rate`` so the machine is not idle and not saturated); then, interleaved
so that both see the same load, ``--repeats`` runs each of:

* ``grpc``: ``python -c "import grpc"``, the floor of any gRPC client in Python;
* ``status``: ``gossip-ctl status --target ADDRESS`` (the tables);
* ``status --json``: the same, printing JSON.

Each run is a fresh process timed from spawn to exit, with byte-code caching on
(as after ``pip install``): a PYTHONDONTWRITEBYTECODE in the environment would
make every run compile the package's sources again. The figures are the
medians (and minima); the difference of medians is the goal's measure. The
modules ``gossip-ctl status`` imports beyond ``import grpc`` are listed from
``python -X importtime`` (numpy must not be among them). Prints the
difference and the ratio last.

    python bench/ctl_startup.py [--repeats 15] [--step-rate 20]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, median, write_result

from gossip.cli.launcher import Launcher

GOAL_S = 0.050
CTL = str(Path(sys.executable).with_name("gossip-ctl"))
CACHING_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def commands(address: str) -> dict[str, list[str]]:
    return {
        "grpc": [sys.executable, "-c", "import grpc"],
        "status": [CTL, "status", "--target", address],
        "status --json": [CTL, "status", "--target", address, "--json"],
    }


def timed(command: list[str]) -> tuple[float, float]:
    """(wall seconds from spawn to exit, CPU seconds the process used) of one run.

    On a shared machine the wall time swings with the others' load; the CPU time
    (user + system, from wait4) is what the run itself costs.
    """
    began = time.perf_counter()
    child = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=CACHING_ENV
    )
    _, code, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - began
    child.returncode = os.waitstatus_to_exitcode(code)
    if child.returncode != 0:
        raise SystemExit(f"{' '.join(command)} exited with {child.returncode}")
    return wall, usage.ru_utime + usage.ru_stime


def imported(code: str) -> set[str]:
    """Top-level-and-below module names that ``python -X importtime -c code`` loads."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        env=CACHING_ENV,
        capture_output=True,
        text=True,
        check=True,
    )
    names = set()
    for line in result.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            name = line.rsplit("|", 1)[1].strip()
            if name != "imported package":
                names.add(name)
    return names


def extra_imports(address: str) -> list[str]:
    """What ``gossip-ctl status`` loads that ``import grpc`` does not."""
    ctl = (
        "import sys; from gossip.cli.ctl import main; "
        f"sys.argv = ['gossip-ctl', 'status', '--target', {address!r}]; main(sys.argv[1:])"
    )
    return sorted(imported(ctl) - imported("import grpc"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--step-rate", type=float, default=20.0)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        launcher = Launcher(1, Path(tmp), ["--step-rate", str(args.step_rate), "--duration", "600"])
        with launcher:
            launcher.wait_ready(60)
            address = launcher.children[0].address
            runs: dict[str, list[tuple[float, float]]] = {name: [] for name in commands(address)}
            for command in commands(address).values():
                timed(command)  # warm the page cache and .pyc files; not counted
            for _ in range(args.repeats):
                for name, command in commands(address).items():
                    runs[name].append(timed(command))
            extras = extra_imports(address)

    figures: dict[str, Any] = {}
    for kind, index in (("wall", 0), ("cpu", 1)):
        floor = median([r[index] for r in runs["grpc"]])
        for name, pairs in runs.items():
            values = [r[index] for r in pairs]
            figures.setdefault(name, {})[kind] = {
                "median_s": round(median(values), 4),
                "min_s": round(min(values), 4),
                "over_grpc_s": round(median(values) - floor, 4),
                "ratio_to_grpc": round(median(values) / floor, 3),
                "runs_s": [round(v, 4) for v in values],
            }
    result = {
        "goal_over_grpc_s": GOAL_S,
        "repeats": args.repeats,
        "node_step_rate": args.step_rate,
        "load_average": os.getloadavg(),
        "bytecode_cache": True,
        "figures": figures,
        "imports_beyond_grpc": extras,
        "numpy_imported": any(m == "numpy" or m.startswith("numpy.") for m in extras),
        "machine": machine(),
    }
    write_result("ctl_startup", result)
    print(f"modules beyond import grpc: {len(extras)}; numpy among them: "
          f"{result['numpy_imported']}")  # fmt: skip
    for kind in ("wall", "cpu"):
        grpc_s = figures["grpc"][kind]["median_s"]
        for name in ("status --json", "status"):
            f = figures[name][kind]
            print(
                f"{kind:4} gossip-ctl {name}: median {f['median_s'] * 1000:.0f} ms, import grpc "
                f"{grpc_s * 1000:.0f} ms: {f['over_grpc_s'] * 1000:+.0f} ms "
                f"(goal +{GOAL_S * 1000:.0f}), ratio {f['ratio_to_grpc']:.2f}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
