"""Fig. 3: every layer of a network with the size of what it outputs, measured by a forward
pass through the model itself (nothing typed), for drawing the architecture.

Paper: Fig. 3 (ZFNet at 224 pixels: 96 maps of 110x110 after conv1, 55x55 after pooling, 26,
13, 13, 13, 6x6 after pool5, then 4096, 4096 and C units).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from zflib.training.models import ConvNet

KINDS = {nn.Conv2d: "conv", nn.MaxPool2d: "pool", nn.LocalResponseNorm: "norm",
         nn.Linear: "fc"}


class Stage(NamedTuple):
    """One layer's output: ``name`` (``conv1``, ``pool1``, ``norm1``, ``fc6``, ...), ``kind``
    (conv, pool, norm, fc), ``channels`` (maps or units), ``height`` and ``width`` (1 for fc),
    and the layer's ``kernel``, ``stride``, ``padding`` (0 where it has none)."""

    name: str
    kind: str
    channels: int
    height: int
    width: int
    kernel: int
    stride: int
    padding: int


def _kind(m: nn.Module) -> str | None:
    """conv, pool, norm or fc (:data:`KINDS`); None for a module that keeps shapes."""
    return next((k for t, k in KINDS.items() if isinstance(m, t)), None)


def _first(v: int | tuple[int, ...]) -> int:
    return v[0] if isinstance(v, tuple) else int(v)


def _names(model: ConvNet) -> dict[int, str]:
    """``id(module)`` -> its name: convolutions and fully connected layers by the model's own
    names (``feature_names`` / ``classifier_names`` point at the ReLU after a layer, or at
    fc8 itself), pools and norms numbered after the convolution they follow."""
    named = {id(model.features[i - 1]): n for n, i in model.feature_names.items()}
    for n, i in model.classifier_names.items():
        m = model.classifier[i]
        named[id(m if isinstance(m, nn.Linear) else model.classifier[i - 1])] = n
    last = "0"
    for m in model.features:
        kind = _kind(m)
        if kind == "conv":
            last = named[id(m)][len("conv"):]
        elif kind is not None:
            named[id(m)] = f"{kind}{last}"
    return named


def stages(model: ConvNet) -> list[Stage]:
    """The stages of ``model`` in order: every convolution, max-pool, LRN and fully connected
    layer, with the shape its output has in one forward pass of a ``model.input_size`` image
    (ReLU and dropout keep shapes and are left out). Layers keep the model's names (an ablation
    without conv3 and conv4 goes from conv2 to conv5); pools and norms are numbered after the
    convolution they follow (``pool1``, ``norm1``, ``pool5``). Hooks are removed on return."""
    names = _names(model)
    found: list[Stage] = []
    handles = []

    def hook(m: nn.Module, _i: tuple, out: torch.Tensor) -> None:
        kind = _kind(m)
        h, w = (out.shape[2], out.shape[3]) if out.dim() == 4 else (1, 1)
        found.append(Stage(names[id(m)], kind, int(out.shape[1]), int(h), int(w),
                           _first(getattr(m, "kernel_size", 0)), _first(getattr(m, "stride", 0)),
                           _first(getattr(m, "padding", 0))))
    try:
        for module in [*model.features, *model.classifier]:
            if id(module) in names:
                handles.append(module.register_forward_hook(hook))
        with torch.no_grad():
            model(torch.zeros(1, 3, model.input_size, model.input_size))
    finally:
        for h in handles:
            h.remove()
    return found


def describe(stage: Stage) -> str:
    """A stage as Fig. 3 labels it: ``conv1: 96 7x7/2 -> 110x110``, ``fc6: 4096``."""
    if stage.kind == "fc":
        return f"{stage.name}: {stage.channels}"
    op = {"conv": f"{stage.channels} {stage.kernel}x{stage.kernel}/{stage.stride}",
          "pool": f"max {stage.kernel}x{stage.kernel}/{stage.stride}",
          "norm": "contrast norm."}[stage.kind]
    return f"{stage.name}: {op} -> {stage.height}x{stage.width}"
