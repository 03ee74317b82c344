"""Shared fixtures: a small synthetic Tiny ImageNet tree in the official layout, with the bad
files a real dataset holds (grayscale, CMYK, a truncated JPEG, a file that is not an image)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

N_CLASSES, N_TRAIN, N_VAL = 10, 12, 3


def _jpeg(rng: np.random.Generator, mode: str = "RGB", size: int = 64) -> bytes:
    arr = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
    im = Image.fromarray(arr).convert(mode)
    buf = io.BytesIO()
    im.save(buf, format="JPEG")
    return buf.getvalue()


def make_tiny_imagenet(root: Path, *, bad_files: bool = True) -> dict[str, list[str]]:
    """Write ``root/tiny-imagenet-200`` with N_CLASSES classes; return the bad files' paths."""
    rng = np.random.default_rng(0)
    base = root / "tiny-imagenet-200"
    wnids = [f"n{i:08d}" for i in range(N_CLASSES)]
    (base / "val" / "images").mkdir(parents=True)
    (base / "wnids.txt").write_text("\n".join(wnids) + "\n")
    (base / "words.txt").write_text("".join(f"{w}\tclass {i}, other\n"
                                            for i, w in enumerate(wnids)))
    bad: dict[str, list[str]] = {"gray": [], "cmyk": [], "broken": []}
    for i, w in enumerate(wnids):
        folder = base / "train" / w / "images"
        folder.mkdir(parents=True)
        for j in range(N_TRAIN):
            mode = "RGB"
            if bad_files and i == 0 and j == 1:
                mode = "L"
            if bad_files and i == 0 and j == 2:
                mode = "CMYK"
            data = _jpeg(rng, mode)
            name = f"train/{w}/images/{w}_{j}.JPEG"
            if bad_files and i == 1 and j == 3:
                data = data[: len(data) // 3]  # truncated
                bad["broken"].append(name)
            if bad_files and i == 1 and j == 4:
                data = b"not an image at all"
                bad["broken"].append(name)
            if mode == "L":
                bad["gray"].append(name)
            if mode == "CMYK":
                bad["cmyk"].append(name)
            (base / name).write_bytes(data)
    lines = []
    for k in range(N_CLASSES * N_VAL):
        name = f"val_{k}.JPEG"
        (base / "val" / "images" / name).write_bytes(_jpeg(rng))
        lines.append(f"{name}\t{wnids[k % N_CLASSES]}\t0\t0\t63\t63")
    (base / "val" / "val_annotations.txt").write_text("\n".join(lines) + "\n")
    return bad


@pytest.fixture
def zf_home(tmp_path, monkeypatch) -> Path:
    """An empty ``$ZF_HOME`` (and no mirror) for one test."""
    home = tmp_path / "zfhome"
    home.mkdir()
    monkeypatch.setenv("ZF_HOME", str(home))
    monkeypatch.delenv("ZF_DATA_MIRROR", raising=False)
    from zflib.data import _load

    _load.cache_clear()
    return home


@pytest.fixture
def tiny_home(zf_home) -> Path:
    """``$ZF_HOME`` holding an installed synthetic Tiny ImageNet (10 classes)."""
    datasets = zf_home / "datasets"
    datasets.mkdir()
    make_tiny_imagenet(datasets)
    (datasets / "tiny-imagenet-200" / ".installed").write_text("synthetic\n")
    return zf_home


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(1)
    yield


@pytest.fixture(autouse=True)
def _no_progress_bars(monkeypatch):
    """zflib's progress bars off (zflib.progress); a test of one deletes TQDM_DISABLE."""
    monkeypatch.setenv("TQDM_DISABLE", "1")


# --- images to pack into shards (tests/data/test_shards.py, tests/training/test_gpu_run.py) ---
def smooth_images(n: int, size: int, seed: int) -> torch.Tensor:
    """uint8 [n, size, size, 3]: random blobs (what JPEG is for; noise would not compress)."""
    g = torch.Generator().manual_seed(seed)
    low = torch.rand(n, 3, 8, 8, generator=g) * 255
    x = torch.nn.functional.interpolate(low, size=(size, size), mode="bilinear")
    return x.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous()


def tiny_files(folder, n: int, seed: int) -> list:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, a in enumerate(smooth_images(n, 64, seed).numpy()):
        p = folder / f"t{i}.JPEG"
        Image.fromarray(a).save(p, quality=90)
        paths.append(p)
    return paths


def fake_entries(tmp_path, *, natural: int = 12, tiny: int = 10, val: int = 4,
                 sources: tuple[str, str] = ("tiny", "natural")):
    """Entries of a 5-class set from two sources (64-px files, then 256-px images; the
    validation images last), the files and the 256-px images they were made from."""
    from zflib.data.common import ImageSet
    from zflib.data.shards import array_entries, file_entries

    imgs = smooth_images(natural + val, 256, 1)
    nat = ImageSet(imgs, torch.arange(natural + val) % 5, list("abcde"), list("abcde"),
                   [f"n{i}" for i in range(natural + val)])
    tiny = tiny_files(tmp_path / "tiny", tiny, 2)
    entries = [*file_entries(tiny, [i % 5 for i in range(len(tiny))], split="train",
                             source=sources[0], root=tmp_path / "tiny"),
               *array_entries(nat.subset(range(natural)), torch.arange(natural) % 5,
                              split="train", source=sources[1], quality=95, workers=1),
               *array_entries(nat.subset(range(natural, natural + val)),
                              torch.arange(val) % 5, split="val", source=sources[1],
                              quality=95, workers=1)]
    return entries, tiny, imgs
