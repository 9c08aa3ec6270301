"""One flat parameter vector, and named views into it.

Gossip sends, averages and compresses the whole model as one contiguous 1-D
array, so every layer's weights are *views* into that array: nothing is copied
to send or to average, and an in-place update of the vector is an update of the
layers. Never rebind the vector; write into it (``flat[...] = values``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from math import prod

import numpy as np

from gossip.errors import UsageError

DTYPE = np.float32


@dataclass(frozen=True)
class Slot:
    """Where one named tensor lives in the flat vector."""

    name: str
    shape: tuple[int, ...]
    offset: int

    @property
    def size(self) -> int:
        return prod(self.shape)


class FlatLayout:
    """The ordered list of tensors packed into one flat vector."""

    def __init__(self, shapes: Sequence[tuple[str, tuple[int, ...]]]) -> None:
        slots: list[Slot] = []
        offset = 0
        for name, shape in shapes:
            slot = Slot(name, tuple(int(d) for d in shape), offset)
            slots.append(slot)
            offset += slot.size
        self.slots: tuple[Slot, ...] = tuple(slots)
        self.size: int = offset

    def allocate(self, dtype: type[np.floating] = DTYPE) -> np.ndarray:
        """A zeroed flat vector of this layout's size."""
        return np.zeros(self.size, dtype=dtype)

    def views(self, flat: np.ndarray) -> list[np.ndarray]:
        """Shaped views into ``flat``, one per slot, sharing its memory."""
        check_flat(flat, self.size)
        return [flat[s.offset : s.offset + s.size].reshape(s.shape) for s in self.slots]


def check_flat(flat: np.ndarray, size: int | None, what: str = "parameter vector") -> None:
    """Refuse anything that is not a contiguous 1-D float vector (of ``size``, if given)."""
    if (
        not isinstance(flat, np.ndarray)
        or flat.ndim != 1
        or (size is not None and flat.shape[0] != size)
    ):
        shape = getattr(flat, "shape", type(flat).__name__)
        want = "a 1-D array" if size is None else f"a 1-D array of {size} values"
        raise UsageError(f"{what} must be {want}, got {shape}")
    if not np.issubdtype(flat.dtype, np.floating):
        raise UsageError(f"{what} must hold floats, got dtype {flat.dtype}")
    if not flat.flags.c_contiguous:
        raise UsageError(f"{what} must be contiguous")
