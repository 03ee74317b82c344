"""Exact receptive-field arithmetic: which input pixels a feature-map unit can see.

A unit at row ``y`` of layer ``L`` depends on input rows ``[y * stride + offset, y * stride +
offset + size)`` (and the same for columns), where, composing each Conv2d / MaxPool2d of kernel
``k``, stride ``s``, padding ``p``, dilation ``d`` from the input upwards,
``size += d (k - 1) * stride``, ``offset -= p * stride``, ``stride *= s`` (starting from
``size = 1, stride = 1, offset = 0``). ReLU and LocalResponseNorm (across maps) change nothing.
Rows outside ``[0, S)`` are zero padding; :func:`patch_box` clips them and :func:`crop_patches`
pads them with a fill value, so every patch of a layer has the same size.

Public API:

- ``receptive_field(model, layer) -> ReceptiveField(size, stride, offset)``
- ``patch_box(rf, y, x) -> (top, left, bottom, right)`` in input pixels, not clipped
- ``crop_patches(images, rf, ys, xs, *, fill=0.0) -> [K, C, size, size]``

Paper: Sec. 2.1 and Fig. 2 ("the corresponding image patches", cropped to each unit's
receptive field).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from zflib.methods import deconv_general
from zflib.methods.deconv import feature_ops, resolve_layer, uses_chain


class ReceptiveField(NamedTuple):
    """Geometry of one layer's units in input pixels (square kernels and strides)."""

    size: int  # side of the (unclipped) patch a unit sees
    stride: int  # pixels between neighbouring units
    offset: int  # input row of the first pixel seen by unit 0 (negative: padding)


def receptive_field(model: nn.Module, layer: int | str, *, side: int | None = None
                    ) -> ReceptiveField:
    """Receptive field of the units of ``layer`` (``3`` or ``"conv3"``) of ``model``.

    Args:
        model: a :class:`zflib.training.models.ConvNet` or any network accepted by
            :func:`zflib.methods.deconv.feature_ops` (``features`` of Conv2d, ReLU, MaxPool2d, LRN).
        layer: ``conv1``..``convN`` (or its number).

    Returns:
        ``ReceptiveField(size, stride, offset)``; unit ``(y, x)`` sees input rows
        ``y * stride + offset .. + size`` and the same columns.

    A model that is no plain chain (:func:`zflib.methods.deconv.uses_chain`) is measured by
    :func:`zflib.methods.deconv_general.receptive_field` at ``side`` pixels (default: the model's
    ``input_size``, else 224); units that see the whole image get ``size = side`` and
    ``stride = offset = 0`` (every patch the whole image).

    Raises ``ValueError`` for an unknown layer or non-square geometry.

    Paper: Sec. 2.1, Fig. 2.
    """
    if not uses_chain(model, resolve_layer(model, layer)):
        side = side or deconv_general.input_side(model)
        geo = deconv_general.receptive_field(model, layer, side=side,
                                             channels=deconv_general.in_channels(model))
        return ReceptiveField(geo.size, geo.stride, geo.offset) if geo.size else \
            ReceptiveField(side, 0, 0)
    ops = feature_ops(model, layer)
    dims = []
    for axis in (0, 1):
        size, stride, offset = 1, 1, 0
        for op in ops:
            if op.kind in ("conv", "pool"):
                k, s, p, d = op.kernel[axis], op.stride[axis], op.padding[axis], op.dilation[axis]
                size += d * (k - 1) * stride
                offset -= p * stride
                stride *= s
        dims.append((size, stride, offset))
    if dims[0] != dims[1]:
        raise ValueError(f"layer {layer!r} has a non-square receptive field {dims}; "
                         "receptive_field supports square geometry only")
    return ReceptiveField(*dims[0])


def patch_box(rf: ReceptiveField, y: int, x: int) -> tuple[int, int, int, int]:
    """Input-pixel box ``(top, left, bottom, right)`` (bottom/right exclusive) seen by unit
    ``(y, x)``; not clipped to the image (it may start below 0 or end past ``S``)."""
    top, left = y * rf.stride + rf.offset, x * rf.stride + rf.offset
    return top, left, top + rf.size, left + rf.size


def crop_patches(images: torch.Tensor, rf: ReceptiveField, ys: torch.Tensor, xs: torch.Tensor,
                 *, fill: float = 0.0) -> torch.Tensor:
    """Crop the receptive field of unit ``(ys[k], xs[k])`` from ``images[k]``.

    Args:
        images: [K, C, S, S] (inputs or projections, one per patch).
        rf: from :func:`receptive_field`.
        ys, xs: [K] unit positions in the layer's map.
        fill: value for the parts of the box outside the image (zero padding of the net).

    Returns:
        [K, C, rf.size, rf.size]; pixel ``(i, j)`` is image pixel ``(top + i, left + j)``.
    """
    k, c, h, w = images.shape
    ys = torch.as_tensor(ys, dtype=torch.long).reshape(-1).to(images.device)
    xs = torch.as_tensor(xs, dtype=torch.long).reshape(-1).to(images.device)
    if len(ys) != k or len(xs) != k:
        raise ValueError(f"{len(ys)} ys and {len(xs)} xs for {k} images; want one each")
    # Boxes may reach this far past the image: unit 0's starts at offset (<= 0), and the last
    # unit's starts at most -offset past the last pixel (each layer's last window starts at
    # most its padding past its input), so every unit of the layer's map crops.
    pad = rf.size - rf.offset
    ar = torch.arange(rf.size, device=images.device)
    rows = (ys * rf.stride + rf.offset)[:, None] + ar  # [K, size] image rows
    cols = (xs * rf.stride + rf.offset)[:, None] + ar
    bad = (rows[:, 0] < -pad) | (rows[:, -1] >= h + pad) | (cols[:, 0] < -pad) | \
        (cols[:, -1] >= w + pad)
    if bad.any():
        i = int(bad.nonzero()[0])
        lo = -((rf.offset + pad) // rf.stride)  # the first position whose box starts >= -pad
        raise ValueError(
            f"unit position (y={int(ys[i])}, x={int(xs[i])}) puts its {rf.size}-pixel receptive "
            f"field outside the {h}x{w} image; valid: y in {lo}.."
            f"{(h + pad - rf.offset - rf.size) // rf.stride}, x in {lo}.."
            f"{(w + pad - rf.offset - rf.size) // rf.stride}")
    inside = ((rows >= 0) & (rows < h))[:, :, None] & ((cols >= 0) & (cols < w))[:, None, :]
    kk = torch.arange(k, device=images.device)[:, None, None]
    out = images[kk, :, rows.clamp(0, h - 1)[:, :, None], cols.clamp(0, w - 1)[:, None, :]]
    out = out.masked_fill(~inside[..., None], fill)  # [K, size, size, C]
    return out.permute(0, 3, 1, 2).contiguous()


__all__ = ["ReceptiveField", "receptive_field", "patch_box", "crop_patches"]
