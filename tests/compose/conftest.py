"""Compose tier: our image, a 5-peer cluster in Docker Compose, faults done to containers.

Everything a run creates carries its own run id (image tag, compose project) and
is removed at the end, also after a failure: containers, their anonymous
volumes, the network, the image. The base image (gossip-train-base:bookworm)
is kept: it is the cache that makes later runs fast (made once per machine by
scripts/make-base-image.sh).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests import polling

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "compose" / "docker-compose.yml"
PEERS = 5
T = TypeVar("T")


def docker_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def compose_cmd() -> list[str] | None:
    if subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


def run(*cmd: str, check: bool = True, timeout: float = 120, **kw: Any) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc.stdout


def wait_for(check: Callable[[], T | None], timeout: float, what: str) -> T:
    """tests.polling.wait_for, every 0.5 s: each check here runs docker or gossip-ctl."""
    return polling.wait_for(check, timeout, what, every=0.5)


@dataclass
class Cluster:
    project: str
    image: str
    compose: list[str]
    env: dict[str, str]
    containers: list[str] = field(default_factory=list)

    def dc(self, *args: str, timeout: float = 300) -> str:
        cmd = [*self.compose, "-p", self.project, "-f", str(COMPOSE_FILE), *args]
        return run(*cmd, env=self.env, timeout=timeout)

    def member_id(self, container: str) -> str:
        return run("docker", "inspect", "-f", "{{.Config.Hostname}}", container).strip()

    def status(self, container: str) -> dict[str, Any] | None:
        """The peer's status JSON (README, Status JSON), or None when it does not answer."""
        try:
            proc = subprocess.run(
                ["docker", "exec", container, "timeout", "-s", "KILL", "40", "gossip-ctl",
                 "status", "--json", "--timeout", "5", "--target", "127.0.0.1:50051"],
                capture_output=True, text=True, timeout=60,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            return None
        if proc.returncode != 0:
            return None
        status: dict[str, Any] = json.loads(proc.stdout)
        return status

    def view(self, container: str) -> dict[str, str] | None:
        """member id -> state, as `container`'s peer sees the others (None: no answer)."""
        s = self.status(container)
        return None if s is None else {m["id"]: m["state"] for m in s["members"]}

    def views(self, containers: list[str]) -> dict[str, dict[str, str] | None]:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=len(containers)) as pool:
            return dict(zip(containers, pool.map(self.view, containers), strict=True))

    def all_alive(self, containers: list[str] | None = None) -> bool:
        """Every peer answers and sees every other peer alive."""
        names = containers or self.containers
        for c in names:
            if self.inspect(c, "{{.State.Status}}") == "exited":
                logs = subprocess.run(["docker", "logs", "--tail", "3", c], capture_output=True)
                tail = (logs.stdout + logs.stderr).decode(errors="replace").strip()
                raise AssertionError(f"{c} exited: {tail}")
        ids = {c: self.member_id(c) for c in names}
        views = self.views(names)
        for c, view in views.items():
            if view is None:
                return False
            if any(view.get(ids[o]) != "alive" for o in names if o != c):
                return False
        return True

    def inspect(self, container: str, fmt: str) -> str:
        return run("docker", "inspect", "-f", fmt, container).strip()


def _cleanup(project: str, compose: list[str], env: dict[str, str]) -> None:
    subprocess.run(
        [*compose, "-p", project, "-f", str(COMPOSE_FILE), "down", "-v", "--remove-orphans",
         "--timeout", "5"],
        capture_output=True, env=env, timeout=300,
    )  # fmt: skip
    # whatever `down` missed (a container disconnected from the network, say)
    label = f"label=com.docker.compose.project={project}"
    ids = run("docker", "ps", "-aq", "--filter", label, check=False).split()
    if ids:
        run("docker", "rm", "-fv", *ids, check=False)
    nets = run("docker", "network", "ls", "-q", "--filter", label, check=False).split()
    if nets:
        run("docker", "network", "rm", *nets, check=False)


@pytest.fixture(scope="session")
def image() -> Iterator[str]:
    """Our image, built on the offline path from the work tree; removed at the end.

    GOSSIP_TEST_IMAGE=TAG tests an image that exists already (kept afterwards).
    """
    given = os.environ.get("GOSSIP_TEST_IMAGE")
    if given:
        run("docker", "image", "inspect", given)
        yield given
        return
    tag = f"gossip-train:test-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "IMAGE": tag}
    proc = subprocess.run(
        ["sh", str(ROOT / "scripts" / "build-image.sh"), tag],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800,
    )  # fmt: skip
    try:
        assert proc.returncode == 0, f"image build failed:\n{proc.stderr[-3000:]}"
        yield tag
    finally:
        subprocess.run(["docker", "rmi", "-f", tag], capture_output=True)


@pytest.fixture(scope="module")
def cluster(image: str) -> Iterator[Cluster]:
    compose = compose_cmd()
    if compose is None:
        pytest.skip("compose tier: neither 'docker compose' nor 'docker-compose' is installed")
    project = f"gtest{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "GOSSIP_IMAGE": image,
        "PEERS": str(PEERS),
        "GOSSIP_SHARD": f"auto/{PEERS}",
        "GOSSIP_STEP_RATE": "20",
        "GOSSIP_GOSSIP_INTERVAL": "0.5",
        "COMPOSE_PROJECT_NAME": project,
    }
    c = Cluster(project, image, compose, env)
    try:
        c.dc("up", "-d", "--no-build", "--scale", f"peer={PEERS}")
        label = f"label=com.docker.compose.project={project}"
        c.containers = sorted(run("docker", "ps", "-a", "--format", "{{.Names}}",
                                  "--filter", label).split())  # fmt: skip
        assert len(c.containers) == PEERS, c.containers
        yield c
    finally:
        _cleanup(project, compose, env)
