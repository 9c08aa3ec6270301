"""What a node shows the outside while it runs: Prometheus metrics and TensorBoard scalars.

:class:`Observability` is the node's one handle on both. ``start()`` binds the
metrics port and opens the TensorBoard directory, so a port in use or an
unwritable directory stops the start-up with one line (UsageError, exit 2)
before any training; ``record()`` takes each history entry (one per
evaluation, not per step); ``close()`` stops both. After start-up nothing here
raises: a failed scrape or write is logged once and training goes on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from gossip.address import parse_address

if TYPE_CHECKING:
    from gossip.metrics import MetricsServer
    from gossip.node import Node
    from gossip.tensorboard import ScalarWriter

log = logging.getLogger("gossip.node")


class Observability:
    """Metrics endpoint and TensorBoard writer of one node; both optional, per the config."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.metrics: MetricsServer | None = None
        self.tensorboard: ScalarWriter | None = None

    def start(self) -> None:
        """Open what the config asks for; UsageError (nothing left open) when one cannot."""
        config = self.node.config
        try:
            if config.tensorboard_dir:
                from gossip.tensorboard import ScalarWriter

                self.tensorboard = ScalarWriter(config.tensorboard_dir, self.node.id)
            if config.metrics_port is not None:
                self._start_metrics(config.metrics_port)
        except BaseException:
            self.close()
            raise

    def _start_metrics(self, port: int) -> None:
        from gossip.metrics import MetricsServer, NodeCollector

        node = self.node
        host, _ = parse_address(node.config.listen)

        def events() -> Mapping[str, int]:
            # the membership driver exists from serve() on; event_counts() may not (yet)
            counts = getattr(node.membership, "event_counts", None)
            return counts() if callable(counts) else {}

        collector = NodeCollector(
            node,
            node.transport.stats,
            event_counts=events,
            heldout_loss=lambda: node.evaluation.loss if node.evaluation else None,
            checkpoint_age=lambda: _checkpoint_age(node),
            now=node.clock.now,
        )
        self.metrics = MetricsServer(collector, host, port)
        log.info(
            "node %s: Prometheus metrics on http://%s:%d/metrics", node.id, host, self.metrics.port
        )

    def record(self, entry: Mapping[str, Any]) -> None:
        if self.tensorboard is not None:
            self.tensorboard.write(entry)

    def close(self) -> None:
        if self.tensorboard is not None:
            self.tensorboard.close()
            self.tensorboard = None
        if self.metrics is not None:
            self.metrics.close()
            self.metrics = None


def _checkpoint_age(node: Node) -> float | None:
    """Seconds since the newest checkpoint file in --checkpoint-dir was written; None: none.

    Read from the files' modification times at scrape time (a directory listing),
    so it is true whoever wrote them, this run or the one before a restart.
    """
    age = getattr(node, "checkpoint_age", None)
    if callable(age):
        value = age()
        return None if value is None else float(value)
    directory = getattr(node.config, "checkpoint_dir", None)
    if not directory:
        return None
    from gossip import checkpoint

    for path in checkpoint.candidates(directory):  # newest first
        try:
            return max(0.0, time.time() - path.stat().st_mtime)
        except OSError:  # pruned since the listing: try the next one
            continue
    return None
