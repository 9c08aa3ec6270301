"""``gossip-cluster``: run N peers on this machine, watch them, and summarize the run.

Every flag it does not know is passed to each ``gossip-node`` (``--duration``,
``--dataset``, ``--model``, ...). While the peers run it shows a live table on
a terminal, or a plain progress line every few seconds elsewhere (CI, pipes);
then it prints the final numbers from the peers' reports, optionally next to
two baselines (:mod:`gossip.baseline`: centralized training on the same total
number of samples, and synchronous data-parallel training on the peers' shards
for their number of steps), and writes ``cluster.json`` into the run directory.
Ctrl-C / SIGTERM stops every peer cleanly and still summarizes what finished; a
second Ctrl-C stops waiting.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from rich.console import Console
from rich.live import Live

from gossip.cli.cells import fmt_metric, metric_of
from gossip.cli.common import Parser, guarded
from gossip.cli.launcher import Child, Launcher
from gossip.cli.node import build_parser as node_parser
from gossip.cli.node import config_from_args
from gossip.cli.table import PeerView, live_table, progress_line, report_status, summary_table
from gossip.config import NodeConfig
from gossip.errors import GossipError, UsageError
from gossip.status import Status

PROG = "gossip-cluster"
REFRESH_S = 0.5
"""Seconds between status polls (the live table refreshes at about 2/s)."""
PROGRESS_S = 5.0
"""Seconds between plain progress lines when stdout is not a terminal."""
FINISH_SLACK_S = 60.0
"""How long past --duration the peers may take to finish before they are stopped."""
_RESERVED = ("id", "listen", "advertise", "peers", "shard", "report")
"""Node flags gossip-cluster sets per peer; passing them through would break the cluster."""
BASELINES = (("centralized", "centralized"), ("synchronous", "synchronous data-parallel"))
"""Each baseline's key in cluster.json and its name in the summary, in printed order."""
HISTORY_POINTS = 20
"""How many held-out evaluations the synchronous baseline records along its run."""

Baseline = dict[str, Any] | None
"""One baseline's results (:mod:`gossip.baseline`); None: not run."""


def build_parser() -> Parser:
    p = Parser(
        prog=PROG,
        allow_abbrev=False,  # a prefix must not swallow a gossip-node flag
        description="Run N gossip-node peers on 127.0.0.1, show their progress, summarize.",
        epilog="Any other flag goes to every gossip-node (see gossip-node --help), except "
        f"{', '.join('--' + r for r in _RESERVED)}, which are set per peer. Example: "
        "gossip-cluster --nodes 4 --dataset digits --duration 20 --compare-centralized",
    )
    p.add_argument("--nodes", type=int, required=True, metavar="N", help="number of peers")
    p.add_argument(
        "--run-dir",
        default=None,
        metavar="DIR",
        help="where logs, reports and cluster.json go (default: a new runs/cluster-<time>)",
    )
    p.add_argument(
        "--compare-centralized",
        action="store_true",
        help="also train the two baselines and report their held-out accuracy: centralized "
        "(one model, whole train split, as many samples as all peers together) and "
        "synchronous data-parallel (N workers on the peers' shards, mean gradient of "
        "their batches, the peers' mean number of steps)",
    )
    p.add_argument(
        "--stop-grace",
        type=float,
        default=15.0,
        metavar="S",
        help="seconds a stopped peer may take to leave before SIGKILL (default: %(default)s)",
    )
    return p


@dataclass
class Plan:
    """The validated command line: what to launch and how to judge it."""

    nodes: int
    run_dir: Path
    node_args: list[str]
    config: NodeConfig
    compare_centralized: bool
    stop_grace: float


