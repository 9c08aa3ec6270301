"""gossip/malloc.py: the settings apply on glibc and are a quiet no-op elsewhere."""

from __future__ import annotations

import platform

from gossip.malloc import keep_message_buffers, limit_arenas


def test_arena_limit_applies_on_glibc() -> None:
    applied = limit_arenas(2)  # never raises
    if platform.system() == "Linux" and platform.libc_ver()[0] == "glibc":
        assert applied


def test_message_buffers_stay_in_the_heap_on_glibc() -> None:
    applied = keep_message_buffers()  # never raises
    if platform.system() == "Linux" and platform.libc_ver()[0] == "glibc":
        assert applied
