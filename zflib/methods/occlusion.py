"""Occlusion sensitivity: slide a grey square over the image and watch the network.

From one batched forward pass over every occluded copy of an image, :func:`occlusion_maps`
returns three maps over the square's positions (Fig. 7):

- (b) the total activation of one layer-5 feature map, by default the one with the strongest
  single activation on the unoccluded image;
- (d) the probability of the correct class;
- (e) the most probable class (and its probability).

The grey square is the *mean pixel*, the per-channel mean of the training mean image
(:func:`grey_baseline`), on the network-input scale. After the mean image is subtracted it is
not zero: it is ``(mean_pixel - mean_image) * input_scale``, a smooth image close to zero.

Window positions follow captum's ``Occlusion``: ``ceil((S - size) / stride) + 1`` positions per
axis starting at 0, the last window clipped at the border, so every pixel is covered and the
maps can be compared with captum (:func:`pixel_attribution` turns a map into captum's
per-pixel average). With ``stride > size``, which captum refuses, a position past the border
is left out.

Speed (``benchmarks/bench_occlusion.py``): the unoccluded image's feature maps are computed
once; every layer of each occluded copy only where the square changes it, batched over the
square's positions (:mod:`zflib.methods.incremental`, after Krypton), until that region covers most
of the map; from there the full maps. Results equal a plain forward pass of every occluded image
(tests: brute force and captum; ``method="full"`` is that plain pass). On one CPU thread, a
32-pixel square every 8 pixels at 224 pixels (625 positions): VGG16 25.7 s instead of 136 s
(5.3x; captum 166 s), ZFNet-224 3.5 s instead of 18.9 s (5.4x), AlexNet-224 4.4 s instead of
10.7 s (2.5x). An approximate mode (``approximate=tau``, off by default) cuts each layer's
region to a fraction of its map (VGG16, tau 0.3: 10.9x full re-inference, not exact). No hook
is put on the model.

Paper: Sec. 4.2, Fig. 7.
"""

from __future__ import annotations

import functools
import math
import operator
from dataclasses import dataclass

import torch
from torch import nn

from zflib.config import Config
from zflib.data.transforms import center_crop
from zflib.methods import deconv, incremental
from zflib.progress import bar
from zflib.training.models import ConvNet, in_eval_mode

# Tiny ImageNet classes used to pick the Fig. 7 examples (WordNet ids).
DOG_WNIDS: tuple[str, ...] = (
    "n02085620",  # Chihuahua
    "n02094433",  # Yorkshire terrier
    "n02099601",  # golden retriever
    "n02099712",  # Labrador retriever
    "n02106662",  # German shepherd
    "n02113799",  # standard poodle
)
VEHICLE_WNIDS: tuple[str, ...] = (
    "n02814533",  # beach wagon
    "n02917067",  # bullet train
    "n03100240",  # convertible
    "n03393912",  # freight car
    "n03444034",  # go-kart
    "n03447447",  # gondola
    "n03599486",  # jinrikisha
    "n03649909",  # lawn mower
    "n03662601",  # lifeboat
    "n03670208",  # limousine
    "n03796401",  # moving van
    "n03977966",  # police van
    "n04146614",  # school bus
    "n04285008",  # sports car
    "n04465501",  # tractor
    "n04487081",  # trolleybus
)


@dataclass
class OcclusionMaps:
    """Fig. 7 panels (b), (d), (e) of one image, each [Ny, Nx] over the square's positions.

    Attributes:
        feature: (b) total activation of map ``channel`` of ``layer`` with the square at (i, j).
        prob: (d) probability of class ``target``.
        top_class: (e) most probable class (int64).
        top_prob: probability of ``top_class``.
        ys, xs: top-left corner of the square at each row / column of the maps (int64).
        size, stride: the square's side and step in input pixels.
        target, layer, channel: the class of (d) and the feature map of (b).
        clean_feature, clean_prob, clean_top: the same quantities on the unoccluded image.
        clean_argmax: (row, col) of the strongest activation of ``channel`` on that image.
        approximate: the projective-field threshold the maps were computed with (None: exact).
    """

    feature: torch.Tensor
    prob: torch.Tensor
    top_class: torch.Tensor
    top_prob: torch.Tensor
    ys: torch.Tensor
    xs: torch.Tensor
    size: int
    stride: int
    target: int
    layer: str
    channel: int
    clean_feature: float
    clean_prob: float
    clean_top: int
    clean_argmax: tuple[int, int]
    approximate: float | None = None


