"""glibc's malloc for a peer: two arenas, and message-sized buffers kept in the heap.

**Arenas.** glibc gives threads their own arenas (up to 8 per core) and keeps
memory a thread freed in its arena. gRPC's server and poller threads each
receive peers' messages of up to 4 MiB, so a burst of large messages left
~20 MB spread over the arenas (a server taking 2,000 streams of two 1 MiB
messages: +23 MB with the default, +9 MB with two arenas; ``bench/fuzz.py
--soak``). ``MALLOC_ARENA_MAX`` in the environment does the same before
start-up; this applies it to the threads started afterwards, so a node calls
it before anything starts gRPC's threads (its seed check did first, and seven
arenas stayed in use).

**Message buffers.** Every 1 MiB chunk of an exchange is a fresh ``bytes`` on
both sides (our frame, and gRPC's copy of a received message), allocated and
freed per message. glibc serves a request over its mmap threshold (128 KiB at
first, then the size of the last such block freed) with a fresh mapping, and
returns the top of its heap to the system once more than twice that is free:
the next message's pages fault in again, 256 of them per MiB. With the
threshold at MESSAGE_HEAP_BYTES and the trim threshold at TRIM_BYTES, message
buffers are carved from the heap and reused while their pages stay mapped.
Vectors of a large model (40 MB at 10M parameters) still get mappings of their
own: glibc caps the threshold at 32 MiB. What the heap keeps is at most what
was live at once (messages in flight) plus TRIM_BYTES free per arena.

A no-op off glibc.
"""

from __future__ import annotations

import ctypes
import ctypes.util

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD, M_ARENA_MAX = -1, -3, -8
"""mallopt's parameter numbers (glibc's malloc.h)."""
MESSAGE_HEAP_BYTES = 8 << 20
"""Allocations up to this size come from the heap: gRPC messages are at most 4 MiB here."""
TRIM_BYTES = 32 << 20
"""Free memory the heap keeps before returning it to the system."""


def _mallopt(*settings: tuple[int, int]) -> bool:
    """Apply mallopt settings; True when glibc took every one."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        return all(bool(libc.mallopt(param, value)) for param, value in settings)
    except (OSError, AttributeError):  # not glibc: no mallopt, or no such parameter
        return False


def limit_arenas(count: int = 2) -> bool:
    """Cap malloc arenas at ``count`` for threads started from now on; True when applied."""
    return _mallopt((M_ARENA_MAX, count))


def keep_message_buffers() -> bool:
    """Serve message-sized allocations from the heap and keep it mapped (see the docstring)."""
    return _mallopt((M_MMAP_THRESHOLD, MESSAGE_HEAP_BYTES), (M_TRIM_THRESHOLD, TRIM_BYTES))
