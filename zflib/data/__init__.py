"""Datasets and the paper's preprocessing (Sec. 3).

``load_split(cfg, split)`` gives an :class:`ImageSet` of uint8 images, decoded once into a
cache under ``$ZF_HOME/cache`` (a second load of Tiny ImageNet takes about a second);
``mean_image`` the per-pixel training mean; ``to_input`` network inputs; ``from_input`` the way
back for display.
"""

from __future__ import annotations

import functools
import logging

import torch

from zflib.config import Config
from zflib.data.common import ImageSet, cache_key, cached_imageset, decode_images, tensor_digest
from zflib.data.folder import load_image_folder
from zflib.data.install import dataset_root
from zflib.data.tiny import load_tiny_imagenet
from zflib.data.transforms import (
    augment,
    center_crop,
    normalize,
    random_crop_flip,
    resize,
    ten_crops,
)

log = logging.getLogger("zflib.data")

__all__ = ["IMAGE_SOURCES", "ImageSet", "decode_images", "load_images", "load_split", "mean_image",
           "to_input", "from_input",
           "augment", "center_crop", "normalize", "random_crop_flip", "resize", "ten_crops",
           "per_class_subset"]


def per_class_subset(labels: torch.Tensor, n: int) -> torch.Tensor:
    """Indices of the first ``n`` images of every class (all if ``n`` is 0)."""
    if n <= 0:
        return torch.arange(len(labels))
    keep, seen = [], {}
    for i, y in enumerate(labels.tolist()):
        if seen.get(y, 0) < n:
            keep.append(i)
            seen[y] = seen.get(y, 0) + 1
    return torch.tensor(keep, dtype=torch.long)


@functools.lru_cache(maxsize=4)
def _load(dataset: str, data_root: str, image_size: int, split: str) -> ImageSet:
    if dataset == "tiny-imagenet":
        data = load_tiny_imagenet(dataset_root("tiny-imagenet"), split)
    elif dataset == "imagefolder":
        if not data_root:
            raise ValueError("dataset 'imagefolder' needs data_root (a folder holding train/ "
                             "and val/, one subfolder per class)")
        data = load_image_folder(data_root, split, size=image_size)
    else:
        raise ValueError(f"unknown dataset {dataset!r}; valid: tiny-imagenet, imagefolder")
    if data.failed:
        log.warning("%s %s: %d unreadable images left out: %s", dataset, split,
                    len(data.failed), ", ".join(data.failed[:5]))
    return data


TINY_SIZE = 64  # Tiny ImageNet's images, as decoded and cached


def load_split(cfg: Config, split: str, device: torch.device | str | None = None) -> ImageSet:
    """The ``train`` or ``val`` split of ``cfg.dataset``, limited by ``cfg.train_per_class``
    (first n per class) or ``cfg.val_limit`` (first n).

    Tiny ImageNet is decoded at its own 64 pixels; a ``cfg.image_size`` other than 64 (256 at
    Fig. 3's geometry) is reached by :func:`zflib.data.transforms.resize` (bicubic) on
    ``device`` (default: the CPU), where the images are then kept."""
    if split not in ("train", "val"):
        raise ValueError(f"split {split!r} not valid; valid: train, val")
    data = _load(cfg.dataset, cfg.data_root, cfg.image_size, split)
    if split == "train" and cfg.train_per_class:
        data = data.subset(per_class_subset(data.labels, cfg.train_per_class))
    if split == "val" and cfg.val_limit:
        data = data.subset(range(min(cfg.val_limit, len(data))))
    if len(data.classes) != cfg.num_classes:
        raise ValueError(f"{cfg.dataset} {split} has {len(data.classes)} classes but the config "
                         f"says num_classes={cfg.num_classes}")
    if cfg.dataset == "tiny-imagenet" and cfg.image_size != TINY_SIZE:
        data = _upscaled(data, cfg.image_size, split, device)
    return data


