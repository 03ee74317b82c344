"""The paper's preprocessing (Sec. 3), as batched tensor operations that run on CPU or GPU.

- Per-pixel mean image subtracted on the 0..255 scale, then multiplied by ``cfg.input_scale``
  (1 in the ``paper`` recipe, so inputs lie in about [-128, 128], the scale the filter
  renormalisation radius assumes; 1/64 in the 64-pixel recipe, unit scale).
- Training: a random ``crop`` x ``crop`` square and a horizontal flip with probability 1/2
  (224 of 256 in the paper; 56 of 64 for Tiny ImageNet, the same 7/8 ratio).
- Evaluation: 10 crops (four corners and the centre, each also flipped), softmax averaged;
  or the centre crop alone for quick per-epoch validation.
"""

from __future__ import annotations

import torch


def resize(images: torch.Tensor, size: int, *, device: torch.device | str | None = None,
           batch: int = 1024) -> torch.Tensor:
    """uint8 [N, H, W, 3] -> uint8 [N, size, size, 3] on ``device`` (default: where the images
    are): bicubic interpolation (PyTorch's, a = -0.75, pixel centres aligned as in PIL),
    rounded and clipped to 0..255, ``batch`` images at a time. Paper: Sec. 3 (images resized
    to 256); here Tiny ImageNet's 64-pixel images go up to 256 for Fig. 3's geometry."""
    if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"images must be uint8 [N, H, W, 3], got {images.dtype} "
                         f"{tuple(images.shape)}")
    if not 1 <= size <= 4096:
        raise ValueError(f"size {size} out of range 1..4096")
    device = torch.device(device) if device is not None else images.device
    out = torch.empty(len(images), size, size, 3, dtype=torch.uint8, device=device)
    for i in range(0, len(images), batch):
        x = images[i:i + batch].to(device).permute(0, 3, 1, 2).float()
        y = torch.nn.functional.interpolate(x, size=(size, size), mode="bicubic",
                                            align_corners=False)
        out[i:i + batch] = y.round_().clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1)
    return out


def normalize(images: torch.Tensor, mean: torch.Tensor, scale: float) -> torch.Tensor:
    """uint8 [N, H, W, 3] -> float32 [N, 3, H, W] = (x - mean) * scale; ``mean`` is [3, H, W]."""
    if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"images must be uint8 [N, H, W, 3], got {images.dtype} "
                         f"{tuple(images.shape)}")
    if tuple(mean.shape) != (3, *images.shape[1:3]):
        raise ValueError(f"mean image {tuple(mean.shape)} does not match images "
                         f"{tuple(images.shape[1:3])}")
    x = images.permute(0, 3, 1, 2).float()
    return (x - mean.to(x.device)) * scale


def center_crop(x: torch.Tensor, crop: int) -> torch.Tensor:
    """Centre ``crop`` x ``crop`` of [N, C, H, W]."""
    h, w = x.shape[-2:]
    if not 1 <= crop <= min(h, w):
        raise ValueError(f"crop {crop} out of range 1..{min(h, w)}")
    top, left = (h - crop) // 2, (w - crop) // 2
    return x[..., top:top + crop, left:left + crop]


def draw_crops(n: int, size: tuple[int, int], crop: int, generator: torch.Generator
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Random crop offsets (top, left) and flip flags for ``n`` images of ``size`` (H, W)."""
    h, w = size
    if not 1 <= crop <= min(h, w):
        raise ValueError(f"crop {crop} out of range 1..{min(h, w)}")
    oy = torch.randint(0, h - crop + 1, (n,), generator=generator)
    ox = torch.randint(0, w - crop + 1, (n,), generator=generator)
    flip = torch.rand(n, generator=generator) < 0.5
    return oy, ox, flip


def random_crop_flip(x: torch.Tensor, crop: int, generator: torch.Generator) -> torch.Tensor:
    """A random ``crop`` square per image, flipped horizontally with probability 1/2.

    ``x`` is [N, C, H, W]; offsets and flips come from ``generator`` (on the CPU) so that a
    resumed run draws the same crops. One gather: the fast form on a GPU.
    """
    n, c = x.shape[:2]
    oy, ox, flip = draw_crops(n, x.shape[-2:], crop, generator)
    ar = torch.arange(crop)
    rows = oy[:, None] + ar
    cols = torch.where(flip[:, None], ox[:, None] + crop - 1 - ar, ox[:, None] + ar)
    dev = x.device
    b = torch.arange(n, device=dev)[:, None, None, None]
    ch = torch.arange(c, device=dev)[None, :, None, None]
    return x[b, ch, rows.to(dev)[:, None, :, None], cols.to(dev)[:, None, None, :]]


def gather_augment(images: torch.Tensor, mean: torch.Tensor, scale: float, crop: int,
                   generator: torch.Generator) -> torch.Tensor:
    """:func:`augment`'s GPU form: the crops (and flips) of the uint8 images and of the mean
    image are gathered first, in one indexing each, then converted, so only ``crop`` x
    ``crop`` pixels per image are ever float (at 224 of 256, 23% fewer than converting first).
    The result's NHWC memory, seen as [N, 3, crop, crop], is channels-last with no copy."""
    n = len(images)
    oy, ox, flip = draw_crops(n, images.shape[1:3], crop, generator)
    dev = images.device
    ar = torch.arange(crop)
    rows = (oy[:, None] + ar).to(dev)
    cols = torch.where(flip[:, None], ox[:, None] + crop - 1 - ar, ox[:, None] + ar).to(dev)
    b = torch.arange(n, device=dev)[:, None, None]
    px = images[b, rows[:, :, None], cols[:, None, :]]  # [N, crop, crop, 3]
    m = mean.to(dev).permute(1, 2, 0)[rows[:, :, None], cols[:, None, :]]
    return ((px.float() - m) * scale).permute(0, 3, 1, 2)


def augment(images: torch.Tensor, mean: torch.Tensor, scale: float, crop: int,
            generator: torch.Generator) -> torch.Tensor:
    """Training input from uint8 [N, H, W, 3]: ``random_crop_flip(normalize(...))`` as
    channels-last float32 [N, 3, crop, crop].

    On the CPU each image is cropped before it is converted (a loop of slices, 3x faster than
    the gather); on a GPU the gather runs in one kernel. Both draw the same crops.
    """
    if images.device.type != "cpu":
        return gather_augment(images, mean, scale, crop, generator)
    n = len(images)
    oy, ox, flip = draw_crops(n, images.shape[1:3], crop, generator)
    x = images.permute(0, 3, 1, 2)
    out = torch.empty(n, 3, crop, crop, memory_format=torch.channels_last)
    for i, (t, l_, f) in enumerate(zip(oy.tolist(), ox.tolist(), flip.tolist(), strict=True)):
        c = x[i, :, t:t + crop, l_:l_ + crop].float() - mean[:, t:t + crop, l_:l_ + crop]
        out[i] = c.flip(-1) if f else c
    return out.mul_(scale)


def ten_crops(x: torch.Tensor, crop: int) -> torch.Tensor:
    """[10, N, C, crop, crop]: corners and centre of [N, C, H, W], then their mirror images."""
    h, w = x.shape[-2:]
    if not 1 <= crop <= min(h, w):
        raise ValueError(f"crop {crop} out of range 1..{min(h, w)}")
    offsets = [(0, 0), (0, w - crop), (h - crop, 0), (h - crop, w - crop),
               ((h - crop) // 2, (w - crop) // 2)]
    crops = [x[..., t:t + crop, l_:l_ + crop] for t, l_ in offsets]
    crops += [c.flip(-1) for c in crops]
    return torch.stack(crops)
