"""The seed's Keras model, gossip-trained.

As a factory, one peer per command (any number of them, on any hosts)::

    KERAS_BACKEND=jax gossip-node --model-factory examples.keras_seed:model \
        --dataset diabetes --listen 127.0.0.1:50061 --peers 127.0.0.1:50062

As a script: the seed's code with ``model.fit`` replaced by ``gossip.fit``::

    KERAS_BACKEND=jax python examples/keras_seed.py
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "jax")  # the light backend; any Keras 3 backend works

import keras

import gossip
from gossip.config import NodeConfig
from gossip.data import load_shard


def model(config: NodeConfig) -> keras.Model:
    """The seed's model; seeded so that every peer starts from the same weights."""
    keras.utils.set_random_seed(config.seed)
    net = keras.Sequential([keras.layers.Dense(10, activation="relu"), keras.layers.Dense(1)])
    net.compile("adam", "mse")
    return net


if __name__ == "__main__":
    train, test = load_shard("diabetes", seed=0)
    net = model(NodeConfig())
    status = gossip.fit(net, train.x, train.y, epochs=20, validation_data=(test.x, test.y),
                        listen="127.0.0.1:0", bootstrap=False)  # fmt: skip
    print(f"held-out mse {status.metric.value:.3f} after {status.step} steps")
    print(net.predict(test.x[:3], verbose=0).ravel(), test.y[:3])
