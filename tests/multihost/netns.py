"""Network namespaces standing for hosts: LANs, routers, a NAT, all removed at the end.

Every namespace of one :class:`Network` is named ``<prefix>-<host>`` with a
prefix of its own, so runs side by side never meet, and :meth:`Network.close`
deletes exactly those (their interfaces go with them). The root namespace is
never changed. Needs root, ``ip`` (iproute2) and ``iptables``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import uuid


def unavailable() -> str | None:
    """Why this machine cannot build namespaces (None: it can)."""
    if os.geteuid() != 0:
        return "needs root (ip netns)"
    for tool in ("ip", "iptables"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    probe = Network()
    try:
        probe.host("probe")
        probe.lan("lan")
        probe.attach("probe", "lan", "10.255.0.1/24")
        probe.iptables("probe", "-t", "nat", "-L", "-n")
    except (OSError, subprocess.CalledProcessError) as exc:
        said = exc.stderr.strip() if isinstance(exc, subprocess.CalledProcessError) else exc
        return f"cannot build network namespaces here: {said}"
    finally:
        probe.close()
    return None


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True, timeout=30)


class Network:
    """Hosts (namespaces), LANs (a bridge in a namespace of its own) and the links between."""

    def __init__(self) -> None:
        self.prefix = f"gt{uuid.uuid4().hex[:6]}"
        self.namespaces: list[str] = []

    def ns(self, name: str) -> str:
        return f"{self.prefix}-{name}"

    def host(self, name: str) -> str:
        full = self.ns(name)
        _ip("netns", "add", full)
        self.namespaces.append(full)
        _ip("-n", full, "link", "set", "lo", "up")
        return full

    def lan(self, name: str) -> None:
        """A switch: a bridge in a namespace of its own, no address, no host."""
        self.host(name)
        _ip("-n", self.ns(name), "link", "add", "br0", "type", "bridge")
        _ip("-n", self.ns(name), "link", "set", "br0", "up")

    def attach(self, host: str, lan: str, address: str) -> str:
        """Plug ``host`` into ``lan`` with ``address`` (CIDR); returns the host's interface."""
        port = f"{host}"[:15]
        ifname = f"to-{lan}"[:15]
        _ip("link", "add", ifname, "netns", self.ns(host), "type", "veth",
            "peer", "name", port, "netns", self.ns(lan))  # fmt: skip
        _ip("-n", self.ns(lan), "link", "set", port, "master", "br0")
        _ip("-n", self.ns(lan), "link", "set", port, "up")
        _ip("-n", self.ns(host), "addr", "add", address, "dev", ifname)
        _ip("-n", self.ns(host), "link", "set", ifname, "up")
        return ifname

    def link(self, one: str, one_address: str, two: str, two_address: str) -> None:
        """A cable between two hosts (a veth pair), each end named after the other host."""
        _ip("link", "add", f"to-{two}"[:15], "netns", self.ns(one), "type", "veth",
            "peer", "name", f"to-{one}"[:15], "netns", self.ns(two))  # fmt: skip
        for host, other, address in ((one, two, one_address), (two, one, two_address)):
            _ip("-n", self.ns(host), "addr", "add", address, "dev", f"to-{other}"[:15])
            _ip("-n", self.ns(host), "link", "set", f"to-{other}"[:15], "up")

    def route(self, host: str, destination: str, via: str) -> None:
        _ip("-n", self.ns(host), "route", "add", destination, "via", via)

    def forward(self, host: str) -> None:
        """Let ``host`` forward packets (a router or a NAT; off in a new namespace)."""
        self.run(host, "sysctl", "-qw", "net.ipv4.ip_forward=1")

    def iptables(self, host: str, *args: str) -> None:
        self.run(host, "iptables", *args)

    def run(self, host: str, *cmd: str) -> None:
        subprocess.run(
            ["ip", "netns", "exec", self.ns(host), *cmd],
            check=True, capture_output=True, text=True, timeout=30,
        )  # fmt: skip

    def exec_prefix(self, host: str) -> list[str]:
        """The argv prefix that runs a command on ``host``."""
        return ["ip", "netns", "exec", self.ns(host)]

    def close(self) -> None:
        """Delete every namespace made here (and so every interface); never raises."""
        for full in reversed(self.namespaces):
            with contextlib.suppress(subprocess.SubprocessError, OSError):
                subprocess.run(["ip", "netns", "del", full], capture_output=True, timeout=30)
        self.namespaces.clear()
