"""Tiny ImageNet (200 classes, 64x64) in its official ``tiny-imagenet-200`` layout.

``train/<wnid>/images/<wnid>_<i>.JPEG`` and ``val/images/val_<k>.JPEG`` labelled by
``val/val_annotations.txt``; class names from ``words.txt``. :func:`copy_official` installs an
unpacked copy (500 training images per class, e.g. a public repository holding the official
files) keeping only the 200 official classes (``tiny_imagenet_wnids.txt``, the official
archive's ``wnids.txt``).
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from zflib.data.common import ImageSet, load_listed

OFFICIAL_WNIDS = Path(__file__).with_name("tiny_imagenet_wnids.txt")


def _number(name: str) -> int:
    m = re.search(r"_(\d+)\.", name)
    return int(m.group(1)) if m else -1


def _names(root: Path, wnids: list[str]) -> list[str]:
    words = {}
    if (root / "words.txt").exists():
        for line in (root / "words.txt").read_text().splitlines():
            wnid, _, text = line.partition("\t")
            words[wnid] = text.split(",")[0].strip()
    return [words.get(w, w) for w in wnids]


def list_split(root: Path, split: str) -> tuple[list[str], list[str], list[int]]:
    """(wnids, image paths, labels) of ``split`` (``train`` | ``val``), in a fixed order: the
    training images of each class by number (``<wnid>_0``, ``_1``, ...), validation images as
    ``val_annotations.txt`` lists them."""
    if split not in ("train", "val"):
        raise ValueError(f"split {split!r} not valid; valid: train, val")
    wnids = (root / "wnids.txt").read_text().split()
    index = {w: i for i, w in enumerate(wnids)}
    if split == "train":
        paths, labels = [], []
        for w in wnids:
            folder = os.path.join(root, "train", w, "images")
            names = sorted((e.name for e in os.scandir(folder) if e.name.endswith(".JPEG")),
                           key=_number)
            paths += [os.path.join(folder, n) for n in names]
            labels += [index[w]] * len(names)
        return wnids, paths, labels
    paths, labels = [], []
    folder = os.path.join(root, "val", "images")
    for line in (root / "val" / "val_annotations.txt").read_text().splitlines():
        name, wnid = line.split("\t")[:2]
        paths.append(os.path.join(folder, name))
        labels.append(index[wnid])
    return wnids, paths, labels


def val_boxes(root: Path) -> dict[str, tuple[int, int, int, int]]:
    """The object's bounding box of every validation image, by file name: (x0, y0, x1, y1) in
    pixels of the 64-pixel image, end-exclusive (``val_annotations.txt`` gives the last pixel
    inside; one box per image)."""
    boxes = {}
    for line in (root / "val" / "val_annotations.txt").read_text().splitlines():
        name, _, *box = line.split("\t")
        x0, y0, x1, y1 = (int(v) for v in box)
        boxes[name] = (x0, y0, x1 + 1, y1 + 1)
    return boxes


def load_tiny_imagenet(root: Path, split: str) -> ImageSet:
    """Decode (once; then from the uint8 cache) all images of ``split``."""
    wnids, paths, labels = list_split(root, split)
    return load_listed(root, f"tiny-imagenet-{split}", paths, labels, wnids, _names(root, wnids),
                       size=64)


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def copy_official(source: Path, dest: Path, *, wnids_file: Path | None = None) -> dict:
    """Copy the official classes of an unpacked ``tiny-imagenet-200`` folder ``source`` into
    ``dest`` (hard links where the file system allows): ``wnids.txt`` reduced to the official
    list, their ``train/<wnid>`` folders, the validation images whose annotation names an
    official class, ``words.txt``. Classes beyond the official 200 are left out and reported.

    Returns a summary: ``classes``, ``dropped`` (wnids), ``train`` (images), ``train_per_class``
    (min, max), ``val`` (images), ``val_missing`` (annotated files absent, left out).
    Raises ``ValueError`` naming missing official classes, or official classes without
    training images.
    """
    official = (wnids_file or OFFICIAL_WNIDS).read_text().split()
    keep = set(official)
    have = (source / "wnids.txt").read_text().split()
    present = set(have)
    missing = [w for w in official if w not in present]
    if missing:
        raise ValueError(f"{source} lacks {len(missing)} of the {len(official)} official "
                         f"classes: {', '.join(missing[:5])}")
    dropped = [w for w in have if w not in keep]
    counts = []
    for w in official:
        files = sorted((source / "train" / w / "images").glob("*.JPEG"))
        if not files:
            raise ValueError(f"{source}: class {w} has no training images in "
                             f"train/{w}/images (valid: 1 or more)")
        counts.append(len(files))
        out = dest / "train" / w / "images"
        out.mkdir(parents=True)
        for f in files:
            _link_or_copy(f, out / f.name)
        boxes = source / "train" / w / f"{w}_boxes.txt"
        if boxes.exists():
            _link_or_copy(boxes, dest / "train" / w / boxes.name)
    # val_annotations.txt: file, wnid, box; the official classes' lines whose file is there
    rows = [line.split("\t") for line in
            (source / "val" / "val_annotations.txt").read_text().splitlines()]
    rows = [r for r in rows if len(r) > 1 and r[1] in keep]
    absent = [r[0] for r in rows if not (source / "val" / "images" / r[0]).exists()]
    gone = set(absent)
    rows = [r for r in rows if r[0] not in gone]
    (dest / "val" / "images").mkdir(parents=True)
    for r in rows:
        _link_or_copy(source / "val" / "images" / r[0], dest / "val" / "images" / r[0])
    (dest / "val" / "val_annotations.txt").write_text("".join("\t".join(r) + "\n"
                                                              for r in rows))
    (dest / "wnids.txt").write_text("\n".join(official) + "\n")
    if (source / "words.txt").exists():
        _link_or_copy(source / "words.txt", dest / "words.txt")
    return {"classes": len(official), "dropped": dropped, "train": sum(counts),
            "train_per_class": (min(counts), max(counts)), "val": len(rows),
            "val_missing": absent}