def parse_plan(argv: list[str] | None) -> Plan:
    """Split our flags from the node flags and validate both before starting anything."""
    args, node_args = build_parser().parse_known_args(argv)
    if args.nodes < 1:
        raise UsageError(f"--nodes must be at least 1, got {args.nodes}")
    if not args.stop_grace > 0:
        raise UsageError(f"--stop-grace must be positive, got {args.stop_grace}")
    check = node_parser()
    check.prog = PROG  # its one-line errors then name the command the user typed
    passed = check.parse_args(node_args)
    for name in _RESERVED:
        if getattr(passed, name) != check.get_default(name):
            raise UsageError(f"--{name} is set by {PROG} for each peer; leave it out")
    config = config_from_args([*node_args, "--shard", f"0/{args.nodes}"])
    if args.run_dir:
        run_dir = Path(args.run_dir)
        make_run_dir(run_dir, exist_ok=True)
    else:
        run_dir = fresh_run_dir(Path("runs"))
    return Plan(args.nodes, run_dir, node_args, config, args.compare_centralized, args.stop_grace)


def fresh_run_dir(parent: Path) -> Path:
    """``parent/cluster-<timestamp>``, with a suffix when two runs start in the same second."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for attempt in range(1000):
        path = parent / (f"cluster-{stamp}" if attempt == 0 else f"cluster-{stamp}-{attempt}")
        try:
            make_run_dir(path, exist_ok=False)
        except FileExistsError:
            continue
        return path
    raise UsageError(f"cannot find a fresh run directory under {parent}")


def make_run_dir(path: Path, exist_ok: bool) -> None:
    """Create ``path`` and its parents; UsageError naming it when the OS says no.

    With ``exist_ok=False`` an existing ``path`` raises FileExistsError (the caller
    tries another name); with True, only an existing file in the way is an error.
    """
    try:
        path.mkdir(parents=True, exist_ok=exist_ok)
    except FileExistsError:
        if not exist_ok:
            raise
        raise UsageError(f"run directory {path} exists and is not a directory") from None
    except OSError as exc:
        raise UsageError(f"cannot create run directory {path}: {exc.strerror}") from exc


# ------------------------------------------------------------ running


@dataclass
class Interrupt:
    """Signals turned into events: the first asks to stop, the second to stop waiting."""

    stop: threading.Event = field(default_factory=threading.Event)
    hurry: threading.Event = field(default_factory=threading.Event)
    signum: int = 0

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        if self.stop.is_set():
            self.hurry.set()
        self.signum = self.signum or signum
        self.stop.set()


@contextmanager
def handling_signals(interrupt: Interrupt) -> Iterator[None]:
    """Route SIGINT/SIGTERM to ``interrupt`` for the block; restore the old handlers after."""
    previous = {s: signal.signal(s, interrupt) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _views(
    children: list[Child], statuses: dict[str, Status | None], ever_answered: set[str]
) -> list[PeerView]:
    """Rows of the live table; a peer without an answer says why (it may be leaving)."""
    views = []
    for child in children:
        code = child.returncode
        if code is not None:
            note = f"exited {code}"
        else:
            note = "not answering" if child.id in ever_answered else "starting"
        views.append(PeerView(child.id, child.address, statuses.get(child.id), note))
    return views


def watch(launcher: Launcher, plan: Plan, interrupt: Interrupt, console: Console) -> str | None:
    """Show progress until every peer exits or a signal comes; return why we stopped early."""
    tty = console.is_terminal
    started = time.monotonic()
    duration = plan.config.duration
    give_up = None if duration is None else started + duration + FINISH_SLACK_S
    last_line = -PROGRESS_S
    ever_answered: set[str] = set()
    live = Live(console=console, refresh_per_second=2, transient=True) if tty else nullcontext()
    with live:
        while launcher.running():
            statuses = launcher.poll_status(timeout=1.0)
            ever_answered.update(k for k, v in statuses.items() if v is not None)
            views = _views(launcher.children, statuses, ever_answered)
            elapsed = time.monotonic() - started
            if isinstance(live, Live):
                live.update(live_table(views, elapsed))
            elif elapsed - last_line >= PROGRESS_S:
                last_line = elapsed
                print(progress_line(views, elapsed), file=sys.stderr, flush=True)
            failed = first_failure(launcher.children)
            if failed is not None:
                return failed
            if give_up is not None and time.monotonic() > give_up:
                return f"peers still running {FINISH_SLACK_S:.0f}s after --duration; stopped them"
            if interrupt.stop.wait(REFRESH_S):
                return "interrupted: stopping every peer"
    return first_failure(launcher.children)  # all exited between two looks: how?


def first_failure(children: list[Child]) -> str | None:
    """The first peer that exited with an error, with the last line of its log; None if none."""
    for child in children:
        code = child.returncode
        if code not in (None, 0):
            why = child.log_tail() or "no output"
            return f"{child.id} exited with code {code}: {why} (log: {child.log_path})"
    return None


# ------------------------------------------------------------ summary


def summarize(
    plan: Plan,
    launcher: Launcher,
    reports: dict[str, dict[str, Any] | None],
    early: str | None,
    centralized: dict[str, Any] | None = None,
    synchronous: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """cluster.json: per-peer finals, the spread of the metric, and the baselines if any."""
    peers: list[dict[str, Any]] = []
    values: list[float] = []
    names: list[str] = []
    for child in launcher.children:
        status = report_status(reports.get(child.id))
        name, value = metric_of(status) if status else ("accuracy", None)
        if value is not None:
            values.append(value)
            names.append(name)
        peers.append(
            {
                "id": child.id,
                "address": child.address,
                "pid": child.pid,
                "exit_code": child.returncode,
                "log": str(child.log_path),
                "report": str(child.report_path) if status else None,
                "metric": {"name": name, "value": value},
                "status": status.as_json() if status else None,
            }
        )
    spread = (
        {"mean": sum(values) / len(values), "min": min(values), "max": max(values)}
        if values
        else None
    )
    return {
        "nodes": plan.nodes,
        "run_dir": str(plan.run_dir),
        "node_args": plan.node_args,
        "stopped_early": early,
        "metric_name": names[0] if names else "accuracy",
        "metric": spread,
        "total_samples": sum(samples_seen(r) for r in reports.values()),
        "centralized": centralized,
        "synchronous": synchronous,
        "peers": peers,
    }


def samples_seen(report: dict[str, Any] | None) -> int:
    """Samples a peer trained on, from its report (0 without one)."""
    status = report_status(report)
    return status.samples_seen if status else 0


def mean_steps(reports: dict[str, dict[str, Any] | None]) -> int:
    """The peers' mean number of training steps (their --max-steps when they reached it)."""
    steps = [s.step for s in map(report_status, reports.values()) if s]
    return round(sum(steps) / len(steps)) if steps else 0


