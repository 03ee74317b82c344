"""The natural-resolution sets as :class:`~zflib.data.common.ImageSet` objects at a given size:
Imagewoof2 and Imagenette2 (``train`` / ``val``), one ImageNet example per class, and
Caltech-101 at its official size. Installed by ``python -m zflib.data install NAME``
(:mod:`zflib.data.natural_install`).

As the Caltech-101 loader: every image's shorter side is resized to ``size`` (bilinear with
antialiasing) and the centre ``size`` x ``size`` square kept, decoded once into the uint8 cache
(:func:`zflib.data.common.load_listed`); ``size=256`` for the 224-pixel networks, which then
take 224 crops. ``source_side`` is the shorter side a reduced copy's images share: when it is
smaller than ``size`` the images are decoded at it and upscaled by bicubic interpolation (the
result's ``upscaled_from``), as Tiny ImageNet's 64-pixel images are. ``None`` takes it from the
installed copy (:func:`zflib.data.natural_install.natural_side`): 320 for fastai's Imagewoof2
and Imagenette2 (nothing upscaled at 256), 224 for the squashed Imagenette copy (upscaled to
256), 0 for the examples and Caltech-101 (full size).

Paper: Sec. 3 (shorter side resized to 256, centre 256x256 kept), Sec. 5.2 (Caltech-101).

Note: the public Imagenette copy (``thunderInfy/imagenette``) squashed every image to 224 x 224,
so its objects are stretched; the official 320-pixel archive keeps the aspect ratio. 66 of the
1,000 examples have a shorter side below 224 and are enlarged (bilinear) by the decoder.
"""

from __future__ import annotations

import os
from pathlib import Path

from zflib.data.caltech import list_classes, load_caltech101
from zflib.data.common import ImageSet, load_listed
from zflib.data.natural_counts import class_names
from zflib.data.natural_install import natural_root, natural_side, natural_spec
from zflib.data.tiny import OFFICIAL_WNIDS

SPLITS = ("train", "val")


def _split_root(name: str, root: Path, split: str) -> Path:
    """``root`` itself if it holds ``split``, else its top folder of the official layout."""
    if not (root / split).is_dir():
        for top in natural_spec(name).tops:
            if (root / top / split).is_dir():
                return root / top
        raise FileNotFoundError(f"no folder {root / split}: expected the official layout "
                                f"{split}/<wnid>/<image> of {name}")
    return root


def load_natural_split(name: str, split: str, size: int = 256, *,
                       root: str | Path | None = None, per_class_limit: int = 0,
                       source_side: int | None = None) -> ImageSet:
    """``split`` of the installed set ``name`` (``imagewoof2`` | ``imagenette2``) or of the
    copy at ``root`` decoded at ``size`` x ``size``, cached; classes are the set's WordNet ids,
    sorted, ``names`` ImageNet's readable names. See :func:`load_imagewoof`.

    Raises ``ValueError`` when the folder's classes are not the set's."""
    if split not in SPLITS:
        raise ValueError(f"split {split!r} not valid; valid: {', '.join(SPLITS)}")
    if root is None:
        root = natural_root(name)
        if source_side is None:
            source_side = natural_side(name)
    root = _split_root(name, Path(root), split)
    want = sorted(k.split("/", 1)[1] for k in natural_spec(name).counts
                  if k.startswith(split + "/"))
    classes, paths, labels = list_classes(root / split, per_class_limit=per_class_limit)
    if classes != want:
        missing = sorted(set(want) - set(classes))
        extra = sorted(set(classes) - set(want))
        raise ValueError(f"{root / split} holds other classes than {name}'s {len(want)}: "
                         f"missing {', '.join(missing) or 'none'}; foreign "
                         f"{', '.join(extra[:5]) or 'none'}")
    return load_listed(root, f"{name}-{split}", paths, labels, classes, class_names(classes),
                       size=size, source_side=source_side or 0)


def load_imagewoof(split: str, size: int = 256, *, root: str | Path | None = None,
                   per_class_limit: int = 0, source_side: int | None = None) -> ImageSet:
    """Imagewoof2's ``split`` (``train``: 9,025, ``val``: 3,929 images of 10 dog breeds) as uint8
    [N, size, size, 3], cached after the first call.

    Args:
        split: ``train`` or ``val``.
        size: stored square size (256 for the 224-pixel networks).
        root: a copy in fastai's layout (``train/<wnid>/<image>``) or its parent; ``None``: the
            installed one (``python -m zflib.data install imagewoof2``).
        per_class_limit: the first n images of every class, by file name (0 = all).
        source_side: the shorter side of a reduced copy's images (see the module); ``None``:
            the installed copy's, or 0 for a ``root`` given here.

    Returns an :class:`ImageSet`: ``classes`` the 10 WordNet ids in sorted order, ``names``
    the breeds (``golden retriever``), ``paths`` relative to the set's top folder
    (``val/n02099601/<file>``).

    Paper: Sec. 4.2 (dog faces, Fig. 8, Table 1), Sec. 3 (preprocessing).
    """
    return load_natural_split("imagewoof2", split, size, root=root,
                              per_class_limit=per_class_limit, source_side=source_side)


