"""The model seam's cost: one task through our numpy model, the PyTorch adapter and the Keras one.

Two parts:

* **task**: 4 real peers (``gossip-node`` processes on 127.0.0.1) train the
  same MLP (64-64-32-10, relu, Adam at lr 0.001, cross-entropy, batch 32) on
  digits for ``--steps`` each at full speed, built by ``--model mlp:64,32``
  (numpy), :func:`torch_mlp` or :func:`keras_mlp` (``--model-factory``).
  Reported per framework: training steps per second per peer, the mean
  duration of the exchanges a peer started (its ``--metrics-port``
  histogram), the held-out accuracy (mean, min, max) and the exchanges.
* **overhead**: a 10M-parameter MLP (784-2800-2800-10) in each framework,
  one process: a training step through the adapter against the framework's
  own step on the same model and batch (median of ``--repeats``), and what an
  exchange costs the adapter: nothing for numpy and torch on views (the
  framework reads the flat vector the exchange wrote); where the framework
  trains a copy (Keras, torch's GPU path taken on the CPU with ``copy=True``)
  a step copies the vector back, and one after an exchange copies it in
  first: both steps and both copies timed apart. A GPU's copies are
  estimated (4 bytes per parameter over PCIe), not measured: no GPU here.
* **cnn**: examples/torch_cnn.py's figure: 8 peers of the PyTorch CNN (with
  BatchNorm) on digits, ``--steps`` each, against the same CNN trained
  centrally on as many samples (goal: within 1 point).

Every framework's peers run one compute thread (``--blas-threads 1``, torch's
intra-op threads, XLA's). Our numpy Adam is the cluster-aware one
(gossip/model/optimizers.py); torch's and Keras's are plain Adam.

    python bench/adapters.py [--steps 1500] [--frameworks numpy,torch,keras]
                             [--parts task,overhead,cnn]

Needs the torch extra (``make torch``) and the keras one (in dev).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import statistics
import sys
import tempfile
import time
import urllib.request
from contextlib import nullcontext
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # examples.torch_cnn
from _common import RESULTS_DIR, machine, write_result

from gossip.config import NodeConfig

REPO = Path(__file__).resolve().parents[1]
PEERS = 4
FRAMEWORKS = ("numpy", "torch", "keras")
HIDDEN = (64, 32)
LARGE = (784, 2800, 2800, 10)
"""10,068,810 parameters: the 10M-parameter model of the overhead part."""
ONE_THREAD_ENV = {
    "KERAS_BACKEND": "jax",
    "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1",
    "OMP_NUM_THREADS": "1",
}
SETTLE_S = 2.0


# ------------------------------------------------------------------ the models


def torch_module(sizes: tuple[int, ...]) -> Any:
    from torch import nn

    layers: list[nn.Module] = []
    for n_in, n_out in itertools.pairwise(sizes):
        layers += [nn.Linear(n_in, n_out), nn.ReLU()]
    return nn.Sequential(*layers[:-1])


def torch_model(sizes: tuple[int, ...], seed: int = 0, copy: bool | None = None) -> Any:
    import torch

    from gossip.adapters.torch import TorchModel

    torch.manual_seed(seed)
    module = torch_module(sizes)
    return TorchModel(module, torch.optim.Adam(module.parameters(), lr=1e-3),
                      torch.nn.CrossEntropyLoss(), copy=copy)  # fmt: skip


def keras_net(sizes: tuple[int, ...], seed: int = 0) -> Any:
    import keras

    keras.utils.set_random_seed(seed)
    layers = [keras.layers.Dense(n, activation="relu") for n in sizes[1:-1]]
    net = keras.Sequential([keras.Input((sizes[0],)), *layers, keras.layers.Dense(sizes[-1])])
    net.compile(keras.optimizers.Adam(1e-3),
                keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                metrics=["accuracy"])  # fmt: skip
    return net


def torch_mlp(config: NodeConfig) -> Any:
    """``--model-factory bench.adapters:torch_mlp``: the task's MLP in PyTorch."""
    import torch

    torch.set_num_threads(max(1, config.blas_threads))
    return torch_model((64, *HIDDEN, 10), config.seed)


def keras_mlp(config: NodeConfig) -> Any:
    """``--model-factory bench.adapters:keras_mlp``: the task's MLP in Keras (JAX)."""
    return keras_net((64, *HIDDEN, 10), config.seed)


