"""Tiny ImageNet (200 classes, 64x64) in its official ``tiny-imagenet-200`` layout.

``train/<wnid>/images/<wnid>_<i>.JPEG`` and ``val/images/val_<k>.JPEG`` labelled by
``val/val_annotations.txt``; class names from ``words.txt``.
"""

from __future__ import annotations

import re
from pathlib import Path

from zflib.data.common import ImageSet, load_listed


def _number(path: Path) -> int:
    m = re.search(r"_(\d+)\.", path.name)
    return int(m.group(1)) if m else -1


def _names(root: Path, wnids: list[str]) -> list[str]:
    words = {}
    if (root / "words.txt").exists():
        for line in (root / "words.txt").read_text().splitlines():
            wnid, _, text = line.partition("\t")
            words[wnid] = text.split(",")[0].strip()
    return [words.get(w, w) for w in wnids]


def list_split(root: Path, split: str) -> tuple[list[str], list[Path], list[int]]:
    """(wnids, image paths, labels) of ``split`` (``train`` | ``val``), in a fixed order."""
    if split not in ("train", "val"):
        raise ValueError(f"split {split!r} not valid; valid: train, val")
    wnids = (root / "wnids.txt").read_text().split()
    index = {w: i for i, w in enumerate(wnids)}
    if split == "train":
        paths, labels = [], []
        for w in wnids:
            files = sorted((root / "train" / w / "images").glob("*.JPEG"), key=_number)
            paths += files
            labels += [index[w]] * len(files)
        return wnids, paths, labels
    paths, labels = [], []
    for line in (root / "val" / "val_annotations.txt").read_text().splitlines():
        name, wnid = line.split("\t")[:2]
        paths.append(root / "val" / "images" / name)
        labels.append(index[wnid])
    return wnids, paths, labels


def load_tiny_imagenet(root: Path, split: str) -> ImageSet:
    """Decode (once; then from the uint8 cache) all images of ``split``."""
    wnids, paths, labels = list_split(root, split)
    return load_listed(root, f"tiny-imagenet-{split}", paths, labels, wnids, _names(root, wnids),
                       size=64)