def print_summary(
    summary: dict[str, Any], reports: dict[str, dict[str, Any] | None], console: Console
) -> None:
    console.print(summary_table(reports))
    name, spread = summary["metric_name"], summary["metric"]
    if spread is None:
        console.print(f"no peer reported a held-out {name}")
    else:
        console.print(
            f"held-out {name} over {sum(1 for s in reports.values() if s)} peers: "
            f"mean {fmt_metric(spread['mean'])}  min {fmt_metric(spread['min'])}  "
            f"max {fmt_metric(spread['max'])}"
        )
    gaps = []
    for label, how in BASELINES:
        baseline = summary[label]
        if not baseline:
            continue
        metric = baseline["metric"]
        console.print(
            f"{how}: {metric['name']} {fmt_metric(metric['value'])}, loss {baseline['loss']:.4f} "
            f"({_described(label, baseline)}; {baseline['seconds']:.1f}s)"
        )
        if spread is not None:
            gaps.append(f"gossip mean - {label}: {spread['mean'] - metric['value']:+.4f}")
    if gaps:
        console.print("   ".join(gaps))
    plot = ", cluster.png" if summary.get("plot") else ""
    console.print(f"run dir: {summary['run_dir']} (cluster.json{plot}, node-*.log, node-*.json)")


def _described(label: str, baseline: dict[str, Any]) -> str:
    """What the baseline trained on: the samples of all peers; the peers' (mean) steps."""
    if label == "centralized":
        return (
            f"one model, whole train split, batch {baseline['batch_size']}, "
            f"{baseline['samples_seen']} samples"
        )
    workers, batch, total = baseline["workers"], baseline["batch_size"], baseline["global_batch"]
    capped = "" if total == workers * batch else " (capped at the smaller shards' size)"
    return (
        f"{workers} workers x batch {batch}{capped} = global batch {total}, "
        f"{baseline['steps']} steps"
    )


