"""The steps and checks both deconvnet paths share (:mod:`zflib.methods.deconv` on a plain
chain, :mod:`zflib.methods.deconv_general` on any model): index checks, the projection's
arguments, the rules' names, the backward rule at a ReLU and the transposed convolution back
to the pixels.

Three backward rules (``rule``), the same everywhere a projection is made; they differ at the
ReLU alone (max-pooling always unpools with the switches, the adjoint ``unpool="sum"``; the
filters are always the transposed weights, biases ignored):

- ``"deconvnet"`` (Zeiler & Fergus): rectify the backward signal, ``relu(g)``.
- ``"guided"`` (guided backprop, Springenberg et al. 2015): rectify it and keep it only where
  the ReLU's forward input was positive, ``relu(g) * (z > 0)``.
- ``"gradient"`` (Simonyan et al. 2014): keep it where the forward input was positive,
  ``g * (z > 0)``: the plain gradient (times the starting value).

Local response normalisation: the deconvnet skips it by default (``lrn="skip"``, as the
paper's unpool-rectify-filter has no such step) or takes its transposed Jacobian
(``lrn="jacobian"``); guided backprop and the gradient always pass it by its Jacobian, as
autograd does, and refuse ``lrn="skip"`` (a gradient that skips a layer is no gradient);
``lrn=None`` picks each rule's own. Likewise ``unpool="overwrite"`` (``nn.MaxUnpool2d``) is the
deconvnet's option alone.

Paper: Sec. 2.1 (the deconvnet's rectification and filtering steps).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeAlias

import torch
import torch.nn.functional as F

UNPOOL = ("sum", "overwrite")  # how unpooling meets overlapping windows (Fig. 1)
LRN = ("skip", "jacobian")  # the deconvnet's rule at local response normalisation
RULES = ("deconvnet", "guided", "gradient")  # the backward rule at a ReLU (module docstring)

# indices given as a tensor, a list or a nested list (maps [K]; positions [K, 2])
Ints: TypeAlias = torch.Tensor | Sequence[int] | Sequence[Sequence[int]]


def as_indices(v: Ints, what: str, device: torch.device) -> torch.Tensor:
    """``v`` as a long tensor; fractional or boolean values are refused (``torch.long``
    would truncate 0.7 to map 0 without a word)."""
    t = torch.as_tensor(v, device=device)
    if t.numel() and (t.is_floating_point() or t.is_complex() or t.dtype == torch.bool):
        raise ValueError(f"{what} must be integer indices, got {t.dtype} values "
                         f"{t.reshape(-1)[:3].tolist()}")
    return t.long()


def check_indices(t: torch.Tensor, n: int, noun: str, where: str = "") -> torch.Tensor:
    """``t`` itself when each of its values lies in ``0..n-1``; else a ``ValueError`` naming
    the first that does not: ``"map 300 out of range 0..255 of conv5"`` (``where`` is
    appended)."""
    bad = t[(t < 0) | (t >= n)]
    if len(bad):
        raise ValueError(f"{noun} {int(bad.reshape(-1)[0])} out of range 0..{n - 1}{where}")
    return t


def check_rule(rule: str, lrn: str | None, unpool: str = "sum") -> str:
    """The LRN rule to use: ``lrn`` checked against ``rule`` (None: the rule's own, ``skip``
    for the deconvnet, ``jacobian`` for the others); a one-line ``ValueError`` naming the
    valid choices for an unknown rule, LRN or unpooling rule, or one the rule does not take."""
    if rule not in RULES:
        raise ValueError(f"rule {rule!r}; valid: {', '.join(RULES)}")
    if unpool not in UNPOOL:
        raise ValueError(f"unpool {unpool!r}; valid: {', '.join(UNPOOL)}")
    if lrn is not None and lrn not in LRN:
        raise ValueError(f"lrn {lrn!r}; valid: {', '.join(LRN)}")
    if rule == "deconvnet":
        return lrn or "skip"
    if lrn == "skip":
        raise ValueError(f"lrn 'skip' is the deconvnet's; rule {rule!r} passes LRN by its "
                         "Jacobian (valid: lrn='jacobian' or None)")
    if unpool != "sum":
        raise ValueError(f"unpool {unpool!r} is the deconvnet's; rule {rule!r} unpools by "
                         "the adjoint (valid: unpool='sum')")
    return "jacobian"


def relu_backward(rule: str, g: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """The backward signal ``g`` through a ReLU by ``rule`` (in place): ``relu(g)``
    (deconvnet), ``relu(g) * mask`` (guided), ``g * mask`` (gradient); ``mask`` (bool, the
    ReLU's forward input > 0, broadcastable to ``g``) is unused by the deconvnet."""
    if rule != "deconvnet":
        g = g.mul_(mask)  # 20 times faster than masked_fill_ with a broadcast mask
    return g if rule == "gradient" else g.clamp_(min=0)


def check_projection(act: torch.Tensor, name: str, maps: Ints, positions: Ints | None,
                     images: Ints | None
                     ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
    """``(maps [K], positions [K, 2] or None, images [K])`` as long tensors, checked against
    a layer's activations ``act`` [N, C, H, W] (``name`` for the messages); ``images``
    defaults to 0 if N == 1, else ``arange(K)``. Shared by both deconvnet paths."""
    n, c, h, w = act.shape
    maps = as_indices(maps, "maps", act.device).reshape(-1)
    k = len(check_indices(maps, c, "map", f" of {name}"))
    if positions is not None:
        positions = as_indices(positions, "positions", act.device)
        if positions.dim() not in (1, 2) or positions.shape[-1] != 2:
            raise ValueError(f"positions of shape {tuple(positions.shape)}; want [K, 2] "
                             "(y, x), or [2] for all K")
        positions = positions.reshape(-1, 2).expand(k, 2) if positions.numel() == 2 \
            else positions.reshape(-1, 2)
        if len(positions) != k:
            raise ValueError(f"{len(positions)} positions for {k} maps; want one each")
        bad = (positions[:, 0] < 0) | (positions[:, 0] >= h) | (positions[:, 1] < 0) | \
            (positions[:, 1] >= w)
        if bad.any():
            y, x = positions[bad][0].tolist()
            raise ValueError(f"position (y, x) = ({y}, {x}) out of range "
                             f"0..{h - 1}, 0..{w - 1} of {name}")
    if images is None:
        if n != 1 and n != k:
            raise ValueError(f"images not given for {k} projections of {n} traced images; "
                             "give images [K] in 0..N-1")
        images = torch.zeros(k, dtype=torch.long) if n == 1 else torch.arange(k)
    images = as_indices(images, "images", act.device).reshape(-1)
    images = images.expand(k) if images.numel() == 1 else images
    if len(images) != k:
        raise ValueError(f"{len(images)} images for {k} maps; want one each")
    check_indices(images, n, "image")
    return maps, positions, images


def conv_transpose(g: torch.Tensor, weight: torch.Tensor, stride: tuple[int, int],
                    dilation: tuple[int, int], groups: int) -> torch.Tensor:
    """``F.conv_transpose2d(g, weight, stride=stride)`` without padding (the natural region).

    A strided transposed conv to few channels (the RGB pixels) is computed as one ordinary
    conv2d over the stride's phases (each output phase is a stride-1 full correlation with a
    sub-kernel): the same sums, about three times faster on the CPU than the direct kernel.
    """
    co, ci, kh, kw = weight.shape
    sy, sx = stride
    if groups != 1 or dilation != (1, 1) or (sy, sx) == (1, 1) or ci > 8:
        return F.conv_transpose2d(g, weight, None, stride, 0, 0, groups, dilation)
    k, _, h, w = g.shape
    ph, pw = -(-kh // sy), -(-kw // sx)
    wp = weight.new_zeros(co, ci, sy, sx, ph, pw)
    for py in range(sy):
        for px in range(sx):
            sub = weight[:, :, py::sy, px::sx]
            wp[:, :, py, px, :sub.shape[2], :sub.shape[3]] = sub
    wc = wp.permute(2, 3, 1, 0, 4, 5).reshape(sy * sx * ci, co, ph, pw).flip(-1, -2)
    r = F.conv2d(g, wc, padding=(ph - 1, pw - 1))
    a, b = r.shape[-2:]
    out = r.view(k, sy, sx, ci, a, b).permute(0, 3, 4, 1, 5, 2).reshape(k, ci, a * sy, b * sx)
    return out[:, :, : (h - 1) * sy + kh, : (w - 1) * sx + kw]
