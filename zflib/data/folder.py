"""Any ImageFolder tree (``<root>/<split>/<class>/<image>``): ImageNet or Imagenette for the
224-pixel ``paper`` profile. Paper: Sec. 3 (shorter side to 256, centre 256x256)."""

from __future__ import annotations

from pathlib import Path

import torch

from zflib.data.common import ImageSet, cache_key, cached_imageset, decode_images

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
    rel = [str(p.relative_to(base)) for p in paths]

    def build() -> ImageSet:
        images, kept, failed = decode_images(paths, size=size)
        keep = set(kept)
        lab = [y for p, y in zip(paths, labels, strict=True) if str(p) in keep]
        return ImageSet(images, torch.tensor(lab, dtype=torch.long), classes, classes,
                        [str(Path(p).relative_to(base)) for p in kept],
                        [str(Path(p).relative_to(base)) for p in failed])

    key = cache_key(str(base.resolve()), rel, [p.stat().st_size for p in paths], size)
    return cached_imageset(f"folder-{split}-{size}", key, build)
