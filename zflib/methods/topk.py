"""Top-k mining: the strongest activations of every feature map over a dataset, streamed.

One forward pass per batch (stopped at the deepest requested layer) updates, for every map of
every requested layer at once, the k strongest activations seen so far: (value, image, y, x).
At most one activation per image and map is kept (the image's strongest, the first in raster
order on ties), so the k are k different images, as in the paper's figures. Ties in value go
to the smaller image index, so the result does not depend on batching or on how the data are
sharded: state is [C, k] per layer (memory does not grow with the dataset) and :func:`merge`
of the results of disjoint shards equals one pass over their union.

Under ``torch.distributed`` (initialised), :func:`mine_topk` mines the rank's strided share of
the batches (batch ``i`` on rank ``i % world``) and gathers and merges every rank's result.

Public API:

- ``mine_topk(model, data, *, layers=("conv1", .., "conv5"), k=9) -> {layer: TopK}``
- ``merge(a, b)``: two results (``TopK`` or dicts of them) -> one
- ``choose_maps(model, layers, n, *, seed=0) -> {layer: maps}``: the seeded subset a figure shows
- ``map_scores(top, maps, labels)``: what that subset is (each map's top-k values, its rank in
  the layer, how many of its top-k images share a class; ``class_concentration``, and by
  chance: ``chance_concentration``)
- ``top_projections(model, inputs, display, top, layer, maps) -> TopProjections``: deconvnet
  projections of the top-k and the image patches behind them, cropped to the receptive field
- ``strongest_over_epochs(load, epochs, inputs, maps) -> {layer: TopProjections}`` (Fig. 4)

Paper: Sec. 4, Fig. 2 (top 9 activations across the validation data), Fig. 4.
"""

from __future__ import annotations

import dataclasses
import numbers
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from zflib import distributed
from zflib.data.common import cache_dir, cache_key, tensor_digest
from zflib.methods import deconv, deconv_general
from zflib.methods.deconv_steps import check_rule
from zflib.methods.receptive import crop_patches, receptive_field
from zflib.progress import bar

LAYERS = ("conv1", "conv2", "conv3", "conv4", "conv5")
_EMPTY = torch.iinfo(torch.long).max  # image index of an empty slot (sorts last on ties)


@dataclass
class TopK:
    """The k strongest activations of each of C maps, strongest first.

    Empty slots (fewer than k images seen) hold value ``-inf`` and image ``-1``.
    """

    values: torch.Tensor  # [C, k] float32
    images: torch.Tensor  # [C, k] int64, index in the mined stream
    ys: torch.Tensor  # [C, k] int64
    xs: torch.Tensor  # [C, k] int64

    @property
    def k(self) -> int:
        return self.values.shape[1]

    def select(self, maps) -> TopK:
        """The rows of ``maps``."""
        maps = deconv.as_indices(maps, "maps", torch.device("cpu")).reshape(-1)
        deconv.check_indices(maps, len(self.values), "map")
        return TopK(self.values[maps], self.images[maps], self.ys[maps], self.xs[maps])


def _empty(c: int, k: int) -> TopK:
    return TopK(torch.full((c, k), float("-inf")), torch.full((c, k), -1, dtype=torch.long),
                torch.zeros(c, k, dtype=torch.long), torch.zeros(c, k, dtype=torch.long))


def _select(values, images, ys, xs, k: int) -> TopK:
    """Keep per row the k largest values, ties to the smaller image (deterministic)."""
    key = torch.where(images < 0, torch.full_like(images, _EMPTY), images)
    o1 = torch.sort(key, dim=1, stable=True).indices
    values, images, ys, xs = (t.gather(1, o1) for t in (values, images, ys, xs))
    o2 = torch.sort(values, dim=1, descending=True, stable=True).indices[:, :k]
    return TopK(*(t.gather(1, o2) for t in (values, images, ys, xs)))


def _union(a: TopK, cand: tuple, k: int) -> TopK:
    """Top k of ``a`` and candidate columns ``(values, images, ys, xs)`` [C, n]."""
    cat = [torch.cat([s, t], 1) for s, t in zip((a.values, a.images, a.ys, a.xs), cand,
                                                strict=True)]
    return _select(*cat, k)