# Fig. 7's grey square on ZFNet-64's 56-pixel input: (side, stride) in input pixels. The paper
# gives no size; other inputs scale both with the crop (:func:`square_geometry`)
SQUARE_AT_56: tuple[int, int] = (12, 4)


def square_geometry(cfg: Config) -> tuple[int, int]:
    """(side, stride) of Fig. 7's grey square on the network input of ``cfg``:
    :data:`SQUARE_AT_56` scaled by ``cfg.crop_size / 56`` (12 every 4 at 56; 48 every 16 at
    224, Fig. 3's geometry).

    Paper: Sec. 4.2, Fig. 7 (the grey square, whose size the paper does not give).
    """
    scale = cfg.crop_size / 56
    return max(1, round(SQUARE_AT_56[0] * scale)), max(1, round(SQUARE_AT_56[1] * scale))


def grey_baseline(mean: torch.Tensor, cfg: Config) -> torch.Tensor:
    """The grey square's colour in network-input space, [3, S, S] (S = ``cfg.crop_size``).

    Args:
        mean: the training mean image, float [3, H, W] on the 0..255 scale.
        cfg: supplies ``input_scale`` and ``crop_size``.

    Returns ``(mean_pixel - mean_image) * cfg.input_scale``, centre-cropped like
    :func:`zflib.data.to_input`: an input pixel equal to it shows the mean pixel.

    Paper: Sec. 4.2 ("a grey square").
    Note: the paper does not define its grey; we use the per-channel mean of the mean image
    (the mean pixel), so that occluding inserts the dataset's average colour.
    """
    if mean.ndim != 3 or mean.shape[0] != 3:
        raise ValueError(f"mean image must be [3, H, W], got {tuple(mean.shape)}")
    pixel = mean.mean(dim=(1, 2), keepdim=True)
    return center_crop(((pixel - mean) * cfg.input_scale)[None], cfg.crop_size)[0]


def window_starts(extent: int, size: int, stride: int) -> torch.Tensor:
    """Top-left offsets of the square along one axis of ``extent`` pixels (captum's rule:
    ``ceil((extent - size) / stride) + 1`` offsets ``0, stride, ...``; the last one may be
    clipped by the border). With ``stride > size`` (gaps between squares, which captum
    refuses) an offset at or past the border, whose square would cover nothing, is left out."""
    _check_window(extent, size, stride)
    starts = torch.arange(math.ceil((extent - size) / stride) + 1) * stride
    return starts[starts < extent]


def window_masks(height: int, width: int, size: int, stride: int) -> torch.Tensor:
    """Boolean masks [Ny * Nx, H, W] of every square position, row-major.

    Paper: Sec. 4.2, Fig. 7 (the grey square's positions).
    """
    ys = window_starts(height, size, stride)
    xs = window_starts(width, size, stride)
    rows = torch.arange(height)
    cols = torch.arange(width)
    in_y = (rows[None] >= ys[:, None]) & (rows[None] < ys[:, None] + size)  # [Ny, H]
    in_x = (cols[None] >= xs[:, None]) & (cols[None] < xs[:, None] + size)  # [Nx, W]
    return (in_y[:, None, :, None] & in_x[None, :, None, :]).reshape(-1, height, width)


def _check_window(extent: int, size: int, stride: int) -> None:
    for what, v in (("occluder size", size), ("stride", stride)):
        try:
            operator.index(v)
        except TypeError:
            raise TypeError(f"{what} must be a whole number of pixels, got {v!r}") from None
    if not 1 <= size <= extent:
        raise ValueError(f"occluder size {size} out of range 1..{extent} (the image side)")
    if not 1 <= stride <= extent:
        raise ValueError(f"stride {stride} out of range 1..{extent}")


METHODS: tuple[str, ...] = ("incremental", "full")


def _check_method(method: str, approximate: float | None) -> None:
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; valid: {', '.join(METHODS)}")
    if approximate is None:
        return
    if method != "incremental":
        raise ValueError(f"approximate={approximate} needs method='incremental', not {method!r}")
    if isinstance(approximate, bool) or not isinstance(approximate, (int, float)) or \
            not 0 < approximate <= 1:
        raise ValueError(f"approximate {approximate!r} out of range (0, 1] (a fraction of each "
                         "map's side), or None for exact maps")


