"""Any ImageFolder tree (``<root>/<split>/<class>/<image>``): ImageNet or Imagenette for the
224-pixel ``paper`` profile. Paper: Sec. 3 (shorter side to 256, centre 256x256)."""

from __future__ import annotations

from pathlib import Path

from zflib.data.common import ImageSet, load_listed

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
    return load_listed(base, f"folder-{split}", paths, labels, classes, classes, size=size)
