"""Any ImageFolder tree (``<root>/<split>/<class>/<image>``): ImageNet or Imagenette for the
224-pixel ``paper`` profile. Paper: Sec. 3 (shorter side to 256, centre 256x256)."""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from zflib.data.common import ImageSet, decode_images, load_listed

log = logging.getLogger("zflib.data")

EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp"}


def load_image_folder(root: Path, split: str, *, size: int) -> ImageSet:
    """Decode ``root/split`` (one folder per class) at ``size`` x ``size``, cached."""
    base = Path(root) / split
    if not base.is_dir():
        raise FileNotFoundError(f"no folder {base}: an ImageFolder dataset needs "
                                f"{root}/{split}/<class>/<image> (set data_root)")
    classes = sorted(d.name for d in base.iterdir() if d.is_dir())
    if not classes:
        raise FileNotFoundError(f"{base} holds no class folders")
    paths, labels = [], []
    for i, c in enumerate(classes):
        files = sorted(p for p in (base / c).rglob("*") if p.suffix.lower() in EXTENSIONS)
        paths += files
        labels += [i] * len(files)
    found = set(labels)
    empty = [c for i, c in enumerate(classes) if i not in found]
    if empty:
        log.warning("%s: %d class folder(s) without images, kept as classes: %s", base,
                    len(empty), ", ".join(empty[:5]))
    return load_listed(base, f"folder-{split}", paths, labels, classes, classes, size=size)


def folder_images(folder: str | Path, *, size: int = 256) -> tuple[torch.Tensor, list[str]]:
    """The images in ``folder`` (not its subfolders), sorted by name, decoded at ``size``
    (shorter side, centre square): (uint8 [N, size, size, 3], file names). A user's own images
    for the explorer and ``zflib.apps.mine``; unreadable files are reported and left out.

    Raises ``ValueError`` if the folder holds no image file."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(f"no folder {folder}")
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in EXTENSIONS)
    if not paths:
        raise ValueError(f"no image files ({', '.join(sorted(EXTENSIONS))}) in {folder}")
    images, kept, _failed = decode_images([str(p) for p in paths], size=size)
    return images, [Path(p).name for p in kept]
