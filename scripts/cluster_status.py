"""One table of every peer of a compose cluster (``make cluster-status``).

Asks each container's own peer (``docker exec … gossip-ctl status --json``),
so it needs no published port and no package on the host: standard library only.

    python3 scripts/cluster_status.py [PROJECT] [--json]
"""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any

PORT = 50051


def containers(project: str) -> list[str]:
    out = subprocess.run(
        [
            "docker", "ps", "-a", "--format", "{{.Names}}",
            "--filter", f"label=com.docker.compose.project={project}",
            "--filter", "label=com.docker.compose.service=peer",
        ],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return sorted(out.split(), key=lambda n: (len(n), n))


def _exec_status(container: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["docker", "exec", container, "timeout", "-s", "KILL", "40", "gossip-ctl", "status",
         "--json", "--timeout", "5", "--target", f"127.0.0.1:{PORT}"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def peer_status(container: str) -> dict[str, Any]:
    """The status JSON (README, Status JSON) of the peer in `container`, or {"error": one line}."""
    try:
        proc = _exec_status(container)
    except subprocess.TimeoutExpired:
        return {"error": "no answer within 60 s"}
    if proc.returncode != 0:
        lines = (proc.stderr or proc.stdout).strip().splitlines()
        return {"error": lines[-1] if lines else f"exit {proc.returncode}"}
    status: dict[str, Any] = json.loads(proc.stdout)
    return status


def row(container: str, s: dict[str, Any]) -> list[str]:
    if "error" in s:
        return [container, "-", s["error"][:60], "", "", "", "", ""]
    members = s.get("members", [])
    alive = sum(1 for m in members if m["state"] == "alive")
    others = {m["state"] for m in members if m["state"] != "alive"}
    ex = s["exchanges"]
    acc = s.get("accuracy")
    return [
        container,
        s["id"],
        str(s["step"]),
        f"{s['loss']:.4f}",
        "-" if acc is None else f"{acc:.4f}",
        f"{ex['ok']}/{ex['failed']}/{ex['refused']}",
        f"{alive + 1}/{len(members) + 1}",
        ",".join(sorted(others)) or "-",
    ]


def main(argv: list[str]) -> int:
    project = next((a for a in argv if not a.startswith("-")), "gossip")
    names = containers(project)
    if not names:
        print(f"cluster-status: no cluster '{project}' (make cluster-up)", file=sys.stderr)
        return 1
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(peer_status, names))
    if "--json" in argv:
        print(json.dumps(dict(zip(names, statuses, strict=True)), indent=2))
        return 0
    head = ["container", "id", "step", "loss", "accuracy", "ok/failed/refused", "alive", "others"]
    rows = [head] + [row(n, s) for n, s in zip(names, statuses, strict=True)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    answered = sum(1 for s in statuses if "error" not in s)
    print(f"{answered}/{len(names)} peers answer; 'alive' counts the peer itself")
    return 0 if answered == len(names) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
