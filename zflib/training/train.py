"""The trainer of Sec. 3, resumable and distributed; the paper's recipe is the ``paper`` profile.

Two recipes (see :mod:`zflib.config`). The :class:`~zflib.config.Config` defaults, and so the
``smoke``, ``quick`` and ``full`` profiles, are the 64-pixel ``adam`` recipe: AdamW at lr 2e-4
(decoupled weight decay 5e-2), Kaiming-normal weights except conv1's, N(0, 1e-2)
(``first_layer_std``), biases 0, inputs (x - mean image) / 64. The paper's own recipe is the
``paper`` profile (224 pixels) and, on the 64-pixel network, the ``zfnet64-paper-*`` runs of
:mod:`zflib.paper.runs` (``PAPER_RECIPE``): SGD, lr 1e-2, momentum 0.9, weights N(0, 1e-2), biases
0,
inputs on the 0..255 scale minus the mean image. Both recipes keep the paper's batch 128,
dropout 0.5, lr divided by 10 when the validation error plateaus, and after every step each
conv filter whose RMS exceeds 0.1 rescaled to 0.1 (``cfg.renorm``; off for Fig. 6(a)).

Values the paper leaves open, written down here:

- weight decay: 5e-4 with SGD (Krizhevsky et al.'s value); AdamW's decoupled 5e-2 with Adam;
- plateau rule: the centre-crop validation top-1 error is measured after every epoch; when it
  has not improved by ``plateau_threshold`` (0.5 points) for ``plateau_patience`` (2) epochs,
  lr is divided by 10 (not below ``min_lr``);
- the final error is measured with 10 crops (Table 2); train error on 10,000 training images,
  centre crop, eval mode (Table 3).

Determinism: the data order of epoch ``e`` and the crops, flips and dropout masks of step ``s``
derive from ``(seed, e, s, rank)`` alone, so a killed run resumed from its last checkpoint
ends with the same weights as one that was never interrupted (``tests/test_train.py``).

Distributed: under ``torchrun --nproc_per_node=N`` each rank takes a strided shard of every
epoch's permutation and a 1/N share of the batch; gradients are averaged by
DistributedDataParallel (gloo on CPU, nccl on GPU); rank 0 writes checkpoints and logs, and
its validation error drives the plateau rule on every rank.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from zflib.checkpoint import atomic_save, load_state
from zflib.config import RESUMABLE, Config, get_config, zf_home
from zflib.data import ImageSet, load_split, mean_image
from zflib.data.transforms import augment
from zflib.distributed import launched
from zflib.training.evaluate import evaluate, table_errors
from zflib.training.models import (
    ABLATIONS,
    ARCHITECTURES,
    INITS,
    INPUT_SIZE,
    ConvNet,
    initial_model,
    renormalize_filters,
)


def run_name(cfg: Config) -> str:
    """Default run folder name, e.g. ``full-zfnet64-none-renorm-s0``."""
    return (f"{cfg.profile}-{cfg.arch}{cfg.size}-{cfg.ablation}-"
            f"{'renorm' if cfg.renorm else 'norenorm'}-s{cfg.seed}")


def _plain(v: Any) -> Any:
    return list(v) if isinstance(v, tuple) else v


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _seed(*parts: int) -> int:
    h = 1469598103934665603
    for p in parts:
        h = ((h ^ (p & 0xFFFFFFFF)) * 1099511628211) % (1 << 61)
    return h


def cpu_name() -> str:
    """The CPU's model name (``/proc/cpuinfo``), else the platform's processor or machine."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_name(device: torch.device) -> str:
    """What ran a job, for results files: the GPU's name, or the CPU's and its thread count."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{cpu_name()} ({platform.machine()}), {torch.get_num_threads()} thread(s)"


def matmul_gflops(n: int = 2048, reps: int = 5) -> float:
    """This CPU's fp32 matmul speed now (GFLOP/s, current thread count): the yardstick that
    makes timings from different days or machines comparable."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    t = time.perf_counter()
    for _ in range(reps):
        a @ b
    return 2 * n ** 3 * reps / (time.perf_counter() - t) / 1e9


