"""``gossip-node``: run one peer until --duration passes or SIGTERM / Ctrl-C arrives."""

from __future__ import annotations

import logging
import signal
import socket
import sys
import time
from types import FrameType

from gossip.cli.common import Parser, guarded, setup_logging
from gossip.config import NodeConfig, parse_address, parse_peers
from gossip.data import parse_shard
from gossip.errors import UsageError
from gossip.node import Node

log = logging.getLogger("gossip.cli")


def build_parser() -> Parser:
    p = Parser(
        prog="gossip-node",
        description="Run one gossip-train peer: train locally, average parameters with random "
        "live neighbours over gRPC.",
        epilog="Example: gossip-node --listen 0.0.0.0:50051 --advertise host1:50051 "
        "--peers host2:50051,host3:50051 --dataset digits --shard 0/3",
    )
    d = NodeConfig()
    net = p.add_argument_group("network")
    net.add_argument("--id", default="", help="node id (default: node-<random>)")
    net.add_argument(
        "--listen",
        default=d.listen,
        help="HOST:PORT to serve on; port 0 picks one (default: %(default)s)",
    )
    net.add_argument(
        "--advertise", default="", help="HOST:PORT others dial (default: the listen address)"
    )
    net.add_argument("--peers", default="", help="comma-separated seed addresses HOST:PORT")
    net.add_argument(
        "--gossip-interval",
        type=float,
        default=d.gossip_interval,
        metavar="SECONDS",
        help="seconds between exchanges this peer starts (default: %(default)s)",
    )
    net.add_argument(
        "--heartbeat-interval",
        type=float,
        default=d.heartbeat_interval,
        metavar="SECONDS",
        help="seconds between membership push-pulls (default: %(default)s)",
    )
    net.add_argument(
        "--exchange-timeout",
        type=float,
        default=d.exchange_timeout,
        metavar="SECONDS",
        help="deadline of one exchange (default: %(default)s)",
    )
    net.add_argument(
        "--alpha",
        type=float,
        default=d.alpha,
        help="fraction of the difference each side moves (default: %(default)s = pairwise mean)",
    )
    net.add_argument("--compression", default=d.compression, help="payload codec: none (default)")

    data = p.add_argument_group("data")
    data.add_argument(
        "--dataset",
        default=d.dataset,
        help="digits | diabetes | synthetic | FILE.npz | FILE.csv (default: %(default)s)",
    )
    data.add_argument(
        "--label-column",
        default=None,
        help="CSV label column, name or 0-based index (default: last)",
    )
    data.add_argument(
        "--samples",
        type=int,
        default=d.synthetic_samples,
        help="synthetic: samples (default: %(default)s)",
    )
    data.add_argument(
        "--features",
        type=int,
        default=d.synthetic_features,
        help="synthetic: features (default: %(default)s)",
    )
    data.add_argument(
        "--classes",
        type=int,
        default=d.synthetic_classes,
        help="synthetic: classes (default: %(default)s)",
    )
    data.add_argument(
        "--holdout",
        type=float,
        default=d.holdout,
        help="held-out fraction nobody trains on (default: %(default)s)",
    )
    data.add_argument(
        "--partition",
        default=d.partition,
        help="iid | dirichlet:ALPHA | feature:COLUMN (default: %(default)s)",
    )
    data.add_argument(
        "--shard", default="0/1", metavar="I/N", help="train on part I of N (default: %(default)s)"
    )

    train = p.add_argument_group("training")
    train.add_argument(
        "--model", default=d.model, help="mlp:H1,H2,... hidden widths (default: %(default)s)"
    )
    train.add_argument("--loss", default=d.loss, help="ce | mse | auto (default: %(default)s)")
    train.add_argument(
        "--optimizer", default=d.optimizer, help="sgd | momentum | adam (default: %(default)s)"
    )
    train.add_argument(
        "--lr", type=float, default=None, help="learning rate (default: the optimizer's)"
    )
    train.add_argument(
        "--batch-size", type=int, default=d.batch_size, help="(default: %(default)s)"
    )
    train.add_argument(
        "--max-steps",
        type=int,
        default=None,
        help="stop training after N steps but keep averaging (0: average only)",
    )
    train.add_argument(
        "--step-rate",
        type=float,
        default=d.step_rate,
        metavar="HZ",
        help="at most this many training steps per second (default: 0 = unlimited)",
    )
    train.add_argument(
        "--eval-interval",
        type=float,
        default=d.eval_interval,
        metavar="SECONDS",
        help="seconds between held-out evaluations (default: %(default)s)",
    )
    train.add_argument(
        "--seed",
        type=int,
        default=d.seed,
        help="shared seed of split and initial model (default: %(default)s)",
    )

    run = p.add_argument_group("run")
    run.add_argument(
        "--duration",
        type=float,
        default=None,
        metavar="SECONDS",
        help="stop after this long (default: until SIGTERM/Ctrl-C)",
    )
    run.add_argument(
        "--report",
        default=None,
        metavar="FILE",
        help="write a JSON report (final status, history) at exit",
    )
    run.add_argument(
        "--log-format",
        default=d.log_format,
        choices=["text", "json"],
        help="(default: %(default)s)",
    )
    run.add_argument(
        "--log-level",
        default="info",
        choices=["debug", "info", "warning", "error"],
        help="(default: %(default)s)",
    )
    return p


def config_from_args(argv: list[str] | None = None) -> NodeConfig:
    """Parse flags into a validated config; UsageError (or exit 2) on anything wrong."""
    args = build_parser().parse_args(argv)
    peers = parse_peers(args.peers)
    for peer in peers:
        host, port = parse_address(peer, "each --peers entry")
        try:
            socket.getaddrinfo(host, port)
        except OSError as exc:
            raise UsageError(f"seed {peer!r} does not resolve: {exc.strerror}") from exc
    return NodeConfig(
        id=args.id,
        listen=args.listen,
        advertise=args.advertise,
        peers=peers,
        dataset=args.dataset,
        label_column=args.label_column,
        synthetic_samples=args.samples,
        synthetic_features=args.features,
        synthetic_classes=args.classes,
        holdout=args.holdout,
        partition=args.partition,
        shard=parse_shard(args.shard),
        model=args.model,
        loss=args.loss,
        optimizer=args.optimizer,
        lr=args.lr,
        batch_size=args.batch_size,
        max_steps=args.max_steps,
        step_rate=args.step_rate,
        gossip_interval=args.gossip_interval,
        alpha=args.alpha,
        compression=args.compression,
        exchange_timeout=args.exchange_timeout,
        heartbeat_interval=args.heartbeat_interval,
        eval_interval=args.eval_interval,
        duration=args.duration,
        seed=args.seed,
        report=args.report,
        log_format=args.log_format,
        extra={"log_level": args.log_level},
    )


def _run(argv: list[str] | None) -> int:
    config = config_from_args(argv)
    setup_logging(config.log_format, config.extra.get("log_level", "info"))
    node = Node(config)
    signalled: list[int] = []

    def on_signal(signum: int, frame: FrameType | None) -> None:
        # only record it: taking a lock here could deadlock with the interrupted main thread
        signalled.append(signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    node.start()
    deadline = None if config.duration is None else time.monotonic() + config.duration
    while not signalled and not node.wait(0.2):
        if deadline is not None and time.monotonic() >= deadline:
            break
    if signalled:
        name = signal.Signals(signalled[0]).name
        log.info("received %s: finishing the current step and leaving", name)
    node.shutdown()
    return 0


def main(argv: list[str] | None = None) -> int:
    return guarded("gossip-node", lambda: _run(argv))


if __name__ == "__main__":
    sys.exit(main())