def _conv_layer_channels(model: ConvNet, layer: str) -> int:
    if layer not in model.feature_names:
        raise ValueError(f"layer {layer!r} is not a conv layer of this model; valid: "
                         f"{', '.join(model.feature_names)}")
    convs = [m for m in model.features[: model.feature_names[layer]] if isinstance(m, nn.Conv2d)]
    return convs[-1].out_channels


@in_eval_mode
@torch.no_grad()
def occlusion_maps(model: ConvNet, x: torch.Tensor, target: int, *, size: int, stride: int,
                   baseline: torch.Tensor | float = 0.0, layer: str = "conv5",
                   channel: int | None = None, batch_size: int = 256,
                   method: str = "incremental",
                   approximate: float | None = None) -> OcclusionMaps:
    """Occlude ``x`` with a ``size`` square every ``stride`` pixels; record Fig. 7 (b), (d), (e).

    Args:
        model: the network; run in eval mode, its modes restored afterwards.
        x: one network input, [3, S, S] or [1, 3, S, S] (see :func:`zflib.data.to_input`);
            cast to the model's dtype.
        target: the correct class, 0..num_classes-1 (an int or one-element integer tensor),
            for panel (d).
        size: side of the square in input pixels, 1..S.
        stride: step between square positions, 1..S.
        baseline: what the square holds, a scalar or a tensor broadcastable to [3, S, S];
            :func:`grey_baseline` gives the paper's grey square.
        layer: the conv layer of panel (b) (paper: ``conv5``).
        channel: its feature map; ``None`` picks the map with the strongest single activation
            on the unoccluded image.
        batch_size: occluded images per forward pass (memory only; results do not change).
        method: ``"incremental"`` (each layer recomputed only where the square changes it,
            :mod:`zflib.methods.incremental`) or ``"full"`` (every occluded image through the whole
            network: plain re-inference). Both are exact.
        approximate: ``None`` (exact, the default), or Krypton's projective-field threshold
            ``tau`` in (0, 1]: each layer's recomputed patch is cut to ``ceil(tau * side)`` of
            its map; faster, not exact (``method="incremental"`` only).

    Returns an :class:`OcclusionMaps`.

    Paper: Sec. 4.2, Fig. 7 (b), (d), (e).
    """
    if x.ndim == 4 and x.shape[0] == 1:
        x = x[0]
    if x.ndim != 3 or x.shape[0] != 3:
        raise ValueError(f"x must be one image [3, S, S] or [1, 3, S, S], got {tuple(x.shape)}")
    x = deconv.network_input(x, model)
    h, w = x.shape[-2:]
    _check_window(min(h, w), size, stride)
    _check_method(method, approximate)
    try:
        target = operator.index(target)
    except TypeError:
        raise TypeError(f"target must be an integer class index, got {target!r}") from None
    if batch_size < 1:
        raise ValueError(f"batch_size {batch_size} out of range 1..")
    device = x.device
    base = torch.as_tensor(baseline, dtype=x.dtype, device=device)
    try:
        base = base.expand_as(x)
    except RuntimeError:
        raise ValueError(f"baseline of shape {tuple(base.shape)} does not broadcast to the "
                         f"image's {list(x.shape)}; give a number, [3, 1, 1] (one per channel) "
                         "or the image's shape (grey_baseline gives the paper's)") from None
    if not isinstance(getattr(model, "feature_names", None), dict):  # any model (a ResNet)
        if approximate is not None:
            raise ValueError(f"approximate={approximate} needs a chain of features (ZFNet, "
                             f"AlexNet, VGG); {type(model).__name__} is re-inferred in full")
        return _occlusion_any(model, x, target, size=size, stride=stride, base=base,
                              layer=layer, channel=channel, batch_size=batch_size)
    if not 0 <= target < model.num_classes:
        raise ValueError(f"target class {target} out of range 0..{model.num_classes - 1}")
    n_maps = _conv_layer_channels(model, layer)
    if channel is not None and not 0 <= channel < n_maps:
        raise ValueError(f"channel {channel} out of range 0..{n_maps - 1} of {layer}")
    ys, xs = window_starts(h, size, stride), window_starts(w, size, stride)
    feats, hooked = model.features, model.feature_names[layer]

    clean = [x[None]]  # clean[i]: the unoccluded input of feats[i]
    for mod in feats:
        clean.append(incremental.apply_module(mod, clean[-1], None))
    peak = clean[hooked + 1][0].float().cpu()  # [C, h', w']
    clean_probs = torch.softmax(model.classifier(torch.flatten(clean[-1], 1)).float(), 1)[0]
    if channel is None:
        channel = int(peak.flatten(1).amax(dim=1).argmax())

    # Every occluded image, batched over square positions: each layer recomputed only where
    # the square changes it (zflib.methods.incremental), or the full maps (method="full"). Convs run
    # channels-last (oneDNN and cuDNN are faster so), on channels-last copies of the weights;
    # no hook is put on the model.
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
    first = incremental.square_region(grid_y.flatten().to(device), grid_x.flatten().to(device),
                                      size, (h, w))
    regions = incremental.plan(feats, [tuple(c.shape[-2:]) for c in clean], first,
                               approximate=approximate, full=method == "full")
    maps = incremental.CleanMaps.build(feats, [c.contiguous(memory_format=torch.channels_last)
                                               for c in clean], regions)
    weights = {i: m.weight.contiguous(memory_format=torch.channels_last)
               for i, m in enumerate(feats) if isinstance(m, nn.Conv2d)}
    tap = (hooked, channel, clean[hooked + 1][0, channel].double().sum())
    rows = torch.arange(size, device=device)
    sums, probs = [], []
    for b in range(0, len(first.y), batch_size):
        part = [None if r is None else r.take(slice(b, b + batch_size)) for r in regions]
        square = part[0]
        in_y = (square.y[:, None] + rows) >= grid_y.flatten()[b:b + batch_size, None].to(device)
        in_x = (square.x[:, None] + rows) >= grid_x.flatten()[b:b + batch_size, None].to(device)
        at = (slice(None), (square.y[:, None] + rows)[:, :, None],
              (square.x[:, None] + rows)[:, None, :])
        patch = torch.where((in_y[:, :, None] & in_x[:, None, :])[:, None],
                            base[at].transpose(0, 1), x[at].transpose(0, 1))
        out, tapped = incremental.forward(
            feats, maps, part, patch.contiguous(memory_format=torch.channels_last),
            weights=weights, tap=tap)
        sums.append(tapped)
        probs.append(torch.softmax(model.classifier(torch.flatten(out, 1)).float(), 1))
    return _result(sums, probs, peak, clean_probs, ys=ys, xs=xs, size=size, stride=stride,
                   target=target, layer=layer, channel=channel, approximate=approximate)


