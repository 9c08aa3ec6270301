"""The fixed vocabulary of exchange refusal reasons, and the bound on a peer's detail text.

A refusal's reason travels on the wire (``Verdict.reason``) and becomes a key
of the refusal counters (status, metrics, report). A key chosen by a peer
would let it grow those counters without bound (five 1 MB reasons made the
status reply exceed gRPC's 4 MiB limit), so every reason is mapped onto
:data:`REASONS` before it is counted or logged: one it does not list is
``other``.
"""

from __future__ import annotations

REASONS = frozenset(
    {
        "busy",  # an exchange is running here (gossip.schedule), or we are catching up
        "fingerprint_mismatch",
        "size_mismatch",
        "unknown_codec",
        "malformed",
        "truncated",
        "index_out_of_range",
        "non_finite",
        "scale",
        "outlier",
        "quarantined",
        "reference_mismatch",
        "bad_normalizer",  # a shared-normalizer block of the wrong size, or NaN / Inf / negative
        "invalid_id",  # a sender id or address that breaks gossip.names' rules
        "refused",  # the peer refused without saying why
        "other",  # any reason not listed here
    }
)
"""Every reason a refusal is counted under."""

MAX_DETAIL_CHARS = 200
"""A refusal's free-text detail, as sent back to a peer and logged, is cut to this length."""


def reason_key(reason: str) -> str:
    """``reason`` when it is in :data:`REASONS`, else ``other``; an empty one is ``refused``."""
    if not reason:
        return "refused"
    return reason if reason in REASONS else "other"


def short_detail(detail: str) -> str:
    """A peer's detail text cut to :data:`MAX_DETAIL_CHARS` (logging escapes it)."""
    if len(detail) <= MAX_DETAIL_CHARS:
        return detail
    return f"{detail[:MAX_DETAIL_CHARS]}... ({len(detail)} chars)"
