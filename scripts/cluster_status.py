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
    try:
        status: dict[str, Any] = json.loads(proc.stdout)
    except ValueError:
        return {"error": "gossip-ctl printed no status JSON"}
    return status


HEAD = ["container", "id", "step", "loss", "accuracy", "ok/failed/refused", "alive", "others"]


def row(container: str, s: dict[str, Any]) -> list[str]:
    """One table row; a peer that did not answer gets dashes (its error goes below the table)."""
    if "error" in s:
        return [container, *["-"] * (len(HEAD) - 2), "no answer"]
    members = s.get("members", [])
    alive = sum(1 for m in members if m["state"] == "alive")
    others = {m["state"] for m in members if m["state"] != "alive"}
    ex = s["exchanges"]
    acc, loss = s.get("accuracy"), s.get("loss")
    return [
        container,
        s["id"],
        str(s["step"]),
        "-" if loss is None else f"{loss:.4f}",
        "-" if acc is None else f"{acc:.4f}",
        f"{ex['ok']}/{ex['failed']}/{ex['refused']}",
        f"{alive}/{len(members)}",  # as gossip-ctl and gossip-cluster count: itself excluded
        ",".join(sorted(others)) or "-",
    ]


def table(names: list[str], statuses: list[dict[str, Any]]) -> list[str]:
    """The lines printed: aligned rows, then one line per peer that did not answer, then a total."""
    rows = [HEAD] + [row(n, s) for n, s in zip(names, statuses, strict=True)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEAD))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines += [f"{n}: {s['error']}" for n, s in zip(names, statuses, strict=True) if "error" in s]
    answered = sum(1 for s in statuses if "error" not in s)
    lines.append(f"{answered}/{len(names)} peers answer; 'alive' counts the other members")
    return lines


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
    print("\n".join(table(names, statuses)))
    return 0 if all("error" not in s for s in statuses) else 1

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
