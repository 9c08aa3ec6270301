"""A PyTorch ``nn.Module`` with its optimizer and loss behind the model seam.

``pip install 'gossip-train[torch]'``. On the CPU the module's trainable
parameters become views into the one flat float32 vector the peer gossips
(``torch.from_numpy``): the optimizer steps it in place under the replica lock
and an exchange adds to the very memory the module reads, so nothing is copied
per step or per exchange. The ``Parameter`` objects stay the same, so an
optimizer built before wrapping keeps working; one that replaces them
afterwards (``module.to()``, ``module.cuda()``) is caught at the next step.

Parameters on a GPU (any device but the CPU) cannot be views into host
memory. They become views into one flat buffer on their device instead (as
torch's own flat-parameter tricks do), and the host vector stays the truth
(gossip/adapters/mirror.py): before a step the buffer is refreshed from it
only when an exchange, a catch-up or a resume wrote it since, and after the
step the buffer is read back into it: one contiguous transfer each way, not
one per tensor, none per exchange. ``copy=True`` takes that path on the CPU too
(tests and ``bench/adapters.py`` measure it there, as no GPU was at hand). Its
cost on a GPU is an estimate, not a measurement: 4 bytes per parameter each
way over PCIe, for 10M parameters 40 MB, about 3.3 ms each way at the
~12 GB/s a PCIe 3.0 x16 link moves in practice (half that on PCIe 4.0), so
3.3 ms of transfer per step and 6.7 ms for a step after an exchange, plus the
host-side copies (measured on the CPU: 13 ms per step of 10M parameters, 31
when exchanges land before and during every step). Inputs are moved to the
parameters' device before the loss.

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
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import numpy as np

from gossip.adapters.mirror import Mirror
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

    ``copy``: None (the default) trains views into the flat vector when the
    parameters are in host memory and a copy of it on their device otherwise;
    True takes the copy path on the CPU too; False refuses parameters not in
    host memory.
    """

    def __init__(
        self,
        module: Any,
        optimizer: Any,
        loss_fn: Callable[[Any, Any], Any] | None = None,
        *,
        batch_loss: Callable[[Any, Any, Any], Any] | None = None,
        copy: bool | None = None,
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
        self.device = device_of(module, copy)
        self._shapes = [tuple(p.shape) for p in self._parameters]
        self._params = np.empty(sum(p.numel() for p in self._parameters), dtype=np.float32)
        copying = copy or self.device.type != "cpu"
        flat = (
            torch.empty(self._params.size, dtype=torch.float32, device=self.device)
            if copying
            else torch.from_numpy(self._params)
        )
        start = 0
        with torch.no_grad():
            for parameter in self._parameters:
                piece = flat[start : start + parameter.numel()]
                piece.copy_(parameter.detach().reshape(-1))
                parameter.data = piece.view(parameter.shape)
                start += parameter.numel()
        self._addresses = [p.data_ptr() for p in self._parameters]
        self._mirror = self._mirrored(flat) if copying else None
        persistent = set(module.state_dict(keep_vars=True))
        self._buffer_names = [name for name, _ in module.named_buffers() if name in persistent]

    def _mirrored(self, flat: Any) -> Mirror:
        """The host vector as the truth for ``flat``, the parameters' buffer on their device."""
        torch = self.torch
        pinned = self.device.type == "cuda"  # page-locked host memory: faster transfers

        def buffer(size: int) -> np.ndarray:
            return np.asarray(torch.empty(size, dtype=torch.float32, pin_memory=pinned).numpy())

        def upload(host: np.ndarray) -> None:
            with torch.no_grad():
                flat.copy_(torch.from_numpy(host))

        def download(host: np.ndarray) -> None:
            torch.from_numpy(host).copy_(flat)

        download(self._params)
        return Mirror(self._params, upload, download, buffer)

    @property
    def copies(self) -> bool:
        """Whether the module trains a copy of the flat vector (a GPU, ``copy=True``)."""
        return self._mirror is not None

    @property
    def mirror(self) -> Mirror | None:
        """The copy path's bookkeeping (transfers counted), None on the view path."""
        return self._mirror

    def watch_writes(self, writes: Callable[[], int]) -> None:
        """See :class:`~gossip.trainable.Mirrored`; nothing to do for views."""
        if self._mirror is not None:
            self._mirror.watch_writes(writes)

    def sync_to_module(self) -> None:
        """Copy the flat vector into the module's parameters on the copy path (after a run,
        to use the module itself); on the view path they are the vector already."""
        if self._mirror is not None:
            self._mirror.refresh()

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
        """A numpy array as a tensor; a tensor on the parameters' device (a no-op on the CPU)."""
        tensor = self.torch.from_numpy(value) if isinstance(value, np.ndarray) else value
        return tensor.to(self.device) if self.torch.is_tensor(tensor) else tensor

    def _loss(self, x: Any, y: Any) -> tuple[Any, Any]:
        """(the batch loss, the module's output or None) on numpy arrays or tensors."""
        x, y = self._tensor(x), self._tensor(y)
        if self.batch_loss is not None:
            return self.batch_loss(self.module, x, y), None
        assert self.loss_fn is not None
        out = self.module(x)
        return self.loss_fn(out, y), out

    def train_step(self, x: Any, y: Any, lock: AbstractContextManager[Any]) -> float:
        if [p.data_ptr() for p in self._parameters] != self._addresses:
            raise UsageError(
                "the torch module's parameters were replaced after TorchModel wrapped them "
                "(module.to(), .cuda(), a new tensor): move or convert the module first"
            )
        self.module.train()
        if self._mirror is not None:
            self._mirror.before_step(lock)
        self.optimizer.zero_grad(set_to_none=True)
        loss, _ = self._loss(x, y)
        loss.backward()
        if self._mirror is None:
            with lock:  # the step writes the flat vector through the views
                self.optimizer.step()
        else:
            self.optimizer.step()  # the device's copy, this thread's alone
            self._mirror.after_step(lock)
        return float(loss.item())

    def evaluate(self, x: Any, y: Any) -> dict[str, float]:
        self.module.eval()
        self.sync_to_module()
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


def device_of(module: Any, copy: bool | None) -> Any:
    """The one device of ``module``'s trainable float32 parameters; one line for what
    gossip cannot serve (other dtypes, several devices, no values, views off the host)."""
    named = [(name, p) for name, p in module.named_parameters() if p.requires_grad]
    odd = [f"{name} ({p.dtype})" for name, p in named if p.dtype != _torch().float32]
    if odd:
        raise UsageError(
            "gossip averages float32 parameters (module.float()); these are not: " + ", ".join(odd)
        )
    devices = sorted({str(p.device) for _, p in named})
    if len(devices) > 1:
        raise UsageError(
            "the trainable parameters are on several devices (" + ", ".join(devices) + "): "
            "gossip copies one flat vector to one device; move the module to one"
        )
    device = named[0][1].device
    if copy is False and device.type != "cpu":
        raise UsageError(f"copy=False needs parameters in host memory; these are on {device}")
    if device.type == "meta":
        raise UsageError(
            "the parameters are on the meta device, without values: materialise the "
            "module first (module.to_empty(device=...), then initialise it)"
        )
    return device
