"""What a recipe does to ZFNet-224's first layer, on a short CPU run: conv1's cosine similarity
to its initial filters and the band shares of what training added
(:func:`zflib.methods.filters.layer1_report`), for conv1 started at several scales and on
natural-resolution or upscaled images.

    python -m zflib.paper.first_layer --steps 100 --out artifacts/runs224-logs/first_layer_cpu.json

Each recipe trains ZFNet-224 from scratch (the ``full224`` profile: AdamW at 3e-4, cosine,
label smoothing, renormalisation) for ``--steps`` steps of ``--batch`` images with
:class:`zflib.training.resident.ResidentTrainer`, on 10 classes: Imagewoof2's first
``--per-class`` training images of each breed at 256 (``natural``), or as many of Tiny
ImageNet's first 10 classes, 64-pixel images upscaled to 256 (``upscaled``). All runs see the
same number of images, with the same seed.

Paper: Sec. 3 (N(0, 1e-2) initial weights), Fig. 6 (first-layer filters).

Note: a few hundred steps on a CPU are a small fraction of a GPU run's 4,000; they say how
fast each start moves conv1 away from its initial filters and where the first updates go, not
what the filters converge to.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import torch

from zflib.config import get_config
from zflib.data import ImageSet, center_crop, normalize
from zflib.methods.filters import layer1_report
from zflib.training.models import initial_model
from zflib.training.resident import ResidentTrainer
from zflib.training.train import machine_name, matmul_gflops


def natural_set(split: str, per_class: int, root: str | None) -> ImageSet:
    from zflib.data.natural import load_imagewoof

    return load_imagewoof(split, 256, root=root, per_class_limit=per_class)


def upscaled_set(split: str, per_class: int) -> ImageSet:
    """Tiny ImageNet's first 10 classes, ``per_class`` images each (all 50 of val), at 256."""
    from zflib.data import per_class_subset
    from zflib.data.install import dataset_root
    from zflib.data.tiny import load_tiny_imagenet
    from zflib.data.transforms import resize

    d = load_tiny_imagenet(dataset_root("tiny-imagenet"), split)
    keep = per_class_subset(d.labels, per_class if split == "train" else 0)
    keep = keep[d.labels[keep] < 10]
    d = d.subset(keep)
    return ImageSet(resize(d.images, 256), d.labels, d.classes[:10], d.names[:10], d.paths)


def run(name: str, std: float, train: ImageSet, val: ImageSet, *, steps: int, batch: int,
        folder: Path) -> dict[str, float]:
    """Train one recipe for ``steps`` steps; conv1's numbers after it (the results file
    holds one such object per recipe)."""
    per_epoch = len(train) // batch
    cfg = get_config("full224", num_classes=len(train.classes), first_layer_std=std,
                     batch_size=batch, epochs=-(-steps // per_epoch), max_steps=steps,
                     keep_epochs=(-(-steps // per_epoch),), warmup_epochs=0.2,
                     eval_batch_size=64, checkpoint_every=0)
    t = ResidentTrainer(cfg, folder / name, device="cpu", train=train, val=val, progress=False)
    t.set_aside()
    t.finish = dict  # no 10-crop or train-error pass: conv1 is what is measured here
    t.val_set = ImageSet(val.images[:64], val.labels[:64], val.classes, val.names,
                         val.paths[:64])  # the per-epoch check: a few images
    start = time.perf_counter()
    t.fit()
    seconds = time.perf_counter() - start
    x = center_crop(normalize(val.images[:64], t.mean, cfg.input_scale), cfg.crop_size)
    initial = initial_model(cfg).features[0].weight.detach()
    rep = layer1_report(t.model.eval(), x, initial)
    w = t.model.features[0].weight.detach()
    out = {k: rep[k] for k in ("init_similarity", "learned_energy_low", "learned_energy_mid",
                               "learned_energy_high", "energy_low", "energy_mid",
                               "energy_high")}
    out |= {"learned_mid_high": rep["learned_energy_mid"] + rep["learned_energy_high"],
            "conv1_rms": float(w.pow(2).mean().sqrt()),
            "conv1_initial_rms": float(initial.pow(2).mean().sqrt()),
            "steps": t.global_step, "images_per_s": t.global_step * batch / seconds}
    return out


RECIPES = {  # name: (conv1's initial std, data)
    "natural-std1e-2": (1e-2, "natural"),  # the committed zfnet224's start
    "natural-std1e-4": (1e-4, "natural"),
    "upscaled-std1e-4": (1e-4, "upscaled"),
}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m zflib.paper.first_layer",
                                description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--per-class", type=int, default=100)
    p.add_argument("--recipes", default=",".join(RECIPES))
    p.add_argument("--imagewoof", default=None, help="a copy instead of the installed one")
    p.add_argument("--out", default="artifacts/runs224-logs/first_layer_cpu.json")
    p.add_argument("--folder", default="/tmp/zflib-first-layer")
    args = p.parse_args(argv)
    names = [n for n in args.recipes.split(",") if n]
    if bad := [n for n in names if n not in RECIPES]:
        p.error(f"unknown recipe(s) {bad}; valid: {', '.join(RECIPES)}")
    data = {}
    res: dict[str, Any] = {"matmul_gflops_before": matmul_gflops()}
    for name in names:
        std, kind = RECIPES[name]
        if kind not in data:
            data[kind] = ((natural_set("train", args.per_class, args.imagewoof),
                           natural_set("val", 7, args.imagewoof)) if kind == "natural" else
                          (upscaled_set("train", args.per_class), upscaled_set("val", 0)))
        res[name] = run(name, std, *data[kind], steps=args.steps, batch=args.batch,
                        folder=Path(args.folder)) | {"first_layer_std": std, "data": kind}
        print(json.dumps({name: res[name]}), flush=True)
    res |= {"matmul_gflops_after": matmul_gflops(), "batch": args.batch,
            "per_class": args.per_class, "machine": machine_name(torch.device("cpu"))}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
