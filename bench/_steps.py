"""Where the seconds of one exchange go: exclusive time per step, by wrapping the code in place.

Used by ``bench/transfer.py --profile``. Each wrapped function adds its own
time, minus the time of wrapped functions it calls, to a step (snapshot,
checks, encode, ...), so nested steps are never counted twice. What no
wrapper covers is ``transfer``: gRPC and the network, waits included. The
wrappers cost about a microsecond a call (a few hundred calls an exchange).
Functions are found by name; one that is missing (renamed) is listed and
skipped, so the profile keeps working while the code under it changes.
"""

from __future__ import annotations

import functools
import importlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

STEPS = (
    "snapshot", "checks", "encode", "frames/serialize", "transfer",
    "decode/deserialize", "apply", "references", "metrics",
)  # fmt: skip

_CODECS = (
    ("sign", "SignCodec"), ("fp16", "Fp16Codec"), ("int8", "Int8Codec"), ("qsgd", "QsgdCodec"),
    ("topk", "TopkCodec"), ("randk", "RandkCodec"),
)  # fmt: skip

_TARGETS: dict[str, tuple[str, ...]] = {
    "snapshot": ("gossip.replica:Replica.gather",),
    "checks": (
        "gossip.averaging.compressed:check_header",
        "gossip.exchanger:check_header",
        "gossip.averaging.compressed:_squared_norm",
        "gossip.averaging.compressed:Mixer._checked",
    ),
    "encode": (  # their own time: the payload's bytes (tobytes) and the Snapshot
        "gossip.averaging.compressed:Mixer.offer",
        "gossip.averaging.compressed:Mixer.accept",
        "gossip.compression.none:NoCodec.encode",
        "gossip.averaging.compressed:Mixer._encode",
        *(f"gossip.compression.{m}:{c}.encode" for m, c in _CODECS),
    ),
    "frames/serialize": (
        "gossip.transport.grpc_transport:_FrameCodec.serialize",
        "gossip.transport.grpc_transport:snapshot_frames",
        "gossip.transport.session:snapshot_frames",
        "gossip.transport.session:verdict_frame",
    ),
    "decode/deserialize": (
        "gossip.transport.grpc_transport:_FrameCodec.deserialize",
        "gossip.transport.wire:SnapshotAssembler.__init__",
        "gossip.transport.wire:SnapshotAssembler.add",
        "gossip.transport.wire:SnapshotAssembler.snapshot",
        "gossip.transport.session:header_snapshot",
        "gossip.compression.none:NoCodec.decode",
        *(f"gossip.compression.{m}:{c}.decode" for m, c in _CODECS),
    ),
    "apply": (
        "gossip.averaging.compressed:increment",
        "gossip.replica:Replica.add",
        "gossip.averaging.compressed:Mixer.finish",
        "gossip.averaging.compressed:ResponderPending.commit",
    ),
    "references": (
        "gossip.averaging.compressed:Mixer.keep",
        "gossip.averaging.compressed:gather",
        "gossip.averaging.compressed:moved",
        "gossip.averaging.compressed:Mixer.done",
        "gossip.averaging.references:ReferenceStore.acquire",
        "gossip.averaging.references:ReferenceStore.release",
    ),
    "metrics": (
        "gossip.exchanger:snapshot_wire_bytes",
        "gossip.exchanger:verdict_wire_bytes",
        "gossip.exchanger:Exchanger.count_bytes",
        "gossip.exchanger:Exchanger.count",
        "gossip.transport.metered:MeteredTransport._measure",
        "gossip.transport.metered:ExchangeStats.record",
    ),
}


class Steps:
    """Thread-safe totals of exclusive seconds per step, for one exchange at a time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._local = threading.local()
        self.totals: dict[str, float] = {}
        self.missing: list[str] = []

    def reset(self) -> None:
        with self._lock:
            self.totals = {}

    def take(self, wall: float) -> dict[str, float]:
        """Milliseconds per step of the exchange just done; ``transfer`` is the wall's rest."""
        with self._lock:
            totals, self.totals = self.totals, {}
        timed = sum(totals.values())
        ms = {step: 1e3 * totals.get(step, 0.0) for step in STEPS}
        ms["transfer"] = 1e3 * max(wall - timed, 0.0)
        ms["total"] = 1e3 * wall
        return ms

    def _run(self, step: str, call: Callable[[], Any]) -> Any:
        stack: list[float] = self._local.__dict__.setdefault("stack", [])
        stack.append(0.0)  # time of wrapped calls inside this one
        start = time.perf_counter()
        try:
            return call()
        finally:
            elapsed = time.perf_counter() - start
            inner = stack.pop()
            if stack:
                stack[-1] += elapsed
            with self._lock:
                self.totals[step] = self.totals.get(step, 0.0) + elapsed - inner

    def wrap(self, step: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        if getattr(fn, "__code__", None) is not None and fn.__code__.co_flags & 0x20:  # generator

            @functools.wraps(fn)
            def generator(*args: Any, **kwargs: Any) -> Iterator[Any]:
                items = fn(*args, **kwargs)
                done = object()
                while (item := self._run(step, lambda: next(items, done))) is not done:
                    yield item

            return generator

        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            return self._run(step, lambda: fn(*args, **kwargs))

        return timed

    def install(self) -> None:
        """Wrap every target in place (this process only)."""
        for step, targets in _TARGETS.items():
            for target in targets:
                module_name, _, path = target.partition(":")
                owner: Any = importlib.import_module(module_name)
                *parents, name = path.split(".")
                for parent in parents:
                    owner = getattr(owner, parent, None)
                fn = getattr(owner, name, None)
                if fn is None:
                    self.missing.append(target)
                    continue
                setattr(owner, name, self.wrap(step, fn))
