"""gossip-train: peers train numpy models and gossip their parameters over gRPC.

The Keras-like model API lives here too::

    model = gossip.Sequential([gossip.Dense(10, activation="relu"), gossip.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    model.fit(x_train, y_train, epochs=10)

and a peer runs inside a Python program with ``gossip.Node(gossip.NodeConfig(...)).run()``.
"""

from gossip.config import NodeConfig
from gossip.model import Dense, Sequential, mlp
from gossip.node import Node

__all__ = ["Dense", "Node", "NodeConfig", "Sequential", "mlp"]
__version__ = "0.1.0"
