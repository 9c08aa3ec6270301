"""glibc's malloc: two arenas for the whole process instead of one per thread.

glibc gives threads their own arenas (up to 8 per core) and keeps memory a
thread freed in its arena. gRPC's server and poller threads each receive
peers' messages of up to 4 MiB, so a burst of large messages left ~20 MB
spread over the arenas (a server taking 2,000 streams of two 1 MiB messages:
+23 MB with the default, +9 MB with two arenas; ``bench/fuzz.py --soak``).
``MALLOC_ARENA_MAX`` in the environment does the same before start-up; this
applies it to the threads started afterwards. A no-op off glibc.
"""

from __future__ import annotations

import ctypes
import ctypes.util

M_ARENA_MAX = -8
"""mallopt's parameter number for the arena limit (glibc's malloc.h)."""


def limit_arenas(count: int = 2) -> bool:
    """Cap malloc arenas at ``count`` for threads started from now on; True when applied."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        return bool(libc.mallopt(M_ARENA_MAX, count))
    except (OSError, AttributeError):  # not glibc: no mallopt, or no such parameter
        return False
