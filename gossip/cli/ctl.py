"""``gossip-ctl``: ask running peers what they see, as tables or JSON.

Verbs (each takes ``--target HOST:PORT``, ``--timeout`` and ``--json``):

* ``status``: one peer's own view (the status JSON of the README);
* ``members``: that peer's membership table;
* ``cluster``: discover every member through the target's view (and, one level
  further, through the views of the members that answer), ask each for its
  status concurrently with a deadline, and show one table; members that do
  not answer are listed as unreachable;
* ``watch``: the cluster table, refreshed every ``--interval`` seconds (with
  ``--json``, one JSON object per line and refresh).

An unreachable target is one line on stderr and exit code 1; a usage mistake
is one line and exit code 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from contextlib import nullcontext
from typing import TYPE_CHECKING, Any

from gossip.address import parse_address
from gossip.cli.common import Parser, guarded
from gossip.errors import GossipError, TransportError, UsageError

if TYPE_CHECKING:  # rich loads only to print tables; numpy never (tests/unit/test_imports.py)
    from rich.console import Console

    from gossip.cli.table import ClusterPeer
    from gossip.status import MemberInfo, Status
    from gossip.transport.security import Security

Fetch = Callable[[str, float], "Status"]
"""``fetch(address, timeout)``: one Status call; raises GossipError when there is no answer."""

MAX_WORKERS = 32
"""Concurrent Status calls of ``cluster`` / ``watch``."""


def build_parser() -> Parser:
    p = Parser(
        prog="gossip-ctl",
        description="Inspect running gossip-train peers.",
        epilog="Examples: gossip-ctl status --target 127.0.0.1:50051 --json; "
        "gossip-ctl cluster --target 127.0.0.1:50051; gossip-ctl watch --target 127.0.0.1:50051",
    )
    commands = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    verbs = {
        "status": "one node's view: its training progress, exchanges and members",
        "members": "one node's membership table: every member it knows, with state",
        "cluster": "discover every member from one node and show them all in one table",
        "watch": "the cluster table, refreshed live (Ctrl-C to stop)",
    }
    for verb, text in verbs.items():
        sub = commands.add_parser(verb, help=text, description=text[0].upper() + text[1:] + ".")
        sub.add_argument("--target", required=True, metavar="HOST:PORT", help="the node to ask")
        sub.add_argument("--json", action="store_true", help="print JSON instead of a table")
        sub.add_argument("--token", default=None, help="cluster token (default: $GOSSIP_TOKEN)")
        sub.add_argument("--tls-ca", default=None, metavar="PEM", help="CA of the nodes (TLS)")
        sub.add_argument("--tls-cert", default=None, metavar="PEM", help="client cert (mTLS)")
        sub.add_argument("--tls-key", default=None, metavar="PEM", help="its private key")
        sub.add_argument(
            "--timeout",
            type=float,
            default=5.0,
            metavar="S",
            help="seconds to wait for each answer (default: %(default)s)",
        )
        if verb == "watch":
            sub.add_argument(
                "--interval",
                type=float,
                default=1.0,
                metavar="S",
                help="seconds between refreshes (default: %(default)s)",
            )
            sub.add_argument(
                "--count",
                type=int,
                default=0,
                metavar="N",
                help="stop after N refreshes (default: 0 = until Ctrl-C)",
            )
    return p


# ------------------------------------------------------------ cluster discovery


def discover(target: str, fetch: Fetch, timeout: float, rounds: int = 2) -> list[ClusterPeer]:
    """Every member reachable from ``target``'s view, each with its own status or an error.

    Round 1 asks the members the target knows; round 2 asks members that only
    those members know (a view still converging). All calls of a round run at
    once, each with its deadline, so a round takes at most about ``timeout``.
    A member known at one address under two generations (a restart) appears
    once, with the newest generation. Raises GossipError when the target itself
    does not answer.
    """
    from concurrent.futures import ThreadPoolExecutor

    from gossip.cli.table import ClusterPeer

    own = fetch(target, timeout)
    peers: dict[str, ClusterPeer] = {
        target: ClusterPeer(own.id, target, "self", own.generation, own)
    }
    views = [own]
    with ThreadPoolExecutor(max_workers=MAX_WORKERS) as pool:
        for _ in range(rounds):
            found: dict[str, MemberInfo] = {}
            for view in views:
                for member in view.members:
                    address = member.address
                    if not address or address in peers:
                        continue
                    known = found.get(address)
                    if known is None or member.generation > known.generation:
                        found[address] = member
            if not found:
                break

            def ask(address: str) -> tuple[Status | None, str]:
                try:
                    return fetch(address, timeout), ""
                except GossipError as exc:
                    return None, "unreachable: " + " ".join(str(exc).split())

            answers = list(pool.map(ask, found))
            views = []
            for (address, member), (status, error) in zip(found.items(), answers, strict=True):
                peers[address] = ClusterPeer(
                    member.id, address, member.state, member.generation, status, error
                )
                if status is not None:
                    views.append(status)
    first = peers.pop(target)
    return [first, *sorted(peers.values(), key=lambda p: (p.id, p.address))]


def cluster_json(target: str, peers: list[ClusterPeer]) -> dict[str, Any]:
    return {
        "target": target,
        "time": round(time.time(), 3),
        "members": len(peers),
        "answering": sum(1 for p in peers if p.status is not None),
        "peers": [p.to_json() for p in peers],
    }


# ------------------------------------------------------------ verbs


def _check(args: argparse.Namespace) -> None:
    _host, port = parse_address(args.target, "--target")
    if port == 0:
        raise UsageError(f"--target needs a port from 1 to 65535, got {args.target!r}")
    if not args.timeout > 0:
        raise UsageError(f"--timeout must be positive, got {args.timeout}")
    if getattr(args, "interval", 1.0) <= 0:
        raise UsageError(f"--interval must be positive, got {args.interval}")
    if getattr(args, "count", 0) < 0:
        raise UsageError(f"--count must be >= 0, got {args.count}")


def _unreachable(exc: GossipError) -> int:
    detail = " ".join(str(exc).split())  # gRPC details may span lines; we print one
    print(f"gossip-ctl: cannot get status: {detail}", file=sys.stderr)
    return 1


def _status(args: argparse.Namespace, fetch: Fetch) -> int:
    try:
        status = fetch(args.target, args.timeout)
    except TransportError as exc:
        return _unreachable(exc)
    if args.json:
        print(json.dumps(status.as_json(), indent=2))
        return 0
    from gossip.cli.cells import members_text, node_text  # plain text: no rich to load

    print(node_text(status))
    print(members_text(status))
    return 0


def _members(args: argparse.Namespace, fetch: Fetch) -> int:
    try:
        status = fetch(args.target, args.timeout)
    except TransportError as exc:
        return _unreachable(exc)
    if args.json:
        whole = status.as_json()
        view = {k: whole[k] for k in ("id", "address", "generation", "members")}
        print(json.dumps(view, indent=2))
        return 0
    from gossip.cli.cells import members_text

    print(members_text(status))
    return 0


def _cluster(args: argparse.Namespace, fetch: Fetch) -> int:
    try:
        peers = discover(args.target, fetch, args.timeout)
    except TransportError as exc:
        return _unreachable(exc)
    if args.json:
        print(json.dumps(cluster_json(args.target, peers), indent=2))
        return 0
    from gossip.cli.table import cluster_table

    _console().print(cluster_table(peers, title=f"cluster seen from {args.target}"))
    return 0


def _watch(args: argparse.Namespace, fetch: Fetch) -> int:
    from rich.live import Live

    from gossip.cli.table import cluster_table

    console = _console()
    live = (
        Live(console=console, auto_refresh=False) if console.is_terminal and not args.json else None
    )
    refreshes = 0
    with live or nullcontext():
        while True:
            began = time.monotonic()
            try:
                peers = discover(args.target, fetch, args.timeout)
            except TransportError as exc:
                if refreshes == 0:
                    return _unreachable(exc)
                peers = []  # the target went away mid-watch: say so and keep trying
                error = " ".join(str(exc).split())
            else:
                error = ""
            refreshes += 1
            if args.json:
                doc = cluster_json(args.target, peers)
                if error:
                    doc["error"] = error
                print(json.dumps(doc), flush=True)
            else:
                title = f"cluster seen from {args.target}" + (f" ({error})" if error else "")
                table = cluster_table(peers, title=title)
                if live is not None:
                    live.update(table, refresh=True)
                else:
                    console.print(table)
            if args.count and refreshes >= args.count:
                return 0
            time.sleep(max(0.0, args.interval - (time.monotonic() - began)))


def _run(argv: list[str] | None, fetch: Fetch | None = None) -> int:
    args = build_parser().parse_args(argv)
    _check(args)
    verbs = {"status": _status, "members": _members, "cluster": _cluster, "watch": _watch}
    verb = verbs.get(args.command)
    if verb is None:
        raise UsageError(f"unknown command {args.command!r}")  # argparse already refuses these
    if fetch is not None:
        return verb(args, fetch)
    # gRPC and the generated messages, not the exchange machinery: no numpy (bench/ctl_startup.py)
    from gossip.transport.channel import Channels
    from gossip.transport.control import call_status

    channels = Channels(_security(args))  # one channel per peer for all calls of the command
    try:
        return verb(
            args, lambda address, timeout: call_status(channels.get(address), address, timeout)
        )
    finally:
        channels.close()


TOKEN_ENV = "GOSSIP_TOKEN"
"""security.TOKEN_ENV, named here so that a plain call does not load the security module."""


def _security(args: argparse.Namespace) -> Security | None:
    """Token and TLS of the command; None (plaintext, no token) when none is asked for."""
    if not (
        args.token or os.environ.get(TOKEN_ENV) or args.tls_cert or args.tls_key or args.tls_ca
    ):
        return None
    from gossip.transport.security import Security, load_tls, resolve_token

    tls = load_tls(args.tls_cert, args.tls_key, args.tls_ca, server=False)
    return Security(resolve_token(args.token), tls)


def _console() -> Console:
    """The terminal's width; in pipes and files, wide enough that rows do not wrap."""
    from rich.console import Console

    console = Console()
    return console if console.is_terminal else Console(width=160)


def main(argv: list[str] | None = None) -> int:
    try:
        return guarded("gossip-ctl", lambda: _run(argv))
    except BrokenPipeError:  # `gossip-ctl ... | head`: the reader left; not an error of ours
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 (silences the flush at exit)
        return 0


if __name__ == "__main__":
    sys.exit(main())
