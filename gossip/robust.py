"""Robust averaging: bound each exchange's move, refuse outliers, quarantine repeat offenders.

Pure: no clock (``now`` is an argument), no I/O, no lock. The exchanger owns
the :class:`Guard` and serialises the calls to it: :meth:`Guard.check` on
every increment before it is applied, :meth:`Guard.strike` on every refusal
that points at a bad peer.

Why the pair's sum stays conserved: both sides of an exchange compute
increments that are exact negatives, so they have the same norm and a clip
by ``max_norm / norm`` scales both by the same factor (the same
``--max-step-norm`` on every peer is assumed; configure it cluster-wide).
A refusal on either side means neither side applies anything.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from gossip.errors import ExchangeRefused
from gossip.lru import Lru
from gossip.status import Protection, QuarantinedPeer

MAX_PEER_RECORDS = 1024
"""Peers whose strikes and quarantine are remembered (an LRU): ids are the peers' choice."""
MAX_LISTED = 32
"""Quarantined peers listed in the status (those with the longest time left); all are counted."""

STRIKE_REASONS = frozenset(
    {
        "non_finite",
        "outlier",
        "scale",
        "malformed",
        "size_mismatch",
        "fingerprint_mismatch",
        "index_out_of_range",
    }
)
"""Refusals that count against the peer (not routine ones like ``busy``)."""


@dataclass(frozen=True)
class RobustConfig:
    """How much one exchange may move the model, and when a peer is quarantined."""

    max_step_norm: float | None = None
    """Clip an increment to this L2 norm; None: no clipping."""
    max_scale: float = 10.0
    """Refuse (``scale``) an increment longer than this many times ``max(|x|, 1)``."""
    drop_outliers: bool = False
    """Refuse (``outlier``) an increment longer than ``outlier_factor`` times the median."""
    outlier_factor: float = 5.0
    outlier_window: int = 50
    """Recent accepted increment norms the median is taken over."""
    outlier_min_samples: int = 10
    """No outlier test before this many accepted increments."""
    strikes: int = 3
    """Strikes within ``strike_window`` seconds that quarantine a peer."""
    strike_window: float = 60.0
    quarantine_s: float = 60.0
    """Seconds a quarantined peer is refused (and not picked) before it may try again."""


def clip(delta: np.ndarray, max_norm: float | None) -> tuple[np.ndarray, bool]:
    """``delta`` scaled down to ``max_norm`` when longer; (the increment, was it clipped)."""
    if max_norm is None:
        return delta, False
    norm = float(np.linalg.norm(delta))
    if norm <= max_norm:
        return delta, False
    scaled: np.ndarray = delta * np.float32(max_norm / norm)
    return scaled, True


def is_outlier(norm: float, recent: list[float], factor: float, min_samples: int) -> bool:
    """True when ``norm`` exceeds ``factor`` times the median of ``recent`` (enough samples)."""
    if len(recent) < min_samples:
        return False
    median = float(np.median(recent))
    return norm > factor * max(median, 1e-12)


@dataclass
class _Record:
    strikes: deque[float] = field(default_factory=deque)
    until: float = -math.inf
    reason: str = ""
    total: int = 0


class Guard:
    """Per-node robust-averaging state; not thread-safe (its owner locks)."""

    def __init__(self, config: RobustConfig | None = None) -> None:
        self.config = config or RobustConfig()
        self._recent: deque[float] = deque(maxlen=self.config.outlier_window)
        self._peers: Lru[str, _Record] = Lru(MAX_PEER_RECORDS)
        self.clipped = 0
        self.quarantines = 0

    # ------------------------------------------------------------ increments

    def check(self, delta: np.ndarray, own_norm: float) -> np.ndarray:
        """The increment to apply (maybe clipped); ExchangeRefused for a wild or outlying one."""
        cfg = self.config
        if not np.isfinite(delta).all():
            raise ExchangeRefused("non_finite", "the increment contains NaN or Inf")
        norm = float(np.linalg.norm(delta))
        bound = cfg.max_scale * max(own_norm, 1.0)
        if norm > bound:
            raise ExchangeRefused(
                "scale", f"the move {norm:.3g} exceeds {cfg.max_scale:g} x the model's norm"
            )
        recent = list(self._recent)
        if cfg.drop_outliers and is_outlier(
            norm, recent, cfg.outlier_factor, cfg.outlier_min_samples
        ):
            raise ExchangeRefused(
                "outlier", f"the move {norm:.3g} is over {cfg.outlier_factor:g} x the median"
            )
        out, clipped = clip(delta, cfg.max_step_norm)
        self._recent.append(norm)
        self.clipped += clipped
        return out

    # ------------------------------------------------------------ quarantine

    def strike(self, peer_id: str, reason: str, now: float) -> bool:
        """Count a refusal against ``peer_id``; True when it puts the peer in quarantine."""
        if reason not in STRIKE_REASONS or not peer_id or peer_id == "?":
            return False
        cfg = self.config
        record = self._peers.get(peer_id)
        if record is None:
            record = self._peers[peer_id] = _Record()
        record.total += 1
        record.strikes.append(now)
        while record.strikes and record.strikes[0] < now - cfg.strike_window:
            record.strikes.popleft()
        if len(record.strikes) >= cfg.strikes and record.until <= now:
            record.until = now + cfg.quarantine_s
            record.reason = reason
            record.strikes.clear()
            self.quarantines += 1
            return True
        return False

    def tracked(self) -> int:
        """Peers with a record now (at most MAX_PEER_RECORDS)."""
        return len(self._peers)

    def quarantined(self, peer_id: str, now: float) -> bool:
        record = self._peers.get(peer_id)
        return record is not None and record.until > now

    def admit(self, peer_id: str, now: float) -> None:
        """Raise ExchangeRefused('quarantined') for a peer in quarantine."""
        record = self._peers.get(peer_id)
        if record is not None and record.until > now:
            raise ExchangeRefused(
                "quarantined",
                f"{peer_id} is quarantined for {record.until - now:.0f} s more "
                f"(repeated {record.reason})",
            )

    def status(self, now: float) -> Protection:
        """Quarantined peers (at most MAX_LISTED) and counters; the transport's are not here."""
        held = [(peer, r) for peer, r in self._peers.items() if r.until > now]
        held = sorted(held, key=lambda pr: -pr[1].until)[:MAX_LISTED]
        quarantined = [
            QuarantinedPeer(peer, round(r.until - now, 3), r.reason, r.total)
            for peer, r in sorted(held, key=lambda pr: pr[0])
        ]
        return Protection(quarantined, quarantines=self.quarantines, clipped=self.clipped)
