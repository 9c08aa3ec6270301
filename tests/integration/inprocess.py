"""Nodes in this process on 127.0.0.1 with real gRPC (faster than child processes)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from gossip.config import NodeConfig
from gossip.node import Node


@contextmanager
def running(**fields: Any) -> Iterator[Node]:
    """A started node; always shut down, even when the test fails."""
    fields.setdefault("listen", "127.0.0.1:0")
    fields.setdefault("model", "mlp:16")
    fields.setdefault("eval_interval", 0.5)
    fields.setdefault("bootstrap_timeout", 3.0)
    node = Node(NodeConfig(**fields))
    node.start()
    try:
        yield node
    finally:
        node.shutdown(grace=0.2)
