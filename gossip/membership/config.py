"""Timing of the membership protocol: one frozen dataclass, with a LAN and a WAN profile.

The numbers, and why (measured figures are in README.md, "Membership"):

* ``interval`` 0.2 s and ``fanout`` 3 (LAN): every 0.2 s a node bumps its own
  heartbeat and push-pulls its digest with 3 random live members. A new
  heartbeat then reaches all of 32 members in about two rounds (memberlist's
  LAN gossip is also 200 ms x 3 nodes). Cost: about 15 push-pulls started and
  15 answered per member per second, each carrying one entry per member.
* The failure detector is phi accrual over the inter-arrival times of
  *observed heartbeat advances* (they come mostly indirectly, so they arrive
  about once per ``interval`` with some jitter). A member is *suspect* when
  phi reaches ``phi_suspect``; with the LAN defaults and a steady cluster
  that is about 1.2 s after the last advance. It is *dead* a suspicion
  timeout later; the timeout shrinks from ``suspicion_max`` to
  ``suspicion_min`` as ``confirmations`` other members report the same
  suspicion (Lifeguard's rule), so a lone observer that is itself slow
  waits longer. Then one last direct call: a crashed peer refuses it at once,
  a paused or starved one gets ``last_call_timeout`` (1 s) more to answer it. LAN: dead about 1.9 s
  after the last heartbeat when the cluster agrees; a peer paused for 1.5 s
  is only suspected (and, resumed, it sends its next heartbeat to every member
  at once).
* A node whose own clock jumped by more than ``stall_threshold`` between two
  calls (the process was paused or starved) convicts nobody for it: it
  restarts every silence timer.

The WAN profile is five times slower everywhere: it tolerates pauses of
several seconds and round trips of hundreds of milliseconds, and detects a
crash in about 10 s (memberlist's WAN config: 5 s probes, 3 s timeouts).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from gossip.errors import UsageError


@dataclass(frozen=True)
class MembershipConfig:
    """Every knob of the membership protocol; defaults are the LAN profile."""

    interval: float = 0.2
    """Seconds between rounds: own heartbeat bump + push-pull with ``fanout`` members."""
    fanout: int = 3
    """Live (or suspect) members push-pulled per round."""
    call_timeout: float = 0.5
    """Deadline of one push-pull; a failure is evidence (it may raise suspicion), never proof."""
    last_call_timeout: float = 1.0
    """Deadline of the last direct call before a conviction. A crashed peer refuses it at
    once (no delay); a paused or CPU-starved one gets this long to answer. Calls to seeds
    (joining) get the same deadline: a loaded seed's late answer still counts."""
    phi_suspect: float = 8.0
    """Phi at which a silent member becomes suspect (8: one false alarm in 1e8 if normal)."""
    acceptable_pause: float = 0.45
    """Seconds added to the mean inter-arrival time: silence that costs no phi at all."""
    min_std: float = 0.1
    """Floor of the inter-arrival standard deviation (a very regular member is not
    suspected after a few milliseconds of lateness)."""
    window: int = 100
    """Inter-arrival samples kept per member."""
    max_sample: float = 1.0
    """Samples are clipped to this many seconds, so a partition or a pause does not
    make the detector blind for the next hundred intervals."""
    suspicion_min: float = 0.6
    """Seconds from suspicion to conviction when ``confirmations`` others agree."""
    suspicion_max: float = 3.0
    """Seconds from suspicion to conviction when nobody else agrees."""
    confirmations: int = 3
    """Independent suspicions that bring the timeout down to ``suspicion_min``."""
    evidence_phi: float = 2.0
    """A failed call to a member makes it suspect when its phi is already at least this."""
    stall_threshold: float = 1.0
    """A jump of our own clock by more than this between two calls is a local pause."""
    reconnect_interval: float = 1.0
    """Seconds between push-pulls with one random dead member (so partitions heal)."""
    seed_interval: float = 5.0
    """Seconds between push-pulls with one seed that is not a live member (0: only
    when no member is alive; an isolated node tries one seed every round, and so does
    a node in its first seed_interval while a seed is not a member yet)."""
    tombstone_ttl: float = 60.0
    """Seconds a dead or left member is remembered so stale gossip cannot revive it."""
    max_members: int = 256
    """Alive or suspect members kept; a new one beyond this is dropped (``full``), and
    nobody known is evicted for it. Gossip can announce members: this bounds the table."""
    max_tombstones: int = 64
    """Dead or left members kept; beyond this the oldest tombstones are forgotten first."""

    def __post_init__(self) -> None:
        for name in (
            "interval",
            "call_timeout",
            "last_call_timeout",
            "phi_suspect",
            "min_std",
            "max_sample",
            "suspicion_min",
            "stall_threshold",
            "reconnect_interval",
            "tombstone_ttl",
        ):
            if not getattr(self, name) > 0:
                raise UsageError(f"membership {name} must be positive, got {getattr(self, name)}")
        if self.max_members < 1 or self.max_tombstones < 1:
            raise UsageError("membership max_members and max_tombstones must be >= 1")
        if self.fanout < 1 or self.window < 2 or self.confirmations < 0:
            raise UsageError("membership fanout must be >= 1, window >= 2, confirmations >= 0")
        if self.suspicion_max < self.suspicion_min:
            raise UsageError("membership suspicion_max must be >= suspicion_min")
        if self.acceptable_pause < 0 or self.seed_interval < 0:
            raise UsageError("membership acceptable_pause and seed_interval must be >= 0")
        if self.stall_threshold <= self.interval:
            raise UsageError("membership stall_threshold must exceed the interval")

    @classmethod
    def lan(cls) -> MembershipConfig:
        """Laptops, one host, Compose, a LAN: a crash is dead everywhere in about 2 s."""
        return cls()

    @classmethod
    def wan(cls) -> MembershipConfig:
        """Hosts far apart or heavily loaded: slower, far more tolerant of pauses."""
        return cls(
            interval=1.0,
            call_timeout=3.0,
            last_call_timeout=5.0,
            acceptable_pause=3.0,
            min_std=0.5,
            max_sample=5.0,
            suspicion_min=4.0,
            suspicion_max=15.0,
            stall_threshold=5.0,
            reconnect_interval=10.0,
            seed_interval=30.0,
            tombstone_ttl=300.0,
        )

    @classmethod
    def profile(cls, name: str, interval: float | None = None) -> MembershipConfig:
        """``lan`` or ``wan``, optionally with another round interval."""
        if name not in ("lan", "wan"):
            raise UsageError(f"--membership must be lan or wan, got {name!r}")
        config = cls.lan() if name == "lan" else cls.wan()
        if interval is not None and interval != config.interval:
            scale = interval / config.interval
            config = replace(
                config,
                interval=interval,
                stall_threshold=max(config.stall_threshold, 5 * interval),
                acceptable_pause=config.acceptable_pause * max(scale, 1.0),
                suspicion_min=config.suspicion_min * max(scale, 1.0),
                suspicion_max=config.suspicion_max * max(scale, 1.0),
                call_timeout=max(config.call_timeout, 2 * interval),
            )
        return config