# ------------------------------------------------------------------ part 1: the task


def consecutive_ports(count: int) -> int:
    """A first port P with P..P+count-1 free a moment ago (the children's --metrics-port)."""
    import socket

    from gossip.cli.launcher import free_ports

    for _ in range(50):
        base = free_ports(1)[0]
        sockets = [socket.socket() for _ in range(count)]
        try:
            for offset, sock in enumerate(sockets):
                sock.bind(("127.0.0.1", base + offset))
            return base
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
    raise SystemExit("no run of free ports for --metrics-port")


def exchange_seconds(port: int) -> tuple[float, int]:
    """(summed seconds, count) of the completed exchanges a peer started, from its metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
        text = reply.read().decode()
    sums = re.search(r'gossip_exchange_duration_seconds_sum\{result="ok"\} (\S+)', text)
    counts = re.search(r'gossip_exchange_duration_seconds_count\{result="ok"\} (\S+)', text)
    if not sums or not counts:
        return 0.0, 0
    return float(sums[1]), int(float(counts[1]))


def task_run(framework: str, steps: int, tmp: Path) -> dict[str, Any]:
    from gossip.cli.launcher import Launcher

    model = ["--model", "mlp:" + ",".join(map(str, HIDDEN))]
    if framework != "numpy":
        model = ["--model-factory", f"bench.adapters:{framework}_mlp"]
    port = consecutive_ports(PEERS)
    flags = [*model, "--dataset", "digits", "--max-steps", str(steps), "--eval-interval", "0.25",
             "--metrics-port", str(port), "--log-level", "warning"]  # fmt: skip
    env = {**ONE_THREAD_ENV, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "bench")])}
    began = time.monotonic()
    with Launcher(PEERS, tmp / framework, flags, env=env) as launcher:
        launcher.wait_ready(timeout=180)
        if not launcher.wait_steps(steps, SETTLE_S, timeout=900):
            raise SystemExit(f"{framework}: the peers did not reach {steps} steps in 900 s")
        timed = [exchange_seconds(port + i) for i in range(PEERS)]
        launcher.stop(15.0)
        reports = [r for r in launcher.reports().values() if r]
    if len(reports) != PEERS:
        raise SystemExit(f"{framework}: {len(reports)} of {PEERS} peers wrote a report")
    finals = [r["status"] for r in reports]
    accuracies = [s["accuracy"] for s in finals]
    rates = [steps / training_seconds(r, steps) for r in reports]
    total_s, count = sum(t for t, _ in timed), sum(c for _, c in timed)
    return {
        "framework": framework,
        "peers": PEERS,
        "steps": steps,
        "params": finals[0]["model"]["params"],
        "steps_per_second": statistics.fmean(rates),
        "exchange_ms": 1000 * total_s / count if count else None,
        "exchanges_timed": count,
        "exchanges_ok": sum(s["exchanges"]["ok"] for s in finals) // 2,
        "accuracy_mean": statistics.fmean(accuracies),
        "accuracy_min": min(accuracies),
        "accuracy_max": max(accuracies),
        "wall_seconds": time.monotonic() - began,
    }


def training_seconds(report: dict[str, Any], steps: int) -> float:
    """From the peer's first evaluation to the first one at or past ``steps``."""
    history = report["history"]
    done = next((h["t"] for h in history if h["step"] >= steps), history[-1]["t"])
    return max(float(done - history[0]["t"]), 1e-9)


# ------------------------------------------------------------------ part 2: the overhead


def cpu_ms(calls: dict[str, Any], repeats: int) -> dict[str, float]:
    """Median CPU milliseconds of each call (all the process's threads), after one warm-up.

    The calls take turns, so a change in the machine's load falls on all alike; CPU
    time rather than wall time, which other jobs on a shared host inflate.
    """
    times: dict[str, list[float]] = {name: [] for name in calls}
    for call in calls.values():
        call()
    for _ in range(repeats):
        for name, call in calls.items():
            began = time.process_time()
            call()
            times[name].append(time.process_time() - began)
    return {name: 1000 * statistics.median(values) for name, values in times.items()}