def write_plot(plan: Plan, reports: dict[str, dict[str, Any] | None]) -> str | None:
    """``cluster.png`` next to cluster.json (metric, loss, consensus distance, bytes per codec).

    A run without reports, or a failure to plot, is one line on stderr: the run
    itself succeeded, and its JSON is still written.
    """
    if not any(reports.values()):
        return None
    try:
        from gossip.plots import plot_run

        path = plot_run(
            reports, plan.run_dir / "cluster.png", f"gossip-cluster: {plan.nodes} peers"
        )
    except GossipError as exc:  # matplotlib not installed (an optional extra)
        print(f"{PROG}: no plot: {exc}", file=sys.stderr)
        return None
    except Exception as exc:  # matplotlib broken: the numbers are in the JSON
        print(f"{PROG}: no plot: {type(exc).__name__}: {exc}", file=sys.stderr)
        return None
    return str(path)


def run_baselines(
    plan: Plan, reports: dict[str, dict[str, Any] | None], console: Console
) -> tuple[Baseline, Baseline]:
    """(centralized, synchronous), unless there is nothing to compare or the user interrupts.

    The synchronous one runs first: it is the fair yardstick and the quicker one.
    """
    from gossip.baseline import centralized, synchronous

    samples = sum(samples_seen(r) for r in reports.values())
    if samples < 1:
        console.print("baselines skipped: the peers processed no samples")
        return None, None
    steps = max(1, mean_steps(reports))
    sync: Baseline = None
    if plan.config.model_factory:
        console.print("synchronous baseline skipped: it trains the --model MLP only")
    else:
        sync = _train(
            f"the synchronous baseline ({plan.nodes} workers, {steps} steps)",
            lambda: synchronous(plan.config, plan.nodes, steps, max(1, steps // HISTORY_POINTS)),
            console,
        )
        if sync is None:
            return None, None
    central = _train(
        f"the centralized baseline on {samples} samples",
        lambda: centralized(plan.config, samples),
        console,
    )
    return central, sync


def _train(what: str, train: Callable[[], dict[str, Any]], console: Console) -> Baseline:
    print(f"{PROG}: training {what}...", file=sys.stderr, flush=True)
    try:
        return train()
    except KeyboardInterrupt:
        console.print(f"interrupted while training {what}")
        return None


def _run(argv: list[str] | None) -> int:
    plan = parse_plan(argv)
    console = Console()
    if not console.is_terminal:
        console = Console(width=120)  # logs and pipes: do not wrap tables at 80 columns
    interrupt = Interrupt()
    print(f"{PROG}: {plan.nodes} peers, run dir {plan.run_dir}", file=sys.stderr, flush=True)
    launcher = Launcher(plan.nodes, plan.run_dir, plan.node_args)
    with handling_signals(interrupt), launcher:
        early = watch(launcher, plan, interrupt, console)
        if early is not None:
            print(f"{PROG}: {early}", file=sys.stderr, flush=True)
        launcher.stop(plan.stop_grace, hurry=interrupt.hurry)
    reports = launcher.reports()
    central: Baseline = None
    sync: Baseline = None
    if plan.compare_centralized and not interrupt.stop.is_set():
        central, sync = run_baselines(plan, reports, console)
    summary = summarize(plan, launcher, reports, early, central, sync)
    summary["plot"] = write_plot(plan, reports)
    (plan.run_dir / "cluster.json").write_text(json.dumps(summary, indent=2, default=str))
    print_summary(summary, reports, console)
    if interrupt.signum:
        return 128 + interrupt.signum
    return 1 if early is not None else 0


def main(argv: list[str] | None = None) -> int:
    return guarded(PROG, lambda: _run(argv))


if __name__ == "__main__":
    sys.exit(main())
