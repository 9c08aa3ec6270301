"""``gossip-node``: run one peer until --duration passes or SIGTERM / Ctrl-C arrives.

Only the standard library and the small CLI helpers load at import: numpy, gRPC
and the node come in inside :func:`main`'s guard, so a Ctrl-C while they load
ends the command quietly (exit 130) instead of printing a traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import time
from types import FrameType
from typing import TYPE_CHECKING, Any

from gossip.cli.common import Parser, guarded, setup_logging
from gossip.cli.config_file import parse_with_config, to_toml
from gossip.slurm import DEFAULT_PORT, SlurmTask, slurm_task

if TYPE_CHECKING:
    from gossip.config import NodeConfig

log = logging.getLogger("gossip.cli")


def build_parser() -> Parser:
    """A flag for every NodeConfig field, from the field's metadata (gossip/config.py)."""
    from gossip.config import NETWORK, OBSERVABILITY, options

    p = Parser(
        prog="gossip-node",
        description="Run one gossip-train peer: train locally, average parameters with random "
        "live neighbours over gRPC.",
        epilog="Example: gossip-node --listen 0.0.0.0:50051 --advertise host1:50051 "
        "--peers host2:50051,host3:50051 --dataset digits --shard 0/3",
    )
    groups: dict[str, argparse._ArgumentGroup] = {}
    for option in options():
        spec = option.flag
        if spec.group not in groups:
            groups[spec.group] = p.add_argument_group(spec.group)
        details: dict[str, Any] = {"dest": option.dest, "help": spec.help}
        if option.kind is bool:
            details["action"] = "store_true"
        else:
            details["default"] = option.default
            if option.kind in (int, float):
                details["type"] = option.kind
            if spec.metavar:
                details["metavar"] = spec.metavar
            if spec.choices:
                details["choices"] = list(spec.choices)
        groups[spec.group].add_argument(option.option, **details)
    # parser-only, like --config: they set other flags' defaults (see _parse)
    groups[NETWORK].add_argument(
        "--slurm",
        default="auto",
        choices=["auto", "on", "off"],
        help="under srun, take --id, --shard, --listen, --advertise and --peers, when not given, "
        "from Slurm's environment (auto); on: the same, and fail outside srun; off: ignore "
        "Slurm (default: %(default)s)",
    )
    groups[NETWORK].add_argument(
        "--slurm-port",
        type=int,
        default=DEFAULT_PORT,
        metavar="PORT",
        help="under Slurm, task L of a host listens on PORT+L (default: %(default)s)",
    )
    about_config = groups[OBSERVABILITY]
    about_config.add_argument(
        "--config",
        default=None,
        metavar="FILE",
        help="TOML file with these flags as keys (gossip-interval = 0.2); flags given here win",
    )
    about_config.add_argument(
        "--print-config",
        action="store_true",
        help="print the effective configuration as TOML and exit",
    )
    return p


def config_from_args(argv: list[str] | None = None) -> NodeConfig:
    """Parse flags (and --config FILE) into a validated config; UsageError or exit 2 if wrong."""
    return config_from_namespace(_parse(build_parser(), argv)[0])


def _parse(parser: Parser, argv: list[str] | None) -> tuple[argparse.Namespace, SlurmTask | None]:
    """Flags win over --config FILE, which wins over Slurm's environment (gossip/slurm.py)."""
    args = parse_with_config(parser, argv)
    task = slurm_task(args.slurm, os.environ)
    if task is not None:
        parser.set_defaults(**task.flags(args.slurm_port))
        args = parse_with_config(parser, argv)  # the file's values again, over Slurm's
    return args, task


def config_from_namespace(args: argparse.Namespace) -> NodeConfig:
    """The config of parsed flags (see :func:`config_from_args`)."""
    from gossip.config import NodeConfig, options

    return NodeConfig(**{o.field: o.value(getattr(args, o.dest)) for o in options()})


def _run(argv: list[str] | None) -> int:
    parser = build_parser()
    args, task = _parse(parser, argv)
    config = config_from_namespace(args)
    if args.print_config:
        args.token = config.token  # from $GOSSIP_TOKEN too: shown as set (never its value)
        print(to_toml(parser, args), end="")
        return 0
    setup_logging(config.log_format, config.log_level)
    if task is not None:
        where = (task.job_id, task.proc_id, task.ntasks, task.node)
        log.info("Slurm job %s: task %d of %d on %s", *where)
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
    return 2 if node.failure is not None else 0  # its one line is in the log


def main(argv: list[str] | None = None) -> int:
    return guarded("gossip-node", lambda: _run(argv))


if __name__ == "__main__":
    sys.exit(main())
