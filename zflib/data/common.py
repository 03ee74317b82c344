"""Decoding images once into a uint8 cache, robust to bad files.

Paper: Sec. 3 (images resized so the shorter side is 256, centre 256x256 region kept).

Every image is converted to RGB (grayscale, CMYK and palette images included), its shorter side
resized to ``size`` (bilinear with antialiasing) and its centre ``size`` x ``size`` square kept.
A file that cannot be read (truncated, not an image) is reported by path and left out; the
caller gets the list, and a count is logged at the end, never a crash mid-way.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from zflib.config import zf_home

log = logging.getLogger("zflib.data")


@dataclass
class ImageSet:
    """Decoded images with labels.

    Attributes:
        images: uint8 [N, H, W, 3].
        labels: int64 [N], indices into ``classes``.
        classes: class identifiers (WordNet ids for Tiny ImageNet, folder names otherwise).
        names: human-readable class names, aligned with ``classes``.
        paths: source file of each image (relative to the dataset root).
        failed: files that could not be decoded and were left out.
        upscaled_from: 0 when decoded at their size; else the side they were decoded at
            before the bicubic resize to their size (:func:`load_listed`'s ``source_side``).
    """

    images: torch.Tensor
    labels: torch.Tensor
    classes: list[str]
    names: list[str]
    paths: list[str]
    failed: list[str] = field(default_factory=list)
    upscaled_from: int = 0

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, index: Sequence[int] | torch.Tensor) -> ImageSet:
        idx = torch.as_tensor(index, dtype=torch.long)
        return ImageSet(self.images[idx], self.labels[idx], self.classes, self.names,
                        [self.paths[i] for i in idx.tolist()], self.failed, self.upscaled_from)


def decode_image(source, size: int) -> np.ndarray:
    """One image (a path or file object) as uint8 [size, size, 3]: RGB, shorter side resized
    to ``size``, centre crop. Raises ``OSError``/``ValueError`` for an unreadable file."""
    with Image.open(source) as im:
        im.draft("RGB", (size, size))  # JPEG: decode at a reduced scale when much larger
        if im.mode.startswith("I;16") or (im.mode == "I" and im.format == "PNG"):
            # 16-bit grayscale: keep the high byte, as Pillow does for 16-bit RGB (convert
            # would clip every value above 255 to white)
            im = Image.fromarray((np.asarray(im).astype(np.uint32) >> 8).astype(np.uint8))
        im = im.convert("RGB")
        w, h = im.size
        if (w, h) != (size, size):
            s = size / min(w, h)
            nw, nh = max(size, round(w * s)), max(size, round(h * s))
            im = im.resize((nw, nh), Image.BILINEAR, reducing_gap=None)
            left, top = (nw - size) // 2, (nh - size) // 2
            im = im.crop((left, top, left + size, top + size))
        return np.asarray(im, dtype=np.uint8)


def _decode_or_none(args: tuple[str, int]) -> np.ndarray | None:
    path, size = args
    try:
        return decode_image(path, size)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as err:
        log.warning("unreadable image left out: %s (%s)", path, err)
        return None


def decode_images(paths: Sequence[str | os.PathLike], *, size: int,
                  workers: int | None = None) -> tuple[torch.Tensor, list[str], list[str]]:
    """Decode ``paths`` into uint8 [N, size, size, 3].

    Returns (images, kept paths, failed paths); unreadable files are reported and skipped.
    """
    paths = [str(p) for p in paths]
    workers = workers or min(os.cpu_count() or 1, 8)
    jobs = [(p, size) for p in paths]
    if workers > 1 and len(paths) > 256:
        with ProcessPoolExecutor(workers) as pool:
            arrays = list(pool.map(_decode_or_none, jobs, chunksize=256))
    else:
        arrays = [_decode_or_none(j) for j in jobs]
    kept = [p for p, a in zip(paths, arrays, strict=True) if a is not None]
    failed = [p for p, a in zip(paths, arrays, strict=True) if a is None]
    out = np.empty((len(kept), size, size, 3), dtype=np.uint8)
    for i, a in enumerate(a for a in arrays if a is not None):
        out[i] = a
    if failed:
        log.warning("%d of %d images could not be read and were left out", len(failed),
                    len(paths))
    return torch.from_numpy(out), kept, failed


def cache_dir() -> Path:
    return zf_home() / "cache"


def cache_key(*parts: object) -> str:
    """A short stable hash of ``parts`` (file lists, sizes) naming a cache entry."""
    h = hashlib.sha1()
    for p in parts:
        h.update(json.dumps(p, sort_keys=True, default=str).encode())
    return h.hexdigest()[:16]


def tensor_digest(*tensors: torch.Tensor) -> str:
    """A short stable hash of tensors' dtypes, shapes and bytes (weights, images), for
    :func:`cache_key`: a retrained model or another image set never meets a stale entry."""
    h = hashlib.sha1()
    for t in tensors:
        h.update(str((t.dtype, tuple(t.shape))).encode())
        h.update(t.detach().cpu().contiguous().view(torch.uint8).numpy())  # no copy
    return h.hexdigest()[:16]


def _read_entry(folder: Path) -> ImageSet:
    meta = json.loads((folder / "meta.json").read_text())
    # mapped copy-on-write: pages are read when used (a 2 GB set indexed for 250 images reads
    # those), and writes to the tensor stay private to this process
    images = torch.from_numpy(np.load(folder / "images.npy", mmap_mode="c"))
    labels = torch.from_numpy(np.load(folder / "labels.npy"))
    if not len(images) == len(labels) == len(meta["paths"]):
        raise ValueError(f"{len(images)} images, {len(labels)} labels, {len(meta['paths'])} "
                         "paths")
    return ImageSet(images, labels, meta["classes"], meta["names"], meta["paths"],
                    meta["failed"], int(meta.get("upscaled_from", 0)))


def cached_imageset(name: str, key: str, build: Callable[[], ImageSet]) -> ImageSet:
    """Load ``name``/``key`` from the uint8 cache, or ``build()`` it and store it atomically."""
    folder = cache_dir() / f"{name}-{key}"
    if (folder / "meta.json").exists():
        try:
            return _read_entry(folder)
        except (OSError, ValueError, EOFError, KeyError) as err:  # e.g. lost in a power cut
            log.warning("cache entry %s is unreadable (%s); decoding again", folder, err)
            shutil.rmtree(folder, ignore_errors=True)
    data = build()
    tmp = folder.with_name(folder.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    np.save(tmp / "images.npy", data.images.numpy())
    np.save(tmp / "labels.npy", data.labels.numpy())
    meta = dict(classes=data.classes, names=data.names, paths=data.paths, failed=data.failed)
    if data.upscaled_from:
        meta["upscaled_from"] = data.upscaled_from
    (tmp / "meta.json").write_text(json.dumps(meta))
    try:
        tmp.rename(folder)
    except OSError:  # another process built it first
        shutil.rmtree(tmp, ignore_errors=True)
    return data


def file_stamp(path: str) -> tuple[int, int]:
    """(size, modification time in ns) of ``path`` for a cache key: an image rewritten in place
    at the same size (any BMP, say) changes it too; (-1, -1) if it cannot be read (a dangling
    link, a listed file that is absent), which decoding then reports and leaves out."""
    try:
        st = os.stat(path)
    except OSError:
        return -1, -1
    return st.st_size, st.st_mtime_ns


def load_listed(root: Path, name: str, paths: Sequence[Path], labels: Sequence[int],
                classes: list[str], names: list[str], *, size: int,
                source_side: int = 0) -> ImageSet:
    """Decode listed image files (labels aligned) at ``size``, through the uint8 cache.

    Paths are stored relative to ``root``; the cache key covers the file list, their sizes,
    modification times and ``size``, so a changed dataset is decoded again. Unreadable files
    are left out and listed in ``failed``.

    ``source_side`` > 0 says the files are a reduced copy whose shorter side is at most that
    (the mirror's 96-pixel Caltech-101): for a larger ``size`` they are decoded at
    ``source_side`` and then upscaled to ``size`` by bicubic interpolation
    (:func:`zflib.data.transforms.resize`, as Tiny ImageNet's 64-pixel images go to 256), both
    cached; the result's ``upscaled_from`` is ``source_side``. Otherwise (0, or not smaller
    than ``size``) they are decoded at ``size`` directly.

    Paper: Sec. 3 (shorter side resized to 256, centre 256x256 kept).
    """
    root = Path(root)
    if size < 8:
        raise ValueError(f"size {size} out of range 8.. (pixels of the stored square)")
    if source_side < 0:
        raise ValueError(f"source_side {source_side} out of range 0.. (0: full-size images)")
    if 0 < source_side < size:
        from zflib.data.transforms import resize

        low = load_listed(root, name, paths, labels, classes, names, size=source_side)
        key = cache_key(tensor_digest(low.images, low.labels), source_side, "bicubic")
        return cached_imageset(
            f"{name}-{size}", key,
            lambda: ImageSet(resize(low.images, size), low.labels, low.classes, low.names,
                             low.paths, low.failed, source_side))
    # plain strings: pathlib spent 9 of the 10 s of a cached load of 110,000 files
    files = [os.fspath(p) for p in paths]
    prefix = os.path.join(os.fspath(root), "")
    rel = {f: f[len(prefix):] if f.startswith(prefix) else os.path.relpath(f, root)
           for f in files}
    key = cache_key(str(root.resolve()), [rel[f] for f in files],
                    [file_stamp(f) for f in files], size)

    def build() -> ImageSet:
        images, kept, failed = decode_images(files, size=size)
        keep = set(kept)
        lab = [y for f, y in zip(files, labels, strict=True) if f in keep]
        return ImageSet(images, torch.tensor(lab, dtype=torch.long), classes, names,
                        [rel[f] for f in kept], [rel[f] for f in failed])

    return cached_imageset(f"{name}-{size}", key, build)
