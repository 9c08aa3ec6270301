"""``gossip-ctl``: ask a running peer what it sees (``status``), as a table or §5 JSON."""

from __future__ import annotations

import argparse
import json
import sys

from rich.console import Console

from gossip.cli.common import Parser, guarded
from gossip.cli.table import members_table, node_table
from gossip.config import parse_address
from gossip.errors import TransportError, UsageError
from gossip.transport.base import StatusDict


def build_parser() -> Parser:
    p = Parser(
        prog="gossip-ctl",
        description="Inspect running gossip-train peers.",
        epilog="Example: gossip-ctl status --target 127.0.0.1:50051 --json",
    )
    commands = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    status = commands.add_parser(
        "status",
        help="one node's view: its training progress, exchanges and members",
        description="Print one node's view: its training progress, exchanges and members.",
    )
    status.add_argument("--target", required=True, metavar="HOST:PORT", help="the node to ask")
    status.add_argument("--json", action="store_true", help="print the status JSON (DESIGN.md §5)")
    status.add_argument(
        "--timeout",
        type=float,
        default=5.0,
        metavar="S",
        help="seconds to wait for the answer (default: %(default)s)",
    )
    return p


def fetch_status(target: str, timeout: float) -> StatusDict:
    """One Status call; a peer that is not there is a TransportError naming it."""
    from gossip.transport.grpc_transport import GrpcTransport  # grpc only when needed

    transport = GrpcTransport()
    try:
        return transport.status(target, timeout)
    finally:
        transport.stop(0)


def _status(args: argparse.Namespace) -> int:
    _host, port = parse_address(args.target, "--target")
    if port == 0:
        raise UsageError(f"--target needs a port from 1 to 65535, got {args.target!r}")
    if not args.timeout > 0:
        raise UsageError(f"--timeout must be positive, got {args.timeout}")
    try:
        status = fetch_status(args.target, args.timeout)
    except TransportError as exc:
        detail = " ".join(str(exc).split())  # gRPC details may span lines; we print one
        print(f"gossip-ctl: cannot get status: {detail}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(status, indent=2))
        return 0
    console = Console()
    console.print(node_table(status))
    console.print(members_table(status))
    return 0


def _run(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "status":
        return _status(args)
    raise UsageError(f"unknown command {args.command!r}")  # argparse already refuses these


def main(argv: list[str] | None = None) -> int:
    return guarded("gossip-ctl", lambda: _run(argv))


if __name__ == "__main__":
    sys.exit(main())