def overhead(framework: str, repeats: int) -> dict[str, Any]:
    """The adapter's step against the framework's own, on the 10M-parameter MLP.

    Where the framework trains a copy of the flat vector (Keras; torch's GPU path,
    forced on the CPU with ``copy=True``), two steps: one that no exchange
    preceded (the model told of none: one copy, back) and one after an exchange
    (never told, it copies in before every step: two copies); and the two copies
    alone (through the mirror's transfers: private, not the seam), and the mirror's
    work around no step in both cases: the copy path's cost without the step's noise.
    """
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, LARGE[0])).astype(np.float32)
    y = rng.integers(0, LARGE[-1], 32)
    lock = nullcontext()
    copied: Any = None  # the model that trains a copy of the vector, told of no writes
    refreshing: Any = None  # the same, never told: a copy in before every step
    if framework == "numpy":  # the model is its own adapter: the difference is the noise
        from gossip.model import mlp

        model = mlp(LARGE[0], LARGE[1:-1], LARGE[-1], "classification")
        adapted: Any = model

        def native() -> None:
            model.apply_gradients(model.compute_gradients(x, y)[1])
    elif framework == "torch":
        import torch

        torch.set_num_threads(1)
        adapted = torch_model(LARGE)
        copied, refreshing = torch_model(LARGE, copy=True), torch_model(LARGE, copy=True)
        plain = torch_module(LARGE)
        optimizer = torch.optim.Adam(plain.parameters(), lr=1e-3)
        loss_fn = torch.nn.CrossEntropyLoss()
        tx, ty = torch.from_numpy(x), torch.from_numpy(y)

        def native() -> None:
            optimizer.zero_grad(set_to_none=True)
            loss_fn(plain(tx), ty).backward()
            optimizer.step()
    else:
        from gossip.adapters.keras import KerasModel

        adapted = copied = KerasModel(keras_net(LARGE))
        refreshing = KerasModel(keras_net(LARGE))
        net = keras_net(LARGE)

        def native() -> None:
            net.train_on_batch(x, y)

    params = adapted.params
    delta = np.full_like(params, 1e-6)
    calls = {
        "native_step": native,
        "adapter_step": lambda: adapted.train_step(x, y, lock),
        "exchange_add": lambda: params.__iadd__(delta),  # an exchange's write, under the lock
    }
    copy_steps: dict[str, int] = {}
    if copied is not None:
        copied.watch_writes(lambda: 0)  # no exchange ever: the step copies back only
        mirror, buffer = copied.mirror, np.empty_like(params)
        prefix = "copy_" if framework == "torch" else "adapter_"
        calls[f"{prefix}step"] = lambda: copied.train_step(x, y, lock)
        calls[f"{prefix}step_after_exchange"] = lambda: refreshing.train_step(x, y, lock)
        calls["copy_in"] = lambda: mirror._upload(buffer)
        calls["copy_out"] = lambda: mirror._download(buffer)
        # the copy path's whole cost without the step's noise: the mirror around no step
        calls["mirror"] = lambda: (mirror.before_step(lock), mirror.after_step(lock))
        calls["mirror_after_exchange"] = lambda: (
            refreshing.mirror.before_step(lock),
            refreshing.mirror.after_step(lock),
        )
        in_before, out_before = mirror.copies_in, mirror.copies_out
        measured = cpu_ms(calls, repeats)
        steps = 2 * (1 + repeats)  # the warm-up, then the repeats, each a step and a mirror
        copy_steps = {"copies_in": mirror.copies_in - in_before,
                      "copies_out": mirror.copies_out - out_before, "steps": steps}  # fmt: skip
    else:
        measured = cpu_ms(calls, repeats)
    result = {
        "framework": framework,
        "params": int(params.size),
        **{f"{name}_cpu_ms": value for name, value in measured.items()},
        "overhead_cpu_ms": measured["adapter_step"] - measured["native_step"],
        "copies_per_exchange": 0,
        "copies_per_step": 1 if framework == "keras" else 0,
        "copies_per_step_after_exchange": 2 if framework == "keras" else 0,
    }
    if framework == "torch":
        result["copy_path"] = {
            "overhead_cpu_ms": measured["copy_step"] - measured["adapter_step"],
            "overhead_after_exchange_cpu_ms": (
                measured["copy_step_after_exchange"] - measured["adapter_step"]
            ),
            "copies_per_step": 1,
            "copies_per_step_after_exchange": 2,
            "transfers_counted": copy_steps,
            "gpu_estimate": gpu_estimate(int(params.size)),
        }
    return result


