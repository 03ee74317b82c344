"""Scoped access to intermediate activations by the paper's layer names.

Paper: Sec. 2 (feature maps of layers 1-5, fc6, fc7).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager

import torch
from torch import nn

from zflib.training.models import ConvNet, eval_mode, layer_module


def layer_list(names: str | int | Iterable) -> list:
    """``names`` as a list of layers; one layer given alone (``"conv5"``, or a number) is one
    layer, not the layers "c", "o", "n", "v", "5"."""
    return [names] if isinstance(names, str) or not isinstance(names, Iterable) else list(names)


@contextmanager
def record_activations(model: ConvNet, names: Sequence[str]) -> Iterator[dict[str, torch.Tensor]]:
    """Within the block, each forward pass stores layer ``names``' outputs (or one layer's:
    ``names="conv5"``) in the yielded dict.

    Hooks are removed on exit, also when the block raises.
    """
    names = layer_list(names)
    acts: dict[str, torch.Tensor] = {}
    handles = []
    try:
        for name in names:
            def hook(_m: nn.Module, _i: tuple, out: torch.Tensor, name: str = name) -> None:
                acts[name] = out.detach().clone()  # clone: ReLUs run in place
            handles.append(layer_module(model, name).register_forward_hook(hook))
        yield acts
    finally:
        for h in handles:
            h.remove()


@torch.no_grad()
def extract(model: ConvNet, x: torch.Tensor, names: Sequence[str], *,
            batch_size: int = 256) -> dict[str, torch.Tensor]:
    """Activations of ``names`` (or of one layer: ``names="fc7"``) for inputs ``x``
    [N, 3, S, S], batched; each [N, ...] on CPU. ``x`` may lie anywhere: each batch goes to the
    model's device and dtype.

    The forward pass stops at the deepest requested layer and runs in eval mode (dropout off,
    so fc6/fc7 are the features a classifier sees); the model's modes are restored afterwards.

    Paper: Sec. 5.2, Table 7 (each layer's features).
    """
    names = layer_list(names)
    if not names:
        raise ValueError("names is empty; give at least one of " + ", ".join(model.layer_names))
    if batch_size < 1:
        raise ValueError(f"batch_size {batch_size} out of range 1..")
    order = model.layer_names
    deepest = max(order.index(n) if n in order else -1 for n in names)
    if deepest < 0:
        raise ValueError(f"layers {list(names)} not in this model; valid: {', '.join(order)}")
    out: dict[str, list[torch.Tensor]] = {n: [] for n in names}
    stop_in_features = order[deepest] in model.feature_names
    param = next(model.parameters())
    with eval_mode(model), record_activations(model, names) as acts:
        for i in range(0, len(x), batch_size):
            xb = x[i:i + batch_size].to(param.device, param.dtype)
            if stop_in_features:
                last = model.feature_names[order[deepest]]
                model.features[: last + 1](xb)
            else:
                model(xb)
            for n in names:
                out[n].append(acts[n].cpu())
    return {n: torch.cat(v) for n, v in out.items()}
