"""One call from a compiled model and arrays to a gossiping peer, in place of ``model.fit``.

::

    model = keras.Sequential([keras.layers.Dense(10, activation="relu"), keras.layers.Dense(1)])
    model.compile("adam", "mse")
    gossip.fit(model, x_train, y_train, listen="0.0.0.0:50051", peers=("peer-1:50051",),
               duration=60)

The model is anything :func:`gossip.adapters.adapt` takes (our Sequential, a
compiled Keras 3 model, any :class:`~gossip.trainable.Trainable`). The peer
trains on shuffled batches of the arrays, as they are (no re-labelling), and
gossips until ``duration`` (or Ctrl-C); the model then holds the peer's final
parameters.
"""

from __future__ import annotations

import random
from dataclasses import replace
from typing import Any

import numpy as np

from gossip.adapters import adapt
from gossip.config import NodeConfig
from gossip.node import Node
from gossip.status import Status
from gossip.trainable import Feed
from gossip.training import ArrayBatches

HELD_OUT_FALLBACK = 1024
"""Without ``validation_data`` the metric is taken on this many training samples."""


def fit(
    model: object,
    x: Any,
    y: Any,
    *,
    batch_size: int = 32,
    epochs: int | None = None,
    validation_data: tuple[Any, Any] | None = None,
    config: NodeConfig | None = None,
    **fields: Any,
) -> Status:
    """Train ``model`` on ``(x, y)`` as one peer of a gossip cluster; return its final status.

    ``fields`` are :class:`~gossip.config.NodeConfig` fields (``listen``, ``peers``,
    ``duration``, ``compression``, ...), applied over ``config``. ``epochs``
    (or ``max_steps``) ends local training; without a ``duration`` the call then
    returns, else the peer goes on averaging until ``duration``. The status
    reports the metric on ``validation_data``, else on the first
    ``HELD_OUT_FALLBACK`` training samples (then a training metric).
    """
    if epochs is not None:
        fields["max_steps"] = max(1, epochs * (len(x) // batch_size))
    config = replace(config or NodeConfig(), batch_size=batch_size, **fields)
    trainable = adapt(model, x[:1])
    rng = np.random.default_rng([config.seed, random.randrange(1 << 32)])  # batches per peer
    held_out = validation_data or (x[:HELD_OUT_FALLBACK], y[:HELD_OUT_FALLBACK])
    feed = Feed(ArrayBatches(x, y, batch_size, rng), [held_out], name="arrays")
    node = Node(config, model=trainable, data=feed)
    try:
        node.start()
        if config.duration is not None or config.max_steps is None:
            node.wait(config.duration)
        else:
            while not node.wait(0.1) and node.status().state != "averaging":
                pass  # training is over when the peer only averages
    except KeyboardInterrupt:
        pass
    status = node.shutdown()
    publish = getattr(trainable, "sync_to_keras", None)  # copies: see gossip.adapters.keras
    if publish is not None:
        publish()
    return status
