"""Configuration of a peer: one frozen dataclass, every field documented, validated once.

The CLI builds it from flags; the Python API takes it directly. Invalid
values raise :class:`~gossip.errors.UsageError` with one line naming the field.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field

from gossip.errors import UsageError


def parse_address(text: str, what: str = "address") -> tuple[str, int]:
    """Split ``HOST:PORT`` (IPv6 as ``[::1]:PORT``); raise UsageError when malformed."""
    host, sep, port_text = text.strip().rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise UsageError(f"{what} must be HOST:PORT with a port from 0 to 65535, got {text!r}")
    return host, int(port_text)


def parse_peers(text: str) -> tuple[str, ...]:
    """A comma-separated list of ``HOST:PORT`` seeds (empty entries ignored)."""
    peers = tuple(p.strip() for p in text.split(",") if p.strip())
    for peer in peers:
        parse_address(peer, "each --peers entry")
    return peers


@dataclass(frozen=True)
class NodeConfig:
    """Everything one peer needs to know; defaults suit a laptop run on ``digits``."""

    id: str = ""
    """Node id shown to others; empty: ``node-`` plus a random suffix."""
    listen: str = "127.0.0.1:50051"
    """HOST:PORT to serve on; port 0 picks a free port."""
    advertise: str = ""
    """HOST:PORT others should dial; empty: the listen address (with the host name for 0.0.0.0)."""
    peers: tuple[str, ...] = ()
    """Seed addresses; members learnt through gossip are as good as seeds."""

    dataset: str = "digits"
    """``digits``, ``diabetes``, ``synthetic``, or a path to ``.npz`` / ``.csv``."""
    label_column: str | None = None
    """For CSV: name or 0-based index of the label column (default: the last)."""
    synthetic_samples: int = 2000
    synthetic_features: int = 20
    synthetic_classes: int = 4
    holdout: float = 0.2
    """Fraction of the data held out for evaluation; no peer trains on it."""
    partition: str = "iid"
    """``iid``, ``dirichlet:ALPHA`` (label skew) or ``feature:COLUMN`` (sorted ranges)."""
    shard: tuple[int, int] = (0, 1)
    """(I, N): this peer trains on part I of N."""

    model: str = "mlp:64,32"
    """``mlp:H1,H2,...`` hidden layer sizes (relu); ``mlp:`` for a linear model."""
    loss: str = "auto"
    """``ce``, ``mse``, or ``auto`` (ce for classification, mse for regression)."""
    optimizer: str = "adam"
    """``sgd``, ``momentum`` or ``adam``."""
    lr: float | None = None
    """Learning rate; None: the optimizer's default."""
    batch_size: int = 32
    max_steps: int | None = None
    """Stop training after this many steps but keep gossiping (0: averaging only)."""
    step_rate: float = 0.0
    """At most this many training steps per second (0: as fast as the CPU allows).

    Sets the ratio of computation to communication, as a slower device or a
    larger model would; the demo and benchmarks use it so that a tiny model on
    a laptop still gossips a few times per hundred steps."""

    gossip_interval: float = 0.2
    """Seconds between two exchanges this peer initiates."""
    alpha: float = 0.5
    """Fraction of the difference each side moves in an exchange (0.5: pairwise mean)."""
    compression: str = "none"
    """Payload codec; the foundation ships ``none`` (raw float32)."""
    exchange_timeout: float = 10.0
    """Deadline of one exchange, in seconds."""
    heartbeat_interval: float = 0.5
    """Seconds between membership push-pulls."""
    eval_interval: float = 1.0
    """Seconds between held-out evaluations."""

    duration: float | None = None
    """Seconds to run; None: until SIGTERM / Ctrl-C."""
    seed: int = 0
    """Seeds the data split and initial model (shared by all peers) and this peer's batches."""
    report: str | None = None
    """Path of a JSON report written at exit (final status and history)."""
    log_format: str = "text"
    """``text`` or ``json``."""
    extra: dict[str, str] = field(default_factory=dict, compare=False)
    """Free-form labels copied into the report."""

    def __post_init__(self) -> None:
        parse_address(self.listen, "--listen")
        if self.advertise:
            parse_address(self.advertise, "--advertise")
        for peer in self.peers:
            parse_address(peer, "each --peers entry")
        index, count = self.shard
        if count < 1 or not 0 <= index < count:
            raise UsageError(f"--shard must be I/N with 0 <= I < N, got '{index}/{count}'")
        _positive("--batch-size", self.batch_size)
        _positive("--gossip-interval", self.gossip_interval)
        _positive("--exchange-timeout", self.exchange_timeout)
        _positive("--heartbeat-interval", self.heartbeat_interval)
        _positive("--eval-interval", self.eval_interval)
        if not 0.0 < self.holdout < 1.0:
            raise UsageError(f"--holdout must be between 0 and 1, got {self.holdout}")
        if not 0.0 < self.alpha <= 0.5:
            raise UsageError(f"--alpha must be in (0, 0.5], got {self.alpha}")
        if self.lr is not None:
            _positive("--lr", self.lr)
        if self.duration is not None:
            _positive("--duration", self.duration)
        if self.step_rate < 0:
            raise UsageError(f"--step-rate must be >= 0, got {self.step_rate}")
        if self.max_steps is not None and self.max_steps < 0:
            raise UsageError(f"--max-steps must be >= 0, got {self.max_steps}")
        if self.loss not in ("auto", "ce", "mse"):
            raise UsageError(f"--loss must be one of auto, ce, mse, got {self.loss!r}")
        if self.optimizer not in ("sgd", "momentum", "adam"):
            raise UsageError(
                f"--optimizer must be one of sgd, momentum, adam, got {self.optimizer!r}"
            )
        if self.compression != "none":
            raise UsageError(
                f"--compression must be 'none' (the only codec so far), got {self.compression!r}"
            )
        if self.log_format not in ("text", "json"):
            raise UsageError(f"--log-format must be text or json, got {self.log_format!r}")

    def advertised(self, bound: str) -> str:
        """The address to tell others, given the address the server actually bound."""
        if self.advertise:
            return self.advertise
        host, port = parse_address(bound)
        if host in ("0.0.0.0", "::", ""):
            host = socket.gethostname()
        return f"{host}:{port}"


def _positive(name: str, value: float) -> None:
    if not value > 0:
        raise UsageError(f"{name} must be positive, got {value}")
