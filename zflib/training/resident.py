"""The training loop with its data resident on the device: random crops, flips and the mean
image subtracted there, in a few batched kernels, and nothing that waits for the device
between two steps.

:class:`ResidentTrainer` is :class:`zflib.training.train.Trainer` (checkpoints, resume, the
learning-rate schedule, validation, ``results.json``: all as there) with another way of
drawing a batch:

- the images stay where they are stored, uint8 [N, H, W, 3] (on a GPU: all of them, 256 x
  256 x 3 bytes each), with their labels; the mean image [H, W, 3] beside them;
- each epoch's order and every crop offset and flip are drawn *on the device* from a
  counter-based hash (splitmix64's finaliser over ``(seed, epoch, rank)`` and a running
  counter, :func:`hashed`), so the same seed gives the same batches on a CPU and on a GPU, a
  resumed run draws what an uninterrupted one would have drawn, and no index tensor is built
  on the host and copied over (the old loop's three small host-to-device copies per step each
  waited for the device: ``Tensor.to`` of pageable memory synchronises);
- a batch is one gather of ``crop`` x ``crop`` pixels per image from the uint8 images and from
  the mean image (:func:`batch_input`; the flip is in the column index), then ``(x - mean) *
  input_scale``: channels-last float32, which autocast casts to bf16 at conv1;
- losses and correct counts are summed on the device and read at checkpoints and epoch ends
  only (as the base loop does);
- ``band_lrn`` (default on): the network's LRN layers computed as a 1x1 convolution with a band
  matrix (:class:`zflib.training.models.BandLRN`, the same function); ``compile``: the network
  and the batch assembly through ``torch.compile``.

On a CPU the same code runs in fp32 (the tests use it); on a GPU in bf16 autocast.

Paper: Sec. 3 (256-pixel images, random 224 crops and flips, mean image subtracted).
"""

from __future__ import annotations

import os
from typing import Any

import torch

from zflib.config import Config
from zflib.data import ImageSet
from zflib.training.models import use_band_lrn
from zflib.training.train import Trainer, _seed

# splitmix64's constants as signed int64 (torch has no uint64 arithmetic on every device)
_GAMMA = 0x9E3779B97F4A7C15 - (1 << 64)
_M1 = 0xBF58476D1CE4E5B9 - (1 << 64)
_M2 = 0x94D049BB133111EB - (1 << 64)


def _shr(x: torch.Tensor, n: int) -> torch.Tensor:
    """Logical right shift of int64 ``x`` by ``n`` (torch's ``>>`` is arithmetic)."""
    return (x >> n) & ((1 << (64 - n)) - 1)


def mix64(x: torch.Tensor) -> torch.Tensor:
    """splitmix64's finaliser on int64 (wrapping arithmetic, as on every torch device)."""
    x = x ^ _shr(x, 30)
    x = x * _M1
    x = x ^ _shr(x, 27)
    x = x * _M2
    return x ^ _shr(x, 31)


def hashed(key: int, start: int, n: int, *, device: torch.device | str) -> torch.Tensor:
    """int64 [n] of 53 random bits each: ``mix64(key + (start + i + 1) * gamma)``, i < n.

    A pure function of ``(key, start + i)``, computed where ``device`` is."""
    key = (key & ((1 << 64) - 1)) - ((1 << 64) if key & (1 << 63) else 0)  # as int64
    i = torch.arange(start + 1, start + n + 1, device=device, dtype=torch.int64)
    return _shr(mix64(key + i * _GAMMA), 11)


def epoch_order(seed: int, epoch: int, n: int, *, device: torch.device | str) -> torch.Tensor:
    """The order of ``n`` images in ``epoch``: a permutation, the argsort of ``n`` hashes."""
    return torch.argsort(hashed(_seed(seed, epoch, 101), 0, n, device=device), stable=True)


