"""SWIM membership: a pure state machine (core), its suspicion timeout and timing."""

from gossip.membership.config import MembershipConfig
from gossip.membership.core import Membership, Round, Target
from gossip.membership.types import EVENT_KINDS, Digest, Event, MemberEntry, State

__all__ = [
    "EVENT_KINDS",
    "Digest",
    "Event",
    "MemberEntry",
    "Membership",
    "MembershipConfig",
    "Round",
    "State",
    "Target",
]
