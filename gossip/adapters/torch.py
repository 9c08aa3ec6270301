"""A PyTorch ``nn.Module`` with its optimizer and loss behind the model seam.

``pip install 'gossip-train[torch]'``. On the CPU the module's trainable
parameters become views into the one flat float32 vector the peer gossips
(``torch.from_numpy``): the optimizer steps it in place under the replica lock
and an exchange adds to the very memory the module reads, so nothing is copied
per step or per exchange. The ``Parameter`` objects stay the same, so an
optimizer built before wrapping keeps working; one that replaces them
afterwards (``module.to()``, ``module.cuda()``) is caught at the next step.

What is averaged and what stays local:

* averaged: every parameter with ``requires_grad`` (float32 only: float64,
  half and bfloat16 parameters are refused with one line; ``module.float()``);
* local to each peer: buffers (BatchNorm's running mean and variance, its
  ``num_batches_tracked`` counter, any integer state) and frozen parameters.
  Peers' averaged weights stay close, so each peer's running statistics
  describe nearly the same network; a peer evaluates with its own. The
  persistent buffers go into checkpoints with the optimizer's state (Adam's
  moments and step), so a restarted peer resumes both; a peer that catches up
  from a neighbour adopts its parameters and keeps its own buffers.

Parameters on a GPU are refused: a device tensor cannot be a view into host
memory. Gossiping them would take a copy each way at step boundaries, as the
Keras adapter does (40 MB for 10M parameters, a few milliseconds over PCIe);
that path is not written, since no GPU was at hand to measure it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import numpy as np

from gossip.errors import UsageError
from gossip.trainable import OptimizerState

FINGERPRINT_VERSION = "gossip-torch/v2"
OPTIMIZER_PREFIX = "torch/"
BUFFER_PREFIX = "buffer/"


def _torch() -> Any:
    try:
        import torch
    except ImportError as exc:
        raise UsageError("PyTorch is not installed: pip install 'gossip-train[torch]'") from exc
    return torch


class TorchModel:
    """``module`` trained by ``optimizer``, as a :class:`~gossip.trainable.Trainable`.

    The loss of a batch is ``loss_fn(module(x), y)``, or the user's own
    ``batch_loss(module, x, y)`` (several inputs, auxiliary losses): exactly one
    of the two. ``x`` and ``y`` may be numpy arrays or tensors. With ``loss_fn``
    the evaluation reports ``accuracy`` too when the outputs are class scores
    (2-D) and ``y`` holds integer labels.
    """

    def __init__(
        self,
        module: Any,
        optimizer: Any,
        loss_fn: Callable[[Any, Any], Any] | None = None,
        *,
        batch_loss: Callable[[Any, Any, Any], Any] | None = None,
    ) -> None:
        if (loss_fn is None) == (batch_loss is None):
            raise UsageError("TorchModel takes a loss_fn(output, y) or a batch_loss(module, x, y)")
        torch = _torch()
        self.torch = torch
        self.module, self.optimizer = module, optimizer
        self.loss_fn, self.batch_loss = loss_fn, batch_loss
        self._parameters = [p for p in module.parameters() if p.requires_grad]
        if not self._parameters:
            raise UsageError("the torch module has no trainable parameters to gossip")
        odd = [
            f"{name} ({p.dtype}, {p.device})"
            for name, p in module.named_parameters()
            if p.requires_grad and (p.dtype != torch.float32 or p.device.type != "cpu")
        ]
        if odd:
            raise UsageError(
                "gossip averages float32 parameters in host memory (module.float().cpu()); "
                "these are not: " + ", ".join(odd)
            )
        self._shapes = [tuple(p.shape) for p in self._parameters]
        self._params = np.empty(sum(p.numel() for p in self._parameters), dtype=np.float32)
        start = 0
        with torch.no_grad():
            for parameter in self._parameters:
                view = self._params[start : start + parameter.numel()]
                view[...] = parameter.detach().reshape(-1).numpy()
                parameter.data = torch.from_numpy(view).view(parameter.shape)
                start += parameter.numel()
        self._addresses = [p.data_ptr() for p in self._parameters]
        persistent = set(module.state_dict(keep_vars=True))
        self._buffer_names = [name for name, _ in module.named_buffers() if name in persistent]

    @property
    def params(self) -> np.ndarray:
        return self._params

    def fingerprint(self) -> str:
        """Module classes, parameter shapes and count: not the names Python gives objects."""
        modules = ";".join(type(m).__name__ for m in self.module.modules())
        shapes = ";".join("x".join(map(str, shape)) for shape in self._shapes)
        text = f"{FINGERPRINT_VERSION}|{modules}|{shapes}|dtype=float32|params={self._params.size}"
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def _tensor(self, value: Any) -> Any:
        return self.torch.from_numpy(value) if isinstance(value, np.ndarray) else value

    def _loss(self, x: Any, y: Any) -> tuple[Any, Any]:
        """(the batch loss, the module's output or None) on numpy arrays or tensors."""
        x, y = self._tensor(x), self._tensor(y)
        if self.batch_loss is not None:
            return self.batch_loss(self.module, x, y), None
        assert self.loss_fn is not None
        out = self.module(x)
        return self.loss_fn(out, y), out

    def train_step(self, x: Any, y: Any, lock: AbstractContextManager[Any]) -> float:
        self.module.train()
        self.optimizer.zero_grad(set_to_none=True)
        loss, _ = self._loss(x, y)
        loss.backward()
        with lock:  # the step writes the flat vector through the views
            self.optimizer.step()
        if [p.data_ptr() for p in self._parameters] != self._addresses:
            raise UsageError(
                "the torch module's parameters were replaced after TorchModel wrapped them "
                "(module.to(), .cuda(), a new tensor): move or convert the module first"
            )
        return float(loss.item())

    def evaluate(self, x: Any, y: Any) -> dict[str, float]:
        self.module.eval()
        with self.torch.no_grad():
            loss, out = self._loss(x, y)
            result = {"loss": float(loss.item())}
            target = self._tensor(y)
            if (
                out is not None
                and out.ndim == 2
                and out.shape[1] > 1
                and not target.is_floating_point()
            ):
                result["accuracy"] = float((out.argmax(dim=1) == target).float().mean().item())
        return result

    def optimizer_state(self) -> OptimizerState:
        """What a checkpoint keeps besides the parameters: the optimizer's tensors (Adam's
        moments and step, per parameter) and the module's persistent buffers (local state)."""
        state: OptimizerState = {}
        for index, entries in self.optimizer.state_dict()["state"].items():
            for name, value in entries.items():
                if value is not None:  # SGD's momentum_buffer before its first step
                    state[f"{OPTIMIZER_PREFIX}{index}/{name}"] = self._array(value)
        for name in self._buffer_names:
            state[f"{BUFFER_PREFIX}{name}"] = self._array(self.module.get_buffer(name))
        return state

    def _array(self, value: Any) -> np.ndarray:
        if self.torch.is_tensor(value):
            return np.array(value.detach().cpu().numpy())  # a copy, in its own dtype
        return np.array(value)

    def load_optimizer_state(self, state: OptimizerState) -> None:
        entries: dict[int, dict[str, Any]] = {}
        buffers: dict[str, np.ndarray] = {}
        for key, value in state.items():
            if key.startswith(BUFFER_PREFIX):
                buffers[key[len(BUFFER_PREFIX) :]] = np.asarray(value)
            elif key.startswith(OPTIMIZER_PREFIX):
                index, _, name = key[len(OPTIMIZER_PREFIX) :].partition("/")
                entries.setdefault(int(index), {})[name] = self.torch.from_numpy(np.array(value))
            else:
                raise ValueError(f"{key} is not a torch optimizer array or buffer")
        shapes = {name: tuple(self.module.get_buffer(name).shape) for name in self._buffer_names}
        if {name: value.shape for name, value in buffers.items()} != shapes:
            raise ValueError("the saved buffers are for another module")
        saved = self.optimizer.state_dict()
        known = {i for group in saved["param_groups"] for i in group["params"]}
        if not set(entries) <= known:
            raise ValueError("the saved optimizer state is for other parameters")
        with self.torch.no_grad():
            for name, value in buffers.items():
                self.module.get_buffer(name).copy_(self.torch.from_numpy(value))
        self.optimizer.load_state_dict({"state": entries, "param_groups": saved["param_groups"]})
