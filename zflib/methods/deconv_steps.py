"""The steps and checks both deconvnet paths share (:mod:`zflib.methods.deconv` on a plain
chain, :mod:`zflib.methods.deconv_general` on any model): index checks, the projection's
arguments, the rules' names and the transposed convolution back to the pixels.

Paper: Sec. 2.1 (the deconvnet's filtering step: the transposed filters).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeAlias

import torch
import torch.nn.functional as F

UNPOOL = ("sum", "overwrite")  # how unpooling meets overlapping windows (Fig. 1)
LRN = ("skip", "jacobian")  # the deconvnet's rule at local response normalisation

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