def merge(a: TopK | dict[str, TopK], b: TopK | dict[str, TopK]) -> TopK | dict[str, TopK]:
    """Merge two results over disjoint sets of images (same k and maps): a pure function.

    ``merge(mine(A), mine(B)) == mine(A then B)`` whatever the split (images numbered in one
    stream). Dicts merge layer by layer.
    """
    if isinstance(a, dict):
        if not isinstance(b, dict) or a.keys() != b.keys():
            raise ValueError(f"cannot merge layers {list(a)} with {list(b)}")
        return {n: merge(a[n], b[n]) for n in a}
    if a.values.shape != b.values.shape:
        raise ValueError(f"cannot merge top-k of shape {tuple(a.values.shape)} with "
                         f"{tuple(b.values.shape)}")
    return _union(a, (b.values, b.images, b.ys, b.xs), a.k)


def _batches(data, batch_size: int) -> Iterable[torch.Tensor]:
    if isinstance(data, torch.Tensor):
        for i in range(0, len(data), batch_size):
            yield data[i:i + batch_size]
    else:
        for item in data:
            yield item[0] if isinstance(item, (tuple, list)) else item


@torch.no_grad()
def mine_topk(model: nn.Module, data: torch.Tensor | Iterable, *,
              layers: Sequence[str | int] = LAYERS, k: int = 9, batch_size: int = 256,
              shard: tuple[int, int] | None = None,
              device: torch.device | str | None = None,
              progress: bool = True) -> dict[str, TopK]:
    """The k strongest activations (one per image) of every map of ``layers`` over ``data``.

    Args:
        model: a :class:`zflib.training.models.ConvNet` or any network :mod:`zflib.methods.deconv`
        accepts. data: network inputs [N, 3, S, S] (batched by ``batch_size``) or an iterable of
            batches [B, 3, S, S] (or of tuples whose first item is one). Images are numbered
            0.. in the order they come.
        layers: layer names or numbers (or one of them); one forward pass serves all.
        k: activations kept per map (paper: 9).
        shard: ``(rank, world)``: mine only batches ``i`` with ``i % world == rank`` (numbering
            is global) and return that shard's result, for the caller to :func:`merge`.
            Default: the ``torch.distributed`` rank if initialised (then results are gathered
            and merged across ranks), else everything.
        device: where the batches go: the model's device (the default; another is refused).
        progress: a bar over the batches (:func:`zflib.progress.bar`; on rank 0 only).

    Returns:
        {layer name: :class:`TopK`} on the CPU.

    Paper: Sec. 4, Fig. 2.
    """
    if isinstance(k, bool) or not isinstance(k, numbers.Integral):
        raise TypeError(f"k must be a whole number of activations per map, got {k!r}")
    if k < 1:
        raise ValueError(f"k {k} out of range 1..")
    if batch_size < 1:
        raise ValueError(f"batch_size {batch_size} out of range 1..")
    names = deconv.resolve_layers(model, layers)
    if not names:
        raise ValueError("layers is empty; give some of " + ", ".join(deconv.layer_names(model)))
    forward = _forward(model, names)
    # no shard given: the process group's share, and every rank gets the merged result
    gather = shard is None
    rank, world = distributed.shard() if gather else shard
    if not 0 <= rank < world:
        raise ValueError(f"shard rank {rank} out of range 0..{world - 1}")
    own = next(model.parameters()).device
    device = own if device is None else torch.device(device)
    if device.type != own.type or (device.index is not None and device != own):
        raise ValueError(f"device {device} is not the model's ({own}); move the model there "
                         "first (model.to(device)) or leave device out")
    chans = deconv_general.in_channels(model)
    state: dict[str, TopK] = {}
    seen = 0
    batches = bar(_batches(data, batch_size), progress=progress and rank == 0,
                  total=_count(data, batch_size), unit="batch",
                  desc=f"mining {names[0]}" + (f"-{names[-1]}" if len(names) > 1 else ""))
    for b, xb in enumerate(batches):
        n = len(xb)  # other ranks' batches are only counted (zflib.apps.mine passes placeholders)
        if b % world == rank:
            # one image [3, S, S] (what a Dataset yields) would run as an unbatched conv and
            # its rows would be taken for maps
            if xb.dim() != 4 or xb.shape[1] != chans:
                raise ValueError(f"batch {b} has shape {tuple(xb.shape)}; want "
                                 f"[B, {chans}, S, S] (batch a Dataset with a DataLoader)")
            xin = deconv.network_input(xb, model, what=f"batch {b}", non_blocking=True)
            for name, out in forward(xin):
                h = deconv_general.as_maps(out)  # a vector layer (fc): 1x1 maps
                w = h.shape[-1]
                val, pos = h.flatten(2).max(2)  # [B, C]: each image's strongest
                imgs = torch.arange(seen, seen + n).expand(val.shape[1], n)
                cand = (val.t().float().cpu(), imgs, (pos // w).t().cpu(),
                        (pos % w).t().cpu())
                if name not in state:
                    state[name] = _empty(val.shape[1], k)
                state[name] = _union(state[name], cand, k)
        seen += n
    for name in names:  # a shard without batches
        if name not in state:
            state[name] = _empty(_channels(model, name), k)
    if gather and world > 1:
        parts: list = [None] * world
        torch.distributed.all_gather_object(parts, state)
        state = parts[0]
        for p in parts[1:]:
            state = merge(state, p)
    return {n: state[n] for n in names}


def _count(data, batch_size: int) -> int | None:
    """How many batches ``data`` makes (:func:`mine_topk`), if it knows its length."""
    if isinstance(data, torch.Tensor):
        return -(-len(data) // batch_size)
    try:
        return len(data)
    except TypeError:  # a generator
        return None


def _forward(model: nn.Module, names: Sequence[str]
             ) -> Callable[[torch.Tensor], Iterable[tuple[str, torch.Tensor]]]:
    """``h -> (layer, its output)`` for each of ``names``: the chain op by op (ReLUs in
    place), or any model run to its deepest layer (:func:`zflib.methods.deconv_general.run_to`)."""
    if not deconv.uses_chain(model, names):
        return lambda h: deconv_general.run_to(model, h, names).items()
    idx = deconv.chain_indices(model)
    ops = deconv.feature_ops(model, max(names, key=lambda n: idx[n]))
    record: dict[int, list[str]] = {}
    for n in names:
        record.setdefault(idx[n], []).append(n)

    def run(h: torch.Tensor) -> Iterable[tuple[str, torch.Tensor]]:
        for i, op in enumerate(ops):
            h = deconv.step(op, h, inplace=i > 0)
            for n in record.get(i, ()):
                yield n, h
    return run


def _channels(model: nn.Module, layer: str) -> int:
    if deconv.uses_chain(model, layer):
        convs = [op for op in deconv.feature_ops(model, layer) if op.kind == "conv"]
        return convs[-1].module.out_channels
    return deconv_general.channels(model, layer)


def choose_maps(model: nn.Module, layers: Sequence[str | int] = LAYERS, n: int = 16, *,
                seed: int = 0) -> dict[str, torch.Tensor]:
    """A seeded random subset of ``n`` maps (sorted) of each layer, for a figure
    (``n`` larger than a layer's width: all its maps).

    Paper: Fig. 2, Fig. 4 ("a random subset of feature maps").
    """
    if n < 1:
        raise ValueError(f"n {n} out of range 1..")
    g = torch.Generator().manual_seed(seed)
    out = {}
    for name in deconv.resolve_layers(model, layers):
        c = _channels(model, name)
        out[name] = torch.randperm(c, generator=g)[:n].sort().values
    return out


def map_scores(top: TopK, maps: deconv.Ints, labels: torch.Tensor | None = None
               ) -> list[dict[str, float | int]]:
    """What a figure's choice of maps picked, map by map: ``map``, ``top1`` (its strongest
    activation), ``topk_mean`` (the mean of its top-k), ``rank`` (1: the layer's strongest
    map by ``top1``, of ``maps_in_layer``) and, with ``labels`` ([N] classes of the mined
    images), ``modal_class`` and ``modal_count``: how many of its top-k images share the
    commonest class (:func:`class_concentration`).

    Paper: Fig. 2 ("a random subset of feature maps": here the subset is named and scored)."""
    maps = deconv.as_indices(maps, "maps", torch.device("cpu")).reshape(-1)
    sel = top.select(maps)
    order = torch.argsort(torch.argsort(-top.values[:, 0], stable=True))
    rows = [{"map": int(m), "top1": float(sel.values[i, 0]),
             "topk_mean": float(sel.values[i].mean()), "rank": int(order[m]) + 1,
             "maps_in_layer": len(top.values)} for i, m in enumerate(maps.tolist())]
    if labels is not None:
        modal, count = class_concentration(sel, labels)
        for r, c, n in zip(rows, modal.tolist(), count.tolist(), strict=True):
            r.update(modal_class=c, modal_count=n)
    return rows


def class_concentration(top: TopK, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per map, the commonest class among its top-k images and how many of them have it
    ([C] each; empty slots count for no class). A map tuned to one kind of object gathers
    its top-k from few classes; 9 images drawn at random from Tiny ImageNet's 200 even
    classes share one about 1.2 times on average.

    Paper: Sec. 4 (deeper layers are "more class-specific")."""
    labels = torch.as_tensor(labels).long().reshape(-1)
    if int(top.images.max()) >= len(labels):
        raise ValueError(f"top-k image {int(top.images.max())} out of range "
                         f"0..{len(labels) - 1} of labels")
    cls = torch.where(top.images >= 0, labels[top.images.clamp(min=0)], -1)
    counts = torch.zeros(len(cls), int(labels.max()) + 2, dtype=torch.long)
    counts.scatter_add_(1, cls + 1, torch.ones_like(cls))  # column 0: empty slots
    count, modal = counts[:, 1:].max(1)
    return modal, count


def chance_concentration(labels: torch.Tensor, k: int = 9, *, draws: int = 20000,
                         seed: int = 0) -> float:
    """What :func:`class_concentration` gives by chance: the mean count of the commonest class
    among ``k`` images drawn at random, without replacement, from ``labels`` ([N] classes),
    over ``draws`` seeded draws (brute force, so any class balance is accounted for).

    Paper: Sec. 4 (the baseline against which deeper layers are "more class-specific")."""
    labels = torch.as_tensor(labels).long().reshape(-1)
    if not 1 <= k <= len(labels):
        raise ValueError(f"k={k} out of range 1..{len(labels)} (the number of labels)")
    if draws < 1:
        raise ValueError(f"draws={draws} must be at least 1")
    g = torch.Generator().manual_seed(seed)
    picks = torch.randint(len(labels), (draws, k), generator=g)
    while True:  # redraw the draws that hold an image twice: distinct draws stay uniform
        s = picks.sort(1).values
        again = (s[:, 1:] == s[:, :-1]).any(1).nonzero().reshape(-1)
        if not len(again):
            break
        picks[again] = torch.randint(len(labels), (len(again), k), generator=g)
    cls = labels[picks]
    counts = torch.zeros(draws, int(labels.max()) + 1, dtype=torch.long)
    counts.scatter_add_(1, cls, torch.ones_like(cls))
    total = int(counts.max(1).values.sum())
    return total / draws


@dataclass
class TopProjections:
    """Projections of a layer's top-k activations for some maps, and their image patches,
    both cropped to the layer's receptive field (patch side P)."""

    layer: str
    maps: torch.Tensor  # [M]
    top: TopK  # the rows of maps: values, images, ys, xs [M, k]
    projections: torch.Tensor  # [M, k, 3, P, P] deconvnet projections (zeros: empty slot)
    patches: torch.Tensor  # [M, k, C, P, P] from ``display`` (fill outside the image)


@torch.no_grad()
def top_projections(model: nn.Module, inputs: torch.Tensor, display: torch.Tensor,
                    top: TopK | dict[str, TopK], layer: str | int, maps: deconv.Ints, *,
                    rule: str = "deconvnet", unpool: str = "sum", lrn: str | None = None,
                    image_batch: int = 64, fill: float = 1.0,
                    progress: bool = True) -> TopProjections:
    """Deconvnet projections of the top-k activations of ``maps``, one forward pass per image
    (guided backprop's or the gradient's by ``rule``).

    Args:
        inputs: [N, 3, S, S] the mined network inputs (indexed by ``top.images``).
        display: [N, C, S, S] the same images for display (e.g. ``from_input`` permuted).
        top: the layer's :class:`TopK` (or :func:`mine_topk`'s dict).
        maps: [M] map indices.
        rule, unpool, lrn: see :func:`zflib.methods.deconv.project`.
        image_batch: distinct images traced together.
        fill: patch value outside the image (1.0: white).
        progress: a bar over the images traced (:func:`zflib.progress.bar`).

    Returns:
        :class:`TopProjections`.

    Paper: Sec. 4, Fig. 2.
    """
    name = deconv.resolve_layer(model, layer)
    if isinstance(top, dict) and name not in top:
        raise ValueError(f"{name} was not mined; mined: {', '.join(top) or 'nothing'}")
    top = top[name] if isinstance(top, dict) else top
    maps = deconv.as_indices(maps, "maps", torch.device("cpu")).reshape(-1)
    sel = top.select(maps)
    m, k = sel.values.shape
    if display.dim() != 4 or len(display) != len(inputs) or \
            display.shape[-2:] != inputs.shape[-2:]:
        raise ValueError(f"display of shape {tuple(display.shape)}; want [{len(inputs)}, C, "
                         f"{inputs.shape[-2]}, {inputs.shape[-1]}] like inputs "
                         "(from_input(...).permute(0, 3, 1, 2))")
    if image_batch < 1:
        raise ValueError(f"image_batch {image_batch} out of range 1..")
    check_rule(rule, lrn, unpool)  # before any work
    if m and int(sel.images.max()) >= len(inputs):
        raise ValueError(f"top-k image {int(sel.images.max())} out of range "
                         f"0..{len(inputs) - 1} of inputs")
    img, mp = sel.images.reshape(-1), maps[:, None].expand(m, k).reshape(-1)
    pos = torch.stack([sel.ys.reshape(-1), sel.xs.reshape(-1)], 1)
    valid = img >= 0
    full = torch.zeros(m * k, 3, *inputs.shape[-2:])
    distinct = img[valid].unique()
    with bar(total=len(distinct), progress=progress, unit="img",
             desc=f"projecting {name}") as traced:
        for s in range(0, len(distinct), image_batch):
            chunk = distinct[s:s + image_batch]
            tr = deconv.forward_trace(model, inputs[chunk], name,
                                      relu_masks=rule != "deconvnet")
            local = torch.full((len(inputs),), -1, dtype=torch.long)
            local[chunk] = torch.arange(len(chunk))
            which = valid & (local[img.clamp(min=0)] >= 0)
            if which.any():
                full[which] = tr.project(name, mp[which], pos[which], local[img[which]],
                                         rule=rule, unpool=unpool, lrn=lrn).cpu().float()
            traced.update(len(chunk))
    rf = receptive_field(model, name, side=inputs.shape[-1])
    proj = crop_patches(full, rf, pos[:, 0], pos[:, 1], fill=0.0)
    disp = display[img.clamp(min=0)].float()
    patches = crop_patches(disp, rf, pos[:, 0], pos[:, 1], fill=fill)
    patches[~valid] = fill
    return TopProjections(name, maps, sel, proj.view(m, k, *proj.shape[1:]),
                          patches.view(m, k, *patches.shape[1:]))


def strongest_over_epochs(load: Callable[[int], nn.Module], epochs: Sequence[int],
                          inputs: torch.Tensor, display: torch.Tensor,
                          maps: dict[str, torch.Tensor], *, batch_size: int = 256,
                          rule: str = "deconvnet", unpool: str = "sum", lrn: str | None = None,
                          cache_dir: str | Path | None = None
                          ) -> dict[int, dict[str, TopProjections]]:
    """For each epoch, the strongest activation (k = 1) of each chosen map over ``inputs``,
    projected: ``{epoch: {layer: TopProjections}}``.

    Args:
        load: ``epoch -> model`` (e.g. ``lambda e: load_trained("zfnet64", epoch=e).model``).
        epochs: the saved epochs to show.
        inputs, display: as in :func:`top_projections` (the training images).
        maps: {layer: [M] maps}, e.g. from :func:`choose_maps`.
        cache_dir: where each epoch's mining is cached (:func:`cached_mine_topk`; ``None``:
            not cached).

    Paper: Sec. 4.1, Fig. 4 (epochs 1, 2, 5, 10, 20, 30, 40, 64).
    """
    out: dict[int, dict[str, TopProjections]] = {}
    images = tensor_digest(inputs) if cache_dir is not None else None  # once, not per epoch
    for e in epochs:
        model = load(e)
        top = cached_mine_topk(model, inputs, cache_dir=cache_dir, layers=list(maps), k=1,
                               batch_size=batch_size, images=images)[0]
        out[e] = {n: top_projections(model, inputs, display, top, n, mp, rule=rule,
                                     unpool=unpool, lrn=lrn) for n, mp in maps.items()}
    return out


def mining_cache() -> Path:
    """Where :func:`cached_mine_topk`'s results live by default: ``$ZF_HOME/cache/topk``
    (with the other caches: deleting it costs only the mining)."""
    return cache_dir() / "topk"


def cached_mine_topk(model: nn.Module, inputs: torch.Tensor | Iterable, *,
                     cache_dir: str | Path | None,
                     layers: Sequence[str | int] = LAYERS, k: int = 9, batch_size: int = 256,
                     images: torch.Tensor | str | None = None, name: str = "",
                     progress: bool = True) -> tuple[dict[str, TopK], float, bool]:
    """:func:`mine_topk` over ``inputs``, cached on disk (``cache_dir=None``: not cached).

    The file ``<cache_dir>/topk-<digest>.pt`` is keyed by the weights of ``features``, the
    images, the layers and ``k``: a retrained model or another image set never reads a stale
    result, and an unreadable file is mined again and overwritten. ``images`` names the
    images in the key: a tensor (e.g. the raw pixels the inputs come from), or its
    :func:`zflib.data.common.tensor_digest` for a caller that mines the same images more than
    once; default: ``inputs`` (which must then be a tensor, not an iterable of batches).
    ``progress``: a bar over the mining's batches (none when it is read from the cache).

    Returns:
        ``({layer: TopK}, seconds spent, whether it came from the cache)``.

    Paper: Sec. 4, Fig. 2.
    """
    names = deconv.resolve_layers(model, layers)
    state = deconv.weights_of(model)
    if images is None and not isinstance(inputs, torch.Tensor):
        raise ValueError("inputs are batches, not a tensor: give images= (the images they "
                         "come from, or their tensor_digest) to key the cache")
    if not isinstance(images, str):
        images = tensor_digest(inputs if images is None else images)
    key = cache_key(tensor_digest(*state), images, k, names)
    path = Path(cache_dir) / f"topk-{key}.pt" if cache_dir is not None else None
    t = time.perf_counter()
    if path is not None and path.exists():
        try:
            return load_topk(path)[0], time.perf_counter() - t, True
        except (OSError, RuntimeError, KeyError, TypeError, ValueError):
            pass  # unreadable: mine again and overwrite
    top = mine_topk(model, inputs, layers=names, k=k, batch_size=batch_size, progress=progress)
    seconds = time.perf_counter() - t
    if path is not None:
        save_topk(path, top, name=name, layers=names, k=k)
    return top, seconds, False


def save_topk(path: str | Path, top: dict[str, TopK], **meta) -> None:
    """Write a mining result (``meta``: what was mined, JSON-serialisable) atomically: the
    format of ``python -m zflib.apps.mine``'s ``topk.pt`` and of the explorer's cache."""
    from zflib.checkpoint import atomic_save

    atomic_save({"top": {n: dataclasses.asdict(v) for n, v in top.items()}, "meta": meta}, path)


def load_topk(path: str | Path) -> tuple[dict[str, TopK], dict]:
    """Read :func:`save_topk`'s file: ``({layer: TopK}, meta)``."""
    from zflib.checkpoint import read_file

    saved = read_file(path, what="top-k mining result", advice="mine again")
    if not isinstance(saved, dict) or "top" not in saved:
        raise ValueError(f"{path} is not a top-k mining result (no 'top' entry)")
    return {n: TopK(**v) for n, v in saved["top"].items()}, saved.get("meta", {})


__all__ = ["LAYERS", "TopK", "TopProjections", "mine_topk", "cached_mine_topk", "mining_cache",
           "merge",
           "choose_maps", "map_scores", "class_concentration", "chance_concentration",
           "top_projections", "strongest_over_epochs", "save_topk", "load_topk"]