def epoch_crops(seed: int, epoch: int, rank: int, steps: int, per_rank: int,
                size: tuple[int, int], crop: int, *, device: torch.device | str
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Crop offsets (top, left) and flips of every image of every step of ``epoch`` on
    ``rank``: three [steps, per_rank] tensors; top in 0..H-crop, left in 0..W-crop."""
    h, w = size
    if not 1 <= crop <= min(h, w):
        raise ValueError(f"crop {crop} out of range 1..{min(h, w)}")
    r = hashed(_seed(seed, epoch, rank, 103), 0, 3 * steps * per_rank,
               device=device).view(steps, per_rank, 3)
    return r[..., 0] % (h - crop + 1), r[..., 1] % (w - crop + 1), (r[..., 2] & 1).bool()


def crop_index(oy: torch.Tensor, ox: torch.Tensor, flip: torch.Tensor, crop: int
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """Row [B, crop, 1] and column [B, 1, crop] indices of each image's crop (columns
    reversed where ``flip``)."""
    ar = torch.arange(crop, device=oy.device)
    rows = oy[:, None] + ar
    cols = torch.where(flip[:, None], ox[:, None] + (crop - 1) - ar, ox[:, None] + ar)
    return rows[:, :, None], cols[:, None, :]


def batch_input(images: torch.Tensor, mean_hwc: torch.Tensor, idx: torch.Tensor,
                oy: torch.Tensor, ox: torch.Tensor, flip: torch.Tensor, crop: int,
                scale: float) -> torch.Tensor:
    """Network inputs from resident uint8 images: float32 [B, 3, crop, crop] (channels-last
    memory) ``= (images[idx] - mean) * scale`` over each image's crop, flipped where
    ``flip``; the mean image [H, W, 3] is cropped (and flipped) with it. One gather each
    from the images and the mean image, then one subtraction."""
    rows, cols = crop_index(oy, ox, flip, crop)
    px = images[idx[:, None, None], rows, cols]  # [B, crop, crop, 3] uint8
    return ((px.float() - mean_hwc[rows, cols]) * scale).permute(0, 3, 1, 2)


class ResidentTrainer(Trainer):
    """:class:`zflib.training.train.Trainer` drawing its batches on the device (see the module
    notes); ``band_lrn`` and ``compile`` as there. Everything else, checkpoints and their
    resumption included, is the base class's."""

    def __init__(self, cfg: Config, run_dir: str | os.PathLike | None = None, *,
                 device: torch.device | str | None = None, train: ImageSet | None = None,
                 val: ImageSet | None = None, progress: bool = True, band_lrn: bool = True,
                 compile: bool = False) -> None:
        super().__init__(cfg, run_dir, device=device, train=train, val=val, progress=progress)
        if band_lrn:
            use_band_lrn(self.model)  # in place: the DDP wrapper, if any, holds this model
        self.mean_hwc = self.mean.permute(1, 2, 0).contiguous().to(self.images.device)
        self._epoch: tuple[int, Any] = (-1, None)
        self.compiled = compile
        self._input = batch_input
        if compile:
            self.step_net = torch.compile(self.net)
            self._input = torch.compile(batch_input)

    def epoch_draws(self, epoch: int) -> tuple[torch.Tensor, ...]:
        """(order, tops, lefts, flips) of ``epoch`` on this rank, on the images' device;
        computed once per epoch."""
        if self._epoch[0] != epoch:
            dev, cfg = self.images.device, self.cfg
            order = epoch_order(cfg.seed, epoch, len(self.images), device=dev)
            crops = epoch_crops(cfg.seed, epoch, self.rank, self.steps_per_epoch,
                                cfg.batch_size // self.world, tuple(self.images.shape[1:3]),
                                cfg.crop_size, device=dev)
            self._epoch = (epoch, (order, *crops))
        return self._epoch[1]

    def batch(self, epoch: int, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Inputs and labels of ``step`` in ``epoch`` for this rank, assembled on the device
        from slices of the epoch's draws (no host-side index, no synchronisation)."""
        cfg = self.cfg
        order, oy, ox, flip = self.epoch_draws(epoch)
        per_rank = cfg.batch_size // self.world
        start = step * cfg.batch_size + self.rank * per_rank
        idx = order[start:start + per_rank]
        x = self._input(self.images, self.mean_hwc, idx, oy[step], ox[step], flip[step],
                        cfg.crop_size, cfg.input_scale)
        return (x.to(self.device, non_blocking=True),
                self.labels[idx].to(self.device, non_blocking=True))
