"""Compatibility home of the membership names (the transports import them from here).

The state machine is :mod:`gossip.membership.core`; its vocabulary is
:mod:`gossip.membership.types`; its timing :mod:`gossip.membership.config`.
"""

from gossip.membership.config import MembershipConfig
from gossip.membership.core import Membership, Round, Target
from gossip.membership.types import Digest, Event, MemberEntry, State

__all__ = [
    "Digest",
    "Event",
    "MemberEntry",
    "Membership",
    "MembershipConfig",
    "Round",
    "State",
    "Target",
]
