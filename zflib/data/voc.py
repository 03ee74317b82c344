"""PASCAL VOC 2012 classification (20 classes, several per image) in the official layout.

``VOCdevkit/VOC2012/{JPEGImages/<id>.jpg, Annotations/<id>.xml,
ImageSets/Main/<class>_{train,val}.txt}``; each line of a class list is ``<id> <flag>`` with
flag 1 (the class is present), -1 (absent) or 0 (present only as "difficult" objects, ignored by
the VOC evaluation). Not installed here: point ``root`` at your copy (``VOCdevkit``,
``VOCdevkit/VOC2012`` or its parent). When the class lists are missing, labels are read from the
XML annotations instead (:func:`labels_from_annotations`; both give the same flags).

Paper: Sec. 5.2, Table 6 (a 20-way softmax on the ImageNet-pretrained network, trained on the
train and val images, evaluated on the test set).

Note: the VOC 2012 test labels are not public, so here the classifier is trained on ``train``
and evaluated on ``val``; images are decoded like the others (shorter side to ``size``, centre
square), which cuts off the sides of wide scenes.
"""

from __future__ import annotations

import os
import shutil
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from zflib.data.common import cache_dir, cache_key, decode_images, file_stamp

VOC_CLASSES: tuple[str, ...] = (
    "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train",
    "tvmonitor",
)


@dataclass
class VOCSet:
    """Decoded VOC images with multi-label targets.

    Attributes:
        images: uint8 [N, H, W, 3].
        targets: int8 [N, 20]: 1 present, -1 absent, 0 difficult only (ignored in AP).
        classes: the 20 VOC class names, aligned with ``targets``' columns.
        ids: image ids (``2008_000008``).
        failed: ids whose JPEG could not be decoded (left out).
    """

    images: torch.Tensor
    targets: torch.Tensor
    classes: list[str]
    ids: list[str]
    failed: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.ids)


def voc_root(root: str | Path) -> Path:
    """The ``VOC2012`` folder given it, ``VOCdevkit`` or the folder above ``VOCdevkit``."""
    root = Path(root)
    for candidate in (root, root / "VOC2012", root / "VOCdevkit" / "VOC2012"):
        if (candidate / "JPEGImages").is_dir():
            return candidate
    raise FileNotFoundError(f"no VOC2012 folder under {root}: expected "
                            "VOCdevkit/VOC2012/{JPEGImages, Annotations, ImageSets/Main}")


def labels_from_lists(root: Path, split: str) -> tuple[list[str], np.ndarray]:
    """(ids, int8 [N, 20] flags) from ``ImageSets/Main/<class>_<split>.txt``."""
    flags: dict[str, list[int]] = {}
    order: list[str] = []
    for j, c in enumerate(VOC_CLASSES):
        path = root / "ImageSets" / "Main" / f"{c}_{split}.txt"
        for line in path.read_text().splitlines():
            if not line.strip():
                continue
            image_id, flag = line.split()
            if int(flag) not in (-1, 0, 1):
                raise ValueError(f"{path}: flag {flag} out of range -1, 0, 1")
            if image_id not in flags:
                flags[image_id] = [-1] * len(VOC_CLASSES)
                order.append(image_id)
            flags[image_id][j] = int(flag)
    return order, np.array([flags[i] for i in order], dtype=np.int8).reshape(-1, 20)


def labels_from_annotations(root: Path, ids: list[str]) -> np.ndarray:
    """int8 [N, 20] flags of ``ids`` from ``Annotations/<id>.xml``: 1 if the class has a
    non-difficult object, 0 if it has only difficult ones, -1 if none."""
    out = np.full((len(ids), len(VOC_CLASSES)), -1, dtype=np.int8)
    index = {c: j for j, c in enumerate(VOC_CLASSES)}
    for i, image_id in enumerate(ids):
        tree = ET.parse(root / "Annotations" / f"{image_id}.xml")
        for obj in tree.getroot().iter("object"):
            name = obj.findtext("name", "").strip()
            if name not in index:
                raise ValueError(f"{image_id}.xml: class {name!r} not one of the 20 VOC classes")
            difficult = obj.findtext("difficult", "0").strip() == "1"
            j = index[name]
            out[i, j] = max(out[i, j], 0 if difficult else 1)
    return out


def load_voc2012(root: str | Path, split: str, *, size: int = 64) -> VOCSet:
    """The ``train`` or ``val`` split of VOC 2012 classification at ``size`` x ``size``.

    Decoded images are cached under ``$ZF_HOME/cache``.

    Paper: Sec. 5.2, Table 6.
    """
    if split not in ("train", "val", "trainval"):
        raise ValueError(f"split {split!r} not valid; valid: train, val, trainval")
    base = voc_root(root)
    main = base / "ImageSets" / "Main"
    if (main / f"{VOC_CLASSES[0]}_{split}.txt").exists():
        ids, targets = labels_from_lists(base, split)
    else:
        ids = (main / f"{split}.txt").read_text().split()
        targets = labels_from_annotations(base, ids)
    paths = [base / "JPEGImages" / f"{i}.jpg" for i in ids]
    key = cache_key(str(base.resolve()), ids, [file_stamp(str(p)) for p in paths], size)
    folder = cache_dir() / f"voc2012-{split}-{size}-{key}"
    if (folder / "images.npy").exists():
        meta = np.load(folder / "meta.npz")
        kept = [str(s) for s in meta["kept"]]
        failed = [str(s) for s in meta["failed"]]
        images = torch.from_numpy(np.load(folder / "images.npy"))
    else:
        images, kept_paths, failed_paths = decode_images(paths, size=size)
        kept = [Path(p).stem for p in kept_paths]
        failed = [Path(p).stem for p in failed_paths]
        _store(folder, images.numpy(), kept, failed)
    row = {i: k for k, i in enumerate(ids)}
    t = torch.from_numpy(targets[[row[i] for i in kept]])
    return VOCSet(images, t, list(VOC_CLASSES), kept, failed)


def _store(folder: Path, images: np.ndarray, kept: list[str], failed: list[str]) -> None:
    tmp = folder.with_name(folder.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    np.savez(tmp / "meta.npz", kept=np.array(kept, dtype=str), failed=np.array(failed, dtype=str))
    np.save(tmp / "images.npy", images)
    try:
        tmp.rename(folder)
    except OSError:  # another process stored it first
        shutil.rmtree(tmp, ignore_errors=True)


__all__ = ["VOC_CLASSES", "VOCSet", "labels_from_annotations", "labels_from_lists",
           "load_voc2012", "voc_root"]
