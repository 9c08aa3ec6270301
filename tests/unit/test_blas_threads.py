"""A peer caps numpy's BLAS threads: OpenBLAS workers spin between calls and eat idle CPU."""

from __future__ import annotations

import json
import subprocess
import sys

SCRIPT = """
import json
import numpy as np
from threadpoolctl import threadpool_info
from gossip.node import limit_blas_threads
np.ones((64, 64)) @ np.ones((64, 64))  # the BLAS library is loaded and has its threads
before = [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]
limit_blas_threads({threads})
after = [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]
print(json.dumps([before, after]))
"""


def run(threads: int, env_threads: str) -> tuple[list[int], list[int]]:
    """In a fresh process: a limit changes the whole process, and must not leak into tests."""
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(threads=threads)],
        capture_output=True,
        text=True,
        check=True,
        env={"OPENBLAS_NUM_THREADS": env_threads, "PATH": ""},
    ).stdout
    before, after = json.loads(out)
    return before, after


def test_a_peer_runs_blas_on_one_thread_by_default() -> None:
    before, after = run(1, "2")
    assert before == [2] and after == [1]


def test_zero_leaves_numpy_to_its_own_default() -> None:
    before, after = run(0, "2")
    assert before == after == [2]
