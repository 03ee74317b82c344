"""Issue 33's training set at 224: Tiny ImageNet's 200 classes, Imagewoof2's 10 dog breeds and
Imagenette2's 10 classes as one 219-class problem.

Golden retriever (``n02099601``) is both a Tiny ImageNet and an Imagewoof2 class: it is one
class here, holding both sources' images; Imagenette2 shares no class with either, so
200 + 9 + 10 = 219. Classes come in the order Tiny ImageNet's (``tiny_imagenet_wnids.txt``),
then Imagewoof2's and Imagenette2's not already listed (sorted WordNet ids).

Every image is stored as uint8 256 x 256 (shorter side 256, centre square): Imagewoof2's and
Imagenette2's decoded from their natural resolution (:mod:`zflib.data.natural`), Tiny
ImageNet's 64-pixel images (their natural resolution) upscaled by bicubic interpolation, as
:func:`zflib.data.load_split` does for Fig. 3's geometry. Random 224 crops are the trainer's.

Sizes at 256 (196,608 bytes an image):

| part | train | val |
| --- | --- | --- |
| Tiny ImageNet, official (500 per class) | 100,000: 19.7 GB | 10,000: 2.0 GB |
| Tiny ImageNet, the mirror (300 per class) | 60,000: 11.8 GB | |
| Imagewoof2 | 9,025: 1.8 GB | 3,929: 0.8 GB |
| Imagenette2 | 9,469: 1.9 GB | 3,925: 0.8 GB |

The whole training set (118,494 images, 23.3 GB) does not fit beside anything else in this
CPU machine's 24 GB: on the CPU use ``per_class_limit`` (20 per class: 4,380 images, 0.86 GB);
a GPU run packs the sources at 256 and keeps them resident there.

Paper: Sec. 3 (ImageNet 2012 training, images at 256, 224 crops).

Note: the paper trains on ImageNet's 1.3 million images of 1,000 classes; this set is the
largest natural-resolution stand-in the public copies allow.
"""

from __future__ import annotations

import torch

from zflib.data import TINY_SIZE, _upscaled, per_class_subset
from zflib.data.common import ImageSet
from zflib.data.install import dataset_root
from zflib.data.natural import load_imagenette, load_imagewoof
from zflib.data.natural_counts import IMAGENETTE2_COUNTS, IMAGEWOOF2_COUNTS
from zflib.data.tiny import OFFICIAL_WNIDS, load_tiny_imagenet

SOURCES = ("tiny-imagenet", "imagewoof2", "imagenette2")


def source_classes() -> dict[str, list[str]]:
    """Each source's classes (WordNet ids) in its loader's label order: Tiny ImageNet's
    official list, Imagewoof2's and Imagenette2's sorted."""
    return {"tiny-imagenet": OFFICIAL_WNIDS.read_text().split(),
            "imagewoof2": sorted(IMAGEWOOF2_COUNTS["train"]),
            "imagenette2": sorted(IMAGENETTE2_COUNTS["train"])}


def combined_classes(sources: dict[str, list[str]] | None = None
                     ) -> tuple[list[str], dict[str, torch.Tensor]]:
    """The combined class list and each source's label mapping.

    Args:
        sources: source name -> its classes in label order (default
            :func:`source_classes`); a class in several sources becomes one class.

    Returns (classes, maps): ``classes`` the union of the sources' classes in order of first
    appearance (219 WordNet ids by default); ``maps[source]`` int64 [len(source's classes)],
    ``maps[source][i]`` the combined label of the source's label ``i``.

    Paper: Sec. 3 (one softmax over all classes).
    """
    sources = source_classes() if sources is None else sources
    classes: list[str] = []
    index: dict[str, int] = {}
    maps = {}
    for name, wnids in sources.items():
        if len(set(wnids)) != len(wnids):
            raise ValueError(f"source {name} lists a class twice; valid: each class once")
        for w in wnids:
            if w not in index:
                index[w] = len(classes)
                classes.append(w)
        maps[name] = torch.tensor([index[w] for w in wnids], dtype=torch.long)
    return classes, maps


def _tiny(split: str, size: int, per_class_limit: int) -> ImageSet:
    data = load_tiny_imagenet(dataset_root("tiny-imagenet"), split)
    if per_class_limit:
        data = data.subset(per_class_subset(data.labels, per_class_limit))
    return data if size == TINY_SIZE else _upscaled(data, size, split, None)


def load_combined(split: str, *, size: int = 256, per_class_limit: int = 0) -> ImageSet:
    """The combined 219-class set's ``split`` (``train`` | ``val``), uint8 [N, size, size, 3]:
    Tiny ImageNet's images, then Imagewoof2's, then Imagenette2's, labelled by
    :func:`combined_classes` (each source's classes mapped by WordNet id).

    Args:
        split: ``train`` or ``val``.
        size: stored square size (256: 224 crops for the 224-pixel networks).
        per_class_limit: the first n images of every class of every source (0 = all; the
            merged golden retriever class then holds up to 2n).

    Returns an :class:`ImageSet`: ``classes`` 219 WordNet ids, ``names`` Tiny ImageNet's words
    or ImageNet's names, ``paths`` ``<source>/<path in the source>``.

    Paper: Sec. 3.
    """
    if per_class_limit < 0:
        raise ValueError(f"per_class_limit {per_class_limit} out of range 0.. (0 = all)")
    parts = {"tiny-imagenet": _tiny(split, size, per_class_limit),
             "imagewoof2": load_imagewoof(split, size, per_class_limit=per_class_limit),
             "imagenette2": load_imagenette(split, size, per_class_limit=per_class_limit)}
    classes, maps = combined_classes({k: d.classes for k, d in parts.items()})
    names = [""] * len(classes)
    for k, d in parts.items():
        for i, n in zip(maps[k].tolist(), d.names, strict=True):
            names[i] = names[i] or n
    return ImageSet(
        torch.cat([d.images for d in parts.values()]),
        torch.cat([maps[k][d.labels] for k, d in parts.items()]),
        classes, names,
        [f"{k}/{p}" for k, d in parts.items() for p in d.paths],
        [f"{k}/{p}" for k, d in parts.items() for p in d.failed])


__all__ = ["SOURCES", "combined_classes", "load_combined", "source_classes"]
