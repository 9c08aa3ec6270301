"""gossip/malloc.py: the arena limit applies on glibc and is a quiet no-op elsewhere."""

from __future__ import annotations

import platform

from gossip.malloc import limit_arenas


def test_arena_limit_applies_on_glibc() -> None:
    applied = limit_arenas(2)  # never raises
    if platform.system() == "Linux" and platform.libc_ver()[0] == "glibc":
        assert applied
