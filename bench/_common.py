"""Small helpers shared by the benchmarks.

Each bench writes one JSON file under ``bench/results/`` with a stable,
timestamp-free name (so a rerun replaces it) and prints what it wrote.
"""

from __future__ import annotations

import json
import platform
import statistics
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def median(values: list[float]) -> float:
    return float(statistics.median(values))


def machine() -> dict[str, Any]:
    """Where the numbers were measured (they only compare within one run)."""
    import os

    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
    }


def write_result(name: str, result: dict[str, Any]) -> Path:
    """Write ``result`` to ``bench/results/<name>.json`` and print the path."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    path.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    print(f"wrote {path}")
    return path