def check_config(cfg: Config) -> None:
    """Raise ``ValueError`` naming the first training setting of ``cfg`` outside its valid
    range: run before any data is decoded, so that a typo fails in a second, not after the
    dataset is loaded (or, for ``epochs=-1`` or ``lr=0``, never)."""
    if (cfg.arch, cfg.size) not in ARCHITECTURES:
        raise ValueError(f"unknown model arch={cfg.arch!r} size={cfg.size}; valid: "
                         f"{', '.join(f'{a} {s}' for a, s in ARCHITECTURES)}")
    choices = {"ablation": tuple(ABLATIONS), "optimizer": ("sgd", "adam"),
               "schedule": ("plateau", "cosine"),
               "init": INITS, "amp": ("auto", "bf16", "fp32"),
               "dataset": ("tiny-imagenet", "imagefolder")}
    for key, valid in choices.items():
        if getattr(cfg, key) not in valid:
            raise ValueError(f"{key} {getattr(cfg, key)!r} not valid; valid: {', '.join(valid)}")
    at_least = {"epochs": 1, "batch_size": 1, "eval_batch_size": 1, "num_classes": 1,
                "plateau_patience": 1, "max_steps": 0, "checkpoint_every": 0,
                "train_per_class": 0, "val_limit": 0, "num_threads": 0, "seed": 0}
    for key, low in at_least.items():
        if getattr(cfg, key) < low:
            raise ValueError(f"{key} {getattr(cfg, key)} out of range {low}..")
    for e in cfg.keep_epochs:  # a kept epoch the run never ends would be silently missing
        if not 1 <= e <= cfg.epochs:
            raise ValueError(f"keep_epochs {e} out of range 1..{cfg.epochs} (the run's epochs; "
                             "a shorter run sets them too: --set keep_epochs=[1,2])")
    for key in ("lr", "renorm_radius", "input_scale"):
        if not 0 < getattr(cfg, key) < math.inf:
            raise ValueError(f"{key} {getattr(cfg, key)} out of range: must be > 0")
    for key in ("min_lr", "weight_decay", "plateau_threshold", "first_layer_std",
                "warmup_epochs"):
        if not 0 <= getattr(cfg, key) < math.inf:
            raise ValueError(f"{key} {getattr(cfg, key)} out of range: must be >= 0")
    for key in ("dropout", "momentum", "label_smoothing"):
        if not 0 <= getattr(cfg, key) < 1:
            raise ValueError(f"{key} {getattr(cfg, key)} out of range 0..1 (1 excluded)")
    if cfg.crop_size != INPUT_SIZE[cfg.size]:
        raise ValueError(f"crop_size {cfg.crop_size} does not fit the {cfg.arch}-{cfg.size}, "
                         f"which takes {INPUT_SIZE[cfg.size]}")
    if cfg.image_size < cfg.crop_size:
        raise ValueError(f"image_size {cfg.image_size} out of range {cfg.crop_size}.. "
                         f"(at least crop_size)")


def make_optimizer(cfg: Config, model: nn.Module, *, lr: float | None = None,
                   device: torch.device | None = None) -> torch.optim.Optimizer:
    """The optimizer of ``cfg``'s recipe for ``model`` (``lr`` overrides ``cfg.lr``).

    ``sgd`` (the paper, Sec. 3): momentum ``cfg.momentum``, weight decay ``cfg.weight_decay``;
    ``adam``: AdamW with decoupled ``cfg.weight_decay`` (fused kernels on CUDA).
    """
    lr = cfg.lr if lr is None else lr
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=lr, momentum=cfg.momentum,
                               weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adam":
        return torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=cfg.weight_decay,
                                 fused=device is not None and device.type == "cuda")
    raise ValueError(f"unknown optimizer {cfg.optimizer!r}; valid: sgd, adam")


def scheduled_lr(cfg: Config, step: int, steps_per_epoch: int) -> float:
    """The learning rate of optimiser step ``step`` (0-based) under ``cfg.schedule="cosine"``:
    linear from ``cfg.lr / warmup_steps`` up to ``cfg.lr`` over ``cfg.warmup_epochs``, then a
    half cosine down to ``cfg.min_lr`` at the run's last step (``cfg.epochs`` epochs). A
    function of the step alone, so a resumed run follows the same curve."""
    total = max(cfg.epochs * steps_per_epoch, 1)
    warm = min(round(cfg.warmup_epochs * steps_per_epoch), total - 1)
    if step < warm:
        return cfg.lr * (step + 1) / warm
    t = min((step - warm) / max(total - 1 - warm, 1), 1.0)
    return cfg.min_lr + (cfg.lr - cfg.min_lr) * 0.5 * (1 + math.cos(math.pi * t))


