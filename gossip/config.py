"""Configuration of a peer: one frozen dataclass, every field documented, validated once.

The Python API takes it directly; ``gossip-node`` builds its flags from the
fields (gossip/cli/node.py): each field's :func:`flag` metadata holds its
group, help text and how the flag's text becomes the field's value, so a flag
is declared here and nowhere else. Invalid values raise
:class:`~gossip.errors.UsageError` with one line naming the flag.
"""

from __future__ import annotations

import dataclasses
import socket
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gossip.address import parse_address, parse_peers
from gossip.compression import parse_spec, resolve
from gossip.errors import UsageError
from gossip.names import address_problem, id_problem

NETWORK, DATA, TRAINING, RUN = "network", "data", "training", "run"
OBSERVABILITY, RECOVERY, PROTECTION = (
    "observability",
    "checkpoints and catch-up",
    "security and robust averaging",
)
"""The groups of ``gossip-node --help``, in the order they are listed."""

FLAG = "flag"
"""The metadata key of a field's :class:`Flag`."""


@dataclass(frozen=True)
class Flag:
    """How a field appears on gossip-node's command line."""

    group: str
    help: str
    metavar: str | None = None
    choices: tuple[str, ...] = ()
    name: str = ""
    """The flag without its dashes; empty: the field's name with dashes."""
    text: str | None = None
    """The flag's default as text, for a field that holds the text parsed (peers, shard)."""
    parse: Callable[[Any], Any] | None = None
    """From the flag's value to the field's (text to a tuple; a switch to its opposite)."""


def flag(group: str, help: str, **details: Any) -> Mapping[str, Flag]:
    """A field's metadata: its flag (see :class:`Flag`)."""
    return {FLAG: Flag(group, help, **details)}


@dataclass(frozen=True)
class Option:
    """A NodeConfig field as gossip-node parses it."""

    field: str
    flag: Flag
    kind: type
    """What the flag's text becomes: ``int``, ``float``, ``str``, or ``bool`` for a switch."""
    default: Any

    @property
    def option(self) -> str:
        return "--" + (self.flag.name or self.field.replace("_", "-"))

    @property
    def dest(self) -> str:
        """Its name in the parsed arguments and as a key of a config file."""
        return self.option[2:].replace("-", "_")

    def value(self, parsed: Any) -> Any:
        """The field's value for what the flag parsed to."""
        return parsed if self.flag.parse is None else self.flag.parse(parsed)


def options() -> list[Option]:
    """Every field with a flag, in field order (the order of ``gossip-node --help``)."""
    hints = typing.get_type_hints(NodeConfig)
    found = []
    for f in dataclasses.fields(NodeConfig):
        spec = f.metadata.get(FLAG)
        if spec is None:
            continue
        kinds = [k for k in typing.get_args(hints[f.name]) if k is not type(None)]
        kind = str if spec.text is not None else (kinds[0] if kinds else hints[f.name])
        default = spec.text if spec.text is not None else f.default
        found.append(Option(f.name, spec, kind, default))
    return found


def _shard(text: str) -> tuple[int, int]:
    from gossip.data import parse_shard  # numpy: only when a config is built

    return parse_shard(text)


def _token(text: str | None) -> str | None:
    from gossip.transport.security import resolve_token

    return resolve_token(text)  # the flag, else $GOSSIP_TOKEN


