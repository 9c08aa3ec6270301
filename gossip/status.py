"""A peer's status as typed records: what it answers to Status and puts in its report.

The node builds a :class:`Status`, the wire carries it (gossip.transport.control),
metrics and the tables read its fields, ``gossip-ctl --json`` and ``--report``
print :meth:`Status.as_json` (the status JSON of the README). Standard library
only: gossip-ctl loads this module, and must load neither numpy nor the
averaging code (tests/unit/test_imports.py). Plain dataclasses, not frozen
ones: those cost gossip-ctl twice the CPU to define (4 ms more at start-up);
a status is built fresh for every call and read, not changed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any, TypeVar

R = TypeVar("R")


@dataclass
class Metric:
    """The held-out metric by name (``accuracy``, ``r2``, ...); empty before the first."""

    name: str = ""
    value: float = 0.0


@dataclass
class ExchangeCounts:
    ok: int = 0
    failed: int = 0
    refused: int = 0


@dataclass
class CodecBytes:
    sent: int = 0
    received: int = 0


@dataclass
class ByteCounts:
    """Bytes on the wire; ``by_codec``: the exchanges' share per codec (``full``: resets)."""

    sent: int = 0
    received: int = 0
    by_codec: dict[str, CodecBytes] = field(default_factory=dict)


@dataclass
class ReferenceInfo:
    """Per-neighbour references of compressed exchanges (gossip/averaging/references.py)."""

    count: int = 0
    bytes: int = 0
    max_count: int = 0
    evictions: int = 0
    resets: int = 0
    consensus_step: float = 0.0


@dataclass
class ScheduleInfo:
    """What the schedule did so far (gossip/schedule.py)."""

    local_steps: int = 0
    steps_per_exchange: float | None = None
    """None before the first completed exchange."""
    completed: int = 0
    waits: int = 0
    waiting_s: float = 0.0
    in_flight: int = 0


@dataclass
class ModelInfo:
    params: int = 0
    fingerprint: str = ""


@dataclass
class MemberInfo:
    """One entry of the peer's membership view (itself not included)."""

    id: str = ""
    address: str = ""
    state: str = ""
    """``alive``, ``suspect``, ``dead`` or ``left``."""
    generation: int = 0
    last_heard_s: float = 0.0


@dataclass
class QuarantinedPeer:
    id: str = ""
    remaining_s: float = 0.0
    reason: str = ""
    strikes: int = 0


@dataclass
class Protection:
    """Robust averaging and the transport's defences (gossip/robust.py, transport/security.py)."""

    quarantined: list[QuarantinedPeer] = field(default_factory=list)
    quarantines: int = 0
    clipped: int = 0
    unauthenticated: int = 0
    limited: int = 0
    malformed: int = 0
    refusals: dict[str, int] = field(default_factory=dict)


@dataclass
class Recovery:
    """Checkpoints and catch-up (gossip/checkpoint.py, gossip/bootstrap.py).

    The node counts in one and hands out copies.
    """

    resumed: bool = False
    resumed_step: int = 0
    checkpoints_saved: int = 0
    checkpoints_skipped: int = 0
    last_checkpoint_step: int = 0
    catchup_state: str = ""
    catchup_donor: str = ""
    catchup_step: int = 0
    catchup_s: float = 0.0
    fetches_served: int = 0


@dataclass
class Status:
    """One peer's own view (README, Status JSON)."""

    id: str = ""
    address: str = ""
    generation: int = 0
    uptime_s: float = 0.0
    state: str = ""
    step: int = 0
    samples_seen: int = 0
    loss: float | None = None
    """The training loss' moving average; None before the first step."""
    accuracy: float | None = None
    """Held-out accuracy (classification); None otherwise or before the first evaluation."""
    metric: Metric = field(default_factory=Metric)
    dataset: str = ""
    exchanges: ExchangeCounts = field(default_factory=ExchangeCounts)
    bytes: ByteCounts = field(default_factory=ByteCounts)
    references: ReferenceInfo = field(default_factory=ReferenceInfo)
    schedule: ScheduleInfo = field(default_factory=ScheduleInfo)
    model: ModelInfo = field(default_factory=ModelInfo)
    compression: str = ""
    members: list[MemberInfo] = field(default_factory=list)
    protection: Protection = field(default_factory=Protection)
    recovery: Recovery = field(default_factory=Recovery)

    def as_json(self) -> dict[str, Any]:
        """The status JSON: plain dicts, lists and numbers."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Status:
        """Read the status JSON back (a report, another tool's output); absent keys: defaults."""
        traffic = data.get("bytes") or {}
        protection = data.get("protection") or {}
        quarantined = protection.get("quarantined") or []
        return _record(
            cls,
            data,
            metric=_record(Metric, data.get("metric")),
            exchanges=_record(ExchangeCounts, data.get("exchanges")),
            bytes=_record(
                ByteCounts,
                traffic,
                by_codec={
                    codec: _record(CodecBytes, counts)
                    for codec, counts in (traffic.get("by_codec") or {}).items()
                },
            ),
            references=_record(ReferenceInfo, data.get("references")),
            schedule=_record(ScheduleInfo, data.get("schedule")),
            model=_record(ModelInfo, data.get("model")),
            members=[_record(MemberInfo, m) for m in data.get("members") or []],
            protection=_record(
                Protection,
                protection,
                quarantined=[_record(QuarantinedPeer, q) for q in quarantined],
            ),
            recovery=_record(Recovery, data.get("recovery")),
        )


def _record(cls: type[R], data: Mapping[str, Any] | None, **parsed: Any) -> R:
    """``cls`` from the keys of ``data`` it has fields for, ``parsed`` ones given as they are."""
    data = data or {}
    names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    values = {k: v for k, v in data.items() if k in names}
    return cls(**{**values, **parsed})
