"""Table 2 at Fig. 3's geometry: ZFNet-224 and AlexNet-224 trained on all of Tiny ImageNet on
one GPU, and the export of what the figures need.

    python -m zflib.training.train224 --runs zfnet224,alexnet224 --epochs 30 --export DIR \
        [--minutes 8]

The runs (:data:`RUNS`) share one copy of the data on the GPU: the 100,000 training and 10,000
validation images decoded at 64 pixels, resized to 256 there (bicubic; the ``full224``
profile), 21.6 GB of uint8. Each run is a :class:`zflib.training.train.Trainer` in its own folder
under ``$ZF_HOME/runs``, so a run stopped at any point (``--minutes``, a lost machine) resumes from
its last checkpoint when the same command is given again; a finished run is not retrained.

``--export DIR`` writes, per run, what :mod:`zflib.training.artifacts` loads (``DIR/<name>/``):

- ``zfnet224``: ``model.pt`` whole, conv layers fp16, fc6-fc8 int8 per unit (63 MB instead of
  118 MB fp16; its ``results.json`` holds the 10-crop error of the int8 model beside the
  trained one's), and ``epoch_<e>.pt`` of :data:`SNAPSHOT_EPOCHS` for Fig. 4, conv layers int8
  per filter;
- ``alexnet224``: ``conv.pt`` fp16 (Fig. 6);
- the paper's recipe with and without renormalisation (Fig. 6 (a)): ``conv.pt`` int8;
- every run: ``results.json`` and ``metrics.jsonl`` (the learning curve).

Paper: Sec. 3 (training), Fig. 3 (the geometry), Table 2 (ZFNet against AlexNet), Fig. 6 (the
renormalisation and the first layers).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from zflib.config import PROFILES, Config, get_config, zf_home
from zflib.data import ImageSet, load_split
from zflib.training.artifacts import (
    config_from,
    load_trained,
    model_from_checkpoint,
    save_trained,
)
from zflib.training.evaluate import evaluate
from zflib.training.train import Trainer, check_config, default_device, parse_value

PROFILE = "full224"
# epochs whose conv layers zfnet224 exports for Fig. 4 (int8 per filter, 4.5 MB each); the
# last epoch is the model itself
SNAPSHOT_EPOCHS = (1, 2, 5, 10)


@dataclass(frozen=True)
class Run224:
    """One run of the plan: config overrides (on the ``full224`` profile), how long it runs
    relative to ``--epochs`` (``short``: ``--short-epochs``), and what is exported."""

    overrides: dict[str, Any] = field(default_factory=dict)
    short: bool = False
    export: str = "conv"  # whole | conv
    int8: str = "none"  # zflib.training.artifacts.save_trained's int8
    snapshots: bool = False  # export the conv layers of keep_epochs (Fig. 4)


# Sec. 3's recipe as the paper gives it: SGD at lr 1e-2 (momentum 0.9, weight decay 5e-4),
# N(0, 1e-2) weights, inputs on the 0..255 scale minus the mean image, batch 128, lr/10 on a
# plateau, no warm-up or label smoothing
PAPER_RECIPE_224 = {
    **{k: PROFILES["paper"][k] for k in ("optimizer", "lr", "init", "first_layer_std",
                                         "input_scale", "weight_decay")},
    "batch_size": 128, "schedule": "plateau", "warmup_epochs": 0.0, "label_smoothing": 0.0,
}

RUNS: dict[str, Run224] = {
    "zfnet224": Run224({}, export="whole", int8="linear", snapshots=True),
    "alexnet224": Run224({"arch": "alexnet"}),
    "zfnet224-paper-sgd": Run224(PAPER_RECIPE_224, short=True, int8="all"),
    "zfnet224-paper-sgd-norenorm": Run224({**PAPER_RECIPE_224, "renorm": False}, short=True,
                                          int8="all"),
}


def run_config(name: str, epochs: int, short_epochs: int, **overrides: Any) -> Config:
    """The config of run ``name`` for a plan of ``epochs`` (``short_epochs`` for the short
    runs); its kept epochs are the profile's that fall within the run. ``overrides`` go on
    top (a test's small batch)."""
    if name not in RUNS:
        raise ValueError(f"unknown run {name!r}; valid: {', '.join(RUNS)}")
    run = RUNS[name]
    n = short_epochs if run.short else epochs
    keep = tuple(e for e in PROFILES[PROFILE]["keep_epochs"] if e < n) + (n,)
    cfg = get_config(PROFILE, **{**run.overrides, "epochs": n, "keep_epochs": keep,
                                 **overrides})
    check_config(cfg)
    return cfg


_DATA: dict[tuple, tuple[ImageSet, ImageSet]] = {}


def load_data(cfg: Config, device: torch.device) -> tuple[ImageSet, ImageSet]:
    """Both splits at ``cfg.image_size`` on ``device``, resized there; kept for the next run
    (every run of the plan reads the same images)."""
    key = (cfg.dataset, cfg.image_size, cfg.train_per_class, cfg.val_limit, str(device))
    if key not in _DATA:
        _DATA.clear()  # one copy on the GPU at a time
        _DATA[key] = load_split(cfg, "train", device), load_split(cfg, "val", device)
    return _DATA[key]


def run_dir(name: str) -> Path:
    return zf_home() / "runs" / f"{PROFILE}-{name}"


def train_runs(names: list[str], epochs: int, short_epochs: int, *,
               device: torch.device, deadline: float | None = None,
               overrides: dict[str, Any] | None = None,
               log=print) -> dict[str, dict[str, Any]]:
    """Train ``names`` one after the other on one shared copy of the data; returns each run's
    ``results.json`` (a run already finished is read, not retrained)."""
    cfgs = {n: run_config(n, epochs, short_epochs, **(overrides or {})) for n in names}
    data: tuple[ImageSet, ImageSet] | None = None
    out = {}
    for name, cfg in cfgs.items():
        folder = run_dir(name)
        done = folder / "results.json"
        if done.exists() and json.loads(done.read_text()).get("epochs") == cfg.epochs:
            out[name] = json.loads(done.read_text())
            log(f"{name}: done earlier ({cfg.epochs} epochs)")
            continue
        if data is None:
            start = time.perf_counter()
            data = load_data(cfg, device)
            log(f"data: {len(data[0])} training and {len(data[1])} validation images at "
                f"{cfg.image_size} px on {device} in {time.perf_counter() - start:.0f} s")
        t = Trainer(cfg, folder, device=device, train=data[0], val=data[1], progress=False)
        resumed = t.resume()
        log(f"{name}: {'resuming at epoch ' + str(t.epoch) if resumed else 'starting'}, "
            f"{cfg.epochs} epochs of {t.steps_per_epoch} steps")
        res = t.fit(deadline=deadline)
        for row in t.history:
            log(f"  {name} epoch {row['epoch']}: train err {row['train_top1_err']:.3f}, val err "
                f"{row['val_top1_err']:.3f} (centre), lr {row['lr']:.1e}, "
                f"{row['images_per_s']:,.0f} img/s")
        log(f"{name}: 10-crop top-1 err {res['val_top1_err_10crop']:.4f}, top-5 "
            f"{res['val_top5_err_10crop']:.4f}, {res['epochs']} epochs, "
            f"{res['train_seconds'] / 60:.1f} min")
        out[name] = res
    return out


def export(names: list[str], dest: str | Path, *, device: torch.device,
           log=print) -> list[Path]:
    """Write each run's artifact files under ``dest/<name>/`` (see the module notes)."""
    import os

    dest = Path(dest)
    written: list[Path] = []
    for name in names:
        run, folder = RUNS[name], run_dir(name)
        if not (folder / "results.json").exists():
            log(f"{name}: not finished, not exported")
            continue
        model, ckpt = model_from_checkpoint(folder / "last.pt")
        cfg = config_from(ckpt["config"])
        out = dest / name
        out.mkdir(parents=True, exist_ok=True)
        written.append(save_trained(model, ckpt["mean"], cfg, name, folder=out,
                                    conv_only=run.export == "conv", int8=run.int8))
        results = json.loads((folder / "results.json").read_text())
        if run.export == "whole" and run.int8 != "none":  # what the int8 layers cost
            before = os.environ.get("ZF_ARTIFACTS")
            os.environ["ZF_ARTIFACTS"] = str(dest)
            try:
                small = load_trained(name, device=device)
            finally:
                if before is None:
                    del os.environ["ZF_ARTIFACTS"]
                else:
                    os.environ["ZF_ARTIFACTS"] = before
            val = load_data(cfg, device)[1]
            err = evaluate(small.model, val.images, val.labels, small.mean, cfg,
                           ten_crop=True, device=device, batch_size=cfg.eval_batch_size)
            results |= {"val_top1_err_10crop_int8": err["top1_err"],
                        "val_top5_err_10crop_int8": err["top5_err"]}
            log(f"{name}: int8 fc layers: 10-crop top-1 err {err['top1_err']:.4f} against "
                f"{results['val_top1_err_10crop']:.4f}")
        if run.snapshots:
            for e in (e for e in SNAPSHOT_EPOCHS if e < cfg.epochs):
                snap = folder / f"epoch_{e}.pt"
                if snap.exists():
                    m, _ = model_from_checkpoint(snap)
                    written.append(save_trained(m, ckpt["mean"], cfg, name, folder=out,
                                                epoch=e, int8="all"))
        (out / "results.json").write_text(json.dumps(results, indent=1))
        written.append(out / "results.json")
        if (folder / "metrics.jsonl").exists():  # absent when stopped within its first epoch
            (out / "metrics.jsonl").write_text((folder / "metrics.jsonl").read_text())
            written.append(out / "metrics.jsonl")
    return written


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m zflib.training.train224",
                                description=__doc__.split("\n")[0])
    p.add_argument("--runs", default=",".join(RUNS), help=f"comma-separated: {', '.join(RUNS)}")
    p.add_argument("--epochs", type=int, default=PROFILES[PROFILE]["epochs"])
    p.add_argument("--short-epochs", type=int, default=5, help="epochs of the short runs")
    p.add_argument("--minutes", type=float, default=0, help="stop (and checkpoint) after this")
    p.add_argument("--export", default=None, metavar="DIR", help="write the artifacts here")
    p.add_argument("--device", default=None)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value of every run (JSON values)")
    args = p.parse_args(argv)
    overrides = {}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep:
            p.error(f"--set wants KEY=VALUE, got {item!r}")
        overrides[key] = parse_value(value)
    names = [n for n in args.runs.split(",") if n]
    bad = [n for n in names if n not in RUNS]
    if bad or not names:
        p.error(f"unknown run(s) {bad}; valid: {', '.join(RUNS)}")
    for key in ("epochs", "short_epochs"):
        if getattr(args, key) < 1:
            p.error(f"--{key.replace('_', '-')} {getattr(args, key)} out of range 1..")
    if not 0 <= args.minutes < math.inf:
        p.error(f"--minutes {args.minutes} out of range: 0 (no limit) or more")
    device = torch.device(args.device) if args.device else default_device()
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    deadline = time.time() + args.minutes * 60 if args.minutes else None
    try:
        for n in names:
            run_config(n, args.epochs, args.short_epochs, **overrides)
    except (ValueError, TypeError) as err:
        p.error(str(err))
    train_runs(names, args.epochs, args.short_epochs, device=device, deadline=deadline,
               overrides=overrides, log=lambda s: print(s, flush=True))
    if args.export:
        for path in export(names, args.export, device=device):
            print(f"exported {path} ({path.stat().st_size / 1e6:.1f} MB)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
