"""``gossip-node``: run one peer until --duration passes or SIGTERM / Ctrl-C arrives.

Only the standard library and the small CLI helpers load at import: numpy, gRPC
and the node come in inside :func:`main`'s guard, so a Ctrl-C while they load
ends the command quietly (exit 130) instead of printing a traceback.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import time
from types import FrameType
from typing import TYPE_CHECKING

from gossip.cli.common import Parser, guarded, setup_logging
from gossip.cli.config_file import parse_with_config, to_toml

if TYPE_CHECKING:
    from gossip.config import NodeConfig

log = logging.getLogger("gossip.cli")


def build_parser() -> Parser:
    from gossip.config import NodeConfig

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
        "--advertise",
        default="",
        help="HOST:PORT others dial (default: the listen address; for 0.0.0.0 or :: this "
        "host's name)",
    )
    net.add_argument("--peers", default="", help="comma-separated seed addresses HOST:PORT")
    net.add_argument(
        "--gossip-interval",
        type=float,
        default=d.gossip_interval,
        metavar="SECONDS",
        help="start an exchange after this many seconds even without a new training step "
        "(default: %(default)s)",
    )
    net.add_argument(
        "--local-steps",
        type=int,
        default=d.local_steps,
        metavar="N",
        help="at most N training steps past the last completed exchange, then wait for one "
        "(at most --exchange-timeout; not when alone); 0: free-running, exchanges every "
        "--gossip-interval (default: %(default)s)",
    )
    net.add_argument(
        "--heartbeat-interval",
        type=float,
        default=None,
        metavar="SECONDS",
        help="seconds between membership rounds (default: the profile's, 0.2 lan, 1.0 wan)",
    )
    net.add_argument(
        "--membership",
        default=d.membership,
        choices=["lan", "wan"],
        help="failure-detection profile: lan detects a crash in ~2 s, wan in ~10 s "
        "(default: %(default)s)",
    )
    net.add_argument(
        "--exchange-timeout",
        type=float,
        default=d.exchange_timeout,
        metavar="SECONDS",
        help="deadline of an exchange's reply; its verdict gets as long again "
        "(default: %(default)s)",
    )
    net.add_argument(
        "--alpha",
        type=float,
        default=d.alpha,
        help="fraction of the difference each side moves (default: %(default)s = pairwise mean)",
    )
    net.add_argument(
        "--compression",
        default=d.compression,
        metavar="SPEC",
        help="payload codec: none | fp16 | int8 | sign | topk:FRACTION[:sign] | randk:FRACTION | "
        "qsgd:LEVELS, optionally prefixed by blocks:K+ to send one of K blocks per exchange "
        "(default: %(default)s)",
    )
    net.add_argument(
        "--consensus-step",
        type=float,
        default=None,
        metavar="GAMMA",
        help="step toward the peer in compressed exchanges, (0, 1] (default: --alpha)",
    )
    net.add_argument(
        "--reference-memory",
        type=float,
        default=d.reference_memory,
        metavar="MIB",
        help="memory for per-neighbour references of compressed exchanges (default: %(default)s)",
    )

    data = p.add_argument_group("data")
    data.add_argument(
        "--dataset",
        default=d.dataset,
        help="digits | clusters (harder, 10 classes) | diabetes | synthetic | FILE.npz | FILE.csv "
        "(default: %(default)s)",
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
        "--model",
        default=d.model,
        help="mlp:H1,H2,... hidden widths (relu); mlp: or linear: no hidden layer "
        "(default: %(default)s)",
    )
    train.add_argument(
        "--model-factory",
        default=d.model_factory,
        metavar="MODULE:FUNCTION",
        help="your own model instead of --model: a function returning a compiled Keras model "
        "or a gossip.Trainable, optionally with its data (e.g. examples.keras_seed:model)",
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
        "--blas-threads",
        type=int,
        default=d.blas_threads,
        metavar="N",
        help="threads of numpy's BLAS (default: %(default)s; 0: one per core)",
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
    observe = p.add_argument_group("observability")
    observe.add_argument(
        "--metrics-port",
        type=int,
        default=None,
        metavar="PORT",
        help="serve Prometheus metrics on http://LISTEN-HOST:PORT/metrics (0: any free port)",
    )
    observe.add_argument(
        "--tensorboard-dir",
        default=None,
        metavar="DIR",
        help="write TensorBoard scalars under DIR/<id>/ (tensorboard --logdir DIR)",
    )
    recover = p.add_argument_group("checkpoints and catch-up")
    recover.add_argument(
        "--checkpoint-dir",
        default=None,
        metavar="DIR",
        help="write checkpoints to DIR (one per node) and resume from the newest valid one",
    )
    recover.add_argument(
        "--checkpoint-interval",
        type=float,
        default=d.checkpoint_interval,
        metavar="SECONDS",
        help="seconds between checkpoints; one is also written at shutdown (default: %(default)s)",
    )
    recover.add_argument(
        "--no-bootstrap",
        action="store_true",
        help="do not pull a recent model from a neighbour before training",
    )
    recover.add_argument(
        "--bootstrap-timeout",
        type=float,
        default=d.bootstrap_timeout,
        metavar="SECONDS",
        help="wait this long for an alive neighbour to catch up from (default: %(default)s)",
    )
    guard = p.add_argument_group("security and robust averaging")
    guard.add_argument(
        "--token",
        default=None,
        help="cluster token checked on every RPC (default: $GOSSIP_TOKEN; none: open cluster)",
    )
    guard.add_argument("--tls-cert", default=None, metavar="PEM", help="this node's certificate")
    guard.add_argument("--tls-key", default=None, metavar="PEM", help="its private key")
    guard.add_argument(
        "--tls-ca",
        default=None,
        metavar="PEM",
        help="CA that peers' certificates must chain to (with --tls-cert: mutual TLS)",
    )
    guard.add_argument(
        "--max-step-norm",
        type=float,
        default=None,
        metavar="NORM",
        help="clip the move of one exchange to this L2 norm (same value on every peer)",
    )
    guard.add_argument(
        "--max-scale",
        type=float,
        default=d.max_scale,
        metavar="X",
        help="refuse a move longer than X times the model's norm (default: %(default)s)",
    )
    guard.add_argument(
        "--drop-outliers",
        action="store_true",
        help="refuse moves over 5x the median of recent ones",
    )
    guard.add_argument(
        "--quarantine",
        type=float,
        default=d.quarantine,
        metavar="SECONDS",
        help="refuse a peer this long after 3 bad exchanges in a minute (default: %(default)s)",
    )
    guard.add_argument(
        "--slowdown",
        type=float,
        default=d.slowdown,
        metavar="FACTOR",
        help="test knob: make training steps FACTOR times slower (default: %(default)s)",
    )
    observe.add_argument(
        "--config",
        default=None,
        metavar="FILE",
        help="TOML file with these flags as keys (gossip-interval = 0.2); flags given here win",
    )
    observe.add_argument(
        "--print-config",
        action="store_true",
        help="print the effective configuration as TOML and exit",
    )
    return p


def config_from_args(argv: list[str] | None = None) -> NodeConfig:
    """Parse flags (and --config FILE) into a validated config; UsageError or exit 2 if wrong."""
    return config_from_namespace(parse_with_config(build_parser(), argv))


def config_from_namespace(args: argparse.Namespace) -> NodeConfig:
    """The config of parsed flags (see :func:`config_from_args`)."""
    from gossip.address import parse_peers
    from gossip.config import NodeConfig
    from gossip.data import parse_shard
    from gossip.transport.security import resolve_token

    # a seed name that does not resolve (yet) is not an error: the membership loop
    # logs it once and keeps retrying (a Compose service may start after us)
    peers = parse_peers(args.peers)
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
        model_factory=args.model_factory,
        loss=args.loss,
        optimizer=args.optimizer,
        lr=args.lr,
        batch_size=args.batch_size,
        max_steps=args.max_steps,
        step_rate=args.step_rate,
        blas_threads=args.blas_threads,
        gossip_interval=args.gossip_interval,
        local_steps=args.local_steps,
        alpha=args.alpha,
        compression=args.compression,
        consensus_step=args.consensus_step,
        reference_memory=args.reference_memory,
        exchange_timeout=args.exchange_timeout,
        heartbeat_interval=args.heartbeat_interval,
        membership=args.membership,
        eval_interval=args.eval_interval,
        duration=args.duration,
        seed=args.seed,
        report=args.report,
        log_format=args.log_format,
        metrics_port=args.metrics_port,
        tensorboard_dir=args.tensorboard_dir,
        checkpoint_dir=args.checkpoint_dir,
        checkpoint_interval=args.checkpoint_interval,
        bootstrap=not args.no_bootstrap,
        bootstrap_timeout=args.bootstrap_timeout,
        token=resolve_token(args.token),
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        tls_ca=args.tls_ca,
        max_step_norm=args.max_step_norm,
        max_scale=args.max_scale,
        drop_outliers=args.drop_outliers,
        quarantine=args.quarantine,
        slowdown=args.slowdown,
        extra={"log_level": args.log_level},
    )


def _run(argv: list[str] | None) -> int:
    parser = build_parser()
    args = parse_with_config(parser, argv)
    config = config_from_namespace(args)
    if args.print_config:
        args.token = config.token  # from $GOSSIP_TOKEN too: shown as set (never its value)
        print(to_toml(parser, args), end="")
        return 0
    setup_logging(config.log_format, config.extra.get("log_level", "info"))
    from gossip.node import Node  # numpy, gRPC: the slow part of start-up

    model, data = None, None
    if config.model_factory:
        from gossip.factory import load

        model, data = load(config.model_factory, config)
    node = Node(config, model=model, data=data)
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
