"""Validation error: centre crop (per epoch) or 10 crops with averaged softmax (Table 2).

Paper: Sec. 3 and Table 2 (top-1 / top-5 error, 10-crop testing as in Krizhevsky et al.).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from zflib.config import Config
from zflib.data.common import ImageSet
from zflib.data.transforms import center_crop, normalize, ten_crops
from zflib.training.models import eval_mode


@torch.no_grad()
def predict(model: nn.Module, images: torch.Tensor, mean: torch.Tensor, cfg: Config, *,
            ten_crop: bool = False, device: torch.device | str = "cpu",
            batch_size: int = 256) -> torch.Tensor:
    """Class probabilities [N, C] for uint8 images [N, H, W, 3], in eval mode (the model's
    own mode is restored afterwards).

    Paper: Sec. 3 (testing: the centre crop, or the 10 crops' softmax averaged).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size {batch_size} out of range 1..")
    device = torch.device(device)
    mean = mean.to(device)
    out = []
    amp = device.type == "cuda"
    with eval_mode(model):
        for i in range(0, len(images), batch_size):
            x = normalize(images[i:i + batch_size].to(device), mean, cfg.input_scale)
            crops = (ten_crops(x, cfg.crop_size) if ten_crop
                     else center_crop(x, cfg.crop_size)[None])
            k, n = crops.shape[:2]
            xb = crops.reshape(k * n, *crops.shape[2:]).contiguous(
                memory_format=torch.channels_last)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                logits = model(xb).float()
            out.append(F.softmax(logits, 1).reshape(k, n, -1).mean(0).cpu())
    return torch.cat(out)


def error_rates(probs: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
    """Top-1 and top-5 error (fractions) and mean log loss of ``probs`` [N, C].

    Paper: Sec. 5, Tables 2 and 3 (top-1 and top-5 error).
    """
    labels = labels.cpu()
    top5 = probs.topk(min(5, probs.shape[1]), 1).indices
    hit1 = (top5[:, 0] == labels).float().mean().item()
    hit5 = (top5 == labels[:, None]).any(1).float().mean().item()
    loss = -probs.gather(1, labels[:, None]).clamp_min(1e-12).log().mean().item()
    return {"top1_err": 1 - hit1, "top5_err": 1 - hit5, "loss": loss}


def evaluate(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, mean: torch.Tensor,
             cfg: Config, *, ten_crop: bool = False, device: torch.device | str = "cpu",
             batch_size: int = 256) -> dict[str, float]:
    """Top-1/top-5 error and loss of ``model`` on uint8 ``images`` with ``labels``."""
    probs = predict(model, images, mean, cfg, ten_crop=ten_crop, device=device,
                    batch_size=batch_size)
    return error_rates(probs, labels)


TRAIN_ERROR_IMAGES = 10_000  # Table 3's train error: 10,000 training images, spread evenly


def train_error_sample(n: int, size: int = TRAIN_ERROR_IMAGES) -> torch.Tensor:
    """Indices of ``min(n, size)`` images spread evenly over a split of ``n`` (every class of a
    class-ordered split is represented in proportion)."""
    return torch.linspace(0, n - 1, min(n, size)).round().long()


def table_errors(model: nn.Module, train: ImageSet, val: ImageSet, mean: torch.Tensor,
                 cfg: Config, *,
                 device: torch.device | str = "cpu", batch_size: int = 256) -> dict[str, float]:
    """Table 2/3 errors of ``model``: 10-crop validation top-1/top-5 error and loss, and the
    top-1 error on 10,000 training images spread evenly over the split (centre crop, eval
    mode; the split is stored class by class, so its first 10,000 would be 34 of the 200
    classes).

    ``train`` and ``val`` are :class:`zflib.data.ImageSet` s.

    Note: the committed runs' ``train_top1_err`` (Table 3) were measured on the first 10,000
    (classes 0-33); on ``zfnet64`` those and a sample of the whole split differ by 0.7
    points (40.4% against 39.7%, centre crop).
    """
    v = evaluate(model, val.images, val.labels, mean, cfg, ten_crop=True, device=device,
                 batch_size=batch_size)
    pick = train_error_sample(len(train))
    t = evaluate(model, train.images[pick], train.labels[pick], mean, cfg, device=device,
                 batch_size=batch_size)
    return {"val_top1_err_10crop": v["top1_err"], "val_top5_err_10crop": v["top5_err"],
            "val_loss_10crop": v["loss"], "train_top1_err": t["top1_err"]}
