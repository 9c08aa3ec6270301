"""``--model-factory package.module:function``: a user's own model (and data) from the CLI.

The function is imported from the current directory or ``PYTHONPATH`` and
called with the peer's :class:`~gossip.config.NodeConfig` when it takes an
argument (for ``seed``, ``shard``), else with none. It returns a model (ours, a
compiled Keras model, a ``TorchModel``, any :class:`~gossip.trainable.Trainable`), or
``(model, data)`` with data as a :class:`~gossip.trainable.Feed` of batches or
``(train, test)`` Datasets; without data the peer trains on ``--dataset``.
Anything wrong here is the user's to fix: one line, exit 2 (UsageError).
"""

from __future__ import annotations

import importlib
import inspect
import os
import sys
from collections.abc import Callable
from typing import Any

from gossip.adapters import ADAPTED, framework_of
from gossip.config import NodeConfig
from gossip.data import Dataset
from gossip.errors import UsageError
from gossip.trainable import Feed, missing_members

PeerData = tuple[Dataset, Dataset] | Feed


def resolve(spec: str) -> Callable[..., Any]:
    """The function named ``package.module:function``; UsageError when it cannot be had."""
    module_name, sep, name = spec.partition(":")
    if not sep or not module_name or not name:
        raise UsageError(f"--model-factory {spec!r}: expected package.module:function")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # as `python -m` would: the user's own folder
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # any error of the user's module is an import failure to them
        raise UsageError(f"--model-factory {spec}: cannot import {module_name}: {exc}") from exc
    function = getattr(module, name, None)
    if not callable(function):
        raise UsageError(f"--model-factory {spec}: {module_name} has no function {name}")
    return function  # type: ignore[no-any-return]


def load(spec: str, config: NodeConfig) -> tuple[object, PeerData | None]:
    """Call the factory and check what it returned: a model a peer can train, and its data.

    The model is adapted later, by the node (a Keras model is built from the data).
    """
    function = resolve(spec)
    try:
        takes_config = bool(inspect.signature(function).parameters)
    except (TypeError, ValueError):  # a builtin or C function: no signature to read
        takes_config = False
    try:
        made = function(config) if takes_config else function()
    except Exception as exc:
        raise UsageError(f"--model-factory {spec} raised {type(exc).__name__}: {exc}") from exc
    model, data = made if isinstance(made, tuple) and len(made) == 2 else (made, None)
    if missing_members(model) and framework_of(model) not in ADAPTED:
        lacks = ", ".join(missing_members(model))
        raise UsageError(
            f"--model-factory {spec} returned a {type(model).__name__}, not a model "
            f"(it lacks {lacks}; a compiled Keras model or a gossip.Trainable is)"
        )
    if data is not None and not isinstance(data, Feed) and not _datasets(data):
        raise UsageError(
            f"--model-factory {spec} returned data of type {type(data).__name__}: "
            "expected a gossip.Feed or (train, test) Datasets"
        )
    return model, data


def _datasets(data: object) -> bool:
    return (
        isinstance(data, tuple)
        and len(data) == 2
        and all(isinstance(part, Dataset) for part in data)
    )
