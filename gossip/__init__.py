"""gossip-train: peers train numpy models and gossip their parameters over gRPC.

The Keras-like model API lives here too::

    model = gossip.Sequential([gossip.Dense(10, activation="relu"), gossip.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    model.fit(x_train, y_train, epochs=10)

and a peer runs inside a Python program with ``gossip.Node(gossip.NodeConfig(...)).run()``,
or trains a user's own model (Keras, PyTorch, or any ``gossip.Trainable``) with
``gossip.fit(model, x, y, peers=(...), duration=60)``.
Names are imported on first use, so ``gossip-ctl`` does not pay for numpy at
start-up.
"""

from __future__ import annotations

import os
from importlib import import_module
from typing import TYPE_CHECKING, Any

# We fork only to exec (gossip-cluster, benchmarks). gRPC's fork handlers then race its
# poller threads and a child can die before exec ("epoll_wait error: Bad file
# descriptor", grpc/grpc#43055); fork+exec is safe without them. Set before gRPC loads;
# a program that forks and uses gRPC in the child can still set it to true.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")

if TYPE_CHECKING:
    from gossip.adapters import adapt
    from gossip.config import NodeConfig
    from gossip.fitting import fit
    from gossip.model import Dense, Sequential, mlp
    from gossip.node import Node
    from gossip.trainable import Feed, Trainable

__all__ = ["Dense", "Feed", "Node", "NodeConfig", "Sequential", "Trainable", "adapt", "fit", "mlp"]
__version__ = "0.1.0"

_HOMES = {
    "Dense": "gossip.model",
    "Sequential": "gossip.model",
    "mlp": "gossip.model",
    "NodeConfig": "gossip.config",
    "Node": "gossip.node",
    "Feed": "gossip.trainable",
    "Trainable": "gossip.trainable",
    "adapt": "gossip.adapters",
    "fit": "gossip.fitting",
}


def __dir__() -> list[str]:
    """The lazily loaded names too, so ``dir(gossip)`` and completion show them."""
    return sorted({*globals(), *_HOMES})


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(import_module(_HOMES[name]), name)
    raise AttributeError(f"module 'gossip' has no attribute {name!r}")