def load_imagenette(split: str, size: int = 256, *, root: str | Path | None = None,
                    per_class_limit: int = 0, source_side: int | None = None) -> ImageSet:
    """Imagenette2's ``split`` (``train``: 9,469, ``val``: 3,925 images of 10 ImageNet classes)
    as uint8 [N, size, size, 3], cached; arguments and result as :func:`load_imagewoof`. Both
    the official 320-pixel archive and the squashed 224 x 224 public copy load (the latter
    upscaled to ``size`` above 224, ``upscaled_from`` 224).

    Paper: Sec. 3 (preprocessing).
    """
    return load_natural_split("imagenette2", split, size, root=root,
                              per_class_limit=per_class_limit, source_side=source_side)


def load_examples(size: int = 256, wnids: list[str] | None = None, *,
                  root: str | Path | None = None) -> ImageSet:
    """One full-resolution ImageNet image for each class in ``wnids`` (default: Tiny
    ImageNet's 200, in ``tiny_imagenet_wnids.txt``'s order), as uint8 [N, size, size, 3],
    cached; image i is of class i (an unreadable one is left out and listed in ``failed``).

    Args:
        size: stored square size.
        wnids: ImageNet WordNet ids, each once.
        root: a folder of ``<wnid>_<name>.JPEG`` files; ``None``: the installed examples
            (``python -m zflib.data install imagenet-examples``).

    Returns an :class:`ImageSet` whose ``classes`` are ``wnids``, ``names`` the names in the
    file names (``golden retriever``), ``paths`` the file names.

    Raises ``ValueError`` naming the ids that have no image.

    Paper: Sec. 4.2 (Fig. 7's occlusion examples), Sec. 3 (preprocessing).
    """
    wnids = OFFICIAL_WNIDS.read_text().split() if wnids is None else list(wnids)
    if len(set(wnids)) != len(wnids):
        raise ValueError(f"wnids holds {len(wnids) - len(set(wnids))} duplicate(s); "
                         "valid: each id once")
    root = natural_root("imagenet-examples") if root is None else Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"no folder {root}: expected <wnid>_<name>.JPEG files")
    files = {e.name.split("_", 1)[0]: e.name for e in os.scandir(root)
             if e.is_file() and not e.name.startswith(".") and "_" in e.name}
    missing = [w for w in wnids if w not in files]
    if missing:
        raise ValueError(f"{root} has no example of {len(missing)} of the {len(wnids)} "
                         f"classes asked for: {', '.join(missing[:5])}")
    names = [files[w].split("_", 1)[1].rsplit(".", 1)[0].replace("_", " ") for w in wnids]
    return load_listed(root, "imagenet-examples", [root / files[w] for w in wnids],
                       list(range(len(wnids))), wnids, names, size=size)


def load_caltech101_full(size: int = 256, *, background: bool = True,
                         per_class_limit: int = 0) -> ImageSet:
    """The installed full-size Caltech-101 (``python -m zflib.data install caltech101-full``)
    through :func:`zflib.data.caltech.load_caltech101`: 102 classes (101 without
    ``background``), decoded at ``size`` from the full-size files, cached.

    Paper: Sec. 5.2, Tables 4 and 7, Fig. 9.

    Note: the public copy ``taibarehm/CVassimgement`` re-saved BACKGROUND_Google, accordion,
    airplanes, anchor and ant as greyscale (1,360 images colour in the official archive):
    they load as greyscale converted to RGB (three equal channels), and are kept so that the
    protocol's 102 classes stay whole; the official archive has them in colour.
    ``BACKGROUND_Google/image_0273.jpg`` is absent from that copy (467 background images).
    """
    return load_caltech101(natural_root("caltech101-full"), size=size, background=background,
                           per_class_limit=per_class_limit,
                           source_side=natural_side("caltech101-full"))


__all__ = ["SPLITS", "load_caltech101_full", "load_examples", "load_imagenette",
           "load_imagewoof", "load_natural_split"]
