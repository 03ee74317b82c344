"""Caltech-101 and Caltech-256 in their official folder layouts, decoded once into the cache.

- Caltech-101: ``101_ObjectCategories/<class>/image_<nnnn>.jpg``; 101 object classes and
  ``BACKGROUND_Google`` (9,145 files in the archive, among them ``BACKGROUND_Google/tmp``, a JPEG
  without an extension, and 411 grayscale images). Installed from ``$ZF_DATA_MIRROR`` by
  :func:`zflib.data.install.dataset_root` (the 96-pixel mirror or the official
  ``101_ObjectCategories.tar.gz``), or read from any folder given as ``root``.
- Caltech-256: ``256_ObjectCategories/<nnn>.<name>/<nnn>_<mmmm>.jpg``; 256 object classes and
  ``257.clutter``. Not installed here: point ``root`` at your copy.

Every regular file in a class folder is decoded (whatever its extension: ``tmp`` is a JPEG); a
file that does not decode (e.g. a stray text file) is left out and listed in ``failed``. Images
are converted to RGB, their shorter side resized to ``size`` and the centre ``size`` x ``size``
square kept (:func:`zflib.data.common.decode_images`); for ZFNet-64, ``size=64`` and the network
then sees the centre 56 x 56 crop (:func:`zflib.data.to_input`). For ZFNet-224, ``size=256``: the
official archive's images are decoded at 256 directly; the mirror's, whose shorter side is at most
96 px, are decoded at 96 and upscaled to 256 by bicubic interpolation, as Tiny ImageNet's 64-px
images are for ZFNet-224 (``source_side``; :func:`zflib.data.install.installed_side` says which
copy is installed).

Paper: Sec. 5.2 (Caltech-101, Table 4; Caltech-256, Table 5 and Fig. 9), Sec. 5.3 (Table 7).

Note: the paper does not say whether the background class is one of the classes; following
Bo et al. (2013) and Yang et al. (2009), whose numbers Table 4 compares against, it is kept here
by default (102 classes for Caltech-101, 257 for Caltech-256); ``background=False`` drops it.
"""

from __future__ import annotations

import re
from pathlib import Path

from zflib.data.common import ImageSet, load_listed

CALTECH101_FOLDER = "101_ObjectCategories"
CALTECH101_BACKGROUND = "BACKGROUND_Google"
CALTECH256_FOLDER = "256_ObjectCategories"
CALTECH256_CLUTTER = "257.clutter"


def _resolve(root: str | Path, folder: str) -> Path:
    """``root`` itself if it holds class folders, else ``root/folder``."""
    root = Path(root)
    if root.name != folder and (root / folder).is_dir():
        root = root / folder
    if not root.is_dir():
        raise FileNotFoundError(f"no folder {root}: expected the official layout "
                                f"{folder}/<class>/<image>")
    return root


def list_classes(root: Path, *, exclude: tuple[str, ...] = (),
                 per_class_limit: int = 0) -> tuple[list[str], list[Path], list[int]]:
    """(class folders, files, labels) of a one-folder-per-class tree, in sorted order.

    Every regular, non-hidden file directly inside a class folder counts (extensionless ones
    too); sub-folders are ignored. ``per_class_limit`` > 0 keeps the first n files per class.
    """
    if per_class_limit < 0:
        raise ValueError(f"per_class_limit {per_class_limit} out of range 0.. (0 = all)")
    classes = sorted(d.name for d in root.iterdir()
                     if d.is_dir() and not d.name.startswith(".") and d.name not in exclude)
    if not classes:
        raise FileNotFoundError(f"{root} holds no class folders")
    paths: list[Path] = []
    labels: list[int] = []
    for i, c in enumerate(classes):
        files = sorted(p for p in (root / c).iterdir()
                       if p.is_file() and not p.name.startswith("."))
        if per_class_limit:
            files = files[:per_class_limit]
        paths += files
        labels += [i] * len(files)
    return classes, paths, labels


def load_caltech101(root: str | Path | None = None, *, size: int = 64, background: bool = True,
                    per_class_limit: int = 0, source_side: int | None = None) -> ImageSet:
    """Caltech-101 decoded at ``size`` x ``size`` (cached after the first call).

    Args:
        root: the ``101_ObjectCategories`` folder or its parent; ``None`` installs it from
            ``$ZF_DATA_MIRROR`` (``make data``).
        size: stored square size (64 for ZFNet-64, 256 for the 224-pixel model).
        background: keep ``BACKGROUND_Google`` as a class (102 classes) or not (101).
        per_class_limit: decode only the first n images of every class (0 = all; smoke runs).
        source_side: the shorter side of a reduced copy's images (:func:`load_listed`: for a
            larger ``size`` they are decoded at it and upscaled by bicubic interpolation); 0:
            full-size images, decoded at ``size``. ``None``: the installed copy's
            (:func:`zflib.data.install.installed_side`: 96 for the mirror, 0 for the official
            archive), or 0 for a ``root`` given here.

    Returns an :class:`ImageSet` whose ``classes`` are folder names; ``names`` the same with
    underscores as spaces; ``upscaled_from`` the side upscaled from (0: none).

    Paper: Sec. 5.2, Table 4.
    """
    if root is None:
        from zflib.data.install import dataset_root, installed_side
        root = dataset_root("caltech101")
        if source_side is None:
            source_side = installed_side("caltech101")
    root = _resolve(root, CALTECH101_FOLDER)
    exclude = () if background else (CALTECH101_BACKGROUND,)
    classes, paths, labels = list_classes(root, exclude=exclude, per_class_limit=per_class_limit)
    names = [c.replace("_", " ") for c in classes]
    return load_listed(root, "caltech101", paths, labels, classes, names, size=size,
                       source_side=source_side or 0)


def load_caltech256(root: str | Path, *, size: int = 64, clutter: bool = True,
                    per_class_limit: int = 0) -> ImageSet:
    """Caltech-256 decoded at ``size`` x ``size`` (cached after the first call).

    Args:
        root: the ``256_ObjectCategories`` folder (``001.ak47/001_0001.jpg`` ...) or its parent.
        size: stored square size.
        clutter: keep ``257.clutter`` as a class (257 classes) or not (256).
        per_class_limit: decode only the first n images of every class (0 = all).

    Returns an :class:`ImageSet`; ``classes`` are the folder names (``001.ak47``), ``names``
    without the number (``ak47``).

    Paper: Sec. 5.2, Table 5, Fig. 9.
    """
    root = _resolve(root, CALTECH256_FOLDER)
    exclude = () if clutter else (CALTECH256_CLUTTER,)
    classes, paths, labels = list_classes(root, exclude=exclude, per_class_limit=per_class_limit)
    names = [re.sub(r"^\d+\.", "", c).replace("-101", "").replace("-", " ") for c in classes]
    return load_listed(root, "caltech256", paths, labels, classes, names, size=size)


__all__ = ["CALTECH101_BACKGROUND", "CALTECH256_CLUTTER", "list_classes", "load_caltech101",
           "load_caltech256"]