PCIE3_X16_BYTES_PER_S = 12e9
"""What a PCIe 3.0 x16 link moves in practice (16 GB/s nominal); PCIe 4.0 about twice."""


def gpu_estimate(params: int) -> dict[str, float]:
    """The copy path's transfers on a GPU, by arithmetic (no GPU measured here)."""
    each_way_ms = 1000 * 4 * params / PCIE3_X16_BYTES_PER_S
    return {
        "bytes_each_way": 4 * params,
        "pcie_bytes_per_s": PCIE3_X16_BYTES_PER_S,
        "each_way_ms": each_way_ms,
        "per_step_ms": each_way_ms,
        "per_step_after_exchange_ms": 2 * each_way_ms,
    }


# ------------------------------------------------------------------ report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--frameworks", default=",".join(FRAMEWORKS))
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--parts", default="task,overhead,cnn")
    args = parser.parse_args()
    parts = args.parts.split(",")
    for name, value in ONE_THREAD_ENV.items():
        os.environ.setdefault(name, value)
    frameworks = args.frameworks.split(",")
    result = previous()  # a part not run keeps its last result
    with tempfile.TemporaryDirectory(prefix="bench-adapters-") as tmp:
        if "task" in parts:
            load = os.getloadavg()
            runs = [task_run(framework, args.steps, Path(tmp)) for framework in frameworks]
            result["task"] = {"load": [load, os.getloadavg()], "runs": runs}
        if "cnn" in parts:
            from examples.torch_cnn import compare

            load = os.getloadavg()
            cnn = compare(8, args.steps, Path(tmp) / "cnn")
            result["cnn"] = {"load": [load, os.getloadavg()], **cnn}
    if "overhead" in parts:
        load = os.getloadavg()
        costs = [overhead(framework, args.repeats) for framework in frameworks]
        result["overhead_10m"] = {"load": [load, os.getloadavg()], "runs": costs}
    result["machine"] = machine()
    write_result("adapters", result)
    for run in result.get("task", {}).get("runs", []):
        print(
            f"{run['framework']:>6}: {run['steps_per_second']:.0f} steps/s per peer, "
            f"exchange {run['exchange_ms']:.1f} ms, accuracy {run['accuracy_mean']:.4f}"
        )
    for cost in result.get("overhead_10m", {}).get("runs", []):
        print(
            f"{cost['framework']:>6} 10M: {cost['adapter_step_cpu_ms']:.0f} ms of CPU per step "
            f"through the adapter, {cost['native_step_cpu_ms']:.0f} native: overhead "
            f"{cost['overhead_cpu_ms']:+.0f} ms ({cost['copies_per_step']} copies per step)"
        )
        copy = cost.get("copy_path")
        if copy:
            gpu = copy["gpu_estimate"]
            print(
                f"torch copy path (GPU's, on the CPU) 10M: {cost['copy_step_cpu_ms']:.0f} ms per "
                f"step, {cost['copy_step_after_exchange_cpu_ms']:.0f} after an exchange "
                f"({copy['overhead_cpu_ms']:+.0f} / {copy['overhead_after_exchange_cpu_ms']:+.0f}"
                f" ms over views); the mirror alone {cost['mirror_cpu_ms']:.1f} ms, "
                f"{cost['mirror_after_exchange_cpu_ms']:.1f} after an exchange; copy in "
                f"{cost['copy_in_cpu_ms']:.1f} ms, out {cost['copy_out_cpu_ms']:.1f} ms. "
                "GPU, estimated not measured: "
                f"{gpu['bytes_each_way'] / 1e6:.0f} MB each way at "
                f"{gpu['pcie_bytes_per_s'] / 1e9:.0f} GB/s = {gpu['each_way_ms']:.1f} ms"
            )
    cnn = result.get("cnn")
    if cnn:
        print(
            f"CNN, 8 peers: {cnn['gossip']['accuracy_mean']:.4f}, centrally "
            f"{cnn['centralized_accuracy']:.4f}: gap {cnn['gap_points']:.2f} points (goal <= 1)"
        )


def previous() -> dict[str, Any]:
    """The last results file, so that a run of some parts keeps the others."""
    try:
        loaded = json.loads((RESULTS_DIR / "adapters.json").read_text())
    except (OSError, ValueError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


if __name__ == "__main__":
    main()