@dataclass(frozen=True)
class NodeConfig:
    """Everything one peer needs to know; defaults suit a laptop run on ``digits``."""

    # ------------------------------------------------------------ network
    id: str = field(default="", metadata=flag(NETWORK, "node id (default: node-<random>)"))
    """Node id shown to others; empty: ``node-`` plus a random suffix."""
    listen: str = field(
        default="127.0.0.1:50051",
        metadata=flag(NETWORK, "HOST:PORT to serve on; port 0 picks one (default: %(default)s)"),
    )
    advertise: str = field(
        default="",
        metadata=flag(
            NETWORK,
            "HOST:PORT others dial (default: the listen address; for 0.0.0.0 or :: this "
            "host's name)",
        ),
    )
    peers: tuple[str, ...] = field(
        default=(),
        metadata=flag(
            NETWORK, "comma-separated seed addresses HOST:PORT", text="", parse=parse_peers
        ),
    )
    """Seed addresses; members learnt through gossip are as good as seeds. A name that does
    not resolve (yet) is no error: the membership loop keeps retrying (Compose services)."""
    gossip_interval: float = field(
        default=0.2,
        metadata=flag(
            NETWORK,
            "start an exchange after this many seconds even without a new training step "
            "(default: %(default)s)",
            metavar="SECONDS",
        ),
    )
    """With ``local_steps`` a peer starts an exchange after every step; this paces the rest
    (averaging only, slow steps)."""
    local_steps: int = field(
        default=2,
        metadata=flag(
            NETWORK,
            "at most N training steps past the last completed exchange, then wait for one "
            "(at most --exchange-timeout; not when alone); 0: free-running, exchanges every "
            "--gossip-interval (default: %(default)s)",
            metavar="N",
        ),
    )
    """See gossip/schedule.py."""
    pace_lead: int = field(
        default=8,
        metadata=flag(
            NETWORK,
            "at most N training steps ahead of the slowest partner that keeps up (a straggler "
            "at under half the median speed is not waited for); 0: off (default: %(default)s)",
            metavar="N",
        ),
    )
    """See gossip/pace.py."""
    heartbeat_interval: float | None = field(
        default=None,
        metadata=flag(
            NETWORK,
            "seconds between membership rounds (default: the profile's, 0.2 lan, 1.0 wan)",
            metavar="SECONDS",
        ),
    )
    membership: str = field(
        default="lan",
        metadata=flag(
            NETWORK,
            "failure-detection profile: lan detects a crash in ~2 s, wan in ~10 s "
            "(default: %(default)s)",
            choices=("lan", "wan"),
        ),
    )
    """``wan`` tolerates multi-second pauses; see gossip/membership/config.py."""
    exchange_timeout: float = field(
        default=10.0,
        metadata=flag(
            NETWORK,
            "deadline of an exchange's reply; its verdict gets as long again "
            "(default: %(default)s)",
            metavar="SECONDS",
        ),
    )
    alpha: float = field(
        default=0.5,
        metadata=flag(
            NETWORK,
            "fraction of the difference each side moves (default: %(default)s = pairwise mean)",
        ),
    )
    compression: str = field(
        default="auto",
        metadata=flag(
            NETWORK,
            "payload codec: auto (int8 up to 262,144 parameters, sign above) | none | fp16 | int8 "
            "| sign | topk:FRACTION[:sign] | randk:FRACTION | qsgd:LEVELS, optionally prefixed "
            "by blocks:K+ to send one of K blocks per exchange (default: %(default)s)",
            metavar="SPEC",
        ),
    )
    """gossip/compression/spec.py. Above 262,144 parameters ``auto`` is sign: in
    bench/compression.py the cheapest codec that kept float32 accuracy within 0.5 point on
    every task and schedule (digits IID and dirichlet:0.5, a 1.19M-parameter model), with 19 to
    26 times fewer bytes to reach it. Below, int8 averages as float32 does, for little time."""
    consensus_step: float | None = field(
        default=None,
        metadata=flag(
            NETWORK,
            "step toward the peer in compressed exchanges, (0, 1] (default: --alpha)",
            metavar="GAMMA",
        ),
    )
    """Gamma; ``alpha`` keeps every codec stable because the pair's references follow its own
    move (bench/compression.py)."""
    reference_memory: float = field(
        default=256.0,
        metadata=flag(
            NETWORK,
            "memory for per-neighbour references of compressed exchanges (default: %(default)s)",
            metavar="MIB",
        ),
    )
    """LRU; at least one neighbour is always kept."""

    # ------------------------------------------------------------ data
    dataset: str = field(
        default="digits",
        metadata=flag(
            DATA,
            "digits | clusters (harder, 10 classes) | diabetes | synthetic | FILE.npz | FILE.csv "
            "(default: %(default)s)",
        ),
    )
    label_column: str | None = field(
        default=None,
        metadata=flag(DATA, "CSV label column, name or 0-based index (default: last)"),
    )
    synthetic_samples: int = field(
        default=2000,
        metadata=flag(DATA, "synthetic: samples (default: %(default)s)", name="samples"),
    )
    synthetic_features: int = field(
        default=20,
        metadata=flag(DATA, "synthetic: features (default: %(default)s)", name="features"),
    )
    synthetic_classes: int = field(
        default=4, metadata=flag(DATA, "synthetic: classes (default: %(default)s)", name="classes")
    )
    holdout: float = field(
        default=0.2,
        metadata=flag(DATA, "held-out fraction nobody trains on (default: %(default)s)"),
    )
    partition: str = field(
        default="iid",
        metadata=flag(DATA, "iid | dirichlet:ALPHA | feature:COLUMN (default: %(default)s)"),
    )
    """``dirichlet:ALPHA``: label skew; ``feature:COLUMN``: sorted ranges."""
    shard: tuple[int, int] = field(
        default=(0, 1),
        metadata=flag(
            DATA,
            "train on part I of N (default: %(default)s)",
            metavar="I/N",
            text="0/1",
            parse=_shard,
        ),
    )

    # ------------------------------------------------------------ training
    model: str = field(
        default="mlp:64,32",
        metadata=flag(
            TRAINING,
            "mlp:H1,H2,... hidden widths (relu); mlp: or linear: no hidden layer "
            "(default: %(default)s)",
        ),
    )
    model_factory: str = field(
        default="",
        metadata=flag(
            TRAINING,
            "your own model instead of --model: a function returning a compiled Keras model "
            "or a gossip.Trainable, optionally with its data (e.g. examples.keras_seed:model)",
            metavar="MODULE:FUNCTION",
        ),
    )
    """``package.module:function`` (gossip/factory.py)."""
    loss: str = field(
        default="auto", metadata=flag(TRAINING, "ce | mse | auto (default: %(default)s)")
    )
    """``auto``: ce for classification, mse for regression."""
    optimizer: str = field(
        default="adam", metadata=flag(TRAINING, "sgd | momentum | adam (default: %(default)s)")
    )
    lr: float | None = field(
        default=None, metadata=flag(TRAINING, "learning rate (default: the optimizer's)")
    )
    batch_size: int = field(default=32, metadata=flag(TRAINING, "(default: %(default)s)"))
    share_normalizer: str = field(
        default="off",
        metadata=flag(
            TRAINING,
            "Adam divides by a second-moment estimate the exchanges average, up to 1 MiB of "
            "bfloat16 more per exchange (default: %(default)s)",
            choices=("on", "off"),
        ),
    )
    """gossip/averaging/normalizer.py. With one or two samples a peer (1,000 peers on digits)
    a peer's own estimate is about 6.5 times too small; the peers' mean is close."""
    max_steps: int | None = field(
        default=None,
        metadata=flag(TRAINING, "stop training after N steps but keep averaging (0: average only)"),
    )
    step_rate: float = field(
        default=0.0,
        metadata=flag(
            TRAINING,
            "at most this many training steps per second (default: 0 = unlimited)",
            metavar="HZ",
        ),
    )
    """Sets the ratio of computation to communication, as a slower device or a larger model
    would; the demo and benchmarks use it so that a tiny model on a laptop still gossips a
    few times per hundred steps."""
    blas_threads: int = field(
        default=1,
        metadata=flag(
            TRAINING,
            "threads of numpy's BLAS (default: %(default)s; 0: one per core)",
            metavar="N",
        ),
    )
    """OpenBLAS's workers spin between calls: an idle peer with them used 8% of a core, with
    one thread 0.3%. A peer's matrices are small, and it shares the CPU with its serving
    threads and often with other peers on the host."""
    eval_interval: float = field(
        default=1.0,
        metadata=flag(
            TRAINING,
            "seconds between held-out evaluations (default: %(default)s)",
            metavar="SECONDS",
        ),
    )
    seed: int = field(
        default=0,
        metadata=flag(TRAINING, "shared seed of split and initial model (default: %(default)s)"),
    )
    """Seeds the data split and initial model (shared by all peers) and this peer's batches."""

    # ------------------------------------------------------------ run
    duration: float | None = field(
        default=None,
        metadata=flag(
            RUN, "stop after this long (default: until SIGTERM/Ctrl-C)", metavar="SECONDS"
        ),
    )
    report: str | None = field(
        default=None,
        metadata=flag(RUN, "write a JSON report (final status, history) at exit", metavar="FILE"),
    )
    log_format: str = field(
        default="text",
        metadata=flag(RUN, "(default: %(default)s)", choices=("text", "json")),
    )
    log_level: str = field(
        default="info",
        metadata=flag(RUN, "(default: %(default)s)", choices=("debug", "info", "warning", "error")),
    )

    # ------------------------------------------------------------ observability
    metrics_port: int | None = field(
        default=None,
        metadata=flag(
            OBSERVABILITY,
            "serve Prometheus metrics on http://LISTEN-HOST:PORT/metrics (0: any free port)",
            metavar="PORT",
        ),
    )
    tensorboard_dir: str | None = field(
        default=None,
        metadata=flag(
            OBSERVABILITY,
            "write TensorBoard scalars under DIR/<id>/ (tensorboard --logdir DIR)",
            metavar="DIR",
        ),
    )
    """Written at every evaluation."""

    # ------------------------------------------------------------ checkpoints and catch-up
    checkpoint_dir: str | None = field(
        default=None,
        metadata=flag(
            RECOVERY,
            "write checkpoints to DIR (one per node) and resume from the newest valid one",
            metavar="DIR",
        ),
    )
    checkpoint_interval: float = field(
        default=30.0,
        metadata=flag(
            RECOVERY,
            "seconds between checkpoints; one is also written at shutdown (default: %(default)s)",
            metavar="SECONDS",
        ),
    )
    bootstrap: bool = field(
        default=True,
        metadata=flag(
            RECOVERY,
            "do not pull a recent model from a neighbour before training",
            name="no-bootstrap",
            parse=lambda no: not no,
        ),
    )
    """Before training, pull a recent model from an alive neighbour ahead of us (catch-up)."""
    bootstrap_timeout: float = field(
        default=10.0,
        metadata=flag(
            RECOVERY,
            "wait this long for an alive neighbour to catch up from (default: %(default)s)",
            metavar="SECONDS",
        ),
    )

    # ------------------------------------------------------------ security and robust averaging
    token: str | None = field(
        default=None,
        repr=False,
        metadata=flag(
            PROTECTION,
            "cluster token checked on every RPC (default: $GOSSIP_TOKEN; none: open cluster)",
            parse=_token,
        ),
    )
    """None: an open cluster."""
    tls_cert: str | None = field(
        default=None, metadata=flag(PROTECTION, "this node's certificate", metavar="PEM")
    )
    """Served, and presented as a client for mutual TLS."""
    tls_key: str | None = field(
        default=None, metadata=flag(PROTECTION, "its private key", metavar="PEM")
    )
    tls_ca: str | None = field(
        default=None,
        metadata=flag(
            PROTECTION,
            "CA that peers' certificates must chain to (with --tls-cert: mutual TLS)",
            metavar="PEM",
        ),
    )
    max_step_norm: float | None = field(
        default=None,
        metadata=flag(
            PROTECTION,
            "clip the move of one exchange to this L2 norm (same value on every peer)",
            metavar="NORM",
        ),
    )
    max_scale: float = field(
        default=10.0,
        metadata=flag(
            PROTECTION,
            "refuse a move longer than X times the model's norm (default: %(default)s)",
            metavar="X",
        ),
    )
    """At least 1."""
    drop_outliers: bool = field(
        default=False,
        metadata=flag(PROTECTION, "refuse moves over 5x the median of recent ones"),
    )
    """After 10 exchanges."""
    quarantine: float = field(
        default=60.0,
        metadata=flag(
            PROTECTION,
            "refuse a peer this long after 3 bad exchanges in a minute (default: %(default)s)",
            metavar="SECONDS",
        ),
    )
    slowdown: float = field(
        default=1.0,
        metadata=flag(
            PROTECTION,
            "test knob: make training steps FACTOR times slower (default: %(default)s)",
            metavar="FACTOR",
        ),
    )
    """TEST KNOB: a straggler."""

    extra: dict[str, str] = field(default_factory=dict, compare=False)
    """Free-form labels copied into the report (no flag)."""

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
        if self.pace_lead < 0:
            raise UsageError(f"--pace-lead must be >= 0, got {self.pace_lead}")
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
        if self.share_normalizer not in ("on", "off"):
            raise UsageError(f"--share-normalizer must be on or off, got {self.share_normalizer!r}")
        if self.optimizer not in ("sgd", "momentum", "adam"):
            raise UsageError(
                f"--optimizer must be one of sgd, momentum, adam, got {self.optimizer!r}"
            )
        parse_spec(resolve(self.compression, 0))  # UsageError naming the valid forms
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
        if self.log_level not in ("debug", "info", "warning", "error"):
            raise UsageError(
                f"--log-level must be one of debug, info, warning, error, got {self.log_level!r}"
            )
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
