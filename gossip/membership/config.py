"""Timing of the membership protocol: one frozen dataclass, with a LAN and a WAN profile.

The numbers, and why (measured figures are in README.md, "Membership" and
"Membership at scale"):

* ``interval`` 0.2 s and ``fanout`` 3 (LAN): every 0.2 s a node push-pulls
  deltas with 3 members, the first being the next of its round-robin probe
  order (memberlist's LAN gossip is also 200 ms x 3 nodes). Each message
  carries the sender's own entry and at most ``max_piggyback`` changed
  entries, so a member's cost does not grow with the cluster: about 1-4 kB/s
  at 64 to 1,000 members.
* A failed call is not yet suspicion: ``indirect_probes`` (3) other members
  are asked to call the member for us (SWIM's ping-req); only when none
  reaches it within ``2 * call_timeout`` is it *suspect*. It is *dead* a
  suspicion timeout later; the timeout shrinks from ``suspicion_max`` to
  ``suspicion_min`` as ``confirmations`` other members report the same
  suspicion (Lifeguard's rule), so a lone observer that is itself slow waits
  longer. Then one last direct call: a crashed peer refuses it at once, a
  paused or starved one gets ``last_call_timeout`` (1 s) more to answer it.
  LAN: a crash is dead everywhere in about 2-2.5 s; a peer paused for 1.5 s
  is only suspected (it refutes when it resumes).
* A changed entry is sent ``retransmit_mult * ceil(log10(n + 1))`` times
  (4 x 4 = 16 at 1,000 members): enough for an epidemic to reach everyone
  with high probability; a full anti-entropy push-pull with one random member
  every ``sync_interval`` (jittered) repairs the rest.
* A node whose own clock jumped by more than ``stall_threshold`` between two
  calls (the process was paused or starved) convicts nobody for it: it
  restarts every timer.

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
    """Seconds between rounds: delta push-pulls with ``fanout`` members."""
    fanout: int = 3
    """Live (or suspect) members push-pulled per round: the next to probe, and random ones."""
    call_timeout: float = 0.5
    """Deadline of one push-pull; a failure starts indirect probes, never a conviction."""
    last_call_timeout: float = 1.0
    """Deadline of the last direct call before a conviction. A crashed peer refuses it at
    once (no delay); a paused or CPU-starved one gets this long to answer. Calls to seeds
    (joining) get the same deadline: a loaded seed's late answer still counts."""
    indirect_probes: int = 3
    """Members asked to call a member for us when our own call to it failed (SWIM's k)."""
    suspicion_min: float = 0.6
    """Seconds from suspicion to conviction when ``confirmations`` others agree."""
    suspicion_max: float = 3.0
    """Seconds from suspicion to conviction when nobody else agrees."""
    confirmations: int = 3
    """Independent suspicions that bring the timeout down to ``suspicion_min``."""
    stall_threshold: float = 1.0
    """A jump of our own clock by more than this between two calls is a local pause."""
    reconnect_interval: float = 1.0
    """Seconds between full push-pulls with one random dead member (so partitions heal)."""
    seed_interval: float = 5.0
    """Seconds between push-pulls with one seed that is not a live member (0: only
    when no member is alive; an isolated node tries one seed every round, and so does
    a node in its first seed_interval while a seed is not a member yet)."""
    sync_interval: float = 30.0
    """Mean seconds between full anti-entropy push-pulls with one random member (each
    waits U(0.5, 1.5) times this; a failed one is retried after this long)."""
    retransmit_mult: int = 4
    """A changed entry is sent ``retransmit_mult * ceil(log10(n + 1))`` times."""
    max_piggyback: int = 24
    """Changed entries carried by one delta message at most (the least-sent first)."""
    stranger_timeout: float = 60.0
    """A member that never answered a call of ours (behind a NAT, on another site, or made
    up by hearsay) is judged by others' word, not by our probes: it is suspected when its
    ``beat`` has not advanced in our view (directly, through anti-entropy, or vouched for
    by members that hear from it) for this long; one that called us, also when it stops
    (Membership._stranger_check)."""
    tombstone_ttl: float = 60.0
    """Seconds a dead or left member is remembered so stale gossip cannot revive it."""
    max_members: int = 2048
    """Alive or suspect members kept; a new one beyond this is dropped (``full``), and
    nobody known is evicted for it. Gossip can announce members: this bounds the table."""
    max_tombstones: int = 256
    """Dead or left members kept; beyond this the oldest tombstones are forgotten first."""

    def __post_init__(self) -> None:
        for name in (
            "interval",
            "call_timeout",
            "last_call_timeout",
            "suspicion_min",
            "stall_threshold",
            "reconnect_interval",
            "sync_interval",
            "stranger_timeout",
            "tombstone_ttl",
        ):
            if not getattr(self, name) > 0:
                raise UsageError(f"membership {name} must be positive, got {getattr(self, name)}")
        if self.max_members < 1 or self.max_tombstones < 1:
            raise UsageError("membership max_members and max_tombstones must be >= 1")
        if self.fanout < 1 or self.confirmations < 0 or self.indirect_probes < 0:
            raise UsageError(
                "membership fanout must be >= 1, confirmations and indirect_probes >= 0"
            )
        if self.retransmit_mult < 1 or self.max_piggyback < 1:
            raise UsageError("membership retransmit_mult and max_piggyback must be >= 1")
        if self.suspicion_max < self.suspicion_min:
            raise UsageError("membership suspicion_max must be >= suspicion_min")
        if self.seed_interval < 0:
            raise UsageError("membership seed_interval must be >= 0")
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
            suspicion_min=4.0,
            suspicion_max=15.0,
            stall_threshold=5.0,
            reconnect_interval=10.0,
            seed_interval=30.0,
            sync_interval=120.0,
            stranger_timeout=300.0,
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
                suspicion_min=config.suspicion_min * max(scale, 1.0),
                suspicion_max=config.suspicion_max * max(scale, 1.0),
                call_timeout=max(config.call_timeout, 2 * interval),
            )
        return config
