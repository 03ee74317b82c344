"""Incremental inference for occlusion: each layer recomputes only what the square changes.

An occluding square changes a conv1 output only within conv1's receptive field of it, a pool1
output only within pool1's, and so on through the network: the changed region grows by each
layer's kernel and shrinks by its stride. Following Krypton (Nakandala, Kumar and
Papakonstantinou, SIGMOD 2019, "incremental view maintenance" of CNN inference), every layer
of ``features`` is computed, for all square positions at once, only on a window around the
region that the square can change there; the rest of each occluded image's map equals the
unoccluded image's map, computed once.

- :func:`plan`: per layer, where the changed values lie for each square position
  (:class:`Region`: one patch size for all positions, its corner per position), or ``None``
  where the full map is cheaper (a patch over :data:`FULL_ABOVE` of the map, or a module
  whose geometry is not a square, undilated conv or max-pool);
- :func:`forward`: run a batch of occluded images through ``features`` on that plan; return
  the full output and, optionally, per image the sum of one map of one layer (Fig. 7 (b));
- :func:`speedup_bound`: the multiply-adds that exact incremental inference must still do
  (per layer, the share of outputs a square position changes; fully connected layers in full)
  against full re-inference: the bound on its speedup.

Layers: Conv2d (zero padding) and MaxPool2d (overlapping, ``ceil_mode``) run on padded windows
of the clean map with the patch pasted in; ReLU, LocalResponseNorm (across maps: spatially
pointwise), BatchNorm2d in eval mode, Dropout and Identity run on the patch alone. Anything else
ends the incremental part: from there the full maps are rebuilt and run as usual. Exact: the
results equal full re-inference to float32 rounding (``tests/test_incremental.py``). The
model must be in eval mode (BatchNorm and Dropout as pointwise maps). Every index tensor lives
on the maps' device, so the same code runs on a GPU.

Approximate mode (``approximate=tau``, off by default): Krypton's projective-field threshold.
The exact patch grows layer by layer; with a threshold it is cut, where it is larger, to
``ceil(tau * side)`` rows (and columns) of the layer's map, centred on the exact patch, and
the outputs outside it keep their clean values. The error against the exact maps is measured
in ``benchmarks/bench_occlusion.py``.

Paper: Sec. 4.2, Fig. 7 (the occlusion experiment this computes).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

# Fall back to the full map where a patch covers more than this share of it. Measured with
# `python benchmarks/bench_occlusion.py --sweep-full-above 0.3,0.45,0.6,0.75,0.9,1` (1 thread,
# a shared 2-core Xeon; seconds at 0.3 / 0.45 / 0.6 / 0.75 / 0.9 / 1): ZFNet-64 at Fig. 7's
# settings 0.43 / 0.43 / 0.41 / 0.41 / 0.42 / 0.46; a 32-pixel square every 16 pixels at 224:
# VGG16 10.7 / 8.1 / 7.5 / 7.8 / 7.7 / 7.6, ZFNet-224 1.18 / 1.20 / 0.98 / 0.96 / 0.96 / 0.94,
# AlexNet-224 1.41 / 1.39 / 1.31 / 1.20 / 1.20 / 1.25. From 0.6 to 0.9 all agree within noise;
# 0.75 is never more than 3 % from the best.
FULL_ABOVE = 0.75

_POINTWISE = (nn.ReLU, nn.LocalResponseNorm, nn.BatchNorm2d, nn.Dropout, nn.Identity)


def spatial_params(mod: nn.Module) -> tuple[int, int, int, float] | None:
    """(kernel, stride, padding, pad value) of a square, undilated Conv2d with zero padding or
    MaxPool2d, else None. ``ceil_mode`` needs nothing of its own: the clean map is padded far
    enough for the pool's last window."""
    def one(v: object) -> int | None:
        t = v if isinstance(v, tuple) else (v, v)
        return t[0] if len(t) == 2 and t[0] == t[1] and isinstance(t[0], int) else None

    if isinstance(mod, nn.Conv2d) and mod.padding_mode == "zeros" and one(mod.dilation) == 1:
        k, s, p = one(mod.kernel_size), one(mod.stride), one(mod.padding)
        if None not in (k, s, p):
            return k, s, p, 0.0
    if isinstance(mod, nn.MaxPool2d) and one(mod.dilation) == 1:
        k, s, p = one(mod.kernel_size), one(mod.stride or mod.kernel_size), one(mod.padding)
        if None not in (k, s, p):
            return k, s, p, float("-inf")
    return None