def _result(sums: list[torch.Tensor], probs: list[torch.Tensor], peak: torch.Tensor,
            clean_probs: torch.Tensor, *, ys: torch.Tensor, xs: torch.Tensor, size: int,
            stride: int, target: int, layer: str, channel: int,
            approximate: float | None = None) -> OcclusionMaps:
    """:class:`OcclusionMaps` from the batches' map sums and class probabilities (one row per
    square position, raster order) and the unoccluded image's layer ``peak`` [C, h', w'] and
    probabilities ``clean_probs`` [classes]."""
    prob = torch.cat(probs).cpu()
    top_prob, top_class = prob.max(dim=1)
    flat, width = int(peak[channel].argmax()), peak.shape[-1]
    shape = (len(ys), len(xs))
    return OcclusionMaps(
        feature=torch.cat(sums).float().cpu().reshape(shape),
        prob=prob[:, target].reshape(shape), top_class=top_class.reshape(shape),
        top_prob=top_prob.reshape(shape), ys=ys, xs=xs, size=size, stride=stride,
        target=target, layer=layer, channel=channel, clean_feature=float(peak[channel].sum()),
        clean_prob=float(clean_probs[target]), clean_top=int(clean_probs.argmax()),
        clean_argmax=(flat // width, flat % width), approximate=approximate)


def _occlusion_any(model: nn.Module, x: torch.Tensor, target: int, *, size: int, stride: int,
                   base: torch.Tensor, layer: str | int, channel: int | None,
                   batch_size: int) -> OcclusionMaps:
    """:func:`occlusion_maps` of a model that is no chain of ``features`` (ResNet, DenseNet):
    every occluded image through the whole network (plain re-inference), ``layer`` any of
    its module names, read by :func:`zflib.methods.deconv_general.layer_and_output`. ``base``: the
    baseline expanded to ``x``'s shape (arguments checked by the caller)."""
    from zflib.methods import deconv_general as general

    name = deconv.resolve_layer(model, layer)
    act, logits = general.layer_and_output(model, x[None], name)
    peak = general.as_maps(act)[0].float().cpu()
    clean_probs = torch.softmax(logits.float(), 1)[0].cpu()
    if not 0 <= target < len(clean_probs):
        raise ValueError(f"target class {target} out of range 0..{len(clean_probs) - 1}")
    if channel is None:
        channel = int(peak.flatten(1).amax(dim=1).argmax())
    if not 0 <= channel < len(peak):
        raise ValueError(f"channel {channel} out of range 0..{len(peak) - 1} of {name}")
    h, w = x.shape[-2:]
    ys, xs = window_starts(h, size, stride), window_starts(w, size, stride)
    masks = window_masks(h, w, size, stride).to(x.device)[:, None]
    sums, probs = [], []
    for b in range(0, len(masks), batch_size):
        a, out = general.layer_and_output(model, torch.where(masks[b:b + batch_size], base, x),
                                          name)
        sums.append(general.as_maps(a)[:, channel].double().sum((1, 2)))
        probs.append(torch.softmax(out.float(), 1))
    return _result(sums, probs, peak, clean_probs, ys=ys, xs=xs, size=size, stride=stride,
                   target=target, layer=name, channel=channel)


def pixel_attribution(values: torch.Tensor, clean: float, *, size: int, stride: int,
                      shape: tuple[int, int]) -> torch.Tensor:
    """Spread a map over square positions back onto pixels, as captum's ``Occlusion`` does.

    Args:
        values: [Ny, Nx] a quantity with the square at each position (e.g. ``maps.prob``).
        clean: the same quantity on the unoccluded image.
        size, stride: the square's side and step used to make ``values``.
        shape: (H, W) of the image.

    Returns [H, W]: at each pixel the mean of ``clean - values`` over the squares covering it
    (positive where occluding lowers the quantity); nan at pixels no square covers (only
    with ``stride > size``, which captum refuses).

    Paper: Sec. 4.2, Fig. 7 (d) (the per-pixel form used by captum).
    """
    masks = window_masks(shape[0], shape[1], size, stride).to(values.dtype)
    if values.numel() != len(masks):
        raise ValueError(f"values has {values.numel()} positions; size {size}, stride {stride} "
                         f"on {shape[0]}x{shape[1]} gives {len(masks)}")
    drop = (clean - values.reshape(-1)).to(masks.dtype)
    return (drop[:, None, None] * masks).sum(0) / masks.sum(0)


def most_confident(probs: torch.Tensor, labels: torch.Tensor, *,
                   among: torch.Tensor | None = None, exclude: tuple[int, ...] = ()) -> int:
    """Index of the image with the highest probability of its true class.

    Args:
        probs: [N, K] class probabilities; labels: [N] true classes.
        among: optional boolean [N]: only these images are considered, if any is left
            (otherwise all images are).
        exclude: indices never returned.

    Correctly classified images come first; an image is only chosen from the misclassified
    ones when no candidate is classified correctly. Raises ``ValueError`` when nothing is left.
    """
    n = len(labels)
    if probs.ndim != 2 or len(probs) != n:
        raise ValueError(f"probs of shape {tuple(probs.shape)}; want [{n}, K] for {n} labels")
    deconv.check_indices(labels, probs.shape[1], "label")
    ok = torch.ones(n, dtype=torch.bool)
    ok[list(exclude)] = False
    if among is not None and (among & ok).any():
        ok &= among
    if not ok.any():
        raise ValueError(f"no image left to choose from ({n} images, {len(exclude)} excluded)")
    p_true = probs[torch.arange(n), labels]
    correct = probs.argmax(1) == labels
    score = p_true + correct.float() - 3.0 * (~ok).float()  # correct first, then confidence
    return int(score.argmax())


def class_mask(labels: torch.Tensor, classes: list[str], wnids: tuple[str, ...]) -> torch.Tensor:
    """Boolean [N]: which labels name one of ``wnids`` (e.g. :data:`DOG_WNIDS`)."""
    wanted = torch.tensor([c in set(wnids) for c in classes], dtype=torch.bool)
    return wanted[labels]


def feature_off_object(maps: OcclusionMaps) -> float:
    """Distance in pixels between the square positions that most lower panel (b) (the feature
    map's total activation) and panel (d) (the correct class's probability).

    Large when the strongest feature is not what the network needs to recognise the object,
    as in the paper's third example (a face, and an Afghan hound). Used to pick that example.
    """
    fy, fx = divmod(int(maps.feature.argmin()), maps.feature.shape[1])
    py, px = divmod(int(maps.prob.argmin()), maps.prob.shape[1])
    dy = float(maps.ys[fy] - maps.ys[py])
    dx = float(maps.xs[fx] - maps.xs[px])
    return math.hypot(dy, dx)


@dataclass
class MapProjections:
    """Fig. 7 (c): one feature map projected to pixels, in this image and in others.

    Attributes:
        own: [3, S, S] deconvnet projection of the map's strongest activation in this image.
        others: [k, 3, S, S] projections of the same map's strongest activations in the other
            images where it is strongest (top-k mining), strongest first.
        images: [k] indices of those images in the mined inputs.
        values: [k] their activations.
        channel, layer: the map.
    """

    own: torch.Tensor
    others: torch.Tensor
    images: torch.Tensor
    values: torch.Tensor
    channel: int
    layer: str


@torch.no_grad()
def map_projections(model: ConvNet, x: torch.Tensor, channel: int, top, inputs: torch.Tensor,
                    *, layer: str = "conv5", k: int = 8,
                    exclude: int | None = None) -> MapProjections:
    """Project map ``channel`` of ``layer``: its strongest activation in ``x`` and in the
    top-``k`` other images of ``inputs``.

    Args:
        model: the network, in eval mode.
        x: this image's network input [3, S, S] or [1, 3, S, S].
        channel: the map (e.g. ``OcclusionMaps.channel``).
        top: :func:`zflib.methods.topk.mine_topk`'s result over ``inputs`` (a dict or the layer's
            ``TopK``), with at least ``k + 1`` activations per map.
        inputs: [N, 3, S, S] the mined network inputs.
        layer: the conv layer (paper: ``conv5``).
        k: other images to show.
        exclude: index in ``inputs`` of this image (left out of the others), if it is there.

    Returns :class:`MapProjections`; projections are whole [3, S, S] images (the deconvnet of
    :mod:`zflib.methods.deconv`, its defaults).

    Paper: Sec. 4.2, Fig. 7 (c).
    """
    x = x[None] if x.ndim == 3 else x
    if k < 0:
        raise ValueError(f"k {k} out of range 0..")
    mine = top[layer] if isinstance(top, dict) else top
    n_maps = _conv_layer_channels(model, layer)
    if not 0 <= channel < n_maps:
        raise ValueError(f"channel {channel} out of range 0..{n_maps - 1} of {layer}")
    own = deconv.project_strongest(model, x, layer, maps=[channel]).pixels[0]
    row = mine.select([channel])
    keep = (row.images[0] >= 0) & (row.images[0] != (-2 if exclude is None else exclude))
    imgs = row.images[0][keep][:k]
    if len(imgs) < k:
        raise ValueError(f"top-k holds {len(imgs)} other images for map {channel}; need {k} "
                         f"(mine with k >= {k + 1})")
    pos = torch.stack([row.ys[0][keep][:k], row.xs[0][keep][:k]], 1)
    others = deconv.project(model, inputs[imgs], layer, maps=torch.full((k,), channel),
                            positions=pos, images=torch.arange(k)) if k else \
        torch.zeros(0, *own.shape)
    return MapProjections(own=own.cpu(), others=others.cpu(), images=imgs,
                          values=row.values[0][keep][:k], channel=channel, layer=layer)


def _ranking(probs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Image indices, correctly classified first, then by true-class probability."""
    p_true = probs[torch.arange(len(labels)), labels]
    correct = (probs.argmax(1) == labels).float()
    return torch.argsort(p_true + correct, descending=True)


def _shortlist(probs: torch.Tensor, labels: torch.Tensor, among: torch.Tensor | None,
               exclude: tuple[int, ...], n: int) -> list[int]:
    """Up to ``n`` images of ``among`` (all, if none of it is left): its correctly classified
    images (all of them, if none is) ranked by true-class probability, taken at ``n`` evenly
    spaced ranks, so that confident and less confident ones both take part."""
    order = [i for i in _ranking(probs, labels).tolist() if i not in exclude]
    pool = [i for i in order if among is None or bool(among[i])] or order
    correct = [i for i in pool if int(probs[i].argmax()) == int(labels[i])] or pool
    if len(correct) <= n:
        return correct
    ranks = torch.linspace(0, len(correct) - 1, n).round().long().unique()
    return [correct[r] for r in ranks.tolist()]


def choose_examples(model: ConvNet, inputs: torch.Tensor, labels: torch.Tensor,
                    classes: list[str], probs: torch.Tensor, *, baseline: torch.Tensor | float,
                    size: int, candidates: int = 8, progress: bool = True) -> list[int]:
    """The three Fig. 7 examples, by a fixed rule.

    Candidates of a group are ``candidates`` of its correctly classified images, taken at
    evenly spaced ranks of true-class probability; each is occluded on a coarse grid (squares
    of ``size``, stride ``size``, to keep the search cheap).

    1. a dog (:data:`DOG_WNIDS`): the candidate whose true-class probability falls most
       under occlusion (a saturated softmax that no square can move shows nothing);
    2. a vehicle (:data:`VEHICLE_WNIDS`): the same;
    3. off-object: among the other images' candidates whose true-class probability at least
       halves under some square (the class can be located; else all of them), the one whose
       strongest layer-5 map is most sensitive farthest from where the class is
       (:func:`feature_off_object`).

    A group absent from ``labels`` (small profiles) draws its candidates from all images.

    Args:
        inputs: [N, 3, S, S] network inputs; labels: [N]; classes: class ids (wnids);
        probs: [N, K] class probabilities (:func:`zflib.training.evaluate.predict`).
        progress: a bar over the candidates occluded (at most ``3 * candidates``).

    Paper: Sec. 4.2, Fig. 7 (a Pomeranian, a car wheel, an Afghan hound).
    """
    if candidates < 1:
        raise ValueError(f"candidates {candidates} out of range 1..")
    searched = bar(total=3 * candidates, progress=progress, unit="img",
                   desc="occluding candidates")

    @functools.cache
    def coarse(i: int) -> OcclusionMaps:
        maps = occlusion_maps(model, inputs[i], int(labels[i]), size=size, stride=size,
                              baseline=baseline)
        searched.update(1)
        return maps

    def drop(i: int) -> float:
        m = coarse(i)
        return m.clean_prob - float(m.prob.min())

    def located(i: int) -> bool:  # the class probability at least halves somewhere
        return drop(i) >= 0.5 * coarse(i).clean_prob

    dogs = _shortlist(probs, labels, class_mask(labels, classes, DOG_WNIDS), (), candidates)
    dog = max(dogs, key=drop)
    cars = _shortlist(probs, labels, class_mask(labels, classes, VEHICLE_WNIDS), (dog,),
                      candidates)
    car = max(cars, key=drop)
    rest = _shortlist(probs, labels, None, (dog, car), candidates)
    if not rest:
        raise ValueError(f"no image left for the third example ({len(labels)} images)")
    rest = [i for i in rest if located(i)] or rest
    third = max(rest, key=lambda i: feature_off_object(coarse(i)))
    searched.close()
    return [dog, car, third]


def fig7_panels(model: ConvNet, inputs: torch.Tensor, labels: torch.Tensor, picks: list[int],
                *, baseline: torch.Tensor | float, size: int, stride: int, top=None,
                k: int = 8, progress: bool = True
                ) -> list[tuple[OcclusionMaps, MapProjections | None]]:
    """Panels (b)-(e) of Fig. 7 for each image ``picks[i]`` of ``inputs``.

    ``top``: :func:`zflib.methods.topk.mine_topk` over ``inputs`` for panel (c) (``None``: no panel
    (c)); ``k`` other images per map; ``progress``: a bar over the images.

    Paper: Sec. 4.2, Fig. 7.
    """
    out = []
    for i in bar(picks, progress=progress, unit="img", desc="occluding"):
        maps = occlusion_maps(model, inputs[i], int(labels[i]), size=size, stride=stride,
                              baseline=baseline)
        proj = None if top is None else map_projections(model, inputs[i], maps.channel, top,
                                                        inputs, layer=maps.layer, k=k,
                                                        exclude=i)
        out.append((maps, proj))
    return out
