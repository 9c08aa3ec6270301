"""A PyTorch ``nn.Module`` with its optimizer and loss behind the model seam.

``pip install 'gossip-train[torch]'`` (the CPU wheels are enough). On the CPU
the module's parameters become views into the one flat float32 vector the
peer gossips (``torch.from_numpy``): the optimizer steps it in place under the
replica lock and an exchange adds to the very memory the module reads, so
nothing is copied per step or per exchange. The ``Parameter`` objects stay the
same, so an optimizer built before wrapping keeps working.

Only the trainable float32 parameters are averaged; buffers (BatchNorm's
running statistics, counters) stay local to each peer. Parameters on a GPU are
refused for now: they cannot be views into host memory, and the copy that would
take is not written yet.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import numpy as np

from gossip.errors import UsageError
from gossip.trainable import OptimizerState

FINGERPRINT_VERSION = "gossip-torch/v1"


def _torch() -> Any:
    try:
        import torch
    except ImportError as exc:
        raise UsageError("PyTorch is not installed: pip install 'gossip-train[torch]'") from exc
    return torch


class TorchModel:
    """``module`` trained by ``optimizer`` on ``loss_fn(module(x), y)``, as a Trainable.

    ``x`` and ``y`` may be numpy arrays or tensors. The evaluation reports
    ``accuracy`` too when the outputs are class scores (2-D) and ``y`` holds
    integer labels.
    """

    def __init__(self, module: Any, optimizer: Any, loss_fn: Callable[[Any, Any], Any]) -> None:
        torch = _torch()
        self.torch = torch
        self.module, self.optimizer, self.loss_fn = module, optimizer, loss_fn
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
                "gossip averages float32 parameters on the CPU; these are not: " + ", ".join(odd)
            )
        self._shapes = [tuple(p.shape) for p in self._parameters]
        sizes = [p.numel() for p in self._parameters]
        self._params = np.empty(sum(sizes), dtype=np.float32)
        start = 0
        with torch.no_grad():
            for parameter, size in zip(self._parameters, sizes, strict=True):
                view = self._params[start : start + size]
                view[...] = parameter.detach().reshape(-1).numpy()
                parameter.data = torch.from_numpy(view).view(parameter.shape)
                start += size

    @property
    def params(self) -> np.ndarray:
        return self._params

    def fingerprint(self) -> str:
        """Module class, parameter shapes and count (names and order come from the code)."""
        shapes = ";".join("x".join(map(str, shape)) for shape in self._shapes)
        text = (
            f"{FINGERPRINT_VERSION}|{type(self.module).__name__}|{shapes}"
            f"|dtype=float32|params={self._params.size}"
        )
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def _tensor(self, value: Any) -> Any:
        return self.torch.from_numpy(value) if isinstance(value, np.ndarray) else value

    def train_step(self, x: Any, y: Any, lock: AbstractContextManager[Any]) -> float:
        self.module.train()
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.loss_fn(self.module(self._tensor(x)), self._tensor(y))
        loss.backward()
        with lock:  # the step writes the flat vector through the views
            self.optimizer.step()
        return float(loss.item())

    def evaluate(self, x: Any, y: Any) -> dict[str, float]:
        self.module.eval()
        target = self._tensor(y)
        with self.torch.no_grad():
            out = self.module(self._tensor(x))
            result = {"loss": float(self.loss_fn(out, target).item())}
            if out.ndim == 2 and out.shape[1] > 1 and not target.is_floating_point():
                result["accuracy"] = float((out.argmax(dim=1) == target).float().mean().item())
        return result

    def optimizer_state(self) -> OptimizerState:
        """Each parameter's optimizer tensors (Adam's moments, step), as numpy arrays."""
        state: OptimizerState = {}
        for index, entries in self.optimizer.state_dict()["state"].items():
            for name, value in entries.items():
                if self.torch.is_tensor(value):
                    state[f"torch/{index}/{name}"] = value.detach().cpu().numpy().copy()
                else:
                    state[f"torch/{index}/{name}"] = np.array(value)
        return state

    def load_optimizer_state(self, state: OptimizerState) -> None:
        saved = self.optimizer.state_dict()
        entries: dict[int, dict[str, Any]] = {}
        for key, value in state.items():
            prefix, index, name = key.split("/", 2)
            if prefix != "torch":
                raise ValueError(f"{key} is not a torch optimizer array")
            entries.setdefault(int(index), {})[name] = self.torch.from_numpy(np.array(value))
        known = {i for group in saved["param_groups"] for i in group["params"]}
        if not set(entries) <= known:
            raise ValueError("the saved optimizer state is for other parameters")
        self.optimizer.load_state_dict({"state": entries, "param_groups": saved["param_groups"]})
