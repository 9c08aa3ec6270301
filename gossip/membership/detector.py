"""Lifeguard's suspicion timeout: how long a suspicion lasts before a conviction.

A member suspected by us alone may be fine and we the slow one; each other
member that independently reports the same suspicion makes that less likely,
so the wait shrinks (Dadgar et al. 2018, "Lifeguard", as in memberlist).
"""

from __future__ import annotations

import math


def suspicion_timeout(confirmations: int, expected: int, low: float, high: float) -> float:
    """From ``high`` with no confirmation down to ``low`` at ``expected`` confirmations.

    ``timeout = max(low, high - (high - low) * log(c + 1) / log(k + 1))``.
    """
    if expected <= 0 or confirmations >= expected:
        return low
    frac = math.log(confirmations + 1) / math.log(expected + 1)
    return max(low, high - (high - low) * frac)
