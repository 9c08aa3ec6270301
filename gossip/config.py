"""Configuration of a peer: one frozen dataclass, every field documented, validated once.

The CLI builds it from flags; the Python API takes it directly. Invalid
values raise :class:`~gossip.errors.UsageError` with one line naming the field.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field

from gossip.address import parse_address
from gossip.compression import parse_spec
from gossip.errors import UsageError
from gossip.names import address_problem, id_problem


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
    """``digits``, ``clusters``, ``diabetes``, ``synthetic``, or a path to ``.npz`` / ``.csv``."""
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
    model_factory: str = ""
    """``package.module:function`` returning the user's own model (and data) instead of
    ``model``: a compiled Keras model or any gossip.Trainable (gossip/factory.py)."""
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
    blas_threads: int = 1
    """Threads of numpy's BLAS in this process (0: numpy's own default, one per core).

    OpenBLAS's workers spin between calls: an idle peer with them used 8% of a
    core, with one thread 0.3%. A peer's matrices are small, and it shares the
    CPU with its serving threads and often with other peers on the host."""

    gossip_interval: float = 0.2
    """Seconds after which a peer starts an exchange even without a new training step
    (averaging only, slow steps); with ``local_steps`` it starts one after every step."""
    local_steps: int = 2
    """At most this many training steps past the last completed exchange; then training waits
    for one (at most one exchange deadline, never when nobody is alive). 0: free-running,
    exchanges on the ``gossip_interval`` timer only (gossip/schedule.py)."""
    alpha: float = 0.5
    """Fraction of the difference each side moves in an exchange (0.5: pairwise mean)."""
    compression: str = "sign"
    """Payload codec ``[blocks:K+]CODEC`` (gossip/compression/spec.py): ``none``, ``fp16``,
    ``int8``, ``sign``, ``topk:FRACTION``, ``randk:FRACTION``, ``qsgd:LEVELS``. Default sign:
    in bench/compression.py the cheapest codec that kept float32 accuracy within 0.5 point
    on every task and schedule (digits IID and dirichlet:0.5, a 1.19M-parameter model),
    with 19 to 26 times fewer bytes to reach it."""
    consensus_step: float | None = None
    """Gamma of compressed exchanges, in (0, 1]; None: ``alpha``, which every codec keeps
    stable because the pair's references follow its own move (bench/compression.py)."""
    reference_memory: float = 256.0
    """MiB of per-neighbour references for compressed exchanges (LRU; at least one neighbour)."""
    exchange_timeout: float = 10.0
    """Deadline of one exchange, in seconds."""
    heartbeat_interval: float | None = None
    """Seconds between membership rounds (heartbeat bump + push-pulls); None: the profile's."""
    membership: str = "lan"
    """Membership timing profile: ``lan`` (crash detected in about 2 s) or ``wan`` (about
    10 s, tolerates multi-second pauses); see gossip/membership/config.py."""
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
    metrics_port: int | None = None
    """Serve Prometheus metrics on this port (on the --listen host); None: no endpoint."""
    tensorboard_dir: str | None = None
    """Write TensorBoard scalars under DIR/<id>/ at every evaluation; None: none."""
    checkpoint_dir: str | None = None
    """Write checkpoints to DIR (one directory per node) and resume from the newest valid one."""
    checkpoint_interval: float = 30.0
    """Seconds between periodic checkpoints (one is also written at shutdown)."""
    bootstrap: bool = True
    """Before training, pull a recent model from an alive neighbour ahead of us (catch-up)."""
    bootstrap_timeout: float = 10.0
    """Seconds to wait for the first alive neighbour before training without catch-up."""
    token: str | None = field(default=None, repr=False)
    """Cluster token checked on every RPC (also $GOSSIP_TOKEN); None: an open cluster."""
    tls_cert: str | None = None
    """PEM certificate this node serves (and presents as a client for mutual TLS)."""
    tls_key: str | None = None
    """PEM private key of ``tls_cert``."""
    tls_ca: str | None = None
    """PEM CA that peers' certificates must chain to; with a cert: mutual TLS."""
    max_step_norm: float | None = None
    """Clip the increment of one exchange to this L2 norm; None: no clipping."""
    max_scale: float = 10.0
    """Refuse an increment longer than this many times the model's own norm (at least 1)."""
    drop_outliers: bool = False
    """Refuse increments over 5 times the median of recent ones (after 10 exchanges)."""
    quarantine: float = 60.0
    """Seconds a peer is refused after 3 bad exchanges within a minute."""
    slowdown: float = 1.0
    """TEST KNOB: make each training step this many times slower (a straggler)."""
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
        if self.local_steps < 0:
            raise UsageError(f"--local-steps must be >= 0, got {self.local_steps}")
        _positive("--exchange-timeout", self.exchange_timeout)
        if self.heartbeat_interval is not None:
            _positive("--heartbeat-interval", self.heartbeat_interval)
        if self.membership not in ("lan", "wan"):
            raise UsageError(f"--membership must be lan or wan, got {self.membership!r}")
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
        parse_spec(self.compression)  # UsageError naming the valid forms
        if self.id and (problem := id_problem(self.id)):
            raise UsageError(f"--id: {problem}")
        if self.advertise and (problem := address_problem(self.advertise)):
            raise UsageError(f"--advertise: {problem}")
        if self.consensus_step is not None and not 0.0 < self.consensus_step <= 1.0:
            raise UsageError(f"--consensus-step must be in (0, 1], got {self.consensus_step}")
        _positive("--reference-memory", self.reference_memory)
        if self.metrics_port is not None and not 0 <= self.metrics_port <= 65535:
            raise UsageError(f"--metrics-port must be from 0 to 65535, got {self.metrics_port}")
        if self.log_format not in ("text", "json"):
            raise UsageError(f"--log-format must be text or json, got {self.log_format!r}")
        _positive("--checkpoint-interval", self.checkpoint_interval)
        _positive("--bootstrap-timeout", self.bootstrap_timeout)
        if self.max_step_norm is not None:
            _positive("--max-step-norm", self.max_step_norm)
        _positive("--max-scale", self.max_scale)
        _positive("--quarantine", self.quarantine)
        if self.blas_threads < 0:
            raise UsageError(f"--blas-threads must be >= 0, got {self.blas_threads}")
        if not self.slowdown >= 1.0:
            raise UsageError(f"--slowdown must be >= 1, got {self.slowdown}")
        if bool(self.tls_cert) != bool(self.tls_key):
            raise UsageError("--tls-cert and --tls-key go together: give both or neither")
        if self.tls_ca and not self.tls_cert:
            raise UsageError("a node with --tls-ca also needs --tls-cert and --tls-key")

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