def update(net: nn.Module, model: ConvNet, opt: torch.optim.Optimizer, x: torch.Tensor,
           y: torch.Tensor, cfg: Config, *, amp: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """One training step (Sec. 3): forward (bf16 autocast when ``amp``), cross-entropy,
    backward, update, then each conv filter of ``model`` renormalised to RMS
    ``cfg.renorm_radius`` when ``cfg.renorm``. ``net`` is ``model`` or its DDP wrapper.

    Returns (loss, logits), detached.
    """
    net.train()
    with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=amp):
        logits = net(x)
    loss = F.cross_entropy(logits.float(), y, label_smoothing=cfg.label_smoothing)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    if cfg.renorm:
        renormalize_filters(model, cfg.renorm_radius)
    return loss.detach(), logits.detach()


class Trainer:
    """Train ``cfg``'s model on ``train`` / ``val`` (decoded :class:`ImageSet` s).

    Args:
        cfg: the run's settings.
        run_dir: where checkpoints (``last.pt``, ``epoch_<e>.pt``), ``metrics.jsonl`` and
            ``results.json`` go.
        device: defaults to CUDA when present.
        train, val: the data; loaded from ``cfg`` when omitted.
        progress: show a tqdm bar (terminal or notebook).
    """

    def __init__(self, cfg: Config, run_dir: str | os.PathLike | None = None, *,
                 device: torch.device | str | None = None, train: ImageSet | None = None,
                 val: ImageSet | None = None, progress: bool = True) -> None:
        check_config(cfg)
        self.cfg = cfg
        self.distributed = dist.is_available() and dist.is_initialized()
        self.rank = dist.get_rank() if self.distributed else 0
        self.world = dist.get_world_size() if self.distributed else 1
        if cfg.batch_size % self.world:
            raise ValueError(f"batch_size {cfg.batch_size} is not divisible by the "
                             f"{self.world} processes")
        self.device = torch.device(device) if device is not None else default_device()
        if cfg.num_threads and self.device.type == "cpu":
            torch.set_num_threads(cfg.num_threads)
        self.run_dir = Path(run_dir) if run_dir else zf_home() / "runs" / run_name(cfg)
        self.progress = progress and self.rank == 0
        store = self.device if self.device.type == "cuda" else torch.device("cpu")
        # (at 224 pixels the 64-px images are resized to cfg.image_size where they are kept)
        self.train_set = train if train is not None else load_split(cfg, "train", store)
        self.val_set = val if val is not None else load_split(cfg, "val", store)
        if self.train_set.classes != self.val_set.classes:
            only = sorted(set(self.train_set.classes) ^ set(self.val_set.classes))
            raise ValueError("the training and validation splits have other classes (or "
                             "another order): their labels would not match; differing: "
                             f"{', '.join(only[:5]) or 'the order'}")
        self.mean = mean_image(cfg, self.train_set).cpu()
        self.images = self.train_set.images.to(store)
        self.labels = self.train_set.labels.to(store)
        self.mean_dev = self.mean.to(store)
        self.amp = cfg.amp == "bf16" or (cfg.amp == "auto" and self.device.type == "cuda")

        self.model: ConvNet = initial_model(cfg).to(self.device)  # the same on every rank
        self.model = self.model.to(memory_format=torch.channels_last)
        self.net: nn.Module = self.model
        if self.distributed:
            self.net = nn.parallel.DistributedDataParallel(
                self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None)
        # what a training step calls: ``net``, or a compiled form of it (a subclass's choice)
        self.step_net: nn.Module = self.net
        self.opt = make_optimizer(cfg, self.model, device=self.device)
        self.steps_per_epoch = len(self.train_set) // cfg.batch_size
        if self.steps_per_epoch < 1:
            raise ValueError(f"{len(self.train_set)} training images are fewer than one batch "
                             f"of {cfg.batch_size}")
        self.epoch, self.step_in_epoch, self.global_step = 0, 0, 0
        self.best_err, self.bad_epochs = math.inf, 0
        self.seconds = 0.0  # training time, evaluation excluded
        self._perm: tuple[int, torch.Tensor] = (-1, torch.empty(0))
        self.running = {"loss": 0.0, "correct": 0.0, "seen": 0.0, "time": 0.0}
        self.history: list[dict[str, Any]] = []

    # --- state -----------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {"model": self.model.state_dict(), "optimizer": self.opt.state_dict(),
                "arch": self.model.describe(), "config": asdict(self.cfg),
                "epoch": self.epoch, "step_in_epoch": self.step_in_epoch,
                "global_step": self.global_step, "best_err": self.best_err,
                "bad_epochs": self.bad_epochs, "running": dict(self.running),
                "seconds": self.seconds,
                "history": self.history, "mean": self.mean}

    def save(self, name: str = "last.pt") -> None:
        if self.rank == 0:
            atomic_save(self.state(), self.run_dir / name)

    def set_aside(self) -> Path | None:
        """Before a fresh start in a used run folder, move its checkpoints, metrics and results
        into ``run_dir/replaced-<time>/`` (rank 0): nothing is deleted, and no ``epoch_<e>.pt``
        of the old run stays beside the new run's to be read as its (Fig. 4).

        Returns the folder they went to, or None if there was nothing to move."""
        old = [p for p in self.run_dir.glob("*") if p.is_file() and (
            p.suffix == ".pt" or p.name in ("metrics.jsonl", "results.json"))]
        if self.rank != 0 or not old:
            return None
        stamp, n = time.strftime("replaced-%Y%m%d-%H%M%S"), 0
        while (dest := self.run_dir / (stamp + (f"-{n}" if n else ""))).exists():
            n += 1
        dest.mkdir()
        for p in old:
            os.replace(p, dest / p.name)
        print(f"zflib.training.train: starting afresh; the previous run's {len(old)} files "
              f"are in {dest}")
        return dest

    def resume(self, path: str | os.PathLike | None = None) -> bool:
        """Continue from ``path`` (default ``run_dir/last.pt``); False if there is none.

        Raises ``ValueError`` when the checkpoint is of another architecture, or was trained
        with other settings than ``cfg`` in any field but :data:`zflib.config.RESUMABLE` (a
        longer run may resume a shorter one; one with another lr, optimiser, init or input
        scale may not)."""
        path = Path(path) if path else self.run_dir / "last.pt"
        if not path.exists():
            return False
        ckpt = load_state(path, self.model)
        saved, now = ckpt.get("config", {}), asdict(self.cfg)
        differ = [f"{k}: checkpoint {saved[k]!r}, now {now[k]!r}" for k in now
                  if k not in RESUMABLE and k in saved and _plain(saved[k]) != _plain(now[k])]
        if differ:
            raise ValueError(f"{path} was trained with other settings ({'; '.join(differ)}); "
                             "start afresh (--no-resume) or give another --run-dir")
        if "mean" in ckpt and not torch.equal(ckpt["mean"], self.mean):
            raise ValueError(f"{path} was trained on other images (its mean image differs "
                             "from this training split's: files added, removed or changed); "
                             "start afresh (--no-resume) or give another --run-dir")
        self.opt.load_state_dict(ckpt["optimizer"])
        for k in ("epoch", "step_in_epoch", "global_step", "best_err", "bad_epochs",
                  "running", "history", "seconds"):
            setattr(self, k, ckpt[k])
        return True

    @property
    def lr(self) -> float:
        return self.opt.param_groups[0]["lr"]

    # --- one step --------------------------------------------------------------------------
    def batch(self, epoch: int, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Inputs and labels of ``step`` in ``epoch`` for this rank (deterministic)."""
        cfg = self.cfg
        if self._perm[0] != epoch:
            self._perm = (epoch, torch.randperm(len(self.images), generator=torch.Generator()
                                                .manual_seed(_seed(cfg.seed, epoch))))
        perm = self._perm[1]
        per_rank = cfg.batch_size // self.world
        idx = perm[step * cfg.batch_size:(step + 1) * cfg.batch_size]
        idx = idx[self.rank * per_rank:(self.rank + 1) * per_rank].to(self.images.device)
        gen = torch.Generator().manual_seed(_seed(cfg.seed, epoch, step, self.rank))
        x = augment(self.images[idx], self.mean_dev, cfg.input_scale, cfg.crop_size, gen)
        return (x.to(self.device, non_blocking=True),
                self.labels[idx].to(self.device, non_blocking=True))

    def train_step(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Forward, backward, update, renormalise; returns (loss, number correct) as tensors."""
        torch.manual_seed(_seed(self.cfg.seed, self.global_step, self.rank, 7))  # dropout
        if self.cfg.schedule == "cosine":
            lr = scheduled_lr(self.cfg, self.global_step, self.steps_per_epoch)
            for g in self.opt.param_groups:
                g["lr"] = lr
        loss, logits = update(self.step_net, self.model, self.opt, x, y, self.cfg, amp=self.amp)
        return loss, (logits.argmax(1) == y).sum()

    # --- epochs ----------------------------------------------------------------------------
    def validate(self, *, ten_crop: bool = False) -> dict[str, float]:
        return evaluate(self.model, self.val_set.images, self.val_set.labels, self.mean,
                        self.cfg, ten_crop=ten_crop, device=self.device,
                        batch_size=self.cfg.eval_batch_size)

    def end_epoch(self) -> dict[str, Any]:
        cfg = self.cfg
        val = self._agreed(self.validate())
        r = self.running
        row = {"epoch": self.epoch + 1, "step": self.global_step,
               "train_loss": r["loss"] / max(r["seen"], 1),
               "train_top1_err": 1 - r["correct"] / max(r["seen"], 1),
               "val_loss": val["loss"], "val_top1_err": val["top1_err"],
               "val_top5_err": val["top5_err"], "lr": self.lr,
               "images_per_s": r["seen"] * self.world / max(r["time"], 1e-9)}
        self.history.append(row)
        if val["top1_err"] < self.best_err - cfg.plateau_threshold:
            self.best_err, self.bad_epochs = val["top1_err"], 0
        elif cfg.schedule == "plateau":
            self.bad_epochs += 1
            if self.bad_epochs >= cfg.plateau_patience:
                for g in self.opt.param_groups:
                    g["lr"] = max(g["lr"] / 10, cfg.min_lr)
                self.bad_epochs = 0
        self.epoch += 1
        self.step_in_epoch = 0
        self.running = {"loss": 0.0, "correct": 0.0, "seen": 0.0, "time": 0.0}
        # last.pt goes last: a run killed before it redoes this epoch and writes the rest again;
        # one killed after it would never write the kept epoch_<e>.pt (Fig. 4)
        if self.epoch in cfg.keep_epochs:
            self.save(f"epoch_{self.epoch}.pt")
        if self.rank == 0:  # the whole history: a fresh or resumed run never repeats a row
            self.run_dir.mkdir(parents=True, exist_ok=True)
            tmp = self.run_dir / ".metrics.jsonl.tmp"
            tmp.write_text("".join(json.dumps(h) + "\n" for h in self.history))
            os.replace(tmp, self.run_dir / "metrics.jsonl")
        self.save()
        return row

    def fit(self, *, deadline: float | None = None) -> dict[str, Any]:
        """Train until ``cfg.epochs`` (or ``cfg.max_steps``, or the wall-clock ``deadline``);
        then write and return ``results.json``."""
        from tqdm.auto import tqdm

        cfg = self.cfg
        total = cfg.epochs * self.steps_per_epoch
        if cfg.max_steps:
            total = min(total, cfg.max_steps)
        bar = tqdm(total=total, initial=self.global_step, disable=not self.progress,
                   desc=run_name(cfg), unit="step")
        stopped = False
        # an epoch whose last step is done but not its end (a run killed between the two)
        # still ends, even when that step was the run's last
        while self.epoch < cfg.epochs and not stopped and (
                self.global_step < total or self.step_in_epoch == self.steps_per_epoch):
            t0 = time.perf_counter()
            loss_sum = torch.zeros((), device=self.device)
            correct_sum = torch.zeros((), device=self.device)
            n = 0
            while self.step_in_epoch < self.steps_per_epoch and self.global_step < total:
                x, y = self.batch(self.epoch, self.step_in_epoch)
                loss, correct = self.train_step(x, y)
                loss_sum += loss * len(y)
                correct_sum += correct
                n += len(y)
                self.step_in_epoch += 1
                self.global_step += 1
                bar.update(1)
                if cfg.checkpoint_every and self.global_step % cfg.checkpoint_every == 0:
                    self._flush(loss_sum, correct_sum, n, t0)
                    loss_sum.zero_(), correct_sum.zero_()
                    n, t0 = 0, time.perf_counter()
                    self.save()
                if deadline and self._past(deadline):
                    stopped = True
                    break
            self._flush(loss_sum, correct_sum, n, t0)
            if self.step_in_epoch == self.steps_per_epoch:
                row = self.end_epoch()
                bar.set_postfix(val_err=f"{row['val_top1_err']:.3f}", lr=f"{row['lr']:.0e}")
            else:
                self.save()
        bar.close()
        return self.finish()

    def _past(self, deadline: float) -> bool:
        """Whether ``deadline`` has passed on any rank: every rank must stop after the same
        step, or the others wait forever in DDP's gradient all-reduce."""
        late = time.time() > deadline
        if self.distributed:
            flag = torch.tensor(float(late), device=self.device)
            dist.all_reduce(flag, op=dist.ReduceOp.MAX)
            late = bool(flag)
        return late

    def _agreed(self, val: dict[str, float]) -> dict[str, float]:
        """Rank 0's validation numbers on every rank. Each rank measures the same weights on
        the same images, but kernels that differ by a rounding (cuDNN's choice per GPU) could
        put the plateau rule's threshold between them, and ranks that divided the lr at
        different epochs would train apart, silently."""
        if not self.distributed:
            return val
        keys = sorted(val)
        values = torch.tensor([val[k] for k in keys], dtype=torch.float64, device=self.device)
        dist.broadcast(values, src=0)
        return dict(zip(keys, values.tolist(), strict=True))

    def _flush(self, loss_sum: torch.Tensor, correct_sum: torch.Tensor, n: int,
               t0: float) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        self.running["loss"] += float(loss_sum)
        self.running["correct"] += float(correct_sum)
        self.running["seen"] += n
        self.running["time"] += time.perf_counter() - t0
        self.seconds += time.perf_counter() - t0

    def finish(self) -> dict[str, Any]:
        """10-crop validation error, train error, and the run's facts in ``results.json``."""
        errors = table_errors(self.model, self.train_set, self.val_set, self.mean, self.cfg,
                              device=self.device, batch_size=self.cfg.eval_batch_size)
        results = {**errors, "epochs": self.epoch, "steps": self.global_step,
                   "train_images": len(self.train_set), "val_images": len(self.val_set),
                   "machine": machine_name(self.device), "world_size": self.world,
                   "images_per_s": (self.history[-1]["images_per_s"] if self.history else None),
                   "train_seconds": self.seconds,
                   "config": asdict(self.cfg), "history": self.history}
        if self.rank == 0:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            tmp = self.run_dir / ".results.json.tmp"
            tmp.write_text(json.dumps(results, indent=1))
            os.replace(tmp, self.run_dir / "results.json")
        return results


def train(cfg: Config, run_dir: str | os.PathLike | None = None, *, resume: bool = True,
          device: torch.device | str | None = None, progress: bool = True,
          train_set: ImageSet | None = None, val_set: ImageSet | None = None,
          deadline: float | None = None) -> Trainer:
    """Train ``cfg`` (resuming ``run_dir/last.pt`` when present; with ``resume=False`` a used
    ``run_dir``'s files are set aside first, see :meth:`Trainer.set_aside`); return the
    :class:`Trainer` (``.model``, ``.mean``, ``.history``, ``.run_dir``)."""
    t = Trainer(cfg, run_dir, device=device, train=train_set, val=val_set, progress=progress)
    if resume:
        t.resume()
    else:
        t.set_aside()
    t.fit(deadline=deadline)
    return t


def parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def main(argv: list[str] | None = None) -> int:
    """``python -m zflib.training.train --profile full --set arch=alexnet --set renorm=false``;
    under ``torchrun --nproc_per_node=N`` the same command trains with DDP."""
    p = argparse.ArgumentParser(prog="python -m zflib.training.train",
                                description=__doc__.split("\n")[0])
    p.add_argument("--profile", default="full", help="smoke | quick | full | paper")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value (JSON values: 1e-3, false, [1,2])")
    p.add_argument("--run-dir", default=None, help="default: $ZF_HOME/runs/<name>")
    p.add_argument("--no-resume", action="store_true", help="start afresh")
    p.add_argument("--device", default=None)
    p.add_argument("--minutes", type=float, default=0, help="stop (and checkpoint) after this")
    args = p.parse_args(argv)
    if not 0 <= args.minutes < math.inf:
        p.error(f"--minutes {args.minutes} out of range: 0 (no limit) or more")
    overrides = {}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep:
            p.error(f"--set wants KEY=VALUE, got {item!r}")
        if key == "profile":
            p.error(f"--set {item}: profile is not a config override; use --profile {value} "
                    "instead")
        overrides[key] = parse_value(value)
    try:
        cfg = get_config(args.profile, **overrides)
        check_config(cfg)
    except (ValueError, TypeError) as err:
        p.error(str(err))
    with launched(args.device) as device:
        deadline = time.time() + args.minutes * 60 if args.minutes else None
        t = train(cfg, args.run_dir, resume=not args.no_resume, device=device,
                  deadline=deadline)
        if t.rank == 0:
            last = t.history[-1] if t.history else {}
            print(json.dumps({"run_dir": str(t.run_dir), **{k: last.get(k) for k in
                             ("epoch", "val_top1_err", "val_top5_err", "images_per_s")}}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
