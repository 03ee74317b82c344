"""Top-k mining from the command line, on one process or sharded over many.

Any committed model (or any torchvision classification model, ``vgg16_bn``, ``resnet18``,
``densenet121``..., with its weights in a local file), over
a Tiny ImageNet split or a folder of your own images: the k strongest activations of every map
of layers 1-5 in one streaming pass (:func:`zflib.methods.topk.mine_topk`), then, for a seeded
subset of maps, their deconvnet projections beside the image patches (Fig. 2)::

    python -m zflib.apps.mine --model zfnet64-paper-sgd --split val --out mined/
    torchrun --nproc_per_node=4 -m zflib.apps.mine --model zfnet64 --split train --out mined/
    python -m zflib.apps.mine --torchvision vgg16 --weights vgg16-397923af.pth --folder photos/
    python -m zflib.apps.mine --torchvision resnet18 --weights resnet18-f37072fd.pth \
        --folder photos/

Layers default to ``conv1``..``conv5`` of a chain and to the stages of any other model
(ResNet: ``conv1``, ``layer1``..``layer4``); ``--layers`` takes the model's module names too.

Under ``torchrun`` each rank mines every ``world``-th batch and the ranks' results are merged
(exactly one pass's result: ties go to the smaller image index); rank 0 writes ``--out``:
``topk.pt`` (read it with :func:`zflib.methods.topk.load_topk`) and ``top9_<layer>.png`` per layer.
Every ``--checkpoint-every`` batches the result so far goes to ``--out/partial.pt``: run the same
command again after a kill and it resumes there.

Paper: Sec. 4, Fig. 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

import torch

from zflib import distributed
from zflib.config import get_config
from zflib.data.common import cache_key, tensor_digest
from zflib.distributed import device_error, launched
from zflib.methods import deconv, topk
from zflib.methods.deconv_steps import RULES
from zflib.methods.subject import (
    Preprocess,
    Subject,
    torchvision_names,
    torchvision_subject,
    zf_subject,
)
from zflib.progress import bar, ticks
from zflib.training.train import default_device


def subject(model: str = "zfnet64", *, epoch: int | None = None, torchvision: str = "",
            weights: str | None = None, device: str | torch.device = "cpu") -> Subject:
    """The network and its preprocessing: a committed artifact (``model``, optionally its
    ``epoch`` snapshot) or, with ``torchvision`` set, that torchvision classification model
    with ``weights`` (a local state_dict file)."""
    if torchvision:
        return torchvision_subject(torchvision, weights, device=device)
    return zf_subject(model, epoch=epoch, device=device)


def default_layers(model: torch.nn.Module) -> list[str]:
    """``conv1``..``conv5`` (:data:`zflib.methods.topk.LAYERS`) where the model has them on the fast
    path; else its numbered stages (:func:`zflib.methods.deconv.layer_names`)."""
    names = deconv.layer_names(model)
    return list(topk.LAYERS) if set(topk.LAYERS) <= set(names) else names


def images_of(sub: Subject, *, split: str = "val", folder: str | Path | None = None,
              limit: int = 0, examples: bool = False) -> tuple[torch.Tensor, list[str]]:
    """uint8 [N, H, W, 3] images and their names: ``folder``'s image files, the full-resolution
    ImageNet ``examples`` of the model's classes (:func:`zflib.methods.subject.subject_examples`:
    Tiny ImageNet's 200 for a committed model, 1,000 for a torchvision one), or the Tiny
    ImageNet ``split`` the model was trained on (``train``: the profile's training images;
    torchvision models: Tiny ImageNet's, which their preprocessing resizes). ``limit``: the
    first N (0: all)."""
    from zflib.data import load_split
    from zflib.data.folder import folder_images
    from zflib.methods.subject import subject_examples

    if limit < 0:
        raise ValueError(f"limit {limit} out of range 0.. (0: all images)")
    if folder is not None and examples:
        raise ValueError("give a folder or the examples, not both")
    if examples:
        data = subject_examples(sub)
        images, names = data.images, [f"{p} ({data.names[y]})"
                                      for p, y in zip(data.paths, data.labels.tolist(),
                                                      strict=True)]
    elif folder is not None:
        images, names = folder_images(folder)
        if not len(images):
            raise ValueError(f"no readable image in {folder}: every image file failed to "
                             "decode (see the messages above)")
    else:
        cfg = sub.data_cfg or get_config("full")
        data = load_split(dataclasses.replace(cfg, val_limit=0), split)
        images, names = data.images, [f"{p} ({data.names[y]})"
                                      for p, y in zip(data.paths, data.labels.tolist(),
                                                      strict=True)]
    if limit:
        images, names = images[:limit], names[:limit]
    return images, names


def batches(pre: Preprocess, images: torch.Tensor, batch_size: int, *, shard: tuple[int, int]
            ) -> Iterable[torch.Tensor]:
    """Network inputs batch by batch, computed only for this shard's batches (``i % world ==
    rank``); the others are empty placeholders of the right length, which
    :func:`zflib.methods.topk.mine_topk` only counts. Its ``len()`` is the number of batches
    (a progress bar's total)."""
    return _Batches(pre, images, batch_size, shard=shard)


class _Batches:
    """:func:`batches`, iterable again and again, with a length."""

    def __init__(self, pre: Preprocess, images: torch.Tensor, batch_size: int, *,
                 shard: tuple[int, int]) -> None:
        self.pre, self.images, self.batch_size, self.shard = pre, images, batch_size, shard

    def __len__(self) -> int:
        return -(-len(self.images) // self.batch_size)

    def __iter__(self) -> Iterator[torch.Tensor]:
        r, world = self.shard
        for b, i in enumerate(range(0, len(self.images), self.batch_size)):
            chunk = self.images[i:i + self.batch_size]
            yield self.pre.inputs(chunk) if b % world == r else torch.empty(len(chunk), 0)



def _shifted(top: dict[str, topk.TopK], offset: int) -> dict[str, topk.TopK]:
    """Image numbers of a part mined from image ``offset`` on, made global (empty slots stay)."""
    return {n: dataclasses.replace(t, images=torch.where(t.images >= 0, t.images + offset,
                                                         t.images)) for n, t in top.items()}


def mine(sub: Subject, images: torch.Tensor, *, layers: Sequence[str] = topk.LAYERS, k: int = 9,
         batch_size: int = 128, device: str | torch.device | None = None,
         checkpoint: str | Path | None = None, chunk: int = 50,
         progress: bool = True) -> dict[str, topk.TopK]:
    """:func:`zflib.methods.topk.mine_topk` over ``images`` through ``sub``'s preprocessing; under
    an initialised process group every rank takes its share and all get the merged result.

    With ``checkpoint`` (a file), the pass goes ``chunk`` batches at a time and rank 0 saves
    the result so far after each; a killed run given the same file resumes after the last
    saved chunk and ends with the result of an uninterrupted one (:func:`zflib.methods.topk.merge`
    is exact, so even another number of ranks may resume it). A file from another model, image
    set or setting is ignored (its key differs) and overwritten.

    ``progress``: one bar over every batch (rank 0's; a resumed run starts it where it was).
    """
    shard = distributed.shard()
    state, start = None, 0  # the merged result so far, the next image
    if checkpoint is not None:
        if chunk < 1:
            raise ValueError(f"chunk {chunk} out of range 1.. (batches between checkpoints)")
        weights = deconv.weights_of(sub.model)
        key = cache_key(tensor_digest(*weights, images), list(layers), k, batch_size, chunk)
        resumed = [None, 0]
        if shard[0] == 0 and Path(checkpoint).exists():
            try:
                top, meta = topk.load_topk(checkpoint)
            except (ValueError, KeyError, TypeError):  # not a mining result, or truncated:
                # overwritten
                top, meta = None, {}
            if meta.get("key") == key:
                resumed = [top, meta["next"]]
        if shard[1] > 1:
            torch.distributed.broadcast_object_list(resumed, src=0)
        state, start = resumed
    step = batch_size * chunk if checkpoint is not None else max(len(images), 1)
    total = len(batches(sub.preprocess, images, batch_size, shard=shard))
    with bar(total=total, initial=min(start // batch_size, total), unit="batch",
             progress=progress and shard[0] == 0, desc=f"mining {_span(layers)}") as done:
        for s in range(start, len(images), step):
            part = _shifted(topk.mine_topk(
                sub.model, ticks(batches(sub.preprocess, images[s:s + step], batch_size,
                                         shard=shard), done),
                layers=layers, k=k, device=device, progress=False), s)
            state = part if state is None else topk.merge(state, part)
            if checkpoint is not None and shard[0] == 0:
                topk.save_topk(checkpoint, state, key=key, next=s + step)
    if state is None:  # no images
        state = topk.mine_topk(sub.model, iter(()), layers=layers, k=k, device=device,
                               progress=False)
    return state


def _span(layers: Sequence[str]) -> str:
    """``conv1-conv5`` (a bar's description)."""
    layers = list(layers)
    return "" if not layers else layers[0] if len(layers) == 1 else f"{layers[0]}-{layers[-1]}"


def project(sub: Subject, images: torch.Tensor, top: dict[str, topk.TopK],
            maps: dict[str, torch.Tensor], *, rule: str = "deconvnet", progress: bool = True
            ) -> dict[str, topk.TopProjections]:
    """Fig. 2's projections and patches of ``maps`` (per layer), preprocessing only the
    images among their top-k (not all of ``images``); ``rule``: the backward rule
    (:func:`zflib.methods.deconv.project`); ``progress``: a bar over the layers."""
    out = {}
    for layer, m in bar(maps.items(), progress=progress, total=len(maps), unit="layer",
                        desc=f"projecting {_span(list(maps))}"):
        every, sel = top[layer], top[layer].select(m)
        used = sel.images[sel.images >= 0].unique()
        local = torch.full((len(images),), -1, dtype=torch.long)
        local[used] = torch.arange(len(used))
        # image numbers into the used images (-1 for images outside them: unused rows)
        remapped = dataclasses.replace(every, images=torch.where(
            every.images >= 0, local[every.images.clamp(min=0)], every.images))
        x = sub.preprocess.inputs(images[used]).to(next(sub.model.parameters()).device)
        tp = topk.top_projections(sub.model, x, sub.preprocess.display(images[used]),
                                  remapped, layer, m, rule=rule, progress=False)
        out[layer] = dataclasses.replace(tp, top=sel)
    return out


def cached_mine(sub: Subject, images: torch.Tensor, *, cache_dir: str | Path | None,
                layers: Sequence[str] = topk.LAYERS, k: int = 9, batch_size: int = 128,
                digest: str | None = None, progress: bool = True) -> dict[str, topk.TopK]:
    """:func:`zflib.methods.topk.cached_mine_topk` over uint8 ``images`` [N, H, W, 3] through
    ``sub``'s preprocessing, one batch of inputs at a time (10,000 inputs at 224 pixels would
    take 6 GB at once), cached under ``cache_dir`` (None: not cached) by the images' digest
    (``digest``: :func:`zflib.data.common.tensor_digest` of ``images``, if known);
    ``progress``: a bar over the batches mined.

    Paper: Sec. 4, Fig. 2."""
    return topk.cached_mine_topk(
        sub.model, batches(sub.preprocess, images, batch_size, shard=(0, 1)),
        cache_dir=cache_dir, layers=layers, k=k, batch_size=batch_size,
        images=digest or tensor_digest(images), name=sub.name, progress=progress)[0]


def evolution(load: Callable[[int], Subject], epochs: Sequence[int], images: torch.Tensor,
              maps: dict[str, torch.Tensor], *, batch_size: int = 128,
              cache_dir: str | Path | None = None, rule: str = "deconvnet",
              progress: bool = True
              ) -> dict[int, dict[str, topk.TopProjections]]:
    """For each epoch, the strongest activation (k = 1) of each chosen map over uint8
    ``images``, projected: ``{epoch: {layer: TopProjections}}``, as
    :func:`zflib.methods.topk.strongest_over_epochs` gives over their inputs, but preprocessing the
    images batch by batch (:func:`cached_mine`) and only the strongest ones for the
    projections (:func:`project`): all 100,000 training images at 224 pixels fit.

    Args:
        load: ``epoch -> Subject`` (e.g. ``lambda e: zf_subject("zfnet224", epoch=e)``).
        epochs: the epochs to show.
        maps: {layer: [M] maps}, e.g. from :func:`zflib.methods.topk.choose_maps`.
        cache_dir: where each epoch's mining is cached (None: not cached).
        rule: the projections' backward rule (:func:`zflib.methods.deconv.project`).
        progress: a bar over the epochs (each mined, then projected).

    Paper: Sec. 4.1, Fig. 4."""
    digest = tensor_digest(images)  # once, not per epoch
    out: dict[int, dict[str, topk.TopProjections]] = {}
    for e in bar(epochs, progress=progress, unit="epoch", desc="epochs mined and projected"):
        sub = load(e)
        top = cached_mine(sub, images, cache_dir=cache_dir, layers=list(maps), k=1,
                          batch_size=batch_size, digest=digest, progress=False)
        out[e] = project(sub, images, top, maps, rule=rule, progress=False)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m zflib.apps.mine",
                                description=__doc__.split("\n")[0])
    p.add_argument("--model", default="zfnet64",
                   help="a committed artifact (zflib.training.artifacts)")
    p.add_argument("--epoch", type=int, default=None, help="its conv layers at this epoch")
    p.add_argument("--torchvision", default="", metavar="NAME",
                   help="mine this torchvision classification model instead (alexnet, vgg16_bn, "
                        "resnet18, densenet121, ...; with --weights)")
    p.add_argument("--weights", default=None, help="local state_dict file for --torchvision")
    p.add_argument("--split", default="val", choices=["val", "train"])
    p.add_argument("--folder", default=None, help="mine these image files instead of a split")
    p.add_argument("--limit", type=int, default=0, help="the first N images (0: all)")
    p.add_argument("--layers", nargs="+", default=None,
                   help="conv1.. or module names (default: conv1-conv5 of a chain, the stages "
                        "of any other model)")
    p.add_argument("--k", type=int, default=9)
    p.add_argument("--maps", type=int, default=16, help="maps per layer drawn (0: no figures)")
    p.add_argument("--seed", type=int, default=0, help="which maps are drawn")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--checkpoint-every", type=int, default=50, metavar="BATCHES",
                   help="save the result so far (--out/partial.pt) every this many batches; "
                        "a killed run resumes from it")
    p.add_argument("--out", default="mined", help="folder for topk.pt and top9_<layer>.png")
    p.add_argument("--device", default=None, help="cpu, cuda, ... (default: a GPU if present)")
    p.add_argument("--rule", default="deconvnet", choices=list(RULES),
                   help="the projections' backward rule at a ReLU (default: deconvnet)")
    p.add_argument("--quiet", action="store_true",
                   help="no progress bars (by default mining, projection and drawing show "
                        "theirs on stderr)")
    args = p.parse_args(argv)
    if args.device and (bad := device_error(args.device)):
        p.error(bad)
    for flag, value, low in (("--k", args.k, 1), ("--batch-size", args.batch_size, 1),
                             ("--checkpoint-every", args.checkpoint_every, 1),
                             ("--maps", args.maps, 0), ("--limit", args.limit, 0)):
        if value < low:
            p.error(f"{flag} {value} out of range {low}..")
    if args.weights and not args.torchvision:
        p.error("--weights is for --torchvision NAME; a committed model (--model) "
                "carries its own weights")
    if args.torchvision and args.torchvision not in torchvision_names():
        p.error(f"--torchvision {args.torchvision!r} is no torchvision classification model; "
                "valid: " + ", ".join(torchvision_names()))
    if args.torchvision and args.epoch is not None:
        p.error("--epoch is for committed models (--model), not --torchvision")
    if Path(args.out).exists() and not Path(args.out).is_dir():
        p.error(f"--out {args.out} is a file, not a folder")
    try:
        return _main(args)
    except (ValueError, FileNotFoundError) as err:  # a wrong model, path or layer, plainly
        p.exit(2, f"{p.prog}: error: {err}\n")


def _main(args: argparse.Namespace) -> int:
    with launched(args.device) as device:
        device = device or str(default_device())
        sub = subject(args.model, epoch=args.epoch, torchvision=args.torchvision,
                      weights=args.weights, device=device)
        args.layers = args.layers or default_layers(sub.model)
        images, names = images_of(sub, split=args.split, folder=args.folder, limit=args.limit)
        out = Path(args.out)
        partial = out / "partial.pt"
        rank, world = distributed.shard()
        if rank == 0:
            out.mkdir(parents=True, exist_ok=True)
        t = time.perf_counter()
        top = mine(sub, images, layers=args.layers, k=args.k, batch_size=args.batch_size,
                   device=device, checkpoint=partial, chunk=args.checkpoint_every,
                   progress=not args.quiet)
        seconds = time.perf_counter() - t
        if rank != 0:
            return 0
        topk.save_topk(out / "topk.pt", top, model=sub.name, source=args.folder or args.split,
                   images=names, k=args.k, seconds=seconds, ranks=world)
        partial.unlink(missing_ok=True)
        summary = {"out": str(out), "images": len(images), "ranks": world,
                   "seconds": round(seconds, 2),
                   "images_per_s": round(len(images) / max(seconds, 1e-9), 1)}
        for n, tk in top.items():
            best = int(tk.values[:, 0].argmax())
            summary[n] = {"maps": len(tk.values), "strongest": round(float(tk.values[best, 0]), 3),
                          "map": best, "image": names[int(tk.images[best, 0])]}
        if args.maps:
            import matplotlib

            matplotlib.use("Agg")
            from zflib.viz import save_figure
            from zflib.viz.deconv import plot_top9

            chosen = topk.choose_maps(sub.model, args.layers, args.maps, seed=args.seed)
            projected = project(sub, images, top, chosen, rule=args.rule,
                                progress=not args.quiet)
            for n, tp in bar(projected.items(), progress=not args.quiet, total=len(projected),
                             unit="figure", desc="drawing top9_<layer>.png"):
                save_figure(plot_top9(tp), f"top9_{n}", folder=out, dpi=120, close=True)
        print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