@dataclass(frozen=True)
class Region:
    """Where the changed values of one layer's map lie: for square position ``b``, rows
    ``y[b]..y[b] + h - 1`` and columns ``x[b]..x[b] + w - 1`` (one patch size for all)."""

    y: torch.Tensor  # [B] long
    x: torch.Tensor
    h: int
    w: int

    def take(self, idx: slice) -> Region:
        return Region(self.y[idx], self.x[idx], self.h, self.w)


def changed_range(lo: torch.Tensor, hi: torch.Tensor, k: int, s: int, p: int,
                  n_out: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Outputs ``[lo', hi']`` (inclusive, per position) of a layer of kernel ``k``, stride
    ``s``, padding ``p`` whose receptive fields meet inputs ``[lo, hi]``."""
    first = torch.div(lo + p - k + s, s, rounding_mode="floor").clamp(min=0)
    last = torch.div(hi + p, s, rounding_mode="floor").clamp(max=n_out - 1)
    return first, last


def _next_axis(start: torch.Tensor, length: int, k: int, s: int, p: int, n_out: int,
               approximate: float | None) -> tuple[torch.Tensor, int]:
    """The output patch (corner per position, one length) holding every output that input
    patch ``[start, start + length)`` changes; cut to ``ceil(approximate * n_out)`` around its
    centre when ``approximate`` is given."""
    first, last = changed_range(start, start + length - 1, k, s, p, n_out)
    out_len = int((last - first + 1).max())
    if approximate is not None and out_len > (cap := max(1, math.ceil(approximate * n_out))):
        first = first + (last - first + 1 - cap) // 2
        out_len = cap
    return first.clamp(min=0, max=n_out - out_len), out_len


def square_region(ys: torch.Tensor, xs: torch.Tensor, size: int,
                  shape: tuple[int, int]) -> Region:
    """The input patch of each square position: the square, shifted inside the image where the
    border clips it (so that every patch has the same size)."""
    h, w = shape
    return Region(ys.clamp(max=h - size), xs.clamp(max=w - size), size, size)


def plan(feats: nn.Sequential, shapes: list[tuple[int, int]], first: Region, *,
         approximate: float | None = None, full_above: float | None = None,
         full: bool = False) -> list[Region | None]:
    """Per layer input (``shapes[i]``: (H, W) of the input of ``feats[i]``, ``i = 0..len``),
    the region of changed values, or None from where the full maps are run.

    ``first``: the square's patch in the input (:func:`square_region`). ``full``: every layer
    on full maps (plain re-inference). ``approximate``: the projective-field threshold (a
    fraction 0 < tau <= 1 of each map's side), or None for exact results. ``full_above``:
    the share of a map above which its patch gives way to the full map (None:
    :data:`FULL_ABOVE`).
    """
    full_above = FULL_ABOVE if full_above is None else full_above
    regions: list[Region | None] = [first]
    for i, mod in enumerate(feats):
        reg = regions[-1]
        if reg is None or full:
            regions.append(None)
        elif isinstance(mod, _POINTWISE):
            regions.append(reg)
        elif (params := spatial_params(mod)) is None:
            regions.append(None)
        else:
            k, s, p, _ = params
            (oh, ow) = shapes[i + 1]
            y, qh = _next_axis(reg.y, reg.h, k, s, p, oh, approximate)
            x, qw = _next_axis(reg.x, reg.w, k, s, p, ow, approximate)
            regions.append(None if qh * qw > full_above * oh * ow else Region(y, x, qh, qw))
    return regions


def _paste(flat: torch.Tensor, width: int, patch: torch.Tensor, at: Region, y0: torch.Tensor,
           x0: torch.Tensor, ny: int, nx: int) -> torch.Tensor:
    """Per position b, rows ``y0[b]..+ny`` and columns ``x0[b]..+nx`` of a clean map (``flat``:
    [H * W, C], its pixels in rows, ``width`` = W) with ``patch[b]`` [C, h, w] written over it
    at region ``at``: [B, C, ny, nx], channels-last. One ``index_select`` of whole pixels
    from the clean map and the patches together."""
    dev, (b, c, ph, pw) = patch.device, patch.shape
    rows = y0[:, None] + torch.arange(ny, device=dev)  # [B, ny]
    cols = x0[:, None] + torch.arange(nx, device=dev)
    iy, ix = rows - at.y[:, None], cols - at.x[:, None]
    inside = ((iy >= 0) & (iy < ph))[:, :, None] & ((ix >= 0) & (ix < pw))[:, None, :]
    base = torch.arange(b, device=dev)[:, None, None] * (ph * pw) + len(flat)
    idx_patch = base + iy.clamp(0, ph - 1)[:, :, None] * pw + ix.clamp(0, pw - 1)[:, None, :]
    idx = torch.where(inside, idx_patch, rows[:, :, None] * width + cols[:, None, :])
    src = torch.cat([flat, patch.permute(0, 2, 3, 1).reshape(-1, c)])
    return src.index_select(0, idx.reshape(-1)).view(b, ny, nx, c).permute(0, 3, 1, 2)


@dataclass
class CleanMaps:
    """The unoccluded image's map at the input of each layer of ``features``, flattened to
    [H * W, C] (pixels in rows) with its (H, W); spatial layers' inputs also padded as the
    layer pads (zeros for convs, -inf for pools, and past the end for ``ceil_mode``)."""

    flat: list[torch.Tensor]
    shapes: list[tuple[int, int]]
    padded: dict[int, tuple[torch.Tensor, int]]  # layer -> (flat padded map, its width)

    @classmethod
    def build(cls, feats: nn.Sequential, maps: list[torch.Tensor],
              regions: list[Region | None]) -> CleanMaps:
        """``maps[i]``: the clean input of ``feats[i]`` [1, C, H, W] (``i = 0..len(feats)``);
        only the layers that ``regions`` runs on windows get a padded copy."""
        def flat(m: torch.Tensor) -> torch.Tensor:
            return m[0].permute(1, 2, 0).reshape(-1, m.shape[1]).contiguous()

        shapes = [tuple(m.shape[-2:]) for m in maps]
        padded = {}
        for i, mod in enumerate(feats):
            if regions[i] is None or regions[i + 1] is None or isinstance(mod, _POINTWISE):
                continue
            k, s, p, value = spatial_params(mod)
            (ih, iw), (oh, ow) = shapes[i], shapes[i + 1]
            after_y, after_x = max(p, (oh - 1) * s + k - ih - p), max(p, (ow - 1) * s + k - iw - p)
            pad = F.pad(maps[i], (p, after_x, p, after_y), value=value)
            padded[i] = (flat(pad), pad.shape[-1])
        return cls([flat(m) for m in maps], shapes, padded)


def apply_module(mod: nn.Module, h: torch.Tensor,
                 weight: torch.Tensor | None) -> torch.Tensor:
    """``mod(h)`` without touching ``h`` in place (an in-place ReLU too); a conv uses
    ``weight`` (e.g. a channels-last copy) when given."""
    if isinstance(mod, nn.ReLU):
        return torch.relu(h)
    if weight is not None and isinstance(mod, nn.Conv2d) and mod.padding_mode == "zeros":
        return F.conv2d(h, weight, mod.bias, mod.stride, mod.padding, mod.dilation, mod.groups)
    return mod(h)


def _window(mod: nn.Module, need: torch.Tensor, k: int, s: int,
            weight: torch.Tensor | None) -> torch.Tensor:
    """A conv or max-pool on an already padded window (padding 0)."""
    if isinstance(mod, nn.Conv2d):
        w = mod.weight if weight is None else weight
        return F.conv2d(need, w, mod.bias, s, 0, 1, mod.groups)
    return F.max_pool2d(need, k, s, 0)


def forward(feats: nn.Sequential, clean: CleanMaps, regions: list[Region | None],
            patch: torch.Tensor, *, weights: dict[int, torch.Tensor] | None = None,
            tap: tuple[int, int, torch.Tensor] | None = None
            ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Run a batch of occluded images through ``feats`` on the plan ``regions`` (each
    region taken for this batch).

    Args:
        patch: [B, C, h, w] the occluded input over ``regions[0]``.
        weights: conv weights by index in ``feats`` to use instead of the module's (e.g.
            channels-last copies).
        tap: ``(i, channel, clean_sum)``: also return, per image, the sum of map ``channel``
            of the output of ``feats[i]`` (``clean_sum``: its sum on the clean image).

    Returns ``(out, sums)``: the full output of ``feats`` [B, ...] and the tap's sums (or None).
    """
    weights = weights or {}
    h, reg, sums = patch, regions[0], None
    for i, mod in enumerate(feats):
        nxt = regions[i + 1]
        if reg is None:
            h = apply_module(mod, h, weights.get(i))
        elif nxt is None:  # from here on, full maps
            (ih, iw), zero = clean.shapes[i], torch.zeros_like(reg.y)
            full = _paste(clean.flat[i], iw, h, reg, zero, zero, ih, iw)
            h = apply_module(mod, full, weights.get(i))
        elif isinstance(mod, _POINTWISE):
            h = apply_module(mod, h, None)
        else:
            k, s, p, _ = spatial_params(mod)
            flat, width = clean.padded[i]
            shifted = Region(reg.y + p, reg.x + p, reg.h, reg.w)
            need = _paste(flat, width, h, shifted, nxt.y * s, nxt.x * s, (nxt.h - 1) * s + k,
                          (nxt.w - 1) * s + k)
            h = _window(mod, need, k, s, weights.get(i))
        reg = nxt
        if tap is not None and i == tap[0]:
            sums = _map_sum(clean, i + 1, h, reg, tap[1], tap[2])
    if reg is not None:
        (oh, ow), zero = clean.shapes[-1], torch.zeros_like(reg.y)
        h = _paste(clean.flat[-1], ow, h, reg, zero, zero, oh, ow)
    return h, sums


def _map_sum(clean: CleanMaps, i: int, h: torch.Tensor, reg: Region | None, channel: int,
             clean_sum: torch.Tensor) -> torch.Tensor:
    """Per image, the sum of map ``channel`` of layer input ``i``: of ``h`` when it is the full
    map, else the clean sum with the patch's region swapped for the patch (in float64)."""
    if reg is None:
        return h[:, channel].sum(dim=(1, 2))
    dev, (_, width) = h.device, clean.shapes[i]
    rows = reg.y[:, None] + torch.arange(reg.h, device=dev)
    cols = reg.x[:, None] + torch.arange(reg.w, device=dev)
    under = clean.flat[i][:, channel][rows[:, :, None] * width + cols[:, None, :]]
    new = h[:, channel].double().sum(dim=(1, 2)) - under.double().sum(dim=(1, 2))
    return (clean_sum.double() + new).to(h.dtype)


def _conv_macs(mod: nn.Module, out_hw: tuple[int, int]) -> int:
    if isinstance(mod, nn.Conv2d):
        return out_hw[0] * out_hw[1] * mod.weight.numel()
    return 0


def speedup_bound(model: nn.Module, shape: tuple[int, int], ys: torch.Tensor,
                  xs: torch.Tensor, size: int, *, per_position: bool = True) -> float:
    """Full re-inference's multiply-adds over those of exact incremental inference, for
    squares of ``size`` at rows ``ys`` x columns ``xs`` of a ``shape`` input: per conv layer
    the share of its outputs that the square can change, carried exactly through the
    receptive fields; the classifier's Linear layers in full. Pools, ReLU and LRN do no
    multiply-adds.

    ``per_position``: each position's own region, clipped at the border, averaged over the
    positions (the tight bound); ``False``: the largest region (a square away from the
    border) for every position, what one patch size for all positions must compute.

    Paper: Sec. 4.2 (Fig. 7's occlusion), the bound of Krypton's incremental inference.
    """
    feats = model.features
    yy, xx = torch.meshgrid(ys, xs, indexing="ij")
    lo = [yy.flatten(), xx.flatten()]
    hi = [(lo[0] + size).clamp(max=shape[0]) - 1, (lo[1] + size).clamp(max=shape[1]) - 1]
    full, incr, exact = 0.0, 0.0, True
    with torch.no_grad():
        z = torch.zeros(1, feats[0].in_channels if isinstance(feats[0], nn.Conv2d) else 3,
                        *shape, device=next(model.parameters()).device,
                        dtype=next(model.parameters()).dtype)
        for mod in feats:
            z = apply_module(mod, z, None)
            out_hw = tuple(z.shape[-2:])
            params = spatial_params(mod)
            if not isinstance(mod, _POINTWISE):
                if params is None:
                    exact = False
                else:
                    k, s, p, _ = params
                    for a in (0, 1):
                        lo[a], hi[a] = changed_range(lo[a], hi[a], k, s, p, out_hw[a])
            macs = _conv_macs(mod, out_hw)
            full += macs
            area = ((hi[0] - lo[0] + 1) * (hi[1] - lo[1] + 1)).double()
            share = (area.mean() if per_position else area.max()) / (out_hw[0] * out_hw[1])
            incr += macs * (float(share) if exact else 1.0)
    fc = sum(m.weight.numel() for m in model.classifier.modules() if isinstance(m, nn.Linear))
    return (full + fc) / (incr + fc)


__all__ = ["FULL_ABOVE", "Region", "CleanMaps", "spatial_params", "changed_range",
           "square_region", "plan", "forward", "apply_module", "speedup_bound"]