# where a figure takes its images (Config.fig5_source, fig7_source), and how a title names them
IMAGE_SOURCES = {"val": "validation images",
                 "examples": "full-resolution ImageNet examples (one per class)"}


def load_images(cfg: Config, source: str) -> ImageSet:
    """The images a figure draws from ``source`` (:data:`IMAGE_SOURCES`), labelled in the
    classes of ``cfg``'s dataset (the model's outputs).

    ``val``: the validation split (:func:`load_split`, its first ``cfg.val_limit``).
    ``examples``: one full-resolution ImageNet image of each class of the validation split
    (Tiny ImageNet's 200, in its class order), decoded at ``cfg.image_size`` from the file
    (:func:`zflib.data.natural.load_examples`; ``python -m zflib.data install
    imagenet-examples``), not upscaled from 64 pixels.

    Paper: Sec. 3 (256-pixel images), Sec. 4.2 (Fig. 5 and Fig. 7's examples).
    """
    if source not in IMAGE_SOURCES:
        raise ValueError(f"image source {source!r} not valid; valid: {', '.join(IMAGE_SOURCES)}")
    if source == "val":
        return load_split(cfg, "val")
    from zflib.data.natural import load_examples

    classes = _load(cfg.dataset, cfg.data_root, cfg.image_size, "val").classes
    return load_examples(cfg.image_size, classes)


RESIZED_CACHE_BYTES = 4 << 30  # upscaled sets up to this size are cached (val at 256: 2 GB)


def _upscaled(data: ImageSet, size: int, split: str,
              device: torch.device | str | None) -> ImageSet:
    """``data`` resized to ``size``, kept in the uint8 cache when resized on the CPU and at most
    :data:`RESIZED_CACHE_BYTES` (Tiny ImageNet's validation split at 256 pixels takes 24 s to
    resize on 2 cores and a second to read back); keyed by the 64-pixel images' bytes."""
    def build() -> ImageSet:
        return ImageSet(resize(data.images, size, device=device), data.labels, data.classes,
                        data.names, data.paths, data.failed)

    target = torch.device(device) if device is not None else data.images.device  # as resize
    if target.type != "cpu" or len(data) * size * size * 3 > RESIZED_CACHE_BYTES:
        return build()
    key = cache_key(tensor_digest(data.images, data.labels), size, "bicubic")
    return cached_imageset(f"tiny-imagenet-{split}-{size}", key, build)


def mean_image(cfg: Config, data: ImageSet | None = None) -> torch.Tensor:
    """Per-pixel mean of the training images, float32 [3, H, W] on the 0..255 scale."""
    data = data if data is not None else load_split(cfg, "train")
    total = torch.zeros(data.images.shape[1:], dtype=torch.float64, device=data.images.device)
    for i in range(0, len(data), 8192):
        total += data.images[i:i + 8192].double().sum(0)
    return (total / len(data)).permute(2, 0, 1).float().cpu()


def to_input(images: torch.Tensor, mean: torch.Tensor, cfg: Config, *,
             crop: str = "center") -> torch.Tensor:
    """uint8 [N, H, W, 3] -> network input float32 [N, 3, S, S] (S = ``cfg.crop_size``):
    ``(x - mean) * cfg.input_scale``, centre-cropped (``crop="center"``) or not (``"none"``)."""
    if crop not in ("center", "none"):
        raise ValueError(f"crop {crop!r} not valid; valid: center, none")
    x = normalize(images, mean, cfg.input_scale)
    return center_crop(x, cfg.crop_size) if crop == "center" else x


def from_input(x: torch.Tensor, mean: torch.Tensor, cfg: Config) -> torch.Tensor:
    """Network input [N, 3, S, S] back to displayable float [N, S, S, 3] in 0..1."""
    m = center_crop(mean[None], x.shape[-1]).to(x.device)
    return (x / cfg.input_scale + m).clamp(0, 255).div(255).permute(0, 2, 3, 1)
